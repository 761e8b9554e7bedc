"""What DingTalk posts to /dingtalk/events (a robot in HTTP mode), checked before any work.

DingTalk signs each request with two headers: `timestamp` (milliseconds) and `sign`, the base64 of
HmacSHA256(key = the app's secret, message = timestamp + "\\n" + secret). A request without them,
with another signature, or more than an hour from now either way is refused with a 4xx, and nothing
else runs. The body is the robot's message, as the Stream mode's chatbot topic delivers it too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

TIMESTAMP = "timestamp"
SIGN = "sign"
# DingTalk's own rule: a signature more than an hour from the server's time is not accepted.
WINDOW_SECONDS = 60 * 60

JSON = dict[str, Any]


class Refused(Exception):
    """Not from DingTalk, or not now: answered with `status` and nothing else happens."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


def sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def open_request(headers: dict[str, str], body: bytes, *, secret: str, now: float) -> JSON:
    """The robot's message, once the request is shown to be DingTalk's and recent; else Refused."""
    timestamp, given = headers.get(TIMESTAMP, ""), headers.get(SIGN, "")
    if not timestamp or not given:
        raise Refused("unsigned")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise Refused("malformed timestamp", 400)
    if abs(now - int(timestamp) / 1000) > WINDOW_SECONDS:
        raise Refused("stale timestamp")
    if not hmac.compare_digest(sign(timestamp, secret).encode(), given.encode()):
        raise Refused("bad signature")
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise Refused("not JSON", 400) from exc
    if not isinstance(message, dict):
        raise Refused("not a message", 400)
    return message

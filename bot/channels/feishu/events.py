"""What Feishu posts to /feishu/events, checked before any work: the signature, the age, the
verification token, then the decrypted event (schema 2.0) or the URL-verification challenge.

Feishu signs a request with X-Lark-Signature = sha256(timestamp + nonce + encrypt key + body) and
encrypts its body as {"encrypt": base64(iv + AES-256-CBC(sha256(encrypt key), PKCS#7))}, decrypted
here with pycryptodome (what the SDK's AESCipher uses): importing the SDK takes seconds, and webhook
mode needs nothing else of it. A request that fails any check changes nothing and is answered with a 4xx.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from Crypto.Cipher import AES
from Crypto.Util.Padding import unpad

# Feishu's headers on every event and callback request.
SIGNATURE = "X-Lark-Signature"
TIMESTAMP = "X-Lark-Request-Timestamp"
NONCE = "X-Lark-Request-Nonce"
# A signed request older (or newer) than this is a replay, not Feishu: refused.
WINDOW_SECONDS = 5 * 60

JSON = dict[str, Any]


class Refused(Exception):
    """Not from Feishu, or not now: answered with `status` and nothing else happens."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Envelope:
    """One verified request: the challenge to echo, or an event with its id and type."""

    event_type: str
    event_id: str = ""
    event: JSON = field(default_factory=dict)
    challenge: str | None = None


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def decrypt(encrypted: str, encrypt_key: str) -> str:
    """The body Feishu encrypted: base64 of the IV and the AES-256-CBC ciphertext, padded (PKCS#7);
    a wrong key or a damaged body raises ValueError."""
    sealed = base64.b64decode(encrypted)
    key = hashlib.sha256(encrypt_key.encode()).digest()
    cipher = AES.new(key, AES.MODE_CBC, iv=sealed[: AES.block_size])
    return unpad(cipher.decrypt(sealed[AES.block_size :]), AES.block_size).decode()


def open_request(
    headers: dict[str, str], body: bytes, *, encrypt_key: str, verification_token: str, now: float
) -> Envelope:
    """The request's event, once it is shown to be Feishu's and recent; else Refused."""
    try:
        outer = json.loads(body)
    except ValueError as exc:
        raise Refused("not JSON", 400) from exc
    encrypted = outer.get("encrypt") if isinstance(outer, dict) else None
    if not isinstance(encrypted, str):
        # The app has an encrypt key, so Feishu encrypts everything it sends: plain JSON is not Feishu.
        raise Refused("not encrypted")
    try:
        payload = json.loads(decrypt(encrypted, encrypt_key))
    except Exception as exc:  # a wrong key gives bad padding, bad UTF-8 or bad JSON alike
        raise Refused("cannot be decrypted") from exc
    if not isinstance(payload, dict):
        raise Refused("not an event", 400)
    if payload.get("type") == "url_verification":
        # Sent when the request URL is saved in the console: unsigned, but it carries the token.
        if not _same(str(payload.get("token", "")), verification_token):
            raise Refused("wrong verification token")
        return Envelope("url_verification", challenge=str(payload.get("challenge", "")))
    _check_signature(headers, body, encrypt_key, now)
    header = payload.get("header")
    if payload.get("schema") != "2.0" or not isinstance(header, dict):
        raise Refused("not a 2.0 event", 400)
    if not _same(str(header.get("token", "")), verification_token):
        raise Refused("wrong verification token")
    if not header.get("event_id"):
        raise Refused("an event without its id", 400)  # its id is what makes a repeat harmless
    event = payload.get("event")
    return Envelope(
        str(header.get("event_type", "")),
        str(header.get("event_id", "")),
        event if isinstance(event, dict) else {},
    )


def _check_signature(headers: dict[str, str], body: bytes, encrypt_key: str, now: float) -> None:
    given = headers.get(SIGNATURE.lower(), "")
    timestamp = headers.get(TIMESTAMP.lower(), "")
    nonce = headers.get(NONCE.lower(), "")
    if not given or not timestamp.isdigit():
        raise Refused("unsigned")
    if not hmac.compare_digest(given.encode(), signature(timestamp, nonce, encrypt_key, body).encode()):
        raise Refused("bad signature")
    if abs(now - int(timestamp)) > WINDOW_SECONDS:
        raise Refused("stale")


def _same(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def from_sdk(data: JSON) -> Envelope:
    """An event the long connection delivered (Feishu authenticated the connection; nothing is
    encrypted or signed on it): the same envelope as a webhook's."""
    header = data.get("header") or {}
    event = data.get("event")
    return Envelope(
        str(header.get("event_type", "")), str(header.get("event_id", "")), event if isinstance(event, dict) else {}
    )

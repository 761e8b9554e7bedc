"""Feishu's Open Platform, as Houqin calls it: through the official SDK's client (lark-oapi), with
the tenant access token kept here.

The SDK encodes each request and decodes its answer (`Client.arequest`, httpx underneath); its own
token cache fetches tokens with blocking `requests` calls, which would stall the event loop, so the
client is built with `enable_set_token` and the token is fetched, cached and refreshed ten minutes
before it expires here, asynchronously. Feishu hands every caller the same token until its last 30
minutes, so the processes of one Houqin share it without talking to each other.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lark_oapi as lark

log = logging.getLogger(__name__)
JSON = dict[str, Any]
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
# Refresh the token this long before Feishu says it expires (as the SDK does).
REFRESH_BEFORE = 10 * 60
# Feishu's answer when an app or a chat sends too fast: HTTP 429 and this code, with the seconds
# until the limit resets in a header.
RATE_LIMITED = 99991400
RESET_HEADER = "x-ogw-ratelimit-reset"
# The token was refused (expired early, revoked): fetched anew and the call tried once more.
TOKEN_REFUSED = frozenset({99991661, 99991663, 99991668})


class FeishuError(Exception):
    def __init__(self, status: int, code: int, msg: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status, self.code, self.msg, self.retry_after = status, code, msg, retry_after

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.code == RATE_LIMITED


@dataclass
class Token:
    value: str
    refresh_at: float


class FeishuAPI:
    def __init__(
        self, app_id: str, app_secret: str, base_url: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app_id, self.app_secret = app_id, app_secret
        self.clock = clock
        self.client = (
            lark.Client.builder()
            .app_id(app_id)
            .app_secret(app_secret)
            .domain(base_url)
            .enable_set_token(True)
            .log_level(lark.LogLevel.WARNING)
            .build()
        )
        self._token: Token | None = None
        self._lock = asyncio.Lock()

    # --- the tenant access token ----------------------------------------------------------------

    async def tenant_token(self) -> str:
        async with self._lock:  # one fetch however many sends wait for it
            if self._token is None or self.clock() >= self._token.refresh_at:
                request = self._request(
                    lark.HttpMethod.POST,
                    TOKEN_PATH,
                    body={"app_id": self.app_id, "app_secret": self.app_secret},
                    token=False,
                )
                answer = await self._send(request, None)
                expire = int(answer.get("expire") or 7200)
                self._token = Token(str(answer["tenant_access_token"]), self.clock() + expire - REFRESH_BEFORE)
            return self._token.value

    def forget_token(self) -> None:
        self._token = None

    # --- calls ----------------------------------------------------------------------------------

    async def call(
        self,
        method: lark.HttpMethod,
        path: str,
        *,
        body: Any = None,
        queries: list[tuple[str, str]] | None = None,
        raw: bool = False,
    ) -> Any:
        """One call with the tenant token: its `data` (or the bytes, for a download); FeishuError otherwise."""
        for attempt in (1, 2):
            option = lark.RequestOption.builder().tenant_access_token(await self.tenant_token()).build()
            request = self._request(method, path, body=body, queries=queries)
            try:
                return await self._send(request, option, raw=raw)
            except FeishuError as exc:
                if exc.code not in TOKEN_REFUSED or attempt == 2:
                    raise
                self.forget_token()
        raise AssertionError("unreachable")

    def _request(
        self,
        method: lark.HttpMethod,
        path: str,
        *,
        body: Any = None,
        queries: list[tuple[str, str]] | None = None,
        token: bool = True,
    ) -> lark.BaseRequest:
        builder = lark.BaseRequest.builder().http_method(method).uri(path).queries(list(queries or []))
        if token:
            builder = builder.token_types({lark.AccessTokenType.TENANT})
        if body is not None:
            builder = builder.body(body)
        return builder.build()

    async def _send(self, request: lark.BaseRequest, option: lark.RequestOption | None, *, raw: bool = False) -> Any:
        response = await self.client.arequest(request, option)
        status = int(response.raw.status_code)
        headers = {str(k).lower(): str(v) for k, v in (response.raw.headers or {}).items()}
        content: bytes = response.raw.content or b""
        if raw and status == 200 and not headers.get("content-type", "").startswith("application/json"):
            return content
        try:
            answer = json.loads(content) if content else {}
        except ValueError:
            answer = {}
        code = int(answer.get("code", 0 if status == 200 else -1))
        if status != 200 or code != 0:
            reset = headers.get(RESET_HEADER, "")
            retry = float(reset) if reset.replace(".", "", 1).isdigit() else None
            raise FeishuError(status, code, str(answer.get("msg", "")), retry)
        data = answer.get("data")
        # The token endpoint answers at the top level, every other one under "data".
        return data if isinstance(data, dict) else answer

    # --- what Houqin asks of Feishu -------------------------------------------------------------

    async def send(self, open_id: str, msg_type: str, content: JSON) -> str:
        """A message to a person (their one-to-one chat with the app); its message_id."""
        data = await self.call(
            lark.HttpMethod.POST,
            "/open-apis/im/v1/messages",
            queries=[("receive_id_type", "open_id")],
            body={"receive_id": open_id, "msg_type": msg_type, "content": json.dumps(content, ensure_ascii=False)},
        )
        return str(data["message_id"])

    async def update_card(self, message_id: str, card: JSON) -> None:
        """A card sent before, drawn anew where it is (PATCH im/v1/messages/{message_id})."""
        await self.call(
            lark.HttpMethod.PATCH,
            f"/open-apis/im/v1/messages/{message_id}",
            body={"content": json.dumps(card, ensure_ascii=False)},
        )

    async def upload_image(self, content: bytes) -> str:
        image = io.BytesIO(content)
        data = await self.call(
            lark.HttpMethod.POST, "/open-apis/im/v1/images", body={"image_type": "message", "image": image}
        )
        return str(data["image_key"])

    async def upload_file(self, name: str, content: bytes) -> str:
        file = io.BytesIO(content)
        file.name = name
        body = {"file_type": "stream", "file_name": name, "file": file}
        data = await self.call(lark.HttpMethod.POST, "/open-apis/im/v1/files", body=body)
        return str(data["file_key"])

    async def resource(self, message_id: str, key: str, kind: str) -> bytes:
        """A picture or file someone sent (im/v1/messages/{id}/resources/{key}?type=image|file)."""
        content = await self.call(
            lark.HttpMethod.GET,
            f"/open-apis/im/v1/messages/{message_id}/resources/{key}",
            queries=[("type", kind)],
            raw=True,
        )
        if not isinstance(content, bytes):
            raise FeishuError(200, -1, "not a file")
        return content

    async def user(self, open_id: str) -> JSON:
        """A person in the directory (contact scope): name, departments, leader, status."""
        data = await self.call(
            lark.HttpMethod.GET,
            f"/open-apis/contact/v3/users/{open_id}",
            queries=[("user_id_type", "open_id"), ("department_id_type", "open_department_id")],
        )
        user = data.get("user")
        return user if isinstance(user, dict) else {}

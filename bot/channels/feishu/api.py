"""Feishu's Open Platform, as Houqin calls it: one kept HTTP client, the tenant access token kept here.

lark-oapi's own client is not used for these calls, for two measured reasons: its async transport
opens a new httpx client for every call (34 ms of CPU each on the benchmark machine, for the SSL
context: at 20 notices a second, most of a core), and its token cache fetches tokens with blocking
`requests` calls, which would stall the event loop. So calls go through one httpx client kept for
the channel's life, and the token is fetched, cached and refreshed ten minutes before it expires
here, asynchronously. Feishu hands every caller the same token until its last 30 minutes, so the
processes of one Houqin share it without talking to each other.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from bot.channels.tokens import CachedToken

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
TIMEOUT_SECONDS = 10.0


class FeishuError(Exception):
    def __init__(self, status: int, code: int, msg: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status, self.code, self.msg, self.retry_after = status, code, msg, retry_after

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.code == RATE_LIMITED


class FeishuAPI:
    def __init__(
        self, app_id: str, app_secret: str, base_url: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app_id, self.app_secret, self.base_url = app_id, app_secret, base_url
        self.clock = clock
        self._http: httpx.AsyncClient | None = None
        self._token = CachedToken(self._fetch_token, REFRESH_BEFORE, lambda: self.clock())

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.base_url, timeout=TIMEOUT_SECONDS)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # --- the tenant access token ----------------------------------------------------------------

    async def tenant_token(self) -> str:
        return await self._token.get()

    async def _fetch_token(self) -> tuple[str, float]:
        credentials = {"app_id": self.app_id, "app_secret": self.app_secret}
        answer = await self._answer(await self.http.post(TOKEN_PATH, json=credentials))
        return str(answer["tenant_access_token"]), int(answer.get("expire") or 7200)

    def forget_token(self) -> None:
        self._token.forget()

    # --- calls ----------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: JSON | None = None,
        queries: list[tuple[str, str]] | None = None,
        form: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes]] | None = None,
        raw: bool = False,
    ) -> Any:
        """One call with the tenant token: its `data` (or the bytes, for a download); FeishuError otherwise."""
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self.tenant_token()}"}
            response = await self.http.request(
                method,
                path,
                params=tuple(queries or ()),
                json=body,
                data=form,
                files=files,
                headers=headers,
            )
            try:
                return await self._answer(response, raw=raw)
            except FeishuError as exc:
                if exc.code not in TOKEN_REFUSED or attempt == 2:
                    raise
                self.forget_token()
        raise AssertionError("unreachable")

    async def _answer(self, response: httpx.Response, *, raw: bool = False) -> Any:
        status = response.status_code
        if raw and status == 200 and not response.headers.get("content-type", "").startswith("application/json"):
            return response.content
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        code = int(answer.get("code", 0 if status == 200 else -1))
        if status != 200 or code != 0:
            reset = response.headers.get(RESET_HEADER, "")
            retry = float(reset) if reset.replace(".", "", 1).isdigit() else None
            raise FeishuError(status, code, str(answer.get("msg", "")), retry)
        data = answer.get("data")
        # The token endpoint answers at the top level, every other one under "data".
        return data if isinstance(data, dict) else answer

    # --- what Houqin asks of Feishu -------------------------------------------------------------

    async def send(self, open_id: str, msg_type: str, content: JSON) -> str:
        """A message to a person (their one-to-one chat with the app); its message_id."""
        data = await self.call(
            "POST",
            "/open-apis/im/v1/messages",
            queries=[("receive_id_type", "open_id")],
            body={"receive_id": open_id, "msg_type": msg_type, "content": json.dumps(content, ensure_ascii=False)},
        )
        return str(data["message_id"])

    async def update_card(self, message_id: str, card: JSON) -> None:
        """A card sent before, drawn anew where it is (PATCH im/v1/messages/{message_id})."""
        body = {"content": json.dumps(card, ensure_ascii=False)}
        await self.call("PATCH", f"/open-apis/im/v1/messages/{segment(message_id)}", body=body)

    async def upload_image(self, content: bytes) -> str:
        files = {"image": ("image", content)}
        data = await self.call("POST", "/open-apis/im/v1/images", form={"image_type": "message"}, files=files)
        return str(data["image_key"])

    async def upload_file(self, name: str, content: bytes) -> str:
        form = {"file_type": "stream", "file_name": name}
        data = await self.call("POST", "/open-apis/im/v1/files", form=form, files={"file": (name, content)})
        return str(data["file_key"])

    async def resource(self, message_id: str, key: str, kind: str) -> bytes:
        """A picture or file someone sent (im/v1/messages/{id}/resources/{key}?type=image|file)."""
        path = f"/open-apis/im/v1/messages/{segment(message_id)}/resources/{segment(key)}"
        content = await self.call("GET", path, queries=[("type", kind)], raw=True)
        if not isinstance(content, bytes):
            raise FeishuError(200, -1, "not a file")
        return content

    async def user(self, open_id: str) -> JSON:
        """A person in the directory (contact scope): name, departments, leader, status."""
        queries = [("user_id_type", "open_id"), ("department_id_type", "open_department_id")]
        data = await self.call("GET", f"/open-apis/contact/v3/users/{segment(open_id)}", queries=queries)
        user = data.get("user")
        return user if isinstance(user, dict) else {}


def segment(value: str) -> str:
    """An id in a path, encoded (an id is never a path of its own: no "/", "?" or "#" get through)."""
    return quote(value, safe="")

"""WeCom's server API (qyapi, or a private deployment's host), as Houqin calls it: asynchronously
over httpx, with the app's access token kept here.

wechatpy's client would do these calls with blocking `requests`, stalling the event loop, so only
its crypto is used (callback.py). The access token is fetched with the corp id and the app's secret,
kept until five minutes before it expires and fetched anew when WeCom refuses it (42001 expired,
40014 invalid). WeCom hands every caller the same token while it is valid, so the processes of one
Houqin share it without talking to each other, and `gettoken` is called about once a process in two
hours (WeCom throttles an app that fetches tokens over and over).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot.channels.tokens import CachedToken

log = logging.getLogger(__name__)
JSON = dict[str, Any]
# Refresh the token this long before WeCom says it expires.
REFRESH_BEFORE = 5 * 60
# The token was refused (expired early, or invalid): fetched anew and the call tried once more.
TOKEN_REFUSED = frozenset({40001, 40014, 42001})
# Too many calls: the app's frequency limit (45009) or too many at once (45033).
RATE_LIMITED = frozenset({45009, 45033})
# Nobody the message was for can be reached: left, or outside the app's visible range.
NOBODY_REACHABLE = 81013
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class WeComError(Exception):
    def __init__(self, code: int, msg: str, status: int = 200) -> None:
        super().__init__(f"{code} {msg}")
        self.code, self.msg, self.status = code, msg, status

    @property
    def rate_limited(self) -> bool:
        return self.code in RATE_LIMITED or self.status == 429


@dataclass(frozen=True)
class Sent:
    """A message WeCom took: its id, and for an interactive card the code that may update it once."""

    msgid: str
    response_code: str | None = None


class WeComAPI:
    def __init__(
        self,
        corp_id: str,
        secret: str,
        agent_id: int,
        base_url: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.corp_id, self.secret, self.agent_id = corp_id, secret, agent_id
        self.clock = clock
        self.http = httpx.AsyncClient(base_url=base_url, timeout=TIMEOUT)
        self._token = CachedToken(self._fetch_token, REFRESH_BEFORE, lambda: self.clock())

    async def close(self) -> None:
        await self.http.aclose()

    # --- the access token -----------------------------------------------------------------------

    async def access_token(self) -> str:
        return await self._token.get()

    async def _fetch_token(self) -> tuple[str, float]:
        response = await self.http.get("/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret})
        answer = self._answer(response)
        return str(answer["access_token"]), int(answer.get("expires_in") or 7200)

    def forget_token(self) -> None:
        self._token.forget()

    # --- calls ----------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: JSON | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        raw: bool = False,
    ) -> Any:
        """One call with the access token: its JSON answer (or the bytes, for a download); WeComError
        when WeCom says errcode other than 0."""
        for attempt in (1, 2):
            query = {**(params or {}), "access_token": await self.access_token()}
            content = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
            headers = {"Content-Type": "application/json; charset=utf-8"} if content is not None else None
            response = await self.http.request(
                method, path, params=query, content=content, files=files, headers=headers
            )
            if raw and response.status_code == 200 and not _is_json(response):
                return response.content
            try:
                return self._answer(response)
            except WeComError as exc:
                if exc.code not in TOKEN_REFUSED or attempt == 2:
                    raise
                self.forget_token()
        raise AssertionError("unreachable")

    @staticmethod
    def _answer(response: httpx.Response) -> JSON:
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        code = int(answer.get("errcode", 0 if response.status_code == 200 else -1))
        if response.status_code != 200 or code != 0:
            raise WeComError(code, str(answer.get("errmsg", "")), response.status_code)
        return answer

    # --- what Houqin asks of WeCom --------------------------------------------------------------

    async def send(self, userid: str, message: JSON) -> Sent:
        """A message to one person from the app (message/send): {"msgtype": ..., <msgtype>: {...}}."""
        body = {"touser": userid, "agentid": self.agent_id, **message}
        answer = await self.call("POST", "/cgi-bin/message/send", body=body)
        if userid in str(answer.get("invaliduser") or "").split("|"):
            # Taken, but not for them: outside the app's visible range, or gone.
            raise WeComError(NOBODY_REACHABLE, f"invalid user {userid}")
        code = answer.get("response_code")
        return Sent(str(answer.get("msgid") or ""), str(code) if code else None)

    async def update_card(self, userid: str, response_code: str, change: JSON) -> None:
        """A card sent before, changed where it is (message/update_template_card): `change` is
        {"button": {"replace_name": ...}} or {"template_card": {...}}. The code is spent."""
        body = {"userids": [userid], "agentid": self.agent_id, "response_code": response_code, **change}
        await self.call("POST", "/cgi-bin/message/update_template_card", body=body)

    async def upload(self, kind: str, name: str, content: bytes, content_type: str) -> str:
        """A picture or file uploaded as temporary media (3 days): its media_id."""
        answer = await self.call(
            "POST", "/cgi-bin/media/upload", params={"type": kind}, files={"media": (name, content, content_type)}
        )
        return str(answer["media_id"])

    async def media(self, media_id: str) -> bytes:
        """A picture someone sent (media/get)."""
        content = await self.call("GET", "/cgi-bin/media/get", params={"media_id": media_id}, raw=True)
        if not isinstance(content, bytes):
            raise WeComError(-1, "not a file")
        return content

    async def user(self, userid: str) -> JSON:
        return dict(await self.call("GET", "/cgi-bin/user/get", params={"userid": userid}))

    async def departments(self) -> list[JSON]:
        answer = await self.call("GET", "/cgi-bin/department/list")
        return [d for d in answer.get("department") or [] if isinstance(d, dict)]

    async def members(self, department_id: int) -> list[JSON]:
        answer = await self.call("GET", "/cgi-bin/user/list", params={"department_id": department_id})
        return [u for u in answer.get("userlist") or [] if isinstance(u, dict)]

    async def create_menu(self, menu: JSON) -> None:
        await self.call("POST", "/cgi-bin/menu/create", params={"agentid": self.agent_id}, body=menu)


def _is_json(response: httpx.Response) -> bool:
    kind = str(response.headers.get("content-type", ""))
    return kind.startswith(("application/json", "text/plain"))

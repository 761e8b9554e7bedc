"""DingTalk's open platform, as Houqin calls it (httpx): the app's access token, the robot's
one-to-one messages, the files people sent it, media uploads and the contact directory.

The access token (POST /v1.0/oauth2/accessToken with the AppKey and AppSecret) lives 7200 s; it is
kept per process and fetched again ten minutes before it expires, or at once when refused. DingTalk
hands every caller the same token until near its end, so processes need not share it.

Two APIs: the new one (api.dingtalk.com, /v1.0/…, the token in x-acs-dingtalk-access-token, errors
as {"code": "...", "message": "..."} with a non-200 status) and the legacy one (oapi.dingtalk.com,
the token as ?access_token=, errors as {"errcode": n, "errmsg": "..."} with 200) where only it has
what Houqin needs (the contact directory, media upload).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot.channels.tokens import CachedToken

log = logging.getLogger(__name__)
JSON = dict[str, Any]
TOKEN_PATH = "/v1.0/oauth2/accessToken"
SEND_PATH = "/v1.0/robot/oToMessages/batchSend"
DOWNLOAD_PATH = "/v1.0/robot/messageFiles/download"
TOKEN_HEADER = "x-acs-dingtalk-access-token"
# Refresh the token this long before DingTalk says it expires.
REFRESH_BEFORE = 10 * 60
# DingTalk's answers when an app calls too fast: the new API's 403/429 codes (per second, per minute,
# per app and API) and the legacy API's errcodes.
RATE_LIMIT_CODES = frozenset(
    {
        "Forbidden.AccessDenied.QpsLimitForApi",
        "Forbidden.AccessDenied.QpmLimitForApi",
        "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
        "Forbidden.AccessDenied.QpmLimitForAppkeyAndApi",
        "Throttling",
        "send.too.fast",
        "90002",
        "90018",
    }
)
TOKEN_REFUSED = frozenset({"InvalidAuthentication", "Forbidden.AccessDenied.AccessTokenPermissionDenied", "40014"})
TIMEOUT = httpx.Timeout(15.0)


class DingTalkError(Exception):
    def __init__(self, status: int, code: str, msg: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status, self.code, self.msg, self.retry_after = status, code, msg, retry_after

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.code in RATE_LIMIT_CODES


@dataclass(frozen=True)
class Sent:
    """What batchSend said: the key of the message sent, and anyone it could not or would not reach."""

    key: str
    invalid: tuple[str, ...] = ()
    flow_controlled: tuple[str, ...] = ()


class DingTalkAPI:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        robot_code: str,
        base_url: str,
        oapi_url: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id, self.client_secret, self.robot_code = client_id, client_secret, robot_code
        self.base_url, self.oapi_url = base_url, oapi_url
        self.clock = clock
        self.http = httpx.AsyncClient(timeout=TIMEOUT)
        self._token = CachedToken(self._fetch_token, REFRESH_BEFORE, lambda: self.clock())

    async def close(self) -> None:
        await self.http.aclose()

    # --- the access token -----------------------------------------------------------------------

    async def access_token(self) -> str:
        return await self._token.get()

    async def _fetch_token(self) -> tuple[str, float]:
        response = await self.http.post(
            self.base_url + TOKEN_PATH, json={"appKey": self.client_id, "appSecret": self.client_secret}
        )
        answer = self._checked(response)
        return str(answer["accessToken"]), int(answer.get("expireIn") or 7200)

    def forget_token(self) -> None:
        self._token.forget()

    # --- calls ----------------------------------------------------------------------------------

    async def call(self, path: str, body: JSON, method: str = "POST") -> JSON:
        """One call to the new API (JSON) with the token; DingTalkError otherwise."""
        return await self._with_token(
            lambda token: self.http.request(method, self.base_url + path, json=body, headers={TOKEN_HEADER: token})
        )

    async def legacy(self, path: str, body: JSON | None = None, files: dict[str, Any] | None = None) -> JSON:
        """One call to the legacy API (oapi): the token as a query; its errcode checked."""
        url = self.oapi_url + path
        if files is not None:
            return await self._with_token(
                lambda token: self.http.post(url, params={"access_token": token}, data=body, files=files)
            )
        return await self._with_token(lambda token: self.http.post(url, params={"access_token": token}, json=body))

    async def _with_token(self, post: Callable[[str], Awaitable[httpx.Response]]) -> JSON:
        """A call with the current token; refused as a bad token, once more with a new one."""
        for attempt in (1, 2):
            try:
                return self._checked(await post(await self.access_token()))
            except DingTalkError as exc:
                if exc.code not in TOKEN_REFUSED or attempt == 2:
                    raise
                self.forget_token()
        raise AssertionError("unreachable")

    @staticmethod
    def _checked(response: httpx.Response) -> JSON:
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        errcode = answer.get("errcode")
        if response.status_code == 200 and errcode in (None, 0):
            return answer
        code = str(answer.get("code") or errcode or response.status_code)
        message = str(answer.get("message") or answer.get("errmsg") or "")
        retry = response.headers.get("retry-after", "")
        retry_after = float(retry) if retry.replace(".", "", 1).isdigit() else None
        raise DingTalkError(response.status_code, code, message, retry_after)

    # --- what Houqin asks of DingTalk -----------------------------------------------------------

    async def send(self, user_id: str, msg_key: str, param: JSON) -> Sent:
        """A robot message in a person's one-to-one chat (oToMessages/batchSend, one person)."""
        answer = await self.call(
            SEND_PATH,
            {
                "robotCode": self.robot_code,
                "userIds": [user_id],
                "msgKey": msg_key,
                "msgParam": json.dumps(param, ensure_ascii=False),
            },
        )
        return Sent(
            str(answer.get("processQueryKey") or ""),
            tuple(str(u) for u in answer.get("invalidStaffIdList") or ()),
            tuple(str(u) for u in answer.get("flowControlledStaffIdList") or ()),
        )

    async def create_card(self, template_id: str, track_id: str, user_id: str, params: dict[str, str]) -> None:
        """An interactive card from a template in the person's chat with the robot; its presses come
        back over the stream (callbackType STREAM) with `track_id` (outTrackId)."""
        await self.call(
            "/v1.0/card/instances/createAndDeliver",
            {
                "cardTemplateId": template_id,
                "outTrackId": track_id,
                "callbackType": "STREAM",
                "cardData": {"cardParamMap": params},
                "openSpaceId": f"dtv1.card//IM_ROBOT.{user_id}",
                "imRobotOpenSpaceModel": {"supportForward": False},
                "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT", "robotCode": self.robot_code},
                "userIdType": 1,
            },
        )

    async def update_card(self, track_id: str, params: dict[str, str]) -> None:
        """A card sent before, its variables changed where it is (PUT /v1.0/card/instances)."""
        await self.call(
            "/v1.0/card/instances",
            {
                "outTrackId": track_id,
                "cardData": {"cardParamMap": params},
                "cardUpdateOptions": {"updateCardDataByKey": True},
                "userIdType": 1,
            },
            method="PUT",
        )

    async def download(self, download_code: str, limit: int) -> bytes | None:
        """A picture or file someone sent the robot: its download URL, then its bytes (None past `limit`)."""
        answer = await self.call(DOWNLOAD_PATH, {"downloadCode": download_code, "robotCode": self.robot_code})
        url = str(answer.get("downloadUrl") or "")
        if not url:
            raise DingTalkError(200, "no.url", "no downloadUrl")
        chunks, size = [], 0
        async with self.http.stream("GET", url) as response:
            if response.status_code != 200:
                raise DingTalkError(response.status_code, "download", "file not served")
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    return None
                chunks.append(chunk)
        return b"".join(chunks)

    async def upload(self, kind: str, name: str, content: bytes, content_type: str) -> str:
        """A picture (kind image) or file (kind file) uploaded for a message: its media id."""
        answer = await self.legacy("/media/upload", {"type": kind}, files={"media": (name, content, content_type)})
        return str(answer["media_id"])

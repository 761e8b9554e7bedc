"""A fake DingTalk open platform on 127.0.0.1: what the app asks of DingTalk, recorded, and the two
ways DingTalk hands the robot its messages.

Houqin talks to it over real HTTP (DINGTALK_API_BASE_URL, which also serves the legacy oapi calls):
access tokens (/v1.0/oauth2/accessToken), robot messages to one person (oToMessages/batchSend, kept
per person so a test reads what someone sees), the files people sent (messageFiles/download hands
out a URL that serves the bytes), media uploads, and the contact directory (topapi/v2 department
and user lists). Rate limits are played on demand: 403 Forbidden.AccessDenied.QpsLimitForApi, as
DingTalk answers an app that calls too fast.

Stream mode as DingTalk runs it: /v1.0/gateway/connections/open checks the app's credentials and
hands out a WebSocket endpoint and a ticket; on that socket the fake pushes frames (CALLBACK for the
chatbot topic, EVENT for the organisation's events) and reads the SDK's acknowledgements.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from bot.channels.dingtalk.events import SIGN, TIMESTAMP, sign

JSON = dict[str, Any]
CLIENT_ID = "dinghouqintest"
CLIENT_SECRET = "test-client-secret-0123456789"
SEND = "dtmd://dingtalkclient/sendMessage?content="
CHATBOT_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"
CARD = "interactiveCard"
LINK = re.compile(r"\[((?:\\.|[^\]])*)\]\((dtmd://[^)]*)\)")
ESCAPE = re.compile(r"\\(.)")


def unescaped(markdown: str) -> str:
    """What DingTalk's markdown shows: escapes dropped, `  \\n` a line break."""
    return ESCAPE.sub(r"\1", markdown.replace("  \n", "\n"))


@dataclass
class DingTalkMessage:
    key: str
    user_id: str
    msg_key: str
    param: JSON
    edits: int = 0

    @property
    def shown(self) -> str:
        """What the person reads: the card's words (a crowded card's links are its buttons)."""
        if self.msg_key in ("sampleImageMsg", "sampleFile"):
            return f"[{self.msg_key}]"
        if self.msg_key == CARD:  # a template card: its words, and what was chosen on it
            chosen = str(self.param.get("chosen") or "")
            return unescaped(str(self.param.get("markdown") or "")) + (f"\n{chosen}" if chosen else "")
        text = str(self.param.get("text") or self.param.get("content") or "")
        return unescaped(LINK.sub("", text).rstrip("\n -"))

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, what pressing it sends — a template card's: its payload), top to bottom."""
        if self.msg_key == CARD:
            return [(str(b["text"]), str(b["payload"])) for b in json.loads(str(self.param.get("buttons") or "[]"))]
        found: list[tuple[str, str]] = []
        if "singleTitle" in self.param:
            found.append((str(self.param["singleTitle"]), str(self.param["singleURL"])))
        for number in range(1, 6):
            if f"actionTitle{number}" in self.param:
                found.append((str(self.param[f"actionTitle{number}"]), str(self.param[f"actionURL{number}"])))
        for label, url in LINK.findall(str(self.param.get("text") or "")):
            found.append((unescaped(label), url))
        return [(label, unquote(url.removeprefix(SEND))) for label, url in found]

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.buttons]


@dataclass
class DirectoryUser:
    user_id: str
    name: str
    departments: list[int] = field(default_factory=list)
    leader_of: list[int] = field(default_factory=list)
    left: bool = False


@dataclass
class Department:
    dept_id: int
    name: str
    parent: int = 1


@dataclass
class FakeDingTalk:
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    base_url: str = ""
    token_lifetime: int = 7200
    tokens: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    messages: dict[str, list[DingTalkMessage]] = field(default_factory=dict)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    # What people sent the robot (pictures, files), by download code.
    files: dict[str, bytes] = field(default_factory=dict)
    users: dict[str, DirectoryUser] = field(default_factory=dict)
    # Interactive cards by outTrackId (also in their person's chat).
    cards: dict[str, DingTalkMessage] = field(default_factory=dict)
    departments: dict[int, Department] = field(default_factory=dict)
    # The next so many sends to a person are refused as too fast (see limit).
    storms: dict[str, int] = field(default_factory=dict)
    rate_limited_answers: int = 0
    # DingTalk's per-app QPS limit on batchSend, when a test (or a benchmark) plays it: more sends
    # than this within any second are refused as too fast.
    qps: float | None = None
    sent_times: list[float] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    # Stream mode: tickets handed out, the SDK's socket, and its acknowledgements by message id.
    tickets: set[str] = field(default_factory=set)
    _socket: web.WebSocketResponse | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    acks: list[JSON] = field(default_factory=list)
    _waiting: dict[str, asyncio.Future[JSON]] = field(default_factory=dict)

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/v1.0/oauth2/accessToken", self._token)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._send)
        app.router.add_post("/v1.0/robot/messageFiles/download", self._download)
        app.router.add_post("/v1.0/card/instances/createAndDeliver", self._create_card)
        app.router.add_put("/v1.0/card/instances", self._update_card)
        app.router.add_get("/files/{code}", self._file)
        app.router.add_post("/media/upload", self._upload)
        app.router.add_post("/topapi/v2/department/listsub", self._listsub)
        app.router.add_post("/topapi/v2/user/list", self._user_list)
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/connect", self._connect)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what a test reads ----------------------------------------------------------------------

    def chat_of(self, user_id: str) -> list[DingTalkMessage]:
        return self.messages.setdefault(user_id, [])

    def called(self, what: str) -> int:
        return sum(1 for call in self.calls if call.startswith(what))

    def measured_rate(self) -> float:
        """Messages accepted per second, first to last."""
        if len(self.sent_times) < 2:
            return 0.0
        return (len(self.sent_times) - 1) / (self.sent_times[-1] - self.sent_times[0])

    def limit(self, user_id: str, times: int) -> None:
        """DingTalk's QPS limit: the next `times` messages to this person are refused as too fast."""
        self.storms[user_id] = times

    # --- the API --------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get("x-acs-dingtalk-access-token") or request.query.get("access_token", "")
        return bool(self.tokens) and given == self.tokens[-1]

    @staticmethod
    def _denied() -> web.Response:
        return web.json_response({"code": "InvalidAuthentication", "message": "不合法的access_token"}, status=401)

    @staticmethod
    def _legacy_denied() -> web.Response:
        return web.json_response({"errcode": 40014, "errmsg": "不合法的access_token"})

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(request.path)
        if body.get("appKey") != self.client_id or body.get("appSecret") != self.client_secret:
            return web.json_response({"code": "invalidClientIdOrSecret", "message": "无效的clientId"}, status=400)
        self.tokens.append(f"tok-{next(self._ids):06d}")
        return web.json_response({"accessToken": self.tokens[-1], "expireIn": self.token_lifetime})

    async def _send(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        if not self._authorised(request):
            return self._denied()
        body = await request.json()
        assert body["robotCode"] == self.client_id, body
        [user_id] = body["userIds"]
        now = time.monotonic()
        recent = sum(1 for t in self.sent_times[-int(self.qps or 0) - 1 :] if now - t < 1.0)
        if self.storms.get(user_id, 0) > 0 or (self.qps is not None and recent >= self.qps):
            self.storms[user_id] = max(0, self.storms.get(user_id, 0) - 1)
            self.rate_limited_answers += 1
            return web.json_response(
                {"code": "Forbidden.AccessDenied.QpsLimitForApi", "message": "调用频率超过限制"}, status=403
            )
        key = f"pqk-{next(self._ids):06d}"
        if user_id in self.users and self.users[user_id].left:
            return web.json_response({"processQueryKey": key, "invalidStaffIdList": [user_id]})
        message = DingTalkMessage(key, user_id, str(body["msgKey"]), json.loads(body["msgParam"]))
        self.chat_of(user_id).append(message)
        self.sent_times.append(now)
        return web.json_response({"processQueryKey": key, "invalidStaffIdList": [], "flowControlledStaffIdList": []})

    async def _create_card(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        if not self._authorised(request):
            return self._denied()
        body = await request.json()
        assert body["callbackType"] == "STREAM" and body["imRobotOpenDeliverModel"]["robotCode"] == self.client_id
        user_id = str(body["openSpaceId"]).removeprefix("dtv1.card//IM_ROBOT.")
        params = body["cardData"]["cardParamMap"]
        assert all(isinstance(value, str) for value in params.values()), "cardParamMap takes strings"
        card = DingTalkMessage(str(body["outTrackId"]), user_id, CARD, dict(params))
        card.param["template"] = str(body["cardTemplateId"])
        self.chat_of(user_id).append(card)
        self.cards[card.key] = card
        result = {"outTrackId": card.key, "deliverResults": [{"spaceType": "IM_ROBOT", "success": True}]}
        return web.json_response({"success": True, "result": result})

    async def _update_card(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        if not self._authorised(request):
            return self._denied()
        body = await request.json()
        card = self.cards.get(str(body["outTrackId"]))
        if card is None:
            return web.json_response({"code": "card.not.exist", "message": "卡片不存在"}, status=400)
        card.param.update(body["cardData"]["cardParamMap"])
        card.edits += 1
        return web.json_response({"success": True, "result": True})

    async def _download(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        if not self._authorised(request):
            return self._denied()
        code = str((await request.json()).get("downloadCode"))
        if code not in self.files:
            return web.json_response({"code": "resource.not.found", "message": "文件不存在"}, status=400)
        return web.json_response({"downloadUrl": f"{self.base_url}/files/{code}"})

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=self.files[request.match_info["code"]], content_type="application/octet-stream")

    async def _upload(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        if not self._authorised(request):
            return self._legacy_denied()
        form = await request.post()
        media = form["media"]
        media_id = f"@lAD{next(self._ids):06d}"
        self.media[media_id] = (str(form.get("type")), media.file.read() if hasattr(media, "file") else b"")
        return web.json_response({"errcode": 0, "errmsg": "ok", "type": form.get("type"), "media_id": media_id})

    async def _listsub(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        if not self._authorised(request):
            return self._legacy_denied()
        parent = int((await request.json())["dept_id"])
        result = [
            {"dept_id": d.dept_id, "name": d.name, "parent_id": d.parent}
            for d in self.departments.values()
            if d.parent == parent
        ]
        return web.json_response({"errcode": 0, "errmsg": "ok", "result": result})

    async def _user_list(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        if not self._authorised(request):
            return self._legacy_denied()
        body = await request.json()
        department, cursor, size = int(body["dept_id"]), int(body.get("cursor") or 0), int(body["size"])
        everyone = [u for u in self.users.values() if department in u.departments and not u.left]
        page = everyone[cursor : cursor + size]
        people = [
            {
                "userid": u.user_id,
                "unionid": f"union-{u.user_id}",
                "name": u.name,
                "leader": department in u.leader_of,
                "dept_id_list": u.departments,
            }
            for u in page
        ]
        more = cursor + size < len(everyone)
        result = {"has_more": more, "list": people, **({"next_cursor": cursor + size} if more else {})}
        return web.json_response({"errcode": 0, "errmsg": "ok", "result": result})

    # --- Stream mode ----------------------------------------------------------------------------

    async def _open(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(request.path)
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            return web.json_response({"code": "invalidClientIdOrSecret", "message": "无效的clientId"}, status=401)
        ticket = secrets.token_hex(8)
        self.tickets.add(ticket)
        endpoint = f"ws{self.base_url.removeprefix('http')}/connect"
        return web.json_response({"endpoint": endpoint, "ticket": ticket})

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self.tickets:
            return web.Response(status=403)
        self.tickets.discard(request.query["ticket"])
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        self.connected.set()
        async for frame in socket:
            if frame.type != WSMsgType.TEXT:
                continue
            ack = json.loads(frame.data)
            self.acks.append(ack)
            waiting = self._waiting.pop(str(ack.get("headers", {}).get("messageId")), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(ack)
        self._socket = None
        self.connected.clear()
        return socket

    async def push(self, kind: str, topic: str, data: JSON, headers: JSON | None = None) -> JSON:
        """A frame over the stream, as DingTalk sends it; the SDK's acknowledgement."""
        assert self._socket is not None, "no stream connected"
        message_id = f"frame-{next(self._ids):06d}"
        frame = {
            "specVersion": "1.0",
            "type": kind,
            "headers": {
                "appId": "app-houqin",
                "connectionId": "conn-1",
                "contentType": "application/json",
                "messageId": message_id,
                "time": str(int(time.time() * 1000)),
                "topic": topic,
                **(headers or {}),
            },
            "data": json.dumps(data, ensure_ascii=False),
        }
        answer: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = answer
        await self._socket.send_str(json.dumps(frame, ensure_ascii=False))
        return await asyncio.wait_for(answer, timeout=10)


def signed(*, secret: str = CLIENT_SECRET, age: float = 0) -> dict[str, str]:
    """DingTalk's headers on a robot's HTTP-mode request: the timestamp (ms) and its signature."""
    timestamp = str(int((time.time() - age) * 1000))
    return {"Content-Type": "application/json", TIMESTAMP: timestamp, SIGN: sign(timestamp, secret)}

"""A fake Feishu Open Platform on 127.0.0.1: what the app asks of Feishu, recorded, and the way
Feishu sends the app its events, both ways.

The SDK (lark-oapi) talks to it over real HTTP (FEISHU_API_BASE_URL), so tests exercise its encoding
as production does: tenant access tokens (internal apps), messages sent and cards patched (kept per
person, so a test reads what someone sees), images and files uploaded, a message's resources
downloaded, the contact directory (users, departments). Rate limits are played on demand: 429 with
code 99991400 and the reset header, as Feishu answers.

Events reach the app as Feishu delivers them: `FeishuEvents` encrypts (AES-256-CBC, key sha256 of the
encrypt key, random IV in front) and signs (X-Lark-Signature) a body for the webhook, and the long
connection's endpoint (/callback/ws/endpoint) hands the SDK's ws.Client a WebSocket on which the
fake pushes the same events as protobuf frames (lark-oapi's own pbbp2 Frame) and reads the answers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import WSMsgType, web
from Crypto.Cipher import AES

from bot.channels.feishu.events import NONCE, SIGNATURE, TIMESTAMP, signature

JSON = dict[str, Any]
APP_ID = "cli_houqin_test"
APP_SECRET = "test-app-secret"
ENCRYPT_KEY = "test-encrypt-key"
VERIFICATION_TOKEN = "test-verification-token"


@dataclass
class FeishuMessage:
    id: str
    open_id: str
    msg_type: str
    content: JSON
    edits: int = 0

    @property
    def shown(self) -> str:
        """What the person reads: a card's words, or a text message's."""
        if self.msg_type == "text":
            return str(self.content.get("text", ""))
        if self.msg_type != "interactive":
            return f"[{self.msg_type}]"
        return "\n".join(
            str(e["text"]["content"]) for e in self.content.get("body", {}).get("elements", []) if e.get("tag") == "div"
        )

    @property
    def buttons(self) -> list[JSON]:
        found = []
        for element in self.content.get("body", {}).get("elements", []) if self.msg_type == "interactive" else []:
            if element.get("tag") == "button":
                found.append(element)
            for column in element.get("columns", []):
                found.extend(e for e in column.get("elements", []) if e.get("tag") == "button")
        return found

    @property
    def labels(self) -> list[str]:
        return [str(b["text"]["content"]) for b in self.buttons]

    @property
    def inputs(self) -> list[JSON]:
        elements = self.content.get("body", {}).get("elements", []) if self.msg_type == "interactive" else []
        return [e for e in elements if e.get("tag") == "input"]

    @property
    def selects(self) -> list[JSON]:
        elements = self.content.get("body", {}).get("elements", []) if self.msg_type == "interactive" else []
        return [e for e in elements if e.get("tag") == "select_static"]


@dataclass
class DirectoryUser:
    open_id: str
    name: str
    union_id: str = ""
    department_ids: list[str] = field(default_factory=list)
    leader_open_id: str = ""
    resigned: bool = False

    def as_feishu(self) -> JSON:
        return {
            "open_id": self.open_id,
            "union_id": self.union_id or f"on_{self.open_id.removeprefix('ou_')}",
            "name": self.name,
            "en_name": self.name,
            "department_ids": self.department_ids,
            "leader_user_id": self.leader_open_id,
            "status": {"is_resigned": self.resigned, "is_activated": not self.resigned},
        }


@dataclass
class Department:
    open_department_id: str
    name: str
    parent: str = "0"
    leader_open_id: str = ""


def new_frame() -> Any:
    """The SDK's protobuf frame. Imported when a long connection is in use (its client has loaded the
    SDK by then): importing the SDK takes seconds, which every test process would pay otherwise."""
    from lark_oapi.ws.pb.pbbp2_pb2 import Frame

    return Frame()


@dataclass
class FakeFeishu:
    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    base_url: str = ""
    # How long a tenant token lives (Feishu: 7200 s); tokens given out, in order.
    token_lifetime: int = 7200
    tokens: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    messages: dict[str, list[FeishuMessage]] = field(default_factory=dict)
    by_id: dict[str, FeishuMessage] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    # What people sent the app (pictures, files), by key: served by the message resource API.
    resources: dict[str, bytes] = field(default_factory=dict)
    users: dict[str, DirectoryUser] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)
    # The next so many sends (or patches) to a person are answered 429 / 99991400 (see limit).
    storms: dict[str, tuple[int, int]] = field(default_factory=dict)
    rate_limited_answers: int = 0
    # Feishu's limits, enforced when set (enforce): messages a second per app and per person.
    per_app: float | None = None
    per_person: float | None = None
    accepted_at: list[float] = field(default_factory=list)
    _recent: dict[str, list[float]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    # The long connections (one per process, Feishu's cluster mode: each event goes to one of them,
    # here in turn), and the answers they gave to frames, by frame message id.
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    pushed: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    _answers: dict[str, asyncio.Future[JSON]] = field(default_factory=dict)

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        app.router.add_post("/open-apis/im/v1/messages", self._send)
        app.router.add_patch("/open-apis/im/v1/messages/{message_id}", self._patch)
        app.router.add_post("/open-apis/im/v1/images", self._upload_image)
        app.router.add_post("/open-apis/im/v1/files", self._upload_file)
        app.router.add_get("/open-apis/im/v1/messages/{message_id}/resources/{key}", self._resource)
        app.router.add_get("/open-apis/contact/v3/users/find_by_department", self._users_of)
        app.router.add_get("/open-apis/contact/v3/users/{open_id}", self._user)
        app.router.add_get("/open-apis/contact/v3/departments/{department_id}/children", self._children)
        app.router.add_get("/open-apis/contact/v3/departments/{department_id}", self._department)
        app.router.add_post("/callback/ws/endpoint", self._ws_endpoint)
        app.router.add_get("/ws", self._ws)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for socket in list(self.sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what a test reads ----------------------------------------------------------------------

    def person(self, open_id: str, name: str, **given: Any) -> DirectoryUser:
        self.users[open_id] = DirectoryUser(open_id, name, **given)
        return self.users[open_id]

    def chat_of(self, open_id: str) -> list[FeishuMessage]:
        return self.messages.setdefault(open_id, [])

    def called(self, what: str) -> int:
        return sum(1 for method, path in self.calls if f"{method} {path}".startswith(what))

    # --- the API --------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return bool(self.tokens) and given == f"Bearer {self.tokens[-1]}"

    def _denied(self) -> web.Response:
        return web.json_response({"code": 99991663, "msg": "Invalid access token for authorization."}, status=400)

    def _ok(self, data: JSON) -> web.Response:
        return web.json_response({"code": 0, "msg": "success", "data": data})

    def limit(self, open_id: str, times: int, reset_after: int = 1) -> None:
        """Feishu's rate limit for this person: the next `times` messages to them (or patches of
        their cards) are refused with 429, the limit resetting after `reset_after` seconds."""
        self.storms[open_id] = (times, reset_after)

    def enforce(self, per_app: float, per_person: float) -> None:
        """From now on, messages beyond these rates (in any second) are refused as Feishu does."""
        self.per_app, self.per_person = per_app, per_person

    def measured_rate(self) -> float:
        """Messages accepted a second, first to last."""
        if len(self.accepted_at) < 2:
            return 0.0
        return (len(self.accepted_at) - 1) / (self.accepted_at[-1] - self.accepted_at[0])

    def _over_limit(self, open_id: str) -> bool:
        now = time.monotonic()
        everyone = self._recent.setdefault("", [])
        theirs = self._recent.setdefault(open_id, [])
        for window in (everyone, theirs):
            while window and window[0] <= now - 1.0:
                window.pop(0)
        if (self.per_app is not None and len(everyone) >= self.per_app) or (
            self.per_person is not None and len(theirs) >= self.per_person
        ):
            return True
        everyone.append(now)
        theirs.append(now)
        self.accepted_at.append(now)
        return False

    def _storming(self, open_id: str) -> web.Response | None:
        times, reset_after = self.storms.get(open_id, (0, 0))
        if times <= 0 and self._over_limit(open_id):
            times, reset_after = 1, 1
        if times <= 0:
            return None
        self.storms[open_id] = (times - 1, reset_after)
        self.rate_limited_answers += 1
        headers = {"x-ogw-ratelimit-limit": "5", "x-ogw-ratelimit-reset": str(reset_after)}
        return web.json_response(
            {"code": 99991400, "msg": "request trigger frequency limit"}, status=429, headers=headers
        )

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("POST", request.path))
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        self.tokens.append(f"t-{next(self._ids):06d}")
        answer = {"code": 0, "msg": "ok", "tenant_access_token": self.tokens[-1], "expire": self.token_lifetime}
        return web.json_response(answer)

    async def _send(self, request: web.Request) -> web.Response:
        self.calls.append(("POST", request.path))
        if not self._authorised(request):
            return self._denied()
        assert request.query.get("receive_id_type") == "open_id", request.query
        body = await request.json()
        open_id = str(body["receive_id"])
        if (limited := self._storming(open_id)) is not None:
            return limited
        if open_id in self.users and self.users[open_id].resigned:
            return web.json_response({"code": 230013, "msg": "Bot has NO availability to this user."}, status=400)
        message = FeishuMessage(
            f"om_{next(self._ids):06d}", open_id, str(body["msg_type"]), json.loads(body["content"])
        )
        self.chat_of(open_id).append(message)
        self.by_id[message.id] = message
        return self._ok({"message_id": message.id, "msg_type": message.msg_type})

    async def _patch(self, request: web.Request) -> web.Response:
        self.calls.append(("PATCH", request.path))
        if not self._authorised(request):
            return self._denied()
        message = self.by_id.get(request.match_info["message_id"])
        if message is None:
            return web.json_response({"code": 230011, "msg": "The message was withdrawn."}, status=400)
        if (limited := self._storming(message.open_id)) is not None:
            return limited
        message.content = json.loads((await request.json())["content"])
        message.edits += 1
        return self._ok({})

    async def _upload_image(self, request: web.Request) -> web.Response:
        self.calls.append(("POST", request.path))
        if not self._authorised(request):
            return self._denied()
        form = await request.post()
        assert form.get("image_type") == "message"
        image = form["image"]
        key = f"img_v3_{next(self._ids):06d}"
        self.images[key] = image.file.read() if hasattr(image, "file") else bytes(str(image), "utf-8")
        return self._ok({"image_key": key})

    async def _upload_file(self, request: web.Request) -> web.Response:
        self.calls.append(("POST", request.path))
        if not self._authorised(request):
            return self._denied()
        form = await request.post()
        file = form["file"]
        key = f"file_v3_{next(self._ids):06d}"
        content = file.file.read() if hasattr(file, "file") else b""
        self.files[key] = (str(form.get("file_name")), content)
        return self._ok({"file_key": key})

    async def _resource(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", request.path))
        if not self._authorised(request):
            return self._denied()
        content = self.resources.get(request.match_info["key"])
        if content is None:
            return web.json_response({"code": 234003, "msg": "File not in msg."}, status=400)
        return web.Response(body=content, content_type="application/octet-stream")

    async def _user(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", request.path))
        if not self._authorised(request):
            return self._denied()
        user = self.users.get(request.match_info["open_id"])
        if user is None:
            return web.json_response({"code": 41050, "msg": "no user authority error"}, status=400)
        return self._ok({"user": user.as_feishu()})

    async def _users_of(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", request.path))
        if not self._authorised(request):
            return self._denied()
        department = request.query.get("department_id", "0")
        items = [u.as_feishu() for u in self.users.values() if department in u.department_ids and not u.resigned]
        return self._ok({"items": items, "has_more": False})

    async def _children(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", request.path))
        if not self._authorised(request):
            return self._denied()
        parent = request.match_info["department_id"]
        items = [self._department_json(d) for d in self.departments.values() if d.parent == parent]
        return self._ok({"items": items, "has_more": False})

    async def _department(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", request.path))
        found = self.departments.get(request.match_info["department_id"])
        if found is None:
            return web.json_response({"code": 40003, "msg": "department not found"}, status=400)
        return self._ok({"department": self._department_json(found)})

    @staticmethod
    def _department_json(department: Department) -> JSON:
        return {
            "open_department_id": department.open_department_id,
            "name": department.name,
            "parent_department_id": department.parent,
            "leader_user_id": department.leader_open_id,
        }

    # --- the long connection --------------------------------------------------------------------

    async def _ws_endpoint(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(("POST", request.path))
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            return web.json_response({"code": 1000040343, "msg": "invalid app"})
        url = f"ws{self.base_url.removeprefix('http')}/ws?device_id=fake-device&service_id=1"
        config = {"ReconnectCount": 0, "ReconnectInterval": 1, "ReconnectNonce": 0, "PingInterval": 120}
        return web.json_response({"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": config}})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.append(socket)
        self.connected.set()
        async for message in socket:
            if message.type != WSMsgType.BINARY:
                continue
            frame = new_frame()
            frame.ParseFromString(message.data)
            headers = {h.key: h.value for h in frame.headers}
            waiting = self._answers.pop(headers.get("message_id", ""), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(json.loads(frame.payload))
        self.sockets.remove(socket)
        if not self.sockets:
            self.connected.clear()
        return socket

    async def push(self, payload: JSON) -> JSON:
        """An event over the long connection, as Feishu frames it; the SDK's answer (code, data)."""
        assert self.sockets, "no long connection"
        socket = self.sockets[self.pushed % len(self.sockets)]
        self.pushed += 1
        frame = new_frame()
        frame.SeqID, frame.LogID, frame.service, frame.method = 0, 0, 1, 1  # method 1: a data frame
        message_id = f"msg_{next(self._ids):06d}"
        for key, value in (
            ("type", "event"),
            ("message_id", message_id),
            ("sum", "1"),
            ("seq", "0"),
            ("trace_id", "t"),
        ):
            header = frame.headers.add()
            header.key, header.value = key, value
        frame.payload = json.dumps(payload, ensure_ascii=False).encode()
        answer: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._answers[message_id] = answer
        await socket.send_bytes(frame.SerializeToString())
        return await asyncio.wait_for(answer, timeout=10)


def encrypted(body: JSON, encrypt_key: str = ENCRYPT_KEY) -> bytes:
    """A body as Feishu sends it to an app with an encrypt key."""
    plain = json.dumps(body, ensure_ascii=False).encode()
    pad = AES.block_size - len(plain) % AES.block_size
    iv = os.urandom(AES.block_size)
    cipher = AES.new(hashlib.sha256(encrypt_key.encode()).digest(), AES.MODE_CBC, iv)
    sealed = base64.b64encode(iv + cipher.encrypt(plain + bytes([pad]) * pad)).decode()
    return json.dumps({"encrypt": sealed}).encode()


def signed(body: bytes, *, encrypt_key: str = ENCRYPT_KEY, age: int = 0) -> dict[str, str]:
    """Feishu's headers over a body: timestamp, nonce and their signature with the encrypt key."""
    timestamp, nonce = str(int(time.time()) - age), base64.b16encode(os.urandom(8)).decode()
    return {
        "Content-Type": "application/json",
        TIMESTAMP: timestamp,
        NONCE: nonce,
        SIGNATURE: signature(timestamp, nonce, encrypt_key, body),
    }

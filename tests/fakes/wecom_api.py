"""A fake WeCom on 127.0.0.1: what a self-built app asks of WeCom's server API, recorded and checked
as WeCom checks it, and the way WeCom calls the app back.

Houqin's channel talks to it over real HTTP (WECOM_API_BASE_URL): access tokens (gettoken), messages
sent (text, image, file, template_card: at most six buttons with keys of at most 1024 bytes, a task
id unique in the app), a card updated with a response code that is spent once (update_template_card),
media uploaded and fetched, the contact directory (department/list, user/list, user/get) and the
app's menu. Limits are played on demand: errcode 45009 (the app over its frequency) or 45033 (too
many at once) for the next so many sends to a person; someone who left answers 81013.

Callbacks reach the app as WeCom sends them (`sealed`): the message's XML encrypted with AES-256-CBC
under the EncodingAESKey (16 random bytes, the length, the XML, the corp id; PKCS#7 to 32 bytes; the
key's first 16 bytes as IV), in <xml><ToUserName/><Encrypt/><AgentID/></xml>, and signed in the query
(msg_signature = SHA1 of the sorted token, timestamp, nonce and ciphertext). Written here from WeCom's
description, independently of the wechatpy code that Houqin checks them with.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlencode

from aiohttp import web
from Crypto.Cipher import AES

JSON = dict[str, Any]
CORP_ID = "ww0123456789abcdef"
AGENT_ID = 1000002
SECRET = "test-wecom-app-secret"
TOKEN = "testWeComToken"
ENCODING_AES_KEY = base64.b64encode(b"houqin-wecom-test-aes-key-32byte").decode().rstrip("=")
TASK_ID = re.compile(r"[A-Za-z0-9_\-@]{1,128}")


@dataclass
class WeComMessage:
    id: str
    userid: str
    msgtype: str
    body: JSON
    response_code: str | None = None
    # A card whose buttons were replaced (update_template_card's button.replace_name): what it says now.
    replaced: str | None = None
    edits: int = 0

    @property
    def card(self) -> JSON:
        return dict(self.body.get("template_card") or {})

    @property
    def shown(self) -> str:
        """What the person reads: a text's words, a card's title and text under it."""
        if self.msgtype == "text":
            return str(self.body["text"]["content"])
        if self.msgtype != "template_card":
            return f"[{self.msgtype}]"
        card = self.card
        parts = [str((card.get("main_title") or {}).get("title") or ""), str(card.get("sub_title_text") or "")]
        return "\n".join(part for part in parts if part)

    @property
    def buttons(self) -> list[JSON]:
        return [] if self.replaced is not None else list(self.card.get("button_list") or [])

    @property
    def labels(self) -> list[str]:
        return [str(b["text"]) for b in self.buttons]

    @property
    def task_id(self) -> str:
        return str(self.card.get("task_id") or "")


@dataclass
class DirectoryUser:
    userid: str
    name: str
    departments: list[int] = field(default_factory=lambda: [1])
    status: int = 1  # 1 active, 2 disabled, 4 not active yet, 5 left

    def as_wecom(self) -> JSON:
        return {
            "userid": self.userid,
            "name": self.name,
            "department": self.departments,
            "main_department": self.departments[0],
            "status": self.status,
        }


@dataclass
class Department:
    id: int
    name: str
    parentid: int = 1
    leaders: list[str] = field(default_factory=list)


@dataclass
class FakeWeCom:
    corp_id: str = CORP_ID
    agent_id: int = AGENT_ID
    secret: str = SECRET
    base_url: str = ""
    token_lifetime: int = 7200
    tokens: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    messages: dict[str, list[WeComMessage]] = field(default_factory=dict)
    task_ids: set[str] = field(default_factory=set)
    # Response codes not yet spent: code → the card it may change.
    codes: dict[str, WeComMessage] = field(default_factory=dict)
    spent: list[str] = field(default_factory=list)
    uploads: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)
    # What people sent the app (pictures), by media id: served by media/get.
    resources: dict[str, bytes] = field(default_factory=dict)
    users: dict[str, DirectoryUser] = field(default_factory=dict)
    departments: dict[int, Department] = field(default_factory=lambda: {1: Department(1, "后勤测试单位", 0)})
    menus: list[JSON] = field(default_factory=list)
    # The next so many sends to a person are refused with this errcode (see limit).
    storms: dict[str, tuple[int, int]] = field(default_factory=dict)
    rate_limited_answers: int = 0
    # Enforced limits (enforce_limits): the app's messages a minute, one person's; when each was sent.
    app_per_minute: int | None = None
    person_per_minute: int | None = None
    sent_times: list[float] = field(default_factory=list)
    _sent_to: dict[str, list[float]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._token)
        app.router.add_post("/cgi-bin/message/send", self._send)
        app.router.add_post("/cgi-bin/message/update_template_card", self._update)
        app.router.add_post("/cgi-bin/media/upload", self._upload)
        app.router.add_get("/cgi-bin/media/get", self._media)
        app.router.add_get("/cgi-bin/user/get", self._user)
        app.router.add_get("/cgi-bin/user/list", self._user_list)
        app.router.add_get("/cgi-bin/department/list", self._department_list)
        app.router.add_post("/cgi-bin/menu/create", self._menu)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what a test sets and reads -------------------------------------------------------------

    def person(self, userid: str, name: str, **given: Any) -> DirectoryUser:
        self.users[userid] = DirectoryUser(userid, name, **given)
        return self.users[userid]

    def chat_of(self, userid: str) -> list[WeComMessage]:
        return self.messages.setdefault(userid, [])

    def called(self, what: str) -> int:
        return sum(1 for method, path in self.calls if f"{method} {path}".startswith(what))

    def limit(self, userid: str, times: int, errcode: int = 45009) -> None:
        """The next `times` messages to this person are refused with `errcode` (45009 or 45033)."""
        self.storms[userid] = (times, errcode)

    def enforce_limits(self, app_per_minute: int = 10_000, person_per_minute: int = 30) -> None:
        """From now on a send beyond WeCom's limits in the last minute — the app's calls of one API
        (10,000), one person's messages (30) — is refused with 45009 (where WeCom itself refuses the
        app, or drops the message without a word)."""
        self.app_per_minute, self.person_per_minute = app_per_minute, person_per_minute

    def measured_rate(self) -> float:
        """Messages a second taken between the first and the last so far."""
        if len(self.sent_times) < 2:
            return 0.0
        return (len(self.sent_times) - 1) / (self.sent_times[-1] - self.sent_times[0])

    def _over_limits(self, userid: str) -> bool:
        if self.app_per_minute is None or self.person_per_minute is None:
            return False
        now = time.monotonic()
        last_minute = [t for t in self.sent_times[-self.app_per_minute :] if now - t < 60.0]
        theirs = [t for t in self._sent_to.get(userid, [])[-self.person_per_minute :] if now - t < 60.0]
        return len(last_minute) >= self.app_per_minute or len(theirs) >= self.person_per_minute

    def press_code(self, message: WeComMessage) -> str:
        """The ResponseCode WeCom puts in a card's press event: it may change that card once."""
        code = f"rc-press-{next(self._ids):06d}"
        self.codes[code] = message
        return code

    # --- the API --------------------------------------------------------------------------------

    @staticmethod
    def _error(code: int, msg: str) -> web.Response:
        return web.json_response({"errcode": code, "errmsg": msg})

    def _refused(self, request: web.Request) -> web.Response | None:
        self.calls.append((request.method, request.path))
        if not self.tokens or request.query.get("access_token") != self.tokens[-1]:
            return self._error(40014, "invalid access_token")
        return None

    async def _token(self, request: web.Request) -> web.Response:
        self.calls.append(("GET", request.path))
        if request.query.get("corpid") != self.corp_id:
            return self._error(40013, "invalid corpid")
        if request.query.get("corpsecret") != self.secret:
            return self._error(40001, "invalid credential")
        self.tokens.append(f"at-{next(self._ids):06d}")
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": self.tokens[-1], "expires_in": self.token_lifetime}
        )

    async def _send(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body = await request.json()
        userid, msgtype = str(body.get("touser")), str(body.get("msgtype"))
        if body.get("agentid") != self.agent_id:
            return self._error(40056, "invalid agentid")
        times, errcode = self.storms.get(userid, (0, 0))
        if times > 0:
            self.storms[userid] = (times - 1, errcode)
            self.rate_limited_answers += 1
            return self._error(errcode, "api freq out of limit" if errcode == 45009 else "api concurrent out of limit")
        if self._over_limits(userid):
            self.rate_limited_answers += 1
            return self._error(45009, "api freq out of limit")
        user = self.users.get(userid)
        if user is None or user.status in (2, 5):
            return self._error(81013, "user & party & tag all invalid")
        if (problem := self._invalid(msgtype, body)) is not None:
            return self._error(40058, problem)
        message = WeComMessage(f"msg-{next(self._ids):06d}", userid, msgtype, body)
        answer: JSON = {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": message.id}
        if msgtype == "template_card":
            self.task_ids.add(message.task_id)
            message.response_code = answer["response_code"] = f"rc-send-{next(self._ids):06d}"
            self.codes[message.response_code] = message
        self.chat_of(userid).append(message)
        self.sent_times.append(time.monotonic())
        self._sent_to.setdefault(userid, []).append(self.sent_times[-1])
        return web.json_response(answer)

    def _invalid(self, msgtype: str, body: JSON) -> str | None:
        """What WeCom would refuse in a message (errcode 40058), or None."""
        if msgtype == "text":
            content = str((body.get("text") or {}).get("content") or "")
            return None if 0 < len(content.encode()) <= 2048 else "text.content empty or over 2048 bytes"
        if msgtype in ("image", "file"):
            return None if (body.get(msgtype) or {}).get("media_id") in self.uploads else "invalid media_id"
        if msgtype != "template_card":
            return f"msgtype {msgtype} not expected from Houqin"
        return self._invalid_card(body.get("template_card") or {}, new=True)

    def _invalid_card(self, card: JSON, *, new: bool) -> str | None:
        if card.get("card_type") != "button_interaction":
            return "card_type"
        if not ((card.get("main_title") or {}).get("title") or card.get("sub_title_text")):
            return "main_title.title or sub_title_text is required"
        task = str(card.get("task_id") or "")
        if not TASK_ID.fullmatch(task) or (new and task in self.task_ids):
            return "task_id invalid or used before"
        buttons = card.get("button_list") or []
        keys = [str(b.get("key") or "") for b in buttons]
        if not 1 <= len(buttons) <= 6 or not all(keys) or len(set(keys)) != len(keys):
            return "button_list: 1 to 6 buttons with distinct keys"
        if any(len(key.encode()) > 1024 for key in keys):
            return "button key over 1024 bytes"
        return None

    async def _update(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body = await request.json()
        message = self.codes.pop(str(body.get("response_code")), None)
        if message is None:
            return self._error(40058, "invalid response_code (unknown, or spent)")
        self.spent.append(str(body.get("response_code")))
        if body.get("userids") != [message.userid] or body.get("agentid") != self.agent_id:
            return self._error(40058, "userids or agentid")
        if "button" in body:
            message.replaced = str(body["button"]["replace_name"])
        else:
            card = body.get("template_card") or {}
            if (problem := self._invalid_card(card, new=False)) is not None:
                return self._error(40058, problem)
            message.body = {"msgtype": "template_card", "template_card": card}
            message.replaced = None
        message.edits += 1
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": []})

    async def _upload(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        kind = request.query.get("type", "")
        form = await request.post()
        media = form["media"]
        assert isinstance(media, web.FileField), "media is a file part"
        media_id = f"media-{kind}-{next(self._ids):06d}"
        self.uploads[media_id] = (kind, media.filename, media.file.read())
        return web.json_response({"errcode": 0, "errmsg": "ok", "type": kind, "media_id": media_id})

    async def _media(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        content = self.resources.get(request.query.get("media_id", ""))
        if content is None:
            return self._error(40007, "invalid media_id")
        return web.Response(body=content, content_type="image/jpeg")

    async def _user(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        user = self.users.get(request.query.get("userid", ""))
        if user is None:
            return self._error(60111, "userid not found")
        return web.json_response({"errcode": 0, "errmsg": "ok", **user.as_wecom()})

    async def _user_list(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        department = int(request.query.get("department_id", "0"))
        listed = [u.as_wecom() for u in self.users.values() if department in u.departments and u.status != 5]
        return web.json_response({"errcode": 0, "errmsg": "ok", "userlist": listed})

    async def _department_list(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        found = [
            {"id": d.id, "name": d.name, "parentid": d.parentid, "order": 1, "department_leader": d.leaders}
            for d in self.departments.values()
        ]
        return web.json_response({"errcode": 0, "errmsg": "ok", "department": found})

    async def _menu(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        if request.query.get("agentid") != str(self.agent_id):
            return self._error(40056, "invalid agentid")
        self.menus.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})


# --- callbacks, as WeCom seals them ----------------------------------------------------------------


def xml(fields: JSON) -> str:
    """A message's fields as WeCom writes them: words in CDATA, numbers bare."""
    inner = "".join(
        f"<{name}>{value}</{name}>" if isinstance(value, int) else f"<{name}><![CDATA[{value}]]></{name}>"
        for name, value in fields.items()
    )
    return f"<xml>{inner}</xml>"


def encrypt(plain: str, corp_id: str = CORP_ID, aes_key: str = ENCODING_AES_KEY) -> str:
    key = base64.b64decode(aes_key + "=")
    data = plain.encode()
    content = os.urandom(16) + struct.pack(">I", len(data)) + data + corp_id.encode()
    pad = 32 - len(content) % 32
    cipher = AES.new(key, AES.MODE_CBC, key[:16])
    return base64.b64encode(cipher.encrypt(content + bytes([pad]) * pad)).decode()


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def sealed(
    fields: JSON,
    *,
    corp_id: str = CORP_ID,
    aes_key: str = ENCODING_AES_KEY,
    token: str = TOKEN,
    age: int = 0,
    agent_id: int = AGENT_ID,
) -> tuple[str, bytes]:
    """A callback as WeCom POSTs it: the query (msg_signature, timestamp, nonce) and the XML body."""
    encrypted = encrypt(xml(fields), corp_id, aes_key)
    timestamp, nonce = str(int(time.time()) - age), str(int.from_bytes(os.urandom(4), "big"))
    query = urlencode(
        {"msg_signature": signature(token, timestamp, nonce, encrypted), "timestamp": timestamp, "nonce": nonce}
    )
    body = xml({"ToUserName": corp_id, "Encrypt": encrypted, "AgentID": agent_id})
    return query, body.encode()


def url_check(echo: str, *, token: str = TOKEN, age: int = 0) -> str:
    """The query of the GET WeCom makes when the callback URL is saved."""
    echostr = encrypt(echo)
    timestamp, nonce = str(int(time.time()) - age), "1372623149"
    return urlencode(
        {
            "msg_signature": signature(token, timestamp, nonce, echostr),
            "timestamp": timestamp,
            "nonce": nonce,
            "echostr": echostr,
        }
    )

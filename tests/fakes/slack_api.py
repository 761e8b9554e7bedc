"""A fake Slack Web API on 127.0.0.1, recording what the app asks of Slack.

slack_sdk's AsyncWebClient talks to it over real HTTP (``base_url``), so tests exercise the SDK's
encoding and error handling as production does. Only the methods Houqin uses are here: auth.test,
users.info, conversations.open, chat.postMessage, chat.update, views.open/update/push/publish.
Unknown methods answer ``unknown_method`` like Slack. Messages and views are kept per conversation
and per member so a test can read what a person sees.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import WSMsgType, web
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.in_loop_server import InLoopServer, quiet_config

JSON = dict[str, Any]


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    blocks: list[JSON]
    edits: int = 0

    @property
    def shown(self) -> str:
        """What the person reads: the text of its sections and context lines."""
        parts: list[str] = []
        for block in self.blocks:
            if block.get("type") in ("section", "header"):
                parts.append(str(block["text"]["text"]))
            elif block.get("type") == "context":
                parts.extend(str(element.get("text", "")) for element in block.get("elements", []))
        return "\n".join(parts) if parts else self.text

    @property
    def buttons(self) -> list[JSON]:
        return [e for b in self.blocks if b.get("type") == "actions" for e in b.get("elements", [])]


@dataclass
class SlackFile:
    id: str
    name: str
    content: bytes = b""
    title: str = ""


@dataclass
class SlackUser:
    id: str
    name: str
    locale: str = "zh-CN"


@dataclass
class FakeView:
    id: str
    hash: str
    user: str
    view: JSON
    closed: bool = False


@dataclass
class FakeSlackAPI:
    token: str = "xoxb-test-token"
    base_url: str = ""
    calls: list[tuple[str, JSON]] = field(default_factory=list)
    messages: dict[str, list[SlackMessage]] = field(default_factory=dict)
    views: dict[str, FakeView] = field(default_factory=dict)
    homes: dict[str, JSON] = field(default_factory=dict)
    users: dict[str, SlackUser] = field(default_factory=dict)
    # Where apps.connections.open sends a Socket Mode client (see FakeSocketMode).
    socket_url: str = ""
    # Conversations answering 429 with this Retry-After to the next chat.postMessage/update.
    rate_limited: dict[str, int] = field(default_factory=dict)
    triggers: dict[str, str] = field(default_factory=dict)  # trigger_id -> user, until used
    # Files uploaded (files.getUploadURLExternal, the upload, files.completeUploadExternal), per conversation.
    files: dict[str, list[SlackFile]] = field(default_factory=dict)
    _uploads: dict[str, SlackFile] = field(default_factory=dict)
    kept: dict[str, bytes] = field(default_factory=dict)  # files people attached, by id
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: InLoopServer | None = None

    def __post_init__(self) -> None:
        self._methods: dict[str, Callable[[JSON], JSON]] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._post_message,
            "chat.update": self._update_message,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }
        self._app = Starlette(
            routes=[
                Route("/api/{method}", self._handle, methods=["GET", "POST"]),
                Route("/upload/{file_id}", self._receive_upload, methods=["POST"]),
                Route("/files-pri/{file_id}", self._download, methods=["GET"]),
            ]
        )

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._server = InLoopServer(quiet_config(self._app))
        port = await self._server.start("FakeSlackAPI.serve")
        self.base_url = f"http://127.0.0.1:{port}/api/"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            await self._server.stop()

    # --- what a test reads ----------------------------------------------------------------------

    def user(self, user_id: str, name: str, locale: str = "zh-CN") -> SlackUser:
        self.users[user_id] = SlackUser(user_id, name, locale)
        return self.users[user_id]

    def dm_of(self, user_id: str) -> str:
        return f"D{user_id}"

    def modal_of(self, user_id: str) -> FakeView | None:
        open_views = [v for v in self.views.values() if v.user == user_id and not v.closed]
        return open_views[-1] if open_views else None

    def new_trigger(self, user_id: str) -> str:
        trigger = f"{next(self._ids)}.{next(self._ids)}.trigger"
        self.triggers[trigger] = user_id
        return trigger

    def replace_view(self, view_id: str, view: JSON) -> None:
        """What Slack does with response_action=update."""
        found = self.views[view_id]
        found.view, found.hash = view, f"h{next(self._ids)}"

    def close_views(self, user_id: str) -> None:
        """What Slack does with response_action=clear, or the person closing the modal."""
        for view in self.views.values():
            if view.user == user_id:
                view.closed = True

    def called(self, method: str) -> list[JSON]:
        return [params for name, params in self.calls if name == method]

    # --- the API --------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        if method == "apps.connections.open":
            # The one method called with the app-level token (Socket Mode).
            if not request.headers.get("authorization", "").startswith("Bearer xapp-") or not self.socket_url:
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            self.calls.append((method, {}))
            return JSONResponse({"ok": True, "url": self.socket_url})
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        params: JSON = dict(request.query_params)
        body = await request.body()
        if body:
            if request.headers.get("content-type", "").startswith("application/json"):
                params.update(json.loads(body))
            else:
                params.update(dict(await request.form()))
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        self.calls.append((method, params))
        handler = self._methods.get(method)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"})
        channel = str(params.get("channel", ""))
        if method in ("chat.postMessage", "chat.update") and self.rate_limited.get(channel):
            wait = self.rate_limited.pop(channel)
            return JSONResponse(
                {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": str(wait)}
            )
        answer = handler(params)
        return JSONResponse(answer if "error" in answer else {"ok": True, **answer})

    def _auth_test(self, params: JSON) -> JSON:
        return {
            "url": "https://houqin-test.slack.com/",
            "team": "Houqin",
            "user": "houqin",
            "team_id": "T1",
            "user_id": "UHOUQIN",
            "bot_id": "BHOUQIN",
        }

    def _users_info(self, params: JSON) -> JSON:
        user = self.users.get(str(params.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        profile = {"display_name": user.name, "real_name": user.name}
        return {
            "user": {
                "id": user.id,
                "name": user.id.lower(),
                "real_name": user.name,
                "profile": profile,
                "locale": user.locale,
            }
        }

    def _conversations_open(self, params: JSON) -> JSON:
        return {"channel": {"id": self.dm_of(str(params.get("users")))}}

    def _post_message(self, params: JSON) -> JSON:
        channel = str(params["channel"])
        ts = f"1700000000.{next(self._ts):06d}"
        message = SlackMessage(channel, ts, str(params.get("text", "")), list(params.get("blocks") or []))
        self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": ts}

    def _update_message(self, params: JSON) -> JSON:
        channel, ts = str(params["channel"]), str(params["ts"])
        for message in self.messages.get(channel, []):
            if message.ts == ts:
                message.text = str(params.get("text", message.text))
                message.blocks = list(params.get("blocks") or [])
                message.edits += 1
                return {"channel": channel, "ts": ts}
        return {"ok": False, "error": "message_not_found"}

    def _views_open(self, params: JSON) -> JSON:
        user = self.triggers.pop(str(params.get("trigger_id")), None)
        if user is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        view_id = f"V{next(self._ids)}"
        self.views[view_id] = FakeView(view_id, f"h{next(self._ids)}", user, dict(params["view"]))
        return {"view": {"id": view_id, "hash": self.views[view_id].hash}}

    def _views_update(self, params: JSON) -> JSON:
        found = self.views.get(str(params.get("view_id")))
        if found is None:
            return {"ok": False, "error": "not_found"}
        if params.get("hash") and params["hash"] != found.hash:
            return {"ok": False, "error": "hash_conflict"}
        self.replace_view(found.id, dict(params["view"]))
        return {"view": {"id": found.id, "hash": found.hash}}

    def _views_publish(self, params: JSON) -> JSON:
        self.homes[str(params["user_id"])] = dict(params["view"])
        return {"view": {"id": f"VH{params['user_id']}"}}

    def shared_file(self, name: str, content: bytes, mimetype: str = "image/png") -> JSON:
        """A file a person attached to a modal's file input: what the view_submission carries."""
        file_id = f"F{next(self._ids)}"
        self.kept[file_id] = content
        root = self.base_url.removesuffix("/api/")
        return {
            "id": file_id,
            "name": name,
            "mimetype": mimetype,
            "size": len(content),
            "url_private": f"{root}/files-pri/{file_id}",
            "url_private_download": f"{root}/files-pri/{file_id}?download=1",
        }

    async def _download(self, request: Request) -> Response:
        # Slack serves private files only with the bot token (files:read).
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Response("unauthorised", status_code=403)
        content = self.kept.get(request.path_params["file_id"])
        if content is None:
            return Response(status_code=404)
        return Response(content, media_type="application/octet-stream")

    def _upload_url(self, params: JSON) -> JSON:
        file_id = f"F{next(self._ids)}"
        self._uploads[file_id] = SlackFile(file_id, str(params.get("filename", "")))
        return {"upload_url": f"{self.base_url.removesuffix('/api/')}/upload/{file_id}", "file_id": file_id}

    async def _receive_upload(self, request: Request) -> Response:
        upload = self._uploads.get(request.path_params["file_id"])
        if upload is None:
            return Response("unknown upload", status_code=404)
        # slack_sdk posts the raw bytes to the upload URL it was given.
        body = await request.body()
        upload.content = body
        return Response("OK - " + str(len(body)))

    def _complete_upload(self, params: JSON) -> JSON:
        files = params.get("files")
        listed = json.loads(files) if isinstance(files, str) else list(files or [])
        channel = str(params.get("channel_id", ""))
        done = []
        for item in listed:
            upload = self._uploads.pop(str(item["id"]), None)
            if upload is None:
                return {"ok": False, "error": "file_not_found"}
            upload.title = str(item.get("title", ""))
            self.files.setdefault(channel, []).append(upload)
            done.append({"id": upload.id, "name": upload.name, "title": upload.title})
        return {"files": done}


class FakeSocketMode:
    """Slack's Socket Mode endpoint on 127.0.0.1: hands the app envelopes over a WebSocket and
    collects its acknowledgements (aiohttp's server: the client side is aiohttp too)."""

    def __init__(self) -> None:
        self.url = ""
        self.connected = asyncio.Event()
        self.acks: dict[str, JSON] = {}
        self._acked = asyncio.Condition()
        self._socket: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/link"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}})
        self.connected.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                answer = json.loads(message.data)
                async with self._acked:
                    self.acks[str(answer.get("envelope_id"))] = answer
                    self._acked.notify_all()
        return socket

    async def deliver(self, kind: str, payload: JSON) -> JSON:
        """Send one envelope (slash_commands, interactive, events_api); returns the app's ack."""
        assert self._socket is not None, "no Socket Mode client connected"
        envelope_id = f"env-{len(self.acks) + 1}"
        await self._socket.send_json(
            {"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": True}
        )
        async with self._acked:
            await self._acked.wait_for(lambda: envelope_id in self.acks)
        return self.acks[envelope_id]

"""A fake Telegram Bot API server for tests.

The real python-telegram-bot ``Application`` talks to it over real HTTP on 127.0.0.1, so tests exercise
PTB's request encoding, polling loop and error mapping exactly as production does::

    async with FakeBotAPI() as api:
        app = (
            ApplicationBuilder()
            .token(api.token)
            .base_url(api.base_url)
            .base_file_url(api.base_file_url)
            .build()
        )
        ...
        update = api.user(42).send_text("/start")
        [reply] = await api.wait_for_messages(42, 1)

The server runs inside the current event loop (no thread), so a function-scoped pytest-asyncio test can
start and stop it. Behaviour follows the Bot API documentation and the errors real Telegram returns;
only what Houqin uses is implemented, everything else answers 404 like an unknown method.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import itertools
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.in_loop_server import InLoopServer, quiet_config

JSONDict = dict[str, Any]

__all__ = ["ApiError", "FakeBotAPI", "FakeMessage", "FakeUser", "UploadedFile"]

# A valid 1x1 PNG, so a bot that inspects the image (e.g. with Pillow) gets real image bytes by default.
TINY_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
    b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xdf\xc0\x00\x00\x04\x01\x01\x80\xc5*\x18]\x00\x00\x00\x00IEND\xaeB`\x82"
)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024

# Form fields arrive as strings and PTB JSON-encodes every non-string value, so "5" may be an int or a
# text. These parameters are always free text and must never be JSON-decoded ("123" stays "123").
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "file_id",
        "language_code",
        "action",
        "description",
        "short_description",
        "name",
        "title",
        "emoji",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
        "photo",
        "document",
        "sticker",
    }
)

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# Update types Telegram sends when allowed_updates was never set (these three are opt-in).
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Tags Telegram accepts with parse_mode=HTML; anything else (e.g. <br>) is a 400 in production.
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
        "tg-time",
    }
)
_TAG_RE = re.compile(r"<(/?)([^\s<>/]*)([^<>]*)>")
_HTML_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Bot API error response; raised inside method handlers and turned into Telegram's JSON shape."""

    def __init__(self, error_code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


@dataclass(repr=False)
class UploadedFile:
    """A file part of a multipart request, kept byte for byte."""

    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:
        # Keeps call listings in assertion messages readable when a photo is megabytes long.
        return f"UploadedFile({self.filename!r}, {self.content_type!r}, {len(self.data)} bytes)"


@dataclass
class FakeMessage:
    """A message the bot sent, in its current state (edits applied)."""

    message_id: int
    chat_id: int
    text: str | None  # text, or caption for media; entity markup (HTML) already parsed away
    reply_markup: JSONDict | None
    edits: list[str | None] = field(default_factory=list)  # previous texts, oldest first
    deleted: bool = False
    kind: str = "text"  # "text", "photo" or "document"
    source_text: str | None = None  # text/caption exactly as the bot sent it (with HTML tags)
    parse_mode: str | None = None
    file: UploadedFile | None = None  # the uploaded photo/document, if the bot uploaded bytes
    raw: JSONDict = field(default_factory=dict)  # the Message object as Telegram would return it now

    @property
    def buttons(self) -> list[JSONDict]:
        """Inline keyboard buttons, row by row flattened; [] without an inline keyboard."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes


@dataclass
class _Bucket:
    tokens: float
    updated: float


class FakeUser:
    """A Telegram user in a private chat with the bot (chat_id == user_id).

    Each action builds a real Update, queues it for getUpdates and returns the update dict.
    """

    def __init__(
        self,
        api: FakeBotAPI,
        user_id: int,
        first_name: str,
        language_code: str | None,
        username: str | None,
    ) -> None:
        self.api = api
        self.user_id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.username = username
        self.blocked = False  # set True to make the bot's sends fail with 403 like a user who blocked it

    @property
    def chat_id(self) -> int:
        return self.user_id

    def to_dict(self) -> JSONDict:
        user: JSONDict = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.username is not None:
            user["username"] = self.username
        if self.language_code is not None:
            user["language_code"] = self.language_code
        return user

    def chat_dict(self) -> JSONDict:
        chat: JSONDict = {"id": self.user_id, "type": "private", "first_name": self.first_name}
        if self.username is not None:
            chat["username"] = self.username
        return chat

    def messages(self) -> list[FakeMessage]:
        """The bot's messages in this user's chat."""
        return self.api.messages(self.chat_id)

    def send_text(self, text: str, *, reply_to: int | None = None) -> JSONDict:
        content: JSONDict = {"text": text}
        command = _COMMAND_RE.match(text)
        if command is not None:
            # PTB's CommandHandler only fires on a bot_command entity at offset 0, as real clients send.
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command.group(0))}]
        return self._send(content, reply_to)

    def send_photo(
        self, file_bytes: bytes = TINY_PNG, caption: str | None = None, *, reply_to: int | None = None
    ) -> JSONDict:
        content: JSONDict = {"photo": self.api._register_photo(file_bytes)}
        if caption is not None:
            content["caption"] = caption
        return self._send(content, reply_to)

    def send_document(
        self,
        filename: str = "report.pdf",
        mime: str = "application/pdf",
        file_bytes: bytes = b"%PDF-1.4\n% fake document\n",
        caption: str | None = None,
        *,
        reply_to: int | None = None,
    ) -> JSONDict:
        stored = self.api._register_file("BQACAgIAAxkB", file_bytes, "documents", _extension(filename))
        document: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": filename,
            "mime_type": mime,
            "file_size": len(file_bytes),
        }
        content: JSONDict = {"document": document}
        if caption is not None:
            content["caption"] = caption
        return self._send(content, reply_to)

    def send_sticker(self, emoji: str = "👍", file_bytes: bytes = b"RIFF\x00\x00\x00\x00WEBPVP8 ") -> JSONDict:
        stored = self.api._register_file("CAACAgIAAxkB", file_bytes, "stickers", ".webp")
        sticker: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(file_bytes),
        }
        return self._send({"sticker": sticker}, None)

    def send_location(self, lat: float, lon: float) -> JSONDict:
        return self._send({"location": {"latitude": lat, "longitude": lon}}, None)

    def press(self, message_id: int, data: str, *, strict: bool = True) -> JSONDict:
        """Press an inline button on the bot's message ``message_id`` in this chat.

        With ``strict`` (the default) the message must currently show a button with that callback_data,
        as a real client can only press what is on screen; pass ``strict=False`` to forge stale data.
        """
        message = self.api._bot_messages.get(self.chat_id, {}).get(message_id)
        if message is None or message.deleted:
            raise ValueError(f"the bot has no message {message_id} in chat {self.chat_id}")
        if strict:
            offered = [b.get("callback_data") for b in message.buttons]
            if data not in offered:
                raise ValueError(f"message {message_id} has no button with callback_data {data!r}: {offered}")
        query_id = str(next(self.api._query_ids))
        self.api._callback_queries[query_id] = False
        query: JSONDict = {
            "id": query_id,
            "from": self.to_dict(),
            # A copy: the update must show the message as it was when pressed, not after later edits.
            "message": copy.deepcopy(message.raw),
            "chat_instance": str(-self.user_id * 7919),
            "data": data,
        }
        return self.api._push({"callback_query": query})

    def _send(self, content: JSONDict, reply_to: int | None) -> JSONDict:
        api = self.api
        message: JSONDict = {
            "message_id": api._next_message_id(self.chat_id),
            "from": self.to_dict(),
            "chat": self.chat_dict(),
            "date": int(time.time()),
            **content,
        }
        if reply_to is not None:
            replied = api._bot_messages.get(self.chat_id, {}).get(reply_to)
            user_messages = api._user_messages.get(self.chat_id, {})
            replied_raw = user_messages.get(reply_to) if replied is None else replied.raw
            if replied_raw is None:
                raise ValueError(f"no message {reply_to} in chat {self.chat_id} to reply to")
            message["reply_to_message"] = copy.deepcopy(replied_raw)
            message["reply_to_message"].pop("reply_to_message", None)  # Telegram nests only one level
        api._user_messages.setdefault(self.chat_id, {})[message["message_id"]] = message
        return api._push({"message": message})


class FakeBotAPI:
    """Fake Telegram Bot API on 127.0.0.1 (see module docstring)."""

    def __init__(self, token: str = "123456:TEST", bot_username: str = "houqin_test_bot") -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0])
        self.base_url = ""
        self.base_file_url = ""
        # --- what the bot did ---
        self.calls: list[tuple[str, JSONDict]] = []
        self.acknowledged_offset = 0
        self.webhook: JSONDict | None = None
        self.commands: dict[str | None, list[JSONDict]] = {}  # default scope, per language_code
        self.commands_by_scope: dict[tuple[str, str | None], list[JSONDict]] = {}
        self.callback_answers: dict[str, JSONDict] = {}  # callback_query_id -> answerCallbackQuery params
        # Calls the bot made in its answer to a webhook POST (also in `calls`).
        self.answered_in_webhook: list[tuple[str, JSONDict]] = []
        self.too_many_requests = 0
        # When each message was accepted (time.monotonic()), to measure a sender's pace.
        self.sent_times: list[float] = []
        self.server_errors: list[BaseException] = []  # bugs in this fake, surfaced by wait_for
        # --- state ---
        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, FakeUser] = {}
        self._bot_messages: dict[int, dict[int, FakeMessage]] = {}
        self._user_messages: dict[int, dict[int, JSONDict]] = {}
        self._message_ids: dict[int, int] = {}
        self._updates: list[JSONDict] = []  # queued, not yet acknowledged via offset
        self._redelivered: list[JSONDict] = []  # handed out once more regardless of the offset
        self._update_ids = itertools.count(1000)
        self._query_ids = itertools.count(4_000_000_000_000_000_001)
        self._file_seq = itertools.count(1)
        self._files: dict[str, _StoredFile] = {}
        self._files_by_path: dict[str, _StoredFile] = {}
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        # Replaced on every wake-up, so each waiter sees exactly the events after it started waiting.
        self._wake = asyncio.Event()
        self._closing = False
        self._limits: tuple[float, float] | None = None
        self._chat_buckets: dict[int, _Bucket] = {}
        self._global_bucket: _Bucket | None = None
        self._server: InLoopServer | None = None
        self._methods: dict[str, Callable[[JSONDict], object]] = {
            "getMe": self._get_me,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
        }
        # Bot API method names are case-insensitive.
        self._method_names = {name.lower(): name for name in [*self._methods, "getUpdates"]}
        self._app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._handle_api, methods=["GET", "POST"]),
                Route("/file/bot{token}/{file_path:path}", self._handle_file, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FakeBotAPI is already running")
        server = InLoopServer(quiet_config(self._app, http="h11", ws="none", timeout_graceful_shutdown=2))
        self._closing = False
        self._server = server
        try:
            port = await server.start("FakeBotAPI.serve")
        except BaseException:
            self._server = None
            raise
        self.base_url = f"http://127.0.0.1:{port}/bot"
        self.base_file_url = f"http://127.0.0.1:{port}/file/bot"

    async def stop(self) -> None:
        server = self._server
        if server is None:
            return
        # Release long polls first: uvicorn waits for in-flight requests before it finishes shutting down.
        self._closing = True
        self._wake_all()
        try:
            await server.stop()
        finally:
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ what a user does

    def user(
        self,
        user_id: int,
        first_name: str = "张三",
        language_code: str | None = "zh-hans",
        username: str | None = None,
    ) -> FakeUser:
        """The user with this id (created on first use); their private chat has chat_id == user_id."""
        existing = self._users.get(user_id)
        if existing is not None:
            return existing
        if user_id <= 0:
            raise ValueError("user ids are positive; negative ids are groups and channels")
        user = FakeUser(self, user_id, first_name, language_code, username)
        self._users[user_id] = user
        self._chats[user_id] = user.chat_dict()
        return user

    def group(self, chat_id: int, title: str = "后勤群") -> None:
        """Register a group the bot is a member of, so it may send there (users act only in private)."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        self._chats[chat_id] = {"id": chat_id, "type": "group", "title": title}

    def redeliver(self, update: JSONDict) -> None:
        """Queue ``update`` again with the same update_id, as Telegram re-sends an unacknowledged update.

        It is handed out by the next getUpdates even if the bot's offset has already moved past it.
        """
        self._redelivered.append(update)
        self._wake_all()

    def webhook_answered(self, status: int, body: bytes) -> None:
        """What Telegram does with a webhook's answer: a 200 whose JSON body names a `method` has that
        method run as if the bot had called it; its result, or its error, reaches nobody."""
        if status != 200 or not body:
            return
        try:
            params = json.loads(body)
        except ValueError:
            return
        if not isinstance(params, dict) or not isinstance(params.get("method"), str):
            return
        method = self._method_names.get(params.pop("method").lower())
        if method is None or method == "getUpdates":
            return
        self.calls.append((method, params))
        self.answered_in_webhook.append((method, params))
        with contextlib.suppress(ApiError):
            self._methods[method](params)

    # ------------------------------------------------------------------ what the bot did

    def messages(self, chat_id: int) -> list[FakeMessage]:
        """The bot's messages in ``chat_id`` in send order, current state; deleted ones have deleted=True."""
        return list(self._bot_messages.get(chat_id, {}).values())

    def calls_to(self, method: str) -> list[JSONDict]:
        """Params of every call to ``method``, in order."""
        return [params for name, params in self.calls if name == method]

    @property
    def pending_updates(self) -> int:
        return len(self._updates) + len(self._redelivered)

    # ASYNC109: `timeout` is a deliberate part of the test-facing API, simpler than asyncio.timeout().
    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Poll ``predicate`` every 10 ms; AssertionError with the recent calls if it stays false."""
        await self._wait(predicate, timeout, "condition")

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[FakeMessage]:
        """Wait until the bot has sent at least ``count`` messages to ``chat_id``; return all of them."""
        await self._wait(
            lambda: len(self.messages(chat_id)) >= count,
            timeout,
            f"{count} bot message(s) in chat {chat_id} (have {{have}})",
            lambda: len(self.messages(chat_id)),
        )
        return self.messages(chat_id)

    def measured_rate(self) -> float:
        """Messages per second accepted between the first and the last one so far."""
        if len(self.sent_times) < 2:
            return 0.0
        return (len(self.sent_times) - 1) / (self.sent_times[-1] - self.sent_times[0])

    def enforce_limits(self, per_chat_per_second: float = 1.0, global_per_second: float = 30.0) -> None:
        """From now on, send* calls over Telegram's flood limits get 429 with parameters.retry_after.

        Token buckets: a chat may burst max(1, rate) messages and refills at ``per_chat_per_second``;
        likewise globally.
        """
        if per_chat_per_second <= 0 or global_per_second <= 0:
            raise ValueError("rates must be positive")
        self._limits = (per_chat_per_second, global_per_second)
        self._chat_buckets.clear()
        self._global_bucket = None

    # ------------------------------------------------------------------ internals: updates

    def _push(self, body: JSONDict) -> JSONDict:
        update: JSONDict = {"update_id": next(self._update_ids), **body}
        self._updates.append(update)
        self._wake_all()
        return update

    def _wake_all(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def _next_message_id(self, chat_id: int) -> int:
        # One counter per chat shared by both sides, as in real private chats.
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _take_updates(self, offset: int | None, limit: int) -> list[JSONDict]:
        if offset is not None and offset > 0:
            # "An update is considered confirmed as soon as getUpdates is called with an offset higher
            # than its update_id" -- confirmed updates are forgotten for good.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self.acknowledged_offset = max(self.acknowledged_offset, offset)
        elif offset is not None and offset < 0:
            # Negative offset: keep only the last -offset updates, forgetting everything before.
            self._updates = self._updates[offset:]
            if self._updates:
                first = self._updates[0]["update_id"]
                self.acknowledged_offset = max(self.acknowledged_offset, first)
        batch: dict[int, JSONDict] = {}
        for update in [*self._redelivered, *self._updates]:
            if self._is_allowed(update):
                batch.setdefault(update["update_id"], update)
        chosen = [batch[key] for key in sorted(batch)[:limit]]
        chosen_ids = {u["update_id"] for u in chosen}
        self._redelivered = [u for u in self._redelivered if u["update_id"] not in chosen_ids]
        return chosen

    def _is_allowed(self, update: JSONDict) -> bool:
        kind = next((key for key in update if key != "update_id"), "")
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in _OPT_IN_UPDATES

    async def _get_updates(self, params: JSONDict, request: Request) -> list[JSONDict]:
        offset = _opt_int(params, "offset")
        limit = min(max(_opt_int(params, "limit") or 100, 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = list(allowed) if isinstance(allowed, list) else None
        # A newer poll ends an older one with 409, as real Telegram does when two instances run.
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_all()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        disconnected = asyncio.ensure_future(_wait_for_disconnect(request))
        try:
            while True:
                wake = self._wake
                if self.webhook is not None:
                    raise ApiError(
                        409,
                        "Conflict: can't use getUpdates method while webhook is active; "
                        "use deleteWebhook to delete the webhook first",
                    )
                if generation != self._poll_generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                if self._closing or disconnected.done():
                    # Don't hand updates to a connection that is gone; they stay queued.
                    return []
                batch = self._take_updates(offset, limit)
                remaining = deadline - loop.time()
                if batch or remaining <= 0:
                    return batch
                woken = asyncio.ensure_future(wake.wait())
                await asyncio.wait({woken, disconnected}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
        finally:
            disconnected.cancel()

    # ------------------------------------------------------------------ internals: HTTP

    async def _handle_api(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        sent_name: str = request.path_params["method"]
        method = self._method_names.get(sent_name.lower(), sent_name)
        try:
            params = await _read_params(request)
        except ApiError as exc:
            self.calls.append((method, {}))
            return _error_response(exc)
        self.calls.append((method, params))
        try:
            if method == "getUpdates":
                result: object = await self._get_updates(params, request)
            elif method in self._methods:
                result = self._methods[method](params)
            else:
                raise ApiError(404, "Not Found")
        except ApiError as exc:
            return _error_response(exc)
        except Exception as exc:  # a bug in the fake: report it loudly instead of a bare 500
            self.server_errors.append(exc)
            return _error_response(ApiError(500, f"Internal Server Error: fake Bot API crashed: {exc!r}"))
        return JSONResponse({"ok": True, "result": result})

    async def _handle_file(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        stored = self._files_by_path.get(request.path_params["file_path"])
        if stored is None:
            return _error_response(ApiError(404, "Not Found"))
        return Response(stored.data, media_type="application/octet-stream")

    # ------------------------------------------------------------------ internals: files

    def _register_file(self, prefix: str, data: bytes, folder: str, extension: str) -> _StoredFile:
        seq = next(self._file_seq)
        stored = _StoredFile(
            file_id=f"{prefix}{seq:010d}",
            file_unique_id=f"AQAD{seq:08d}",
            file_path=f"{folder}/file_{seq}{extension}",
            data=data,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _register_photo(self, data: bytes) -> list[JSONDict]:
        # Telegram stores several resized copies; the fake keeps the original bytes for every size.
        sizes = []
        for side in (90, 320, 800):
            stored = self._register_file("AgACAgIAAxkB", data, "photos", ".jpg")
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": side,
                    "height": side,
                    "file_size": len(data),
                }
            )
        return sizes

    def _input_file(self, params: JSONDict, name: str) -> tuple[UploadedFile | None, _StoredFile | None]:
        """An input file param: uploaded bytes, a known file_id, or an http(s) URL (no bytes)."""
        value = params.get(name)
        if isinstance(value, UploadedFile):
            return value, None
        if isinstance(value, str) and value:
            if value in self._files:
                return None, self._files[value]
            if value.startswith(("http://", "https://")):
                return None, None
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        raise ApiError(400, f"Bad Request: there is no {name} in the request")

    # ------------------------------------------------------------------ internals: validation

    def _chat_id(self, params: JSONDict) -> int:
        value = params.get("chat_id")
        if value is None or value == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(value)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _check_can_send(self, chat_id: int) -> None:
        user = self._users.get(chat_id)
        if user is not None and user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    def _check_rate(self, chat_id: int) -> None:
        if self._limits is None:
            return
        per_chat, per_global = self._limits
        now = time.monotonic()
        chat_bucket = self._chat_buckets.setdefault(chat_id, _Bucket(max(1.0, per_chat), now))
        if self._global_bucket is None:
            self._global_bucket = _Bucket(max(1.0, per_global), now)
        waits = []
        for bucket, rate in ((chat_bucket, per_chat), (self._global_bucket, per_global)):
            bucket.tokens = min(max(1.0, rate), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens < 1.0:
                waits.append((1.0 - bucket.tokens) / rate)
        if waits:
            self.too_many_requests += 1
            retry_after = max(1, math.ceil(max(waits)))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
        chat_bucket.tokens -= 1.0
        self._global_bucket.tokens -= 1.0

    def _parse_text(self, params: JSONDict, name: str, limit: int, too_long: str) -> tuple[str, str | None]:
        """Validate text/caption like Telegram: returns (plain text as shown, parse_mode)."""
        source = params.get(name)
        source = "" if source is None else str(source)
        parse_mode = params.get("parse_mode") or None
        if parse_mode is not None and str(parse_mode).lower() not in {"html", "markdown", "markdownv2"}:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        # Only HTML is parsed; Markdown source is kept verbatim (its length is then slightly overcounted).
        plain = _html_to_plain(source) if parse_mode is not None and parse_mode.lower() == "html" else source
        if _utf16_len(plain) > limit:
            raise ApiError(400, too_long)
        return plain, parse_mode

    def _markup(self, params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is not None:
            if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: field must be an Array")
            for row in rows:
                for button in row:
                    _check_inline_button(button)
        return markup

    # ------------------------------------------------------------------ internals: bot messages

    def _bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Houqin Test Bot",
            "username": self.bot_username,
        }

    def _store_bot_message(
        self,
        chat_id: int,
        kind: str,
        content: JSONDict,
        plain: str | None,
        source: str | None,
        parse_mode: str | None,
        markup: JSONDict | None,
        params: JSONDict,
        file: UploadedFile | None = None,
    ) -> JSONDict:
        replied = self._replied_message(chat_id, params)
        self._check_can_send(chat_id)
        self._check_rate(chat_id)  # after validation, so a rejected message doesn't use up the quota
        message_id = self._next_message_id(chat_id)
        raw: JSONDict = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": dict(self._chats[chat_id]),
            "date": int(time.time()),
            **content,
        }
        if replied is not None:
            raw["reply_to_message"] = replied
        entities_key = "entities" if kind == "text" else "caption_entities"
        if isinstance(params.get(entities_key), list):
            raw[entities_key] = params[entities_key]
        _set_inline_markup(raw, markup)
        message = FakeMessage(
            message_id=message_id,
            chat_id=chat_id,
            text=plain,
            reply_markup=markup,
            kind=kind,
            source_text=source,
            parse_mode=parse_mode,
            file=file,
            raw=raw,
        )
        self._bot_messages.setdefault(chat_id, {})[message_id] = message
        self.sent_times.append(time.monotonic())
        return copy.deepcopy(raw)

    def _replied_message(self, chat_id: int, params: JSONDict) -> JSONDict | None:
        """The message a send replies to (reply_parameters or the older reply_to_message_id)."""
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id, lenient = reply.get("message_id"), reply.get("allow_sending_without_reply")
        else:
            message_id, lenient = params.get("reply_to_message_id"), params.get("allow_sending_without_reply")
        if message_id is None:
            return None
        try:
            target = int(message_id)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: message to be replied not found") from None
        bot_message = self._bot_messages.get(chat_id, {}).get(target)
        if bot_message is not None and not bot_message.deleted:
            found: JSONDict | None = bot_message.raw
        else:
            found = self._user_messages.get(chat_id, {}).get(target)
        if found is None:
            if lenient is True:
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        replied = copy.deepcopy(found)
        replied.pop("reply_to_message", None)  # Telegram nests only one level
        return replied

    def _message_to_edit(self, params: JSONDict) -> FakeMessage:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: message to edit not found")  # inline mode isn't faked
        chat_id = self._chat_id(params)
        message_id = _opt_int(params, "message_id")
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = self._bot_messages.get(chat_id, {}).get(message_id)
        if message is None or message.deleted:
            if message_id in self._user_messages.get(chat_id, {}):
                raise ApiError(400, "Bad Request: message can't be edited")
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    def _apply_edit(
        self,
        message: FakeMessage,
        key: str,
        plain: str,
        source: str,
        parse_mode: str | None,
        markup: JSONDict | None,
        params: JSONDict,
    ) -> JSONDict:
        if (source, parse_mode, markup) == (message.source_text, message.parse_mode, message.reply_markup):
            raise ApiError(400, _NOT_MODIFIED)
        if plain != message.text:
            message.edits.append(message.text)
        message.text, message.source_text, message.parse_mode = plain, source, parse_mode
        message.reply_markup = markup
        entities_key = "entities" if key == "text" else "caption_entities"
        if plain:
            message.raw[key] = plain
        else:
            message.raw.pop(key, None)
        if isinstance(params.get(entities_key), list):
            message.raw[entities_key] = params[entities_key]
        else:
            message.raw.pop(entities_key, None)
        _set_inline_markup(message.raw, markup)
        message.raw["edit_date"] = int(time.time())
        return copy.deepcopy(message.raw)

    # ------------------------------------------------------------------ Bot API methods

    def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _drop_pending(self, params: JSONDict) -> None:
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
            self._redelivered.clear()

    def _set_webhook(self, params: JSONDict) -> bool:
        url = params.get("url") or ""
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self._drop_pending(params)
        # Real Telegram insists on HTTPS and ports 443/80/88/8443; not enforced so tests can use 127.0.0.1.
        self.webhook = dict(params) if url else None
        if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
            self._allowed_updates = list(params["allowed_updates"])
        self._wake_all()  # a waiting getUpdates now conflicts
        return True

    def _delete_webhook(self, params: JSONDict) -> bool:
        self._drop_pending(params)
        self.webhook = None
        return True

    def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        info: JSONDict = {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": self.pending_updates,
        }
        for key in ("max_connections", "ip_address", "allowed_updates"):
            if self.webhook is not None and key in self.webhook:
                info[key] = self.webhook[key]
        return info

    def _commands_key(self, params: JSONDict) -> tuple[str, str | None]:
        language = params.get("language_code") or None
        if language is not None and not re.fullmatch(r"[a-z]{2}", str(language)):
            # Only two-letter ISO 639-1 codes: "zh" works, the "zh-hans" a client reports does not.
            raise ApiError(400, "Bad Request: invalid language code specified")
        scope = params.get("scope")
        if scope is None or scope == {"type": "default"}:
            scope_key = "default"
        elif isinstance(scope, dict) and set(scope) == {"type"}:
            scope_key = str(scope["type"])
        else:
            scope_key = json.dumps(scope, sort_keys=True)
        return scope_key, language

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or "description" not in command:
                raise ApiError(400, "Bad Request: can't parse BotCommand: Can't find field \"description\"")
            if not _BOT_COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        key = self._commands_key(params)
        if commands:
            self.commands_by_scope[key] = commands
        else:
            self.commands_by_scope.pop(key, None)
        self._sync_default_commands(key)
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands_by_scope.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: JSONDict) -> bool:
        key = self._commands_key(params)
        self.commands_by_scope.pop(key, None)
        self._sync_default_commands(key)
        return True

    def _sync_default_commands(self, key: tuple[str, str | None]) -> None:
        scope_key, language = key
        if scope_key != "default":
            return
        if key in self.commands_by_scope:
            self.commands[language] = self.commands_by_scope[key]
        else:
            self.commands.pop(language, None)

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        plain, parse_mode = self._parse_text(params, "text", MAX_TEXT_LENGTH, "Bad Request: message is too long")
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        markup = self._markup(params)
        source = str(params["text"])
        return self._store_bot_message(chat_id, "text", {"text": plain}, plain, source, parse_mode, markup, params)

    def _caption(self, params: JSONDict) -> tuple[JSONDict, str | None, str | None, str | None]:
        if params.get("caption") in (None, ""):
            return {}, None, None, None
        too_long = "Bad Request: message caption is too long"
        plain, parse_mode = self._parse_text(params, "caption", MAX_CAPTION_LENGTH, too_long)
        return {"caption": plain}, plain, str(params["caption"]), parse_mode

    def _send_photo(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        upload, known = self._input_file(params, "photo")
        content, plain, source, parse_mode = self._caption(params)
        markup = self._markup(params)
        data = upload.data if upload is not None else known.data if known is not None else b""
        content["photo"] = self._register_photo(data)
        return self._store_bot_message(
            chat_id, "photo", content, plain, source, parse_mode, markup, params, file=upload
        )

    def _send_document(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        upload, known = self._input_file(params, "document")
        content, plain, source, parse_mode = self._caption(params)
        markup = self._markup(params)
        if upload is not None:
            data, filename, mime = upload.data, upload.filename, upload.content_type
        else:
            data, filename, mime = (known.data if known is not None else b""), None, None
        stored = self._register_file("BQACAgIAAxkB", data, "documents", _extension(filename or ""))
        document: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(data),
        }
        if filename:
            document["file_name"] = filename
        if mime:
            document["mime_type"] = mime
        content["document"] = document
        return self._store_bot_message(
            chat_id, "document", content, plain, source, parse_mode, markup, params, file=upload
        )

    def _send_chat_action(self, params: JSONDict) -> bool:
        chat_id = self._chat_id(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self._check_can_send(chat_id)
        return True

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        message = self._message_to_edit(params)
        if message.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        plain, parse_mode = self._parse_text(params, "text", MAX_TEXT_LENGTH, "Bad Request: message is too long")
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        # Like Telegram, omitting reply_markup on an edit removes the inline keyboard.
        markup = self._markup(params)
        return self._apply_edit(message, "text", plain, str(params["text"]), parse_mode, markup, params)

    def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        message = self._message_to_edit(params)
        if message.kind == "text":
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        too_long = "Bad Request: message caption is too long"
        plain, parse_mode = self._parse_text(params, "caption", MAX_CAPTION_LENGTH, too_long)
        markup = self._markup(params)
        source = str(params.get("caption") or "")
        return self._apply_edit(message, "caption", plain, source, parse_mode, markup, params)

    def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        message = self._message_to_edit(params)
        markup = self._markup(params)
        if markup == message.reply_markup:
            raise ApiError(400, _NOT_MODIFIED)
        message.reply_markup = markup
        _set_inline_markup(message.raw, markup)
        message.raw["edit_date"] = int(time.time())
        return copy.deepcopy(message.raw)

    def _delete_message(self, params: JSONDict) -> bool:
        chat_id = self._chat_id(params)
        message_id = _opt_int(params, "message_id")
        message = self._bot_messages.get(chat_id, {}).get(message_id or 0)
        if message is not None and not message.deleted:
            message.deleted = True
            return True
        # Bots may delete incoming messages in private chats too.
        if self._user_messages.get(chat_id, {}).pop(message_id or 0, None) is not None:
            return True
        raise ApiError(400, "Bad Request: message to delete not found")

    def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if self._callback_queries.get(query_id, True):  # unknown or already answered
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = True
        self.callback_answers[query_id] = params
        return True

    def _get_file(self, params: JSONDict) -> JSONDict:
        stored = self._files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    # ------------------------------------------------------------------ internals: waiting

    async def _wait(
        self,
        predicate: Callable[[], bool],
        seconds: float,
        what: str,
        have: Callable[[], int] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not predicate():
            if self.server_errors or loop.time() >= deadline:
                description = what.format(have=have()) if have is not None else what
                reason = "the fake Bot API crashed" if self.server_errors else f"timed out after {seconds}s"
                raise AssertionError(self._timeout_report(f"{reason} waiting for {description}"))
            await asyncio.sleep(0.01)

    def _timeout_report(self, headline: str) -> str:
        # getUpdates is left out of the listing: an idle bot polls constantly and would drown the rest.
        polls = sum(1 for name, _ in self.calls if name == "getUpdates")
        recent = [(name, params) for name, params in self.calls if name != "getUpdates"][-10:]
        lines = [
            headline,
            f"getUpdates calls: {polls}, acknowledged_offset: {self.acknowledged_offset}, "
            f"pending updates: {self.pending_updates}",
            f"last {len(recent)} other calls:" if recent else "no other calls",
        ]
        lines += [f"  {name} {params!r}" for name, params in recent]
        unknown = sorted({name for name, _ in self.calls if name not in self._method_names.values()})
        if unknown:
            # These got 404, which PTB raises as InvalidToken/EndPointNotFound -- easy to misread.
            lines.append(f"methods this fake doesn't implement (answered 404): {', '.join(unknown)}")
        if self.server_errors:
            lines.append(f"the fake itself crashed: {self.server_errors!r}")
        return "\n".join(lines)


# ---------------------------------------------------------------------- helpers


def _utf16_len(text: str) -> int:
    # Telegram measures lengths and entity offsets in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _extension(filename: str) -> str:
    dot = filename.rfind(".")
    return filename[dot:] if dot > 0 else ""


def _opt_int(params: JSONDict, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None


def _decode_value(name: str, value: str) -> object:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(request: Request) -> JSONDict:
    """Decode query string, urlencoded, multipart or JSON params the way the Bot API accepts them."""
    params: JSONDict = {k: _decode_value(k, v) for k, v in request.query_params.multi_items()}
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON object") from None
            if not isinstance(data, dict):
                raise ApiError(400, "Bad Request: can't parse JSON object")
            # Clients may still JSON-encode nested objects as strings inside a JSON body.
            params.update({k: _decode_value(k, v) if isinstance(v, str) else v for k, v in data.items()})
    elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    params[key] = UploadedFile(value.filename, value.content_type, await value.read())
                else:
                    params[key] = _decode_value(key, value)
    else:
        await request.body()
    # attach://<name> refers to another multipart part.
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            attached = params.get(value.removeprefix("attach://"))
            if isinstance(attached, UploadedFile):
                params[key] = attached
    return params


async def _wait_for_disconnect(request: Request) -> None:
    # The body is already read, so the next ASGI message is the client going away.
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _error_response(error: ApiError) -> JSONResponse:
    body: JSONDict = {"ok": False, "error_code": error.error_code, "description": error.description}
    if error.parameters:
        body["parameters"] = error.parameters
    return JSONResponse(body, status_code=error.error_code)


def _check_inline_button(button: object) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text must be a String")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    elif len(button) == 1:
        raise ApiError(
            400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )


def _set_inline_markup(raw: JSONDict, markup: JSONDict | None) -> None:
    # A Message only ever carries an inline keyboard; reply keyboards are not echoed back by Telegram.
    if markup is not None and "inline_keyboard" in markup:
        raw["reply_markup"] = markup
    else:
        raw.pop("reply_markup", None)


def _html_to_plain(source: str) -> str:
    """The text Telegram shows for parse_mode=HTML, raising the 400 it gives for markup it rejects."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char == "<":
            offset = len(source[:i].encode())
            tag = _TAG_RE.match(source, i)
            if tag is None:
                raise _entities_error(f"Unclosed start tag at byte offset {offset}")
            name = tag.group(2).lower()
            if tag.group(1):
                if not stack:
                    raise _entities_error(f'Unexpected end tag "{name}" at byte offset {offset}')
                if stack[-1] != name:
                    raise _entities_error(
                        f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", found "</{name}>"'
                    )
                stack.pop()
            elif name not in _HTML_TAGS:
                raise _entities_error(f'Unsupported start tag "{name}" at byte offset {offset}')
            else:
                stack.append(name)
            i = tag.end()
            continue
        if char == "&":
            entity = _HTML_ENTITY_RE.match(source, i)
            if entity is not None:
                out.append(html.unescape(entity.group(0)))
                i = entity.end()
                continue
        out.append(char)
        i += 1
    if stack:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _entities_error(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {detail}")

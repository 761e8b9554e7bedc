"""DingTalk (钉钉): the robot's one-to-one messages into Houqin's neutral Inbound, Outcomes and
outbox notices back out as robot messages (ActionCards), through DingTalk's open platform.

Two ways in, one path after: Stream mode (the official dingtalk-stream SDK dials DingTalk; stream.py)
or webhook mode (DingTalk posts to /dingtalk/events, signed; events.py checks it before anything
else). Either hands the robot's message to `take`, which acknowledges it at once and handles it in
a task: words, a command (/repair, or 报修 领用 我的 帮助), a button's answer (cards.py: a button makes
the person send `label 〔payload〕`), a picture or a file (downloaded first). The message's msgId is
its delivery key, so a message DingTalk delivers twice, by either way, is handled once.

A robot's message cannot be edited, so a notice that replaces a card (a ticket that moved) is sent
anew and says so; an old card's button still sends its answer, which the core answers as stale.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels import acked, typed
from bot.channels.bodies import read_limited
from bot.channels.contract import MAX_PHOTO_BYTES, fetch_document
from bot.channels.daily import sync_daily
from bot.channels.dingtalk import cards, events
from bot.channels.dingtalk.api import DingTalkAPI, DingTalkError, Sent
from bot.channels.pacing import NOTICE_POLL_SECONDS, PATIENCE_SECONDS, BudgetShare, Pacer, batch_of
from bot.settings import Settings
from handlers.core import directory
from handlers.core.conversation import (
    MAX_DOCUMENT,
    MAX_TEXT,
    DocumentIn,
    FileOut,
    Inbound,
    Kind,
    Outcome,
    PhotoIn,
    Reply,
    Sender,
)
from handlers.core.engine import Houqin
from handlers.core.flow import sniff_image_type
from handlers.core.i18n import translate, typed_as_is
from handlers.core.outbox import (
    Outbox,
    Pending,
    RetryLater,
    Unreachable,
    drain,
    keep_draining,
)

log = logging.getLogger(__name__)
CHANNEL = "dingtalk"
EVENTS_PATH = "/dingtalk/events"
JSON = dict[str, Any]
# A robot message is a few KiB; anything near this is not one.
MAX_REQUEST_BYTES = 1024 * 1024
# Messages to one person at most this often from here (DingTalk's flow control is per person too).
PERSON_INTERVAL = 0.25
# When DingTalk says "too fast" without saying for how long.
DEFAULT_WAIT = 1.0
ONE_TO_ONE = "1"
# What an interactive card's outTrackId begins with (a robot message's key never does).
TRACK = "hq-card-"
T = TypeVar("T")


class DingTalkChannel(acked.Conversing):
    name = CHANNEL

    def __init__(self, settings: Settings, houqin: Houqin, outbox: Outbox, *, ack_within: float = 2.5) -> None:
        assert settings.dingtalk_client_id and settings.dingtalk_client_secret, "built only when the app is set"
        self.settings = settings
        self.houqin = houqin
        self.outbox = outbox
        # A card template's presses come back over the stream only: in webhook mode steps stay
        # ActionCards. How long a press waits for the core before DingTalk is answered without it.
        self.template = settings.dingtalk_card_template_id if not settings.dingtalk_webhook else None
        self.ack_within = ack_within
        self.api = DingTalkAPI(
            settings.dingtalk_client_id,
            settings.dingtalk_client_secret,
            settings.dingtalk_robot,
            settings.dingtalk_api_base_url,
            settings.dingtalk_oapi,
        )
        self.pacer = Pacer(settings.dingtalk_send_rate, chat_interval=PERSON_INTERVAL)
        self.budget = BudgetShare(self.pacer, CHANNEL, outbox)
        self._spoken: dict[str, str] = {}
        self.background = acked.Background("DingTalk work")
        self._wake = asyncio.Event()
        # Set by stop(): the sender claims nothing new and lets the batch in hand go out.
        self._stopping = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._daily: asyncio.Task[None] | None = None
        self._stream: Any = None  # stream.Stream, imported only in that mode

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"{CHANNEL} ({self.settings.dingtalk_mode.value})"

    def command_syntax(self, command: str) -> str:
        return typed_as_is(command)

    async def start(self) -> None:
        self._sender = asyncio.create_task(self._send_notices(), name="dingtalk-outbox")
        if self.settings.dingtalk_directory_sync:
            daily = sync_daily("DingTalk", self.sync_directory, self.houqin.clock, self.settings.zone, DingTalkError)
            self._daily = asyncio.create_task(daily, name="dingtalk-directory")
        if self.settings.dingtalk_card_template_id and self.settings.dingtalk_webhook:
            log.warning("DINGTALK_CARD_TEMPLATE_ID is used in stream mode only (its presses come over the stream)")
        if not self.settings.dingtalk_webhook:
            from bot.channels.dingtalk.stream import Stream

            self._stream = Stream(self.settings, self)
            await self._stream.start()

    async def stop(self) -> None:
        """Take nothing new (the stream closed; the app answers 503 meanwhile); let the notices in hand
        and the work messages started finish within the grace, then close."""
        if self._stream is not None:
            await self._stream.stop()
        await self.wind_down(self._daily)
        await self.api.close()

    # --- the directory --------------------------------------------------------------------------

    async def sync_directory(self, period: str | None = None) -> directory.Applied | None:
        """DingTalk's departments, 主管 and people into Houqin (`houqin dingtalk sync`, and daily)."""
        from bot.channels.dingtalk.directory import read

        return await self.houqin.directory_sync(CHANNEL, await read(self.api), period)

    async def left(self, user_ids: Sequence[str]) -> None:
        """The directory says they left (user_leave_org): under ACCESS_POLICY=directory they leave Houqin."""
        for user_id in user_ids:
            await self.houqin.directory_left(CHANNEL, user_id)

    # --- inbound --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route(EVENTS_PATH, self.endpoint, methods=["POST"])] if self.settings.dingtalk_webhook else []

    async def endpoint(self, request: Request) -> Response:
        body = await read_limited(request, MAX_REQUEST_BYTES)
        if body is None:
            return JSONResponse({"error": "request too large"}, status_code=413)
        try:
            message = events.open_request(
                {k.lower(): v for k, v in request.headers.items()},
                body,
                secret=self.settings.dingtalk_client_secret or "",
                now=time.time(),
            )
        except events.Refused as refused:
            log.warning("refused a request to %s: %s", EVENTS_PATH, refused)
            return JSONResponse({"error": str(refused)}, status_code=refused.status)
        self.take(message)
        return JSONResponse({})

    def take(self, message: JSON) -> None:
        """A message to the robot, however it came: handled in a task, DingTalk answered at once."""
        self.background.spawn(self.message(message))

    async def message(self, message: JSON) -> None:
        """What someone sent the robot in their one-to-one chat (group chats are not Houqin's)."""
        staff_id = str(message.get("senderStaffId") or "")
        corp, robot_corp = message.get("senderCorpId"), message.get("chatbotCorpId")
        if (
            message.get("conversationType") != ONE_TO_ONE
            or not staff_id
            or (corp and robot_corp and corp != robot_corp)
        ):
            # No staff id, or another organisation's: someone the robot cannot write to, not a member.
            return
        sender = Sender(CHANNEL, staff_id, staff_id, str(message.get("senderNick") or staff_id))
        inbound = await self.to_inbound(sender, f"msg:{message.get('msgId')}", message)
        await self.converse(inbound)

    async def to_inbound(self, sender: Sender, key: str, message: JSON) -> Inbound:
        kind = message.get("msgtype")
        content = message.get("content")
        content = content if isinstance(content, dict) else {}
        if kind == "text":
            return self.words(sender, key, str((message.get("text") or {}).get("content") or ""))
        if kind == "picture":
            return Inbound(sender, Kind.PHOTO, key, photo=await self.photo(str(content.get("downloadCode") or "")))
        if kind == "richText":
            parts = [p for p in content.get("richText") or [] if isinstance(p, dict)]
            picture = next((p for p in parts if p.get("downloadCode")), None)
            if picture is not None:
                return Inbound(sender, Kind.PHOTO, key, photo=await self.photo(str(picture["downloadCode"])))
            return self.words(sender, key, "".join(str(p.get("text") or "") for p in parts))
        if kind == "file":
            code = str(content.get("downloadCode") or "")
            document = DocumentIn(name=str(content.get("fileName") or "file"), content=None, file_id=code)
            fetched = await fetch_document(document, lambda: self.download(code, MAX_DOCUMENT))
            return Inbound(sender, Kind.DOCUMENT, key, document=fetched)
        return Inbound(sender, Kind.UNSUPPORTED, key)

    @staticmethod
    def words(sender: Sender, key: str, text: str) -> Inbound:
        """Typed words: a button's answer (`label 〔payload〕`), a command, or an answer."""
        pressed = cards.pressed(text)
        if pressed is not None:
            return Inbound(sender, Kind.BUTTON, key, text=pressed[1])
        command = typed.command_in(text)
        if command is not None:
            return Inbound(sender, Kind.COMMAND, key, text=command[1][:MAX_TEXT], command=command[0])
        return Inbound(sender, Kind.TEXT, key, text=text.strip())

    async def photo(self, code: str) -> PhotoIn:
        """A picture someone sent, downloaded before the core's transaction; bytes that are no image
        are passed on as such, and the step refuses them in the person's words."""
        content = await self.download(code, MAX_PHOTO_BYTES)
        kind = sniff_image_type(content) if content is not None else None
        return PhotoIn(file_id=code, content=content or b"", content_type=kind or "unknown")

    async def download(self, code: str, limit: int) -> bytes | None:
        try:
            return await self.api.download(code, limit)
        except DingTalkError as exc:
            log.info("could not fetch a file sent to the robot: %s", exc)
            return None

    async def converse(self, inbound: Inbound) -> None:
        outcome = await self.handle(inbound)
        if not self.answered(outcome):
            await self.reply(outcome, inbound.sender.address)

    async def handle(self, inbound: Inbound) -> Outcome:
        try:
            return await super().handle(inbound)
        except Exception:
            await self.apologise(inbound.sender)
            raise

    async def reply(self, outcome: Outcome, user_id: str) -> None:
        await self.done(outcome, await self.post_replies(user_id, outcome.replies))

    async def card_press(self, data: JSON, key: str) -> JSON:
        """A template card's button (the stream's card callback topic): answered within DingTalk's
        time with the pressed card redrawn (the choice, no buttons); the replies follow as messages.
        A slower core gets an empty answer now and the card updated when it is done."""
        user_id, track = str(data.get("userId") or ""), str(data.get("outTrackId") or "")
        payload = cards.card_pressed(str(data.get("content") or ""))
        if not user_id or payload is None:
            return {}
        inbound = Inbound(Sender(CHANNEL, user_id, user_id, user_id), Kind.BUTTON, key, text=payload[:MAX_TEXT])
        work = self.background.spawn(self.handle(inbound))
        try:
            outcome = await asyncio.wait_for(asyncio.shield(work), timeout=self.ack_within)
        except TimeoutError:
            self.background.spawn(self._late_press(work, user_id, track))
            return {}
        except Exception:
            return {}  # apologised for in its chat
        if self.answered(outcome):
            return {}
        self.background.spawn(self.reply(outcome, user_id))
        if outcome.duplicate or outcome.on_card:
            return {}
        return {"cardData": {"cardParamMap": cards.retired_params(outcome.chosen)}}

    async def _late_press(self, work: asyncio.Task[Outcome], user_id: str, track: str) -> None:
        outcome = await work
        if self.answered(outcome):
            return
        if not outcome.duplicate and not outcome.on_card and track:
            try:
                await self.api.update_card(track, cards.retired_params(outcome.chosen))
            except DingTalkError as exc:
                log.info("could not redraw the pressed card %s: %s", track, exc)
        await self.reply(outcome, user_id)

    async def apologise(self, sender: Sender) -> None:
        """The core failed (nothing was kept): say so in their chat."""
        sorry = Reply(translate(self.locale_hint(sender.external_id), "dialog.error.internal"))
        try:
            await self.post_replies(sender.address, [sorry])
        except DingTalkError as exc:
            log.warning("could not tell %s about a failure: %s", sender.external_id, exc)

    # --- outbound -------------------------------------------------------------------------------

    async def post_replies(self, user_id: str, replies: Sequence[Reply]) -> str | None:
        """Answers to the person's own action (not paced: they are few and must not queue behind a
        fan-out); returns what carries the newest buttons."""
        prompt = None
        for reply in replies:
            shown = await self.show(user_id, reply, paced=False)
            if reply.buttons:
                prompt = shown
            await self.send_files(user_id, reply.files, paced=False)
        return prompt

    async def show(
        self, user_id: str, reply: Reply, *, paced: bool, card_ref: str | None = None, note: str | None = None
    ) -> str | None:
        """A reply's words and buttons: robot messages (the buttons an ActionCard's), or with a card
        template the last part a card, a card sent before updated where it is. What shows it now."""
        if not reply.text and not reply.buttons:
            return card_ref
        in_place = bool(self.template and card_ref and card_ref.startswith(TRACK))
        earlier, last, buttons = cards.parts(reply, None if in_place else note)
        for text in earlier:
            await self._send(user_id, *cards.message(text, []), paced=paced)
        if self.template and (buttons or in_place):
            params = cards.card_params(last, buttons)
            if in_place and card_ref:
                await self._once_more(user_id, lambda: self.api.update_card(card_ref, params), paced=paced)
                return card_ref
            track = f"{TRACK}{uuid.uuid4().hex}"
            template = self.template
            await self._once_more(user_id, lambda: self.api.create_card(template, track, user_id, params), paced=paced)
            return track
        return await self._send(user_id, *cards.message(last, buttons), paced=paced)

    async def _send(self, user_id: str, msg_key: str, param: JSON, *, paced: bool) -> str:
        sent = await self._once_more(user_id, lambda: self.api.send(user_id, msg_key, param), paced=paced)
        return self._reached(user_id, sent).key

    async def _once_more(self, user_id: str, call: Callable[[], Awaitable[T]], *, paced: bool) -> T:
        """One call to DingTalk for this person. Paced, "too fast" holds the person and is raised (the
        notice goes back to the outbox); an answer to their own action waits that out once instead."""
        if paced:
            await self.pacer.wait(user_id)
        try:
            return await call()
        except DingTalkError as exc:
            if paced or not exc.rate_limited:
                raise
            wait = exc.retry_after or DEFAULT_WAIT
            self.pacer.hold(user_id, wait)
            await asyncio.sleep(wait)
            return await call()

    @staticmethod
    def _reached(user_id: str, sent: Sent) -> Sent:
        """batchSend answers 200 even when it did not send: the person is invalid or flow-controlled."""
        if user_id in sent.invalid:
            raise Unreachable(f"DingTalk cannot reach {user_id}")
        if user_id in sent.flow_controlled:
            raise DingTalkError(200, "flowControlled", f"{user_id} is flow-controlled")
        return sent

    async def send_files(self, user_id: str, files: Sequence[FileOut], *, paced: bool = True) -> None:
        """Files made for this person: pictures (a digest's chart) as images, the rest as files."""
        for file in files:
            kept = await self.outbox.file(file.id)
            if kept is None:
                log.warning("file %s is gone; not sent to %s", file.id, user_id)
                continue
            if file.is_image:
                media = await self.api.upload("image", kept.name, kept.content, file.content_type)
                await self._send(user_id, "sampleImageMsg", {"photoURL": media}, paced=paced)
            else:
                media = await self.api.upload("file", kept.name, kept.content, file.content_type)
                kind = kept.name.rpartition(".")[2].lower() or "file"
                param = {"mediaId": media, "fileName": kept.name, "fileType": kind}
                await self._send(user_id, "sampleFile", param, paced=paced)

    async def send_photos(self, user_id: str, photo_ids: Sequence[int]) -> None:
        """A new card comes with the ticket's photos above it, uploaded from the bytes Houqin keeps."""
        for photo_id in photo_ids:
            photo = await self.outbox.photo(photo_id)
            if photo is None or not photo.content:
                continue
            kind = sniff_image_type(photo.content) or "image/jpeg"
            media = await self.api.upload("image", "photo." + kind.rpartition("/")[2], photo.content, kind)
            await self._send(user_id, "sampleImageMsg", {"photoURL": media}, paced=True)

    async def _send_notices(self) -> None:
        await keep_draining(
            self.drain_once, self._wake, "draining the DingTalk outbox", NOTICE_POLL_SECONDS, self._stopping
        )

    async def send_notice(self, pending: Pending) -> str | None:
        """One notice, paced. A card that replaces one sent before (pending.card_ref) is sent anew,
        saying so: DingTalk cannot edit a robot's message."""
        held = self.pacer.held_for(pending.address)
        if held > PATIENCE_SECONDS:
            raise RetryLater(f"held for {held:.0f}s", timedelta(seconds=held), tried=False)
        await self.budget.refresh()
        note = None
        if pending.card_ref is not None:
            note = translate(pending.locale or self.settings.default_locale, "dingtalk.card.replaces")
        try:
            await self.send_photos(pending.address, pending.photos)
            ref = await self.show(pending.address, pending.reply, paced=True, card_ref=pending.card_ref, note=note)
            await self.send_files(pending.address, pending.reply.files)
            return ref
        except DingTalkError as exc:
            if exc.rate_limited or exc.code == "flowControlled":
                wait = exc.retry_after or DEFAULT_WAIT
                self.pacer.hold(pending.address, wait)
                raise RetryLater(f"rate limited for {wait:.0f}s", timedelta(seconds=wait)) from exc
            raise

    async def drain_once(self) -> int:
        """One claimed batch sent to the end: as many as this process's pace sends in BATCH_SECONDS,
        so a stopping channel sees the batch in hand out within the grace."""
        limit = batch_of(self.pacer)
        return await drain(self.outbox, CHANNEL, self.send_notice, limit=limit)

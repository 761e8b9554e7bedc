"""Feishu / Lark: events and card callbacks into Houqin's neutral Inbound, Outcomes and outbox
notices back out as interactive cards (card JSON 2.0), through the official SDK (lark-oapi).

Two ways in, one path after: the long connection (the SDK's ws.Client dials Feishu; longconn.py)
or webhook mode (Feishu posts to /feishu/events, signed and encrypted; events.py checks it before
anything else). Either hands an Envelope to `dispatch`:
- a message in a one-to-one chat (im.message.receive_v1) is acknowledged at once and handled in a
  task: words, a command (/repair, or 报修 领用 我的 帮助), a picture or a file (fetched first);
- a card's button or drop-down, or words typed into a question card's box (card.action.trigger),
  waits for the core up to `ack_within` (Feishu gives 3 s): the answer redraws the pressed card with
  the choice and no buttons, and the replies follow as new cards; a slower core gets an empty answer
  now and the card patched when it is done;
- a leaver from the directory (contact.user.deleted_v3) leaves Houqin under ACCESS_POLICY=directory;
- the bot's menu (application.bot.menu_v6) is a command: its event key names it.
Every event's id is its delivery key, so an event Feishu delivers twice is handled once.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels import acked, typed
from bot.channels.bodies import read_limited
from bot.channels.contract import MAX_PHOTO_BYTES, fetch_document
from bot.channels.daily import sync_daily
from bot.channels.feishu import cards, events
from bot.channels.feishu.api import FeishuAPI, FeishuError
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
    StepView,
    asks,
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

if TYPE_CHECKING:
    # The SDK's WebSocket client, imported only in that mode.
    from bot.channels.feishu.longconn import LongConnection

log = logging.getLogger(__name__)
CHANNEL = "feishu"
EVENTS_PATH = "/feishu/events"
JSON = dict[str, Any]
# Feishu's events are a few KiB; anything near this is not one of them.
MAX_REQUEST_BYTES = 1024 * 1024
# Feishu lets an app send one person about five messages a second; a little slower than that.
PERSON_INTERVAL = 0.25
REMEMBERED_QUESTIONS = 5_000
# Codes meaning this person cannot be written to (the app is not available to them, or they left).
UNREACHABLE = frozenset({230013, 230002, 99992361, 99992364})


class FeishuChannel(acked.Conversing):
    name = CHANNEL

    def __init__(self, settings: Settings, houqin: Houqin, outbox: Outbox, *, ack_within: float = 2.5) -> None:
        assert settings.feishu_app_id and settings.feishu_app_secret, "built only when the app is set"
        self.settings = settings
        self.houqin = houqin
        self.outbox = outbox
        # How long a card press waits for the core before Feishu is answered without it.
        self.ack_within = ack_within
        self.api = FeishuAPI(settings.feishu_app_id, settings.feishu_app_secret, settings.feishu_api_base_url)
        self.pacer = Pacer(settings.feishu_send_rate, chat_interval=PERSON_INTERVAL)
        self.budget = BudgetShare(self.pacer, CHANNEL, outbox)
        self._names: dict[str, str] = {}
        # The words of the question cards this process sent, by message id, so one answered by
        # typing can lose its buttons (oldest forgotten first).
        self._questions: dict[str, str] = {}
        self._spoken: dict[str, str] = {}
        self.background = acked.Background("Feishu work")
        self._wake = asyncio.Event()
        # Set by stop(): the sender claims nothing new and lets the batch in hand go out.
        self._stopping = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._daily: asyncio.Task[None] | None = None
        self._connection: LongConnection | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"{CHANNEL} ({self.settings.feishu_mode.value.replace('_', ' ')})"

    def command_syntax(self, command: str) -> str:
        return typed_as_is(command)

    async def start(self) -> None:
        self._sender = asyncio.create_task(self._send_notices(), name="feishu-outbox")
        if self.settings.feishu_directory_sync:
            daily = sync_daily("Feishu", self.sync_directory, self.houqin.clock, self.settings.zone, FeishuError)
            self._daily = asyncio.create_task(daily, name="feishu-directory")
        if not self.settings.feishu_webhook:
            # The SDK loads about 11,000 modules, there for the life of the process: the collector,
            # held off meanwhile as for Houqin's own loading (bot/launch.py), would walk them again
            # and again. 2.2–2.6 → 1.3–1.5 s of CPU at start.
            collecting = gc.isenabled()
            gc.disable()
            try:
                from bot.channels.feishu.longconn import LongConnection
            finally:
                if collecting:
                    gc.enable()

            self._connection = LongConnection(self.settings, self.dispatch, self.ack_within)
            await self._connection.start()

    async def stop(self) -> None:
        """Take nothing new (the connection closed; the app answers 503 meanwhile); let the notices in
        hand and the work events started finish within the grace, then close."""
        if self._connection is not None:
            await self._connection.stop()
        await self.wind_down(self._daily)
        await self.api.close()

    # --- the directory --------------------------------------------------------------------------

    async def sync_directory(self, period: str | None = None) -> directory.Applied | None:
        """Feishu's departments, leaders and people into Houqin (`houqin feishu sync`, and daily)."""
        from bot.channels.feishu.directory import read

        return await self.houqin.directory_sync(CHANNEL, await read(self.api), period)

    # --- inbound --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route(EVENTS_PATH, self.endpoint, methods=["POST"])] if self.settings.feishu_webhook else []

    async def endpoint(self, request: Request) -> Response:
        body = await read_limited(request, MAX_REQUEST_BYTES)
        if body is None:
            return JSONResponse({"error": "request too large"}, status_code=413)
        try:
            envelope = events.open_request(
                {k.lower(): v for k, v in request.headers.items()},
                body,
                encrypt_key=self.settings.feishu_encrypt_key or "",
                verification_token=self.settings.feishu_verification_token or "",
                now=time.time(),
            )
        except events.Refused as refused:
            log.warning("refused a request to %s: %s", EVENTS_PATH, refused)
            return JSONResponse({"error": str(refused)}, status_code=refused.status)
        if envelope.challenge is not None:
            return JSONResponse({"challenge": envelope.challenge})
        return JSONResponse(await self.dispatch(envelope))

    async def dispatch(self, envelope: events.Envelope) -> JSON:
        """An event, however it came: what Feishu is answered (a card callback's toast and card)."""
        if envelope.event_type == "card.action.trigger":
            return await self.card_action(envelope)
        if envelope.event_type == "im.message.receive_v1":
            self.background.spawn(self.message(envelope))
        elif envelope.event_type == "application.bot.menu_v6":
            self.background.spawn(self.menu(envelope))
        elif envelope.event_type == "contact.user.deleted_v3":
            self.background.spawn(self.user_left(envelope))
        return {}

    async def sender(self, open_id: str) -> Sender:
        """Who this is to Houqin: their name from the directory (asked once per process), reached at
        their open_id (the one-to-one chat with the app)."""
        name = self._names.get(open_id)
        if name is None:
            try:
                user = await self.api.user(open_id)
                name = str(user.get("name") or user.get("en_name") or open_id)
            except FeishuError as exc:
                # Not naming them: the line's time could sit beside an anonymous answer of theirs.
                log.info("a contact lookup failed (%s); using the open_id as the name", exc.msg)
                name = open_id
            self._names[open_id] = name
        return Sender(CHANNEL, open_id, open_id, name)

    async def message(self, envelope: events.Envelope) -> None:
        """What someone sent the app in their one-to-one chat (group chats are not Houqin's)."""
        event = envelope.event
        message = event.get("message") or {}
        who = (event.get("sender") or {}).get("sender_id") or {}
        open_id = str(who.get("open_id") or "")
        if message.get("chat_type") != "p2p" or (event.get("sender") or {}).get("sender_type") != "user" or not open_id:
            return
        sender = await self.sender(open_id)
        inbound = await self.to_inbound(sender, f"event:{envelope.event_id}", message)
        await self.converse(inbound)

    async def menu(self, envelope: events.Envelope) -> None:
        """An entry of the bot's menu (机器人菜单): its event key is the command it stands for."""
        event = envelope.event
        open_id = ((event.get("operator") or {}).get("operator_id") or {}).get("open_id")
        command = str(event.get("event_key") or "").strip().lower()
        if open_id and command:
            sender = await self.sender(str(open_id))
            await self.converse(Inbound(sender, Kind.COMMAND, f"event:{envelope.event_id}", command=command))

    async def converse(self, inbound: Inbound) -> None:
        try:
            outcome = await self.handle(inbound)
        except Exception:
            await self.apologise(inbound.sender)
            raise
        if self.answered(outcome):
            return
        await self.retire(outcome)
        step = await self.asking(inbound.sender, outcome)
        prompt = await self.post_replies(inbound.sender.address, outcome.replies, step)
        await self.done(outcome, prompt)

    async def retire(self, outcome: Outcome, pressed: str = "") -> None:
        """The question answered by typing (or a picture) loses its buttons, as a pressed one does:
        redrawn with its words, which this process remembers for the cards it sent (another process's
        card keeps its buttons, and a press on them is told it is stale)."""
        ref = outcome.retire_prompt
        if not outcome.has_buttons or not ref or ref == pressed or outcome.duplicate:
            return
        question = self._questions.pop(ref, None)
        if question is None:
            return
        try:
            await self.api.update_card(ref, cards.retired(question, None))
        except FeishuError as exc:
            log.info("could not retire the buttons of %s: %s", ref, exc.msg)

    async def to_inbound(self, sender: Sender, key: str, message: JSON) -> Inbound:
        try:
            content = json.loads(str(message.get("content") or "{}"))
        except ValueError:
            content = {}
        kind = message.get("message_type")
        message_id = str(message.get("message_id") or "")
        if kind == "text":
            text = str(content.get("text") or "")
            command = typed.command_in(text)
            if command is not None:
                return Inbound(sender, Kind.COMMAND, key, text=command[1][:MAX_TEXT], command=command[0])
            return Inbound(sender, Kind.TEXT, key, text=text)
        if kind == "post":
            return Inbound(sender, Kind.TEXT, key, text=post_text(content))
        if kind == "image":
            photo = await self.photo(message_id, str(content.get("image_key") or ""))
            return Inbound(sender, Kind.PHOTO, key, photo=photo)
        if kind == "file":
            name = str(content.get("file_name") or "file")
            document = DocumentIn(name=name, content=None, file_id=str(content.get("file_key") or ""))
            fetched = await fetch_document(
                document, lambda: self.download(message_id, document.file_id or "", "file", MAX_DOCUMENT)
            )
            return Inbound(sender, Kind.DOCUMENT, key, document=fetched)
        return Inbound(sender, Kind.UNSUPPORTED, key)

    async def photo(self, message_id: str, image_key: str) -> PhotoIn:
        """A picture someone sent, downloaded before the core's transaction; bytes that are no image
        are passed on as such, and the step refuses them in the person's words."""
        content = await self.download(message_id, image_key, "image", MAX_PHOTO_BYTES)
        kind = sniff_image_type(content) if content is not None else None
        return PhotoIn(file_id=image_key, content=content or b"", content_type=kind or "unknown")

    async def download(self, message_id: str, key: str, kind: str, limit: int) -> bytes | None:
        try:
            content = await self.api.resource(message_id, key, kind)
        except FeishuError as exc:
            log.info("could not fetch %s %s: %s", kind, key, exc)
            return None
        return content if len(content) <= limit else None

    async def card_action(self, envelope: events.Envelope) -> JSON:
        """A card's button: answered within Feishu's 3 s, the pressed card redrawn with the choice."""
        event = envelope.event
        open_id = str((event.get("operator") or {}).get("open_id") or "")
        action = event.get("action") or {}
        press = cards.pressed(action if isinstance(action, dict) else {})
        question = press.question
        message_id = str((event.get("context") or {}).get("open_message_id") or "")
        if not open_id:
            return {}
        work = self.background.spawn(self._press(open_id, f"press:{envelope.event_id}", press))
        try:
            outcome = await asyncio.wait_for(asyncio.shield(work), timeout=self.ack_within)
        except TimeoutError:
            # Feishu stops waiting at 3 s: answered now, the card patched when the core is done.
            self.background.spawn(self._late_press(work, open_id, message_id, press))
            return {}
        except Exception:
            return cards.toast(translate(self.locale_hint(open_id), "dialog.error.internal"))
        if self.answered(outcome):
            return {}
        answer = cards.toast(outcome.toast)
        if not outcome.duplicate and not outcome.on_card:
            answer["card"] = {"type": "raw", "data": cards.retired(question, press.typed or outcome.chosen)}
        self.background.spawn(self._after_press(outcome, open_id, message_id))
        return answer

    async def _press(self, open_id: str, key: str, press: cards.Press) -> Outcome:
        sender = await self.sender(open_id)
        if press.typed is not None:
            # Words typed into the card's box: as if typed in the chat, for the question it showed.
            return await self.handle(Inbound(sender, Kind.TEXT, key, text=press.typed, version=press.version))
        return await self.handle(Inbound(sender, Kind.BUTTON, key, text=press.payload[:MAX_TEXT]))

    async def _late_press(self, work: asyncio.Task[Outcome], open_id: str, message_id: str, press: cards.Press) -> None:
        outcome = await work
        if self.answered(outcome):
            return
        if not outcome.duplicate and not outcome.on_card and message_id:
            try:
                await self.api.update_card(message_id, cards.retired(press.question, press.typed or outcome.chosen))
            except FeishuError as exc:
                log.info("could not redraw the pressed card %s: %s", message_id, exc)
        await self._after_press(outcome, open_id, message_id)

    async def _after_press(self, outcome: Outcome, open_id: str, pressed: str) -> None:
        await self.retire(outcome, pressed)
        prompt = await self.post_replies(
            open_id, outcome.replies, await self.asking(await self.sender(open_id), outcome)
        )
        await self.done(outcome, prompt)

    async def asking(self, sender: Sender, outcome: Outcome) -> StepView | None:
        """The question this turn asked, when it is one a card's box can answer (text, a number)."""
        if not outcome.has_buttons:
            return None
        step = await self.houqin.current_step(sender)
        return step if step is not None and asks(outcome, step) else None

    async def user_left(self, envelope: events.Envelope) -> None:
        """The directory says this person left: under ACCESS_POLICY=directory they leave Houqin too."""
        user = envelope.event.get("object") or {}
        open_id = user.get("open_id")
        if open_id:
            await self.houqin.directory_left(CHANNEL, str(open_id))

    async def apologise(self, sender: Sender) -> None:
        """The core failed (nothing was kept): say so in their chat."""
        try:
            await self.post_replies(
                sender.address, [Reply(translate(self.locale_hint(sender.external_id), "dialog.error.internal"))]
            )
        except FeishuError as exc:
            log.warning("could not tell %s about a failure: %s", sender.external_id, exc)

    # --- outbound -------------------------------------------------------------------------------

    async def post_replies(self, open_id: str, replies: Sequence[Reply], step: StepView | None = None) -> str | None:
        """Answers to the person's own action, as cards in their chat (not paced: they are few and
        must not queue behind a fan-out); the question of `step` with its box for words. Returns the
        message carrying the newest buttons."""
        prompt = None
        locale = self.locale_hint(open_id)
        placeholder = translate(locale, "feishu.card.choose")
        for reply in replies:
            field = None
            if step is not None and any(b.payload.startswith(step.payload("")) for row in reply.buttons for b in row):
                field = cards.input_field(step, cards.question_of(reply), translate(locale, "feishu.card.type"))
            for drawn in cards.reply_cards(reply, placeholder, field):
                sent = await self._own(open_id, "interactive", drawn)
                if reply.buttons:
                    prompt = sent
            if prompt is not None and reply.buttons:
                self.remember(prompt, cards.question_of(reply))
            await self.send_files(open_id, reply.files, paced=False)
        return prompt

    async def _own(self, open_id: str, msg_type: str, content: JSON) -> str:
        """One answer; told to slow down, it waits that out once (this person only) rather than be lost."""
        try:
            return await self.api.send(open_id, msg_type, content)
        except FeishuError as exc:
            if not exc.rate_limited:
                raise
            wait = exc.retry_after or 1.0
            self.hold(open_id, wait)
            await asyncio.sleep(wait)
            return await self.api.send(open_id, msg_type, content)

    def remember(self, message_id: str, question: str) -> None:
        self._questions[message_id] = question
        while len(self._questions) > REMEMBERED_QUESTIONS:
            self._questions.pop(next(iter(self._questions)))

    def hold(self, open_id: str, seconds: float) -> None:
        """Feishu said 429: nothing more to this person for that long, from anyone here."""
        self.pacer.hold(open_id, seconds)

    async def send_files(self, open_id: str, files: Sequence[FileOut], *, paced: bool = True) -> None:
        """Files made for this person: pictures (a digest's chart) as images, the rest as files."""
        for file in files:
            kept = await self.outbox.file(file.id)
            if kept is None:
                log.warning("file %s is gone; not sent to %s", file.id, open_id)
                continue
            if paced:
                await self.pacer.wait(open_id)
            if file.is_image:
                await self._own(open_id, "image", {"image_key": await self.api.upload_image(kept.content)})
            else:
                await self._own(open_id, "file", {"file_key": await self.api.upload_file(kept.name, kept.content)})

    async def send_photos(self, open_id: str, photo_ids: Sequence[int]) -> None:
        """A new card comes with the ticket's photos above it, uploaded from the bytes Houqin keeps."""
        for photo_id in photo_ids:
            photo = await self.outbox.photo(photo_id)
            if photo is None or not photo.content:
                continue
            await self.pacer.wait(open_id)
            await self.api.send(open_id, "image", {"image_key": await self.api.upload_image(photo.content)})

    async def _send_notices(self) -> None:
        await keep_draining(
            self.drain_once, self._wake, "draining the Feishu outbox", NOTICE_POLL_SECONDS, self._stopping
        )

    async def send_notice(self, pending: Pending) -> str | None:
        """One notice, paced: the card it replaces patched in place when there is one, else sent anew."""
        held = self.pacer.held_for(pending.address)
        if held > PATIENCE_SECONDS:
            raise RetryLater(f"held for {held:.0f}s", timedelta(seconds=held), tried=False)
        await self.budget.refresh()
        drawn = cards.reply_cards(pending.reply, translate(self.settings.default_locale, "feishu.card.choose"))
        try:
            if pending.card_ref is not None and drawn:
                await self.pacer.wait(pending.address)
                try:
                    await self.api.update_card(pending.card_ref, drawn[-1])
                    return pending.card_ref
                except FeishuError as exc:
                    if exc.rate_limited:
                        raise
                    log.info("card %s could not be updated (%s); sending it anew", pending.card_ref, exc.msg)
            await self.send_photos(pending.address, pending.photos)
            ref = pending.card_ref
            for card in drawn:
                await self.pacer.wait(pending.address)
                ref = await self.api.send(pending.address, "interactive", card)
            await self.send_files(pending.address, pending.reply.files)
            return ref
        except FeishuError as exc:
            if exc.rate_limited:
                wait = exc.retry_after or 1.0
                self.hold(pending.address, wait)
                raise RetryLater(f"rate limited for {wait:.0f}s", timedelta(seconds=wait)) from exc
            if exc.code in UNREACHABLE:
                raise Unreachable(exc.msg) from exc
            raise

    async def drain_once(self) -> int:
        """One claimed batch sent to the end: as many as this process's pace sends in BATCH_SECONDS,
        so a stopping channel sees the batch in hand out within the grace."""
        limit = batch_of(self.pacer)
        return await drain(self.outbox, CHANNEL, self.send_notice, limit=limit)


def post_text(content: JSON) -> str:
    """The words of a rich-text message (post): its title and text runs, line by line."""
    post = content
    if "content" not in post:  # keyed by language: {"zh_cn": {...}}
        post = next((v for v in content.values() if isinstance(v, dict)), {})
    lines = [str(post.get("title") or "")]
    for paragraph in post.get("content") or []:
        runs = paragraph if isinstance(paragraph, list) else []
        lines.append("".join(str(run.get("text") or "") for run in runs if isinstance(run, dict)))
    return "\n".join(line for line in lines if line)

"""WeCom (企业微信), a self-built app: its encrypted callback into Houqin's neutral Inbound, Outcomes
and outbox notices back out as text messages and template cards.

WeCom POSTs to /wecom/callback (callback.py checks signature, age, decryption and corp before
anything else) and retries what is not answered within 5 seconds, so every request is answered at
once and its work goes on in a task, under a delivery key (MsgId; for an event, who, when and what),
so a retried one is handled once:
- a message (text: words, /repair or repair alone, 报修 领用 我的 帮助; image: fetched first with
  media/get; anything else: unsupported);
- a template card's button (template_card_event): its EventKey is the core's button payload; the
  pressed card then shows the choice in place of its buttons (update_template_card with the event's
  ResponseCode), and the replies follow as new messages;
- the app's menu (click): its key is the command (`houqin wecom menu` sets it);
- the directory (change_contact): delete_user leaves Houqin under ACCESS_POLICY=directory at once,
  any other change has the directory read again soon.

A card can be changed once per response code (the one message/send gave, or a later press's), valid
72 hours: this process keeps the newest unused one per card (its task id, the card's card ref), so
a ticket's card is updated in place as it moves; without one (another process sent it, a restart)
the new version is sent anew.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels import acked, typed
from bot.channels.bodies import read_limited
from bot.channels.contract import MAX_PHOTO_BYTES
from bot.channels.daily import sync_daily
from bot.channels.pacing import NOTICE_POLL_SECONDS, PATIENCE_SECONDS, BudgetShare, Pacer
from bot.channels.wecom import cards
from bot.channels.wecom.api import JSON, NOBODY_REACHABLE, Sent, WeComAPI, WeComError
from bot.channels.wecom.callback import Callback, Message, Refused
from bot.settings import Settings
from handlers.core import directory
from handlers.core.conversation import MAX_TEXT, FileOut, Inbound, Kind, PhotoIn, Reply, Sender
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
CHANNEL = "wecom"
CALLBACK_PATH = "/wecom/callback"
# WeCom's callbacks are a few KiB of XML; anything near this is not one of them.
MAX_REQUEST_BYTES = 256 * 1024
NOTICE_BATCH = 60
# WeCom drops (silently) what an app sends one person beyond 30 messages a minute: one per 2 s.
PERSON_INTERVAL = 2.0
# How long to wait when WeCom says the app is over its frequency limit (45009: the whole app) or
# has too many calls at once (45033).
RATE_LIMIT_WAIT = {45009: 60.0, 45033: 2.0}
# A change in the directory has it read again this much later (changes come in bursts).
RESYNC_AFTER_SECONDS = 5.0
# Response codes kept per card (task id), newest unused; a code lives 72 hours.
CODES_KEPT = 5_000
# Built-in commands a person may type without the slash, besides the menu's.
BARE = frozenset({"start", "help", "my", "lang", "cancel"})


class WeComChannel(acked.Conversing):
    name = CHANNEL

    def __init__(self, settings: Settings, houqin: Houqin, outbox: Outbox) -> None:
        assert settings.wecom_corp_id and settings.wecom_secret and settings.wecom_agent_id is not None
        assert settings.wecom_token and settings.wecom_encoding_aes_key, "built only when the app is set"
        self.settings = settings
        self.houqin = houqin
        self.outbox = outbox
        self.api = WeComAPI(
            settings.wecom_corp_id, settings.wecom_secret, settings.wecom_agent_id, settings.wecom_api_base_url
        )
        self.callback = Callback(
            settings.wecom_token, settings.wecom_encoding_aes_key, settings.wecom_corp_id, settings.wecom_agent_id
        )
        self.pacer = Pacer(settings.wecom_send_rate, chat_interval=PERSON_INTERVAL)
        self.budget = BudgetShare(self.pacer, CHANNEL, outbox)
        self.rate_limit_wait = dict(RATE_LIMIT_WAIT)
        self.resync_after = RESYNC_AFTER_SECONDS
        # task id → the newest unused code that may change that card; task id → the cards asking
        # the same question (a question with more than six choices is several cards).
        self.codes: OrderedDict[str, str] = OrderedDict()
        self.siblings: dict[str, tuple[str, ...]] = {}
        self.bare = BARE | set(houqin.menu_commands())
        self._names: dict[str, str] = {}
        self._spoken: dict[str, str] = {}
        self.background = acked.Background("WeCom work")
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._daily: asyncio.Task[None] | None = None
        self._resync: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"{CHANNEL} (callback)"

    def command_syntax(self, command: str) -> str:
        return typed_as_is(command)

    async def start(self) -> None:
        self._sender = asyncio.create_task(self._send_notices(), name="wecom-outbox")
        if self.settings.wecom_directory_sync:
            daily = sync_daily("WeCom", self.sync_directory, self.houqin.clock, self.settings.zone, WeComError)
            self._daily = asyncio.create_task(daily, name="wecom-directory")

    async def stop(self) -> None:
        """Take nothing new (the app answers 503 meanwhile, and WeCom retries); let the notices in hand
        and the work callbacks started finish within the grace, then close."""
        await self.wind_down(self._daily, self._resync)
        await self.api.close()

    # --- the directory and the menu -------------------------------------------------------------

    async def sync_directory(self, period: str | None = None) -> directory.Applied | None:
        """WeCom's departments, leaders and members into Houqin (`houqin wecom sync`, and daily)."""
        from bot.channels.wecom.directory import read

        return await self.houqin.directory_sync(CHANNEL, await read(self.api), period)

    def _resync_soon(self) -> None:
        if not self.settings.wecom_directory_sync or (self._resync is not None and not self._resync.done()):
            return

        async def later() -> None:
            await asyncio.sleep(self.resync_after)
            try:
                await self.sync_directory()
            except WeComError as exc:
                log.warning("could not read the WeCom directory after a change (%s)", exc)

        self._resync = self.background.spawn(later())

    async def create_menu(self) -> JSON:
        """The app's menu (`houqin wecom menu`), in the organisation's language: Repair, Supplies, and
        More (my requests, surveys, suggestions, language, help); each entry sends its command."""
        locale = self.settings.default_locale
        top = [(translate(locale, "wecom.menu.repair"), "repair"), (translate(locale, "wecom.menu.supply"), "supply")]
        rest = [(translate(locale, f"command.{c}"), c) for c in ("my", "survey", "suggest", "lang", "help")]
        menu = cards.menu(top, translate(locale, "wecom.menu.more"), rest)
        await self.api.create_menu(menu)
        return menu

    # --- inbound --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route(CALLBACK_PATH, self.endpoint, methods=["GET", "POST"])]

    async def endpoint(self, request: Request) -> Response:
        query = dict(request.query_params)
        try:
            if request.method == "GET":
                return PlainTextResponse(self.callback.verify_url(query, time.time()))
            body = await read_limited(request, MAX_REQUEST_BYTES)
            if body is None:
                return PlainTextResponse("request too large", status_code=413)
            message = self.callback.open(query, body, time.time())
        except Refused as refused:
            log.warning("refused a request to %s: %s", CALLBACK_PATH, refused)
            return PlainTextResponse(str(refused), status_code=refused.status)
        self.dispatch(message)
        # Answered at once (WeCom retries after 5 s): an empty answer, the work goes on.
        return PlainTextResponse("")

    def dispatch(self, message: Message) -> None:
        kind, event = message.get("MsgType"), message.get("Event")
        if kind != "event":
            self.background.spawn(self.message(message))
        elif event == "template_card_event":
            self.background.spawn(self.press(message))
        elif event == "click":
            self.background.spawn(self.menu_click(message))
        elif event == "change_contact":
            self.background.spawn(self.contact_changed(message))

    @staticmethod
    def delivery_key(message: Message) -> str:
        """A message's MsgId; an event has none, so who, when and what it was (as WeCom retries it):
        a card's press (press:…) or another event (event:…)."""
        if message.get("MsgId"):
            return f"msg:{message.get('MsgId')}"
        what = "|".join(
            message.get(name) for name in ("FromUserName", "CreateTime", "Event", "EventKey", "TaskId", "ChangeType")
        )
        kind = "press" if message.get("Event") == "template_card_event" else "event"
        return f"{kind}:{hashlib.sha256(what.encode()).hexdigest()[:40]}"

    async def sender(self, userid: str) -> Sender:
        """Who this is to Houqin: their name from the directory (asked once per process), reached at
        their UserID (the app's chat with them)."""
        name = self._names.get(userid)
        if name is None:
            try:
                name = str((await self.api.user(userid)).get("name") or userid)
            except WeComError as exc:
                log.info("contact lookup of %s failed (%s); using the UserID", userid, exc.msg)
                name = userid
            self._names[userid] = name
        return Sender(CHANNEL, userid, userid, name)

    async def message(self, message: Message) -> None:
        userid = message.get("FromUserName")
        if not userid:
            return
        sender = await self.sender(userid)
        inbound = await self.to_inbound(sender, self.delivery_key(message), message)
        await self.converse(inbound)

    async def menu_click(self, message: Message) -> None:
        userid, command = message.get("FromUserName"), message.get("EventKey").lower()
        if userid and command:
            sender = await self.sender(userid)
            await self.converse(Inbound(sender, Kind.COMMAND, self.delivery_key(message), command=command))

    async def converse(self, inbound: Inbound) -> None:
        try:
            outcome = await self.handle(inbound)
        except Exception:
            await self.apologise(inbound.sender)
            raise
        if self.answered(outcome):
            return
        if outcome.retire_prompt and outcome.has_buttons:
            # Answered in words: the question's card keeps no buttons that could answer it again.
            for card in self.siblings.get(outcome.retire_prompt, (outcome.retire_prompt,)):
                await self.change_card(inbound.sender.address, card, cards.pressed(None))
        prompt = await self.post_replies(inbound.sender.address, outcome.replies)
        await self.done(outcome, prompt)

    async def to_inbound(self, sender: Sender, key: str, message: Message) -> Inbound:
        kind = message.get("MsgType")
        if kind == "text":
            text = message.get("Content")
            command = typed.command_in(text, self.bare)
            if command is not None:
                return Inbound(sender, Kind.COMMAND, key, text=command[1][:MAX_TEXT], command=command[0])
            return Inbound(sender, Kind.TEXT, key, text=text)
        if kind == "image":
            return Inbound(sender, Kind.PHOTO, key, photo=await self.photo(message.get("MediaId")))
        return Inbound(sender, Kind.UNSUPPORTED, key)

    async def photo(self, media_id: str) -> PhotoIn:
        """A picture someone sent, downloaded (media/get) before the core's transaction; bytes that are
        no image are passed on as such, and the step refuses them in the person's words."""
        content: bytes | None
        try:
            content = await self.api.media(media_id)
        except WeComError as exc:
            log.info("could not fetch picture %s: %s", media_id, exc)
            content = None
        if content is not None and len(content) > MAX_PHOTO_BYTES:
            content = None
        kind = sniff_image_type(content) if content is not None else None
        return PhotoIn(file_id=media_id, content=content or b"", content_type=kind or "unknown")

    async def press(self, message: Message) -> None:
        """A template card's button: the core's payload in EventKey; the card changed to show the choice."""
        userid, task, code = message.get("FromUserName"), message.get("TaskId"), message.get("ResponseCode")
        if not userid:
            return
        sender = await self.sender(userid)
        payload = message.get("EventKey")[:MAX_TEXT]
        outcome = await self.handle(Inbound(sender, Kind.BUTTON, self.delivery_key(message), text=payload))
        if self.answered(outcome):
            return
        if code and task:
            self.remember(task, code)
            if not outcome.duplicate and not outcome.on_card and outcome.chosen is not None:
                # The question answered: its card (and the others asking it) show the choice instead of buttons.
                for card in self.siblings.get(task, (task,)):
                    await self.change_card(userid, card, cards.pressed(outcome.chosen))
        prompt = await self.post_replies(userid, outcome.replies)
        await self.done(outcome, prompt)

    def remember(self, task: str, code: str) -> None:
        self.codes[task] = code
        self.codes.move_to_end(task)
        while len(self.codes) > CODES_KEPT:
            forgotten, _ = self.codes.popitem(last=False)
            self.siblings.pop(forgotten, None)

    async def change_card(self, userid: str, task: str, change: JSON) -> bool:
        """A card changed in place with its unused code, if this process holds one; spent either way."""
        code = self.codes.pop(task, None)
        if code is None:
            return False
        try:
            await self.api.update_card(userid, code, change)
        except WeComError as exc:
            if exc.rate_limited:
                raise
            log.info("card %s could not be updated (%s)", task, exc.msg)
            return False
        return True

    async def contact_changed(self, message: Message) -> None:
        """The directory changed: someone who left leaves Houqin too (ACCESS_POLICY=directory); any other
        change has the directory read again soon."""
        if message.get("ChangeType") == "delete_user" and message.get("UserID"):
            await self.houqin.directory_left(CHANNEL, message.get("UserID"))
        else:
            self._resync_soon()

    async def apologise(self, sender: Sender) -> None:
        """The core failed (nothing was kept): say so in their chat."""
        try:
            await self.post_replies(
                sender.address, [Reply(translate(self.locale_hint(sender.external_id), "dialog.error.internal"))]
            )
        except WeComError as exc:
            log.warning("could not tell %s about a failure: %s", sender.external_id, exc)

    # --- outbound -------------------------------------------------------------------------------

    def placeholder(self, userid: str | None = None) -> str:
        return translate(self.locale_hint(userid) if userid else self.settings.default_locale, "wecom.card.choose")

    async def post_replies(self, userid: str, replies: Sequence[Reply]) -> str | None:
        """Answers to the person's own action (not paced: they are few and must not queue behind a
        fan-out); returns the task id of the card carrying the newest buttons."""
        prompt = None
        for reply in replies:
            ref = await self.send_messages(userid, cards.reply_messages(reply, self.placeholder(userid)), own=True)
            if reply.buttons:
                prompt = ref
            await self.send_files(userid, reply.files, paced=False)
        return prompt

    async def send_messages(self, userid: str, messages: Sequence[JSON], *, own: bool) -> str | None:
        """Messages in order (paced, unless they answer the person's own action); their cards' codes
        kept; the task id of the last card, if any."""
        ref = None
        tasks = tuple(m["template_card"]["task_id"] for m in messages if m["msgtype"] == "template_card")
        for message in messages:
            if not own:
                await self.pacer.wait(userid)
            sent = await (self._own(userid, message) if own else self.api.send(userid, message))
            if message["msgtype"] == "template_card":
                ref = str(message["template_card"]["task_id"])
                if sent.response_code:
                    self.remember(ref, sent.response_code)
                self.siblings[ref] = tasks
        while len(self.siblings) > CODES_KEPT:  # the oldest cards' questions are long answered
            del self.siblings[next(iter(self.siblings))]
        return ref

    async def _own(self, userid: str, message: JSON) -> Sent:
        """One answer; told to slow down, it waits that out once rather than be lost."""
        try:
            return await self.api.send(userid, message)
        except WeComError as exc:
            if not exc.rate_limited:
                raise
            wait = self.held(userid, exc)
            await asyncio.sleep(wait)
            return await self.api.send(userid, message)

    def held(self, userid: str, exc: WeComError) -> float:
        """WeCom said too many: 45009 pauses the whole app, 45033 (too many at once) this person."""
        wait = self.rate_limit_wait.get(exc.code, self.rate_limit_wait[45033])
        if exc.code == 45009:
            self.pacer.pause(wait)
        self.pacer.hold(userid, wait)
        return wait

    async def send_files(self, userid: str, files: Sequence[FileOut], *, paced: bool = True) -> None:
        """Files made for this person: pictures (a digest's chart) as images, the rest as files."""
        for file in files:
            kept = await self.outbox.file(file.id)
            if kept is None:
                log.warning("file %s is gone; not sent to %s", file.id, userid)
                continue
            kind = "image" if file.is_image else "file"
            media_id = await self.api.upload(kind, kept.name, kept.content, file.content_type)
            if paced:
                await self.pacer.wait(userid)
            message = {"msgtype": kind, kind: {"media_id": media_id}}
            await (self._own(userid, message) if not paced else self.api.send(userid, message))

    async def send_photos(self, userid: str, photo_ids: Sequence[int]) -> None:
        """A new card comes with the ticket's photos before it, uploaded from the bytes Houqin keeps."""
        for photo_id in photo_ids:
            photo = await self.outbox.photo(photo_id)
            if photo is None or not photo.content:
                continue
            kind = sniff_image_type(photo.content) or "image/jpeg"
            media_id = await self.api.upload(
                "image", f"photo-{photo_id}.{kind.rpartition('/')[2]}", photo.content, kind
            )
            await self.pacer.wait(userid)
            await self.api.send(userid, {"msgtype": "image", "image": {"media_id": media_id}})

    async def _send_notices(self) -> None:
        await keep_draining(
            self.drain_once, self._wake, "draining the WeCom outbox", NOTICE_POLL_SECONDS, self._stopping
        )

    async def send_notice(self, pending: Pending) -> str | None:
        """One notice, paced: the card it replaces changed in place when this process holds a code for
        it, else sent anew. Raises RetryLater when WeCom says too many, Unreachable for 81013."""
        held = self.pacer.held_for(pending.address)
        if held > PATIENCE_SECONDS:
            raise RetryLater(f"held for {held:.0f}s", timedelta(seconds=held), tried=False)
        await self.budget.refresh()
        messages = cards.reply_messages(pending.reply, self.placeholder())
        try:
            if pending.card_ref is not None and await self._changed_in_place(pending, messages):
                return pending.card_ref
            await self.send_photos(pending.address, pending.photos)
            ref = await self.send_messages(pending.address, messages, own=False)
            await self.send_files(pending.address, pending.reply.files)
            return ref or pending.card_ref
        except WeComError as exc:
            if exc.rate_limited:
                wait = self.held(pending.address, exc)
                raise RetryLater(f"rate limited ({exc.code}) for {wait:.0f}s", timedelta(seconds=wait)) from exc
            if exc.code == NOBODY_REACHABLE:
                raise Unreachable(exc.msg) from exc
            raise

    async def _changed_in_place(self, pending: Pending, messages: Sequence[JSON]) -> bool:
        """A card's new version drawn where the old one is: a card of one piece replaces it whole;
        words alone (the card has nothing left to press) retire its buttons, naming its new state
        (the last line), and are sent anew."""
        assert pending.card_ref is not None
        if pending.card_ref not in self.codes:
            return False
        await self.pacer.wait(pending.address)
        if len(messages) == 1 and messages[0]["msgtype"] == "template_card":
            messages[0]["template_card"]["task_id"] = pending.card_ref
            if await self.change_card(pending.address, pending.card_ref, cards.as_update(messages[0])):
                self.siblings[pending.card_ref] = (pending.card_ref,)
                return True
            return False
        if all(m["msgtype"] == "text" for m in messages):
            await self.change_card(
                pending.address, pending.card_ref, cards.pressed(cards.last_line(pending.reply.text))
            )
        return False

    async def drain_once(self) -> int:
        """One claimed batch sent to the end; for tests and tools that want to see it done."""
        return await drain(self.outbox, CHANNEL, self.send_notice, limit=NOTICE_BATCH)

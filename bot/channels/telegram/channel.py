"""Telegram: python-telegram-bot's Application, translating updates to Inbound and Outcomes to calls.

Polling runs PTB's own Updater; webhook mode takes updates on Houqin's ASGI app, checks the secret
token in constant time, and answers 200 only after the update was handled and its replies sent, so an
update Telegram sees acknowledged has had its effect. A press is answered (answerCallbackQuery) in
that 200's body, which Telegram runs as a Bot API call: one request fewer per press.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder

from bot.channels.bodies import read_limited
from bot.channels.contract import fetch_document
from bot.channels.pacing import NOTICE_POLL_SECONDS, BudgetShare, Pacer
from bot.channels.telegram.transport import AiohttpRequest
from bot.settings import Settings, TelegramMode
from handlers.core.conversation import (
    MAX_TEXT,
    DocumentIn,
    FileOut,
    Inbound,
    Kind,
    Outcome,
    PhotoIn,
    Reply,
    Sender,
    split_text,
)
from handlers.core.engine import Houqin
from handlers.core.i18n import LOCALES, pick_locale, translate, typed_as_is
from handlers.core.menus import EVERYONE, MENU_CARD, CommandMenu, refresh_all
from handlers.core.outages import is_outage, log_failure
from handlers.core.outbox import Outbox, Pending, RetryLater, Unreachable, drain, finish, keep_draining

# python-telegram-bot's documented opt-in to timedelta durations (RetryAfter.retry_after), which
# become the only form in its next major version; read when the value is accessed.
os.environ.setdefault("PTB_TIMEDELTA", "1")

log = logging.getLogger(__name__)
CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's language codes for our catalogs; the default (no code) gets the organisation's language.
TELEGRAM_LANGUAGE = {"zh_CN": "zh", "en": "en"}


class TelegramChannel:
    name = CHANNEL

    def __init__(self, settings: Settings, houqin: Houqin, outbox: Outbox) -> None:
        assert settings.telegram_bot_token, "the channel is only built when a token is set"
        self.settings = settings
        self.houqin = houqin
        self.outbox = outbox
        self._sender: asyncio.Task[None] | None = None
        # Notices (reminders, digests, cards) stay inside Telegram's flood limits; replies are not paced.
        self.pacer = Pacer(settings.telegram_send_rate)
        self.budget = BudgetShare(self.pacer, CHANNEL, outbox)
        # Set after each handled update: notices it queued go out now instead of at the next poll.
        self._wake = asyncio.Event()
        api = settings.telegram_api_base_url
        builder = (
            ApplicationBuilder()
            .token(settings.telegram_bot_token)
            .base_url(f"{api}/bot")
            .base_file_url(f"{api}/file/bot")
            # Over aiohttp (transport.py): httpx was the largest share of the channel's CPU.
            .request(AiohttpRequest(connection_pool_size=256))
            .get_updates_request(AiohttpRequest(connection_pool_size=1))
        )
        # No Updater: its polling confirms an update to Telegram as soon as it is fetched, before it
        # is handled, so a crash in between would lose it. Houqin polls itself (see _poll).
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.updater(None).build()
        self._poller: asyncio.Task[None] | None = None
        self._menus: asyncio.Task[None] | None = None
        # Set by stop(): no new updates are fetched nor notices claimed; those in hand are finished.
        self._stopping = asyncio.Event()
        self._handling = False  # the poller is between fetching a batch and confirming it

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"{CHANNEL} ({self.settings.telegram_mode.value})"

    def command_syntax(self, command: str) -> str:
        return typed_as_is(command)

    async def start(self) -> None:
        await self.application.initialize()
        await self._publish_commands()
        if self.settings.telegram_mode is TelegramMode.WEBHOOK:
            await self.application.bot.set_webhook(
                url=f"{self.settings.telegram_webhook_url}",
                secret_token=self.settings.telegram_webhook_secret,
                allowed_updates=["message", "callback_query"],
            )
        await self.application.start()
        self._sender = asyncio.create_task(self._send_notices(), name="telegram-outbox")
        # In the background: an organisation's managers may be many, and start-up need not wait.
        self._menus = asyncio.create_task(self._refresh_menus(), name="telegram-menus")
        if self.settings.telegram_mode is TelegramMode.POLLING:
            await self.application.bot.delete_webhook()
            self._poller = asyncio.create_task(self._poll(), name="telegram-poll")

    async def stop(self) -> None:
        """Take nothing new; finish the batch of updates and the notice in hand (a long poll waiting
        for updates is simply ended), then close."""
        self._stopping.set()
        if self._menus is not None:
            self._menus.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._menus
        if self._poller is not None and not self._handling:
            self._poller.cancel()
        await asyncio.gather(
            finish(self._poller, self._stopping, self._wake), finish(self._sender, self._stopping, self._wake)
        )
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def _publish_commands(self) -> None:
        """Everyone's menu, per language: nothing in it that would only refuse them."""
        ordered = self.houqin.menu_commands()
        try:
            for locale in LOCALES:
                commands = bot_commands(ordered, locale)
                await self.application.bot.set_my_commands(commands, language_code=TELEGRAM_LANGUAGE[locale])
            await self.application.bot.set_my_commands(bot_commands(ordered, self.settings.default_locale))
        except TelegramError as exc:
            # The menu is a convenience; a bot that cannot set it still works.
            log.warning("could not set the Telegram command menu: %s", exc)

    async def menus_queued(self) -> None:
        """Until start-up has queued its check of everyone's own menu (so a test's "nothing changed"
        is not the start-up's row landing late)."""
        if self._menus is not None:
            await self._menus

    async def _refresh_menus(self) -> None:
        """Queue a refresh of every menu of its own (sent, paced, by the outbox sender)."""
        try:
            queued = await refresh_all(self.outbox.db, CHANNEL, self.outbox.clock())
        except Exception as exc:
            # Each will be refreshed on its person's next change; the bot works meanwhile.
            log_failure(log, exc, "queueing the Telegram command menus")
            return
        if queued:
            log.info("%s Telegram command menus to check", queued)
            self._wake.set()

    async def _publish_menu(self, pending: Pending) -> str | None:
        """A person's menu may have changed: show theirs in their chat, or take it back when they see
        only everyone's. Returns what the chat shows now (kept as the row's card ref)."""
        menu = await self.houqin.command_menu(CHANNEL, pending.address)
        shown = pending.card_ref or EVERYONE
        wanted = EVERYONE if menu is None or menu.everyone else fingerprint(menu)
        if wanted == shown:
            return pending.card_ref
        scope = BotCommandScopeChat(int(pending.address))
        await self.pacer.wait(pending.address)
        try:
            if menu is None or menu.everyone:
                await self.application.bot.delete_my_commands(scope=scope)
            else:
                await self.application.bot.set_my_commands(bot_commands(menu.commands, menu.locale), scope=scope)
        except BadRequest as exc:
            # The chat is gone (or never was): nothing to show it. The menu is a convenience.
            log.info("could not set the command menu of chat %s: %s", pending.address, exc)
            return pending.card_ref
        return wanted

    # --- inbound --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        if self.settings.telegram_mode is not TelegramMode.WEBHOOK:
            return []
        return [Route(WEBHOOK_PATH, self.webhook, methods=["POST"])]

    async def webhook(self, request: Request) -> Response:
        expected = (self.settings.telegram_webhook_secret or "").encode()
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        body = await read_limited(request, MAX_UPDATE_BYTES)
        if body is None:
            return JSONResponse({"error": "update too large"}, status_code=413)
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
                raise ValueError("not an update object")
            update = Update.de_json(payload, self.application.bot)
        except Exception:
            # Whatever it is, it is not an update; 400 tells Telegram not to retry it.
            return JSONResponse({"error": "not a Telegram update"}, status_code=400)
        try:
            answer = await self.handle_update(update, answer_in_response=True)
        except Exception as exc:
            # Not acknowledged: Telegram sends the update again, and its key makes the retry safe.
            if is_outage(exc):
                log.warning("database unreachable; update %s refused for now (%s)", update.update_id, exc)
                return JSONResponse({"error": "try again"}, status_code=503)
            log.exception("handling Telegram update %s failed", update.update_id)
            return JSONResponse({"error": "try again"}, status_code=500)
        if answer is not None:
            # Telegram runs a method given in a webhook's response (its result is never known: an
            # answer is a convenience, as _answer_press treats it too).
            return JSONResponse({"method": "answerCallbackQuery", **answer})
        return Response(status_code=200)

    async def handle_update(self, update: Update, *, answer_in_response: bool = False) -> dict[str, str] | None:
        """Handle an update and send its replies. `answer_in_response`: a press is not answered here;
        its answerCallbackQuery parameters are returned for the webhook's response instead."""
        inbound = to_inbound(update)
        if inbound is None:
            return None
        inbound = await self._fetch_document(inbound)
        outcome = await self.houqin.handle(inbound)
        press = update.callback_query
        answer = press_answer(press, outcome.toast) if press is not None and answer_in_response else None
        if outcome.duplicate and outcome.replied:
            if press is not None and answer is None:
                await self._answer_press(press, None)
            return answer
        prompt = await self.deliver(update, outcome, answered=answer is not None)
        await self.houqin.mark_replied(outcome, prompt_ref=str(prompt) if prompt is not None else None)
        self._wake.set()
        return answer

    async def _fetch_document(self, inbound: Inbound) -> Inbound:
        """A file's bytes, fetched before the core's transaction begins (never while holding it).
        One too big to fetch, or that Telegram does not give, goes on without them: the core says so."""
        document = inbound.document
        if document is None or document.file_id is None:
            return inbound
        file_id = document.file_id

        async def download() -> bytes | None:
            try:
                fetched = await self.application.bot.get_file(file_id)
                return bytes(await fetched.download_as_bytearray())
            except TelegramError as exc:
                log.info("could not fetch document %s: %s", file_id, exc)
                return None

        return replace(inbound, document=await fetch_document(document, download))

    async def _poll(self) -> None:
        """Fetch updates and handle them before confirming them to Telegram.

        The offset (Telegram's acknowledgement) moves past an update only once its effect is saved
        and its replies are sent, so a crash at any point loses nothing: the next start fetches the
        update again, and its delivery key makes that safe (stored replies not yet sent go out then).
        Different chats are handled at the same time, each chat's updates in order, so nobody waits
        for someone else's round trips to Telegram. An update that keeps failing is retried a few
        times, then apologised for and passed over, so one poisoned update cannot stall its chat;
        while it waits for its next try only its own chat waits: polling goes on for everyone else.
        """
        offset: int | None = None
        failures: dict[int, int] = {}
        # A failed update's next try (monotonic time): its chat's later updates wait behind it.
        retry_at: dict[int, float] = {}
        # Handled, but an earlier update still waiting keeps the offset from passing them: they come
        # again with every fetch until it does, and are passed over here, not handled again.
        handled: set[int] = set()
        pending: list[int] = []
        while not self._stopping.is_set():
            try:
                updates = await self.application.bot.get_updates(
                    offset=offset,
                    # Something waits for its retry, so there are updates to fetch at once: no long poll.
                    timeout=0 if pending else POLL_TIMEOUT_SECONDS,
                    allowed_updates=["message", "callback_query"],
                )
            except TelegramError as exc:
                log.warning("polling Telegram failed (%s); trying again", exc)
                await asyncio.sleep(POLL_BACKOFF_SECONDS)
                continue
            if not updates:
                pending = []  # whatever waited is not handed out any more: back to long polls
                continue
            self._handling = True
            try:
                handled |= await self._handle_batch(due(updates, handled, retry_at), failures, retry_at)
            finally:
                self._handling = False
            pending = [u.update_id for u in updates if u.update_id not in handled]
            # Confirm up to the first update not yet handled.
            offset = pending[0] if pending else updates[-1].update_id + 1
            handled = {update_id for update_id in handled if update_id >= offset}
            for gone in set(retry_at) - set(pending):  # no longer handed out: nothing left to retry
                retry_at.pop(gone)
            if pending:
                # Look again soon for other people's new updates; sooner still if a retry is due.
                wait = min(retry_at.values(), default=0.0) - time.monotonic()
                await asyncio.sleep(min(WAITING_POLL_SECONDS, max(wait, 0.0)))
        if offset is not None:
            # Stopping: confirm what was handled, so the next start is not handed it again.
            with contextlib.suppress(TelegramError):
                await self.application.bot.get_updates(offset=offset, timeout=0, limit=1)

    async def _handle_batch(
        self, updates: Sequence[Update], failures: dict[int, int], retry_at: dict[int, float]
    ) -> set[int]:
        """Handle a batch chat by chat, concurrently; returns the update ids that are done with. One
        that failed gets its next try in `retry_at`, and its chat's later updates wait for it."""
        by_chat: dict[int, list[Update]] = {}
        for update in updates:
            by_chat.setdefault(chat_of(update), []).append(update)
        done: set[int] = set()

        async def one_chat(chat_updates: list[Update]) -> None:
            for update in chat_updates:
                try:
                    await self.handle_update(update)
                except Exception as exc:
                    if is_outage(exc):
                        # Not this update's fault: it waits, uncounted, until the database is back.
                        log.warning("database unreachable; update %s waits (%s)", update.update_id, exc)
                        retry_at[update.update_id] = time.monotonic() + POLL_BACKOFF_SECONDS
                        return
                    tries = failures[update.update_id] = failures.get(update.update_id, 0) + 1
                    log.exception("handling Telegram update %s failed (try %s)", update.update_id, tries)
                    if tries < UPDATE_ATTEMPTS:
                        retry_at[update.update_id] = time.monotonic() + RETRY_BACKOFF_SECONDS * tries
                        return  # this chat's later updates wait: their order matters
                    await self._apologise(update)
                failures.pop(update.update_id, None)
                retry_at.pop(update.update_id, None)
                done.add(update.update_id)

        await asyncio.gather(*(one_chat(chat_updates) for chat_updates in by_chat.values()))
        return done

    async def _apologise(self, update: Update) -> None:
        """Given up on an update whose handling failed: say that nothing of it was kept, if so."""
        inbound = to_inbound(update)
        if update.effective_chat is None or inbound is None:
            return
        if await self.houqin.earlier_outcome(inbound) is not None:
            # Saved, only the replies could not be sent: "not saved" would be untrue. /my shows the truth.
            log.error("replies to Telegram update %s could not be sent; giving up", update.update_id)
            return
        user = update.effective_user
        locale = pick_locale(None, user.language_code if user else None, self.settings.default_locale)
        try:
            await self.application.bot.send_message(
                update.effective_chat.id, translate(locale, "dialog.error.internal")
            )
        except TelegramError:
            log.warning("could not tell chat %s about the failure", update.effective_chat.id)

    # --- outbound -------------------------------------------------------------------------------

    async def deliver(self, update: Update, outcome: Outcome, *, answered: bool = False) -> int | None:
        """Send the outcome; returns the id of the message now carrying buttons, if any was sent.
        `answered`: a press is answered elsewhere (in the webhook's response)."""
        chat = update.effective_chat
        assert chat is not None, "to_inbound only accepts updates from a chat"
        press = update.callback_query
        pressed = press.message.message_id if press is not None and isinstance(press.message, Message) else None
        if press is not None:
            # Acknowledging the press and marking the pressed message are independent: one round trip.
            steps = [] if answered else [self._answer_press(press, outcome.toast)]
            if not outcome.duplicate and not outcome.on_card and isinstance(press.message, Message):
                steps.append(self._retire_buttons(press.message, outcome.chosen))
            await asyncio.gather(*steps)
        if outcome.has_buttons and outcome.retire_prompt and outcome.retire_prompt != str(pressed):
            # The question was answered by typing or a photo: its buttons must not stay pressable.
            await self._drop_keyboard(chat.id, int(outcome.retire_prompt))
        prompt = None
        for reply in outcome.replies:
            for text, markup in render(reply):
                sent = await self.application.bot.send_message(chat.id, text, reply_markup=markup)
                if markup is not None:
                    prompt = sent.message_id
            await self._send_files(chat.id, reply.files)
        return prompt

    async def _drop_keyboard(self, chat_id: int, message_id: int) -> None:
        try:
            await self.application.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except BadRequest as exc:
            # Already without buttons, or deleted by the person: nothing left to retire.
            log.debug("could not drop keyboard of message %s: %s", message_id, exc)

    async def _answer_press(self, press: CallbackQuery, toast: str | None) -> None:
        try:
            await press.answer(text=toast[:TOAST_LIMIT] if toast else None)
        except BadRequest as exc:
            # A press older than Telegram's answer window cannot be answered; the replies still go out.
            log.info("could not answer callback query: %s", exc)

    async def _retire_buttons(self, message: Message, chosen: str | None) -> None:
        """Edit the message that carried the pressed button: show the choice, remove the buttons."""
        try:
            if chosen and message.text:
                await message.edit_text(f"{message.text}\n\n→ {chosen}"[:MAX_TEXT], reply_markup=None)
            else:
                await message.edit_reply_markup(reply_markup=None)
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                log.info("could not retire buttons of message %s: %s", message.message_id, exc)

    # --- notices to other people (the outbox) -------------------------------------------------

    async def _send_notices(self) -> None:
        """Send what the core queued for Telegram accounts; poll for what other processes queued."""

        async def batch() -> int:
            return await drain(self.outbox, CHANNEL, self.send_notice, limit=NOTICE_BATCH)

        await keep_draining(batch, self._wake, "draining the Telegram outbox", NOTICE_POLL_SECONDS, self._stopping)

    async def send_notice(self, pending: Pending) -> str | None:
        """One notice: edit the card it replaces when there is one, else send it; returns the message id."""
        await self.budget.refresh()
        chat = int(pending.address)
        parts = render(pending.reply)
        bot = self.application.bot
        sent_ref = pending.card_ref
        try:
            if pending.card_key == MENU_CARD:
                return await self._publish_menu(pending)
            if pending.card_ref is not None and parts:
                text, markup = parts[-1]
                try:
                    await self.pacer.wait(pending.address)
                    await bot.edit_message_text(
                        text, chat_id=chat, message_id=int(pending.card_ref), reply_markup=markup
                    )
                    return pending.card_ref
                except BadRequest as exc:
                    if "not modified" in str(exc).lower():
                        return pending.card_ref
                    log.info(
                        "card %s in chat %s could not be edited (%s); sending it anew", pending.card_ref, chat, exc
                    )
            await self._send_photos(chat, pending.photos)
            for part, part_markup in parts:
                await self.pacer.wait(pending.address)
                sent = await bot.send_message(chat, part, reply_markup=part_markup)
                sent_ref = str(sent.message_id)
            await self._send_files(chat, pending.reply.files)
            return sent_ref
        except Forbidden as exc:
            raise Unreachable(str(exc)) from exc
        except RetryAfter as exc:
            # Only this chat waits; the rest of the batch goes on.
            wait = exc.retry_after if isinstance(exc.retry_after, timedelta) else timedelta(seconds=exc.retry_after)
            self.pacer.hold(pending.address, wait.total_seconds())
            raise RetryLater(str(exc), wait) from exc

    async def _send_files(self, chat: int, files: Sequence[FileOut]) -> None:
        """Files made for this person: pictures as photos (seen at once), the rest as documents."""
        for file in files:
            kept = await self.outbox.file(file.id)
            if kept is None:
                log.warning("file %s is gone; not sent to chat %s", file.id, chat)
                continue
            await self.pacer.wait(str(chat))
            if file.is_image:
                await self.application.bot.send_photo(chat, kept.content)
            else:
                await self.application.bot.send_document(chat, kept.content, filename=kept.name)

    async def _send_photos(self, chat: int, photo_ids: tuple[int, ...]) -> None:
        """A new card comes with the ticket's photos above it: Telegram's by file id, others uploaded."""
        for photo_id in photo_ids:
            photo = await self.outbox.photo(photo_id)
            if photo is None:
                continue
            await self.pacer.wait(str(chat))
            if photo.channel == CHANNEL and photo.file_id:
                await self.application.bot.send_photo(chat, photo.file_id)
            elif photo.content:
                await self.application.bot.send_photo(chat, photo.content)


# Notices claimed at once: enough different chats to fill the paced rate while one chat waits its turn.
NOTICE_BATCH = 60
POLL_TIMEOUT_SECONDS = 10
POLL_BACKOFF_SECONDS = 1.0
UPDATE_ATTEMPTS = 3
# A failed update is tried again after this many seconds times its tries so far (its chat only).
RETRY_BACKOFF_SECONDS = 1.0
# While an update waits for its retry, others' new updates are fetched this often.
WAITING_POLL_SECONDS = 0.2
# Telegram's updates are a few KiB; anything near this is not one of them.
MAX_UPDATE_BYTES = 1024 * 1024
# answerCallbackQuery's text: 0-200 characters (longer, and Telegram refuses the whole answer). The
# reply below the press says it in full.
TOAST_LIMIT = 200


def press_answer(press: CallbackQuery, toast: str | None) -> dict[str, str]:
    """answerCallbackQuery's parameters for a press, as PTB's CallbackQuery.answer would send them."""
    return {"callback_query_id": press.id, **({"text": toast[:TOAST_LIMIT]} if toast else {})}


def chat_of(update: Update) -> int:
    chat = update.effective_chat
    return chat.id if chat is not None else -update.update_id


def due(updates: Sequence[Update], handled: set[int], retry_at: dict[int, float]) -> list[Update]:
    """What to handle now: not handled yet, not waiting for its retry, and not behind one that waits
    in the same chat (a chat's updates keep their order)."""
    now = time.monotonic()
    waiting: set[int] = set()
    chosen = []
    for update in updates:
        if update.update_id in handled or chat_of(update) in waiting:
            continue
        if retry_at.get(update.update_id, now) > now:
            waiting.add(chat_of(update))
            continue
        chosen.append(update)
    return chosen


def to_inbound(update: Update) -> Inbound | None:
    """An Update as Houqin's neutral Inbound; None for what Houqin does not handle (groups, edits)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != "private" or user.is_bot:
        return None
    sender = Sender(CHANNEL, str(user.id), str(chat.id), user.full_name, user.language_code)
    key = str(update.update_id)
    if update.callback_query is not None:
        return Inbound(sender, Kind.BUTTON, key, text=update.callback_query.data or "")
    message = update.message
    if message is None:
        return None
    if message.text is not None:
        text = message.text
        if text.startswith("/") and len(text) > 1:
            head, _, args = text[1:].partition(" ")
            command = head.partition("@")[0].lower()
            return Inbound(sender, Kind.COMMAND, key, text=args.strip(), command=command)
        return Inbound(sender, Kind.TEXT, key, text=text)
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        return Inbound(sender, Kind.PHOTO, key, photo=PhotoIn(file_id=largest.file_id, content_type="image/jpeg"))
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        # A photo sent "as a file" keeps full quality; it is still a photo to the person.
        photo = PhotoIn(file_id=document.file_id, content_type=document.mime_type)
        return Inbound(sender, Kind.PHOTO, key, photo=photo)
    if document is not None:
        # Any other file (a spreadsheet to import); its caption may be the command it is for.
        caption = (message.caption or "").strip()
        head, _, args = caption[1:].partition(" ") if caption.startswith("/") else ("", "", "")
        sent = DocumentIn(
            name=document.file_name or "file",
            content=None,
            content_type=document.mime_type,
            size=document.file_size,
            file_id=document.file_id,
        )
        command = head.partition("@")[0].lower()
        return Inbound(sender, Kind.DOCUMENT, key, text=args.strip(), command=command, document=sent)
    return Inbound(sender, Kind.UNSUPPORTED, key)


def bot_commands(names: Sequence[str], locale: str) -> list[BotCommand]:
    return [BotCommand(name, translate(locale, f"command.{name}")) for name in names]


def fingerprint(menu: CommandMenu) -> str:
    """What a chat's own menu says, in short: a change of commands or of their words shows anew."""
    said = "\n".join(f"{command.command} {command.description}" for command in bot_commands(menu.commands, menu.locale))
    return hashlib.sha256(said.encode()).hexdigest()[:32]


def render(reply: Reply) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """A reply as Telegram messages: split at 4096 characters, buttons on the last part."""
    markup = (
        InlineKeyboardMarkup(
            [[InlineKeyboardButton(b.label, callback_data=b.payload) for b in row] for row in reply.buttons]
        )
        if reply.buttons
        else None
    )
    if not reply.text and markup is None:
        return []  # a reply that is only files
    parts = split_text(reply.text)
    return [(part, markup if index == len(parts) - 1 else None) for index, part in enumerate(parts)]

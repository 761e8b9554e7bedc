"""Slack: Bolt's AsyncApp translating slash commands, button presses, modal pages and events into
Houqin's neutral Inbound, and Outcomes and outbox notices back into Block Kit.

Every listener acknowledges at once (Slack gives 3 s) and does the work in a task the channel keeps
track of; a modal page is answered inline when the core is quick (errors beside the input, the
next page, or closing it), else with a loading page that is updated when the answer is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.slack import blocks
from bot.channels.slack.pacing import Held, Pacer
from bot.settings import Settings
from handlers.conversation import (
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
)
from handlers.engine import Houqin
from handlers.flow import sniff_image_type
from handlers.i18n import pick_locale, translate
from handlers.outbox import Outbox, Pending, RetryLater, Unreachable, drain

log = logging.getLogger(__name__)
CHANNEL = "slack"
EVENTS_PATH = "/slack/events"
# The one slash command that carries every other Houqin command as its first word (/houqin my).
HOME_COMMAND = "houqin"
# Slack's payloads are a few KiB; anything near this is not one of them.
MAX_REQUEST_BYTES = 1024 * 1024
NOTICE_POLL_SECONDS = 1.0
# A little over the photo step's own limit, so an oversized photo gets the step's own message.
MAX_PHOTO_BYTES = 11 * 1024 * 1024
# Notices claimed for one conversation at a time: at ~1 a second, well inside a claim's 2 minutes.
MAX_QUEUED_PER_CONVERSATION = 30
# Files handled from one DM message (Slack allows ten; a repair takes three photos).
MAX_FILES_PER_MESSAGE = 3
# Slack errors that mean this person cannot be written to any more.
UNREACHABLE = frozenset(
    {"channel_not_found", "is_archived", "account_inactive", "user_not_found", "cannot_dm_bot", "user_disabled"}
)
# chat.update errors after which the card is posted anew instead.
CARD_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})

T = TypeVar("T")


class _TokenFromClient(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the client's
    token wins; the client was built from that same setting, so the warning says nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


BOLT_LOG = logging.getLogger("slack_bolt.houqin")
BOLT_LOG.addFilter(_TokenFromClient())


@dataclass
class Screen:
    """How a submitted modal page is answered: errors beside the input, the next page, or closed."""

    outcome: Outcome
    sender: Sender
    locale: str
    errors: dict[str, str] | None = None
    view: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def response(self) -> dict[str, Any]:
        if self.errors is not None:
            return {"response_action": "errors", "errors": self.errors}
        if self.view is not None:
            return {"response_action": "update", "view": self.view}
        return {"response_action": "clear"}


@dataclass(frozen=True)
class Profile:
    name: str
    locale: str | None
    dm: str


class SlackChannel:
    def __init__(
        self, settings: Settings, houqin: Houqin, outbox: Outbox, *, pace: float = 1.0, ack_within: float = 2.5
    ) -> None:
        assert settings.slack_bot_token, "the channel is only built when a token is set"
        self.settings = settings
        self.houqin = houqin
        self.outbox = outbox
        self.default_locale = settings.default_locale
        # How long a modal page waits for the core before it is answered with a loading page.
        self.ack_within = ack_within
        self.pacer = Pacer(pace)
        self.client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_base_url)
        self.app = AsyncApp(
            client=self.client,
            logger=BOLT_LOG,
            signing_secret=settings.slack_signing_secret or "",
            # Listeners return right after ack() and hand the work to tasks kept here (see spawn), so
            # the acknowledgement never waits for it; the same code runs in HTTP and Socket Mode.
            process_before_response=True,
            request_verification_enabled=not settings.slack_socket_mode,
        )
        self.handler = AsyncSlackRequestHandler(self.app)
        self._socket: AsyncSocketModeHandler | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._people: dict[str, Profile] = {}
        self._sender: asyncio.Task[None] | None = None
        self._chains: set[asyncio.Task[int]] = set()
        self._order: dict[str, asyncio.Lock] = {}
        self._queued: dict[str, int] = {}
        self._wake = asyncio.Event()
        from bot.channels.slack import listeners

        listeners.register(self.app, self)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._sender = asyncio.create_task(self._send_notices(), name="slack-outbox")
        if self.settings.slack_socket_mode:
            self._socket = AsyncSocketModeHandler(self.app, self.settings.slack_app_token)
            await self._socket.connect_async()  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        # Notices being sent are let go: their claims expire and they are sent again later (at least once).
        for chain in list(self._chains):
            chain.cancel()
        await asyncio.gather(*self._chains, return_exceptions=True)
        await self.settled()

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Work that goes on after Slack was acknowledged; kept so it is neither lost nor unlogged."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("Slack work failed", exc_info=exc)

    async def settled(self) -> None:
        """Until every piece of work started by a request (and what it started) is done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- inbound --------------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        if self.settings.slack_socket_mode:
            return []
        # One URL for events, slash commands and interactions (the manifest names it three times).
        return [Route(EVENTS_PATH, self.endpoint, methods=["POST"])]

    async def endpoint(self, request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            return JSONResponse({"error": "request too large"}, status_code=413)
        # Bolt checks the signature and the 5-minute timestamp window before any listener runs (401).
        return await self.handler.handle(request)

    async def sender(self, user_id: str) -> Sender:
        """Who this Slack member is to Houqin: their name and locale (users.info) and their DM,
        asked once per process."""
        profile = self._people.get(user_id)
        if profile is None:
            name: str = user_id
            locale: str | None = None
            try:
                info = await self.client.users_info(user=user_id, include_locale=True)
                user = info.get("user") or {}
                found = (user.get("profile") or {}).get("display_name") or user.get("real_name") or user.get("name")
                name, locale = str(found or user_id), user.get("locale")
            except SlackApiError as exc:
                log.info("users.info for %s failed (%s); using the member id", user_id, exc.response.get("error"))
            opened = await self.client.conversations_open(users=user_id)
            profile = Profile(name, locale, str(opened["channel"]["id"]))
            self._people[user_id] = profile
        return Sender(CHANNEL, user_id, profile.dm, profile.name, profile.locale)

    def locale_hint(self, sender: Sender) -> str:
        return pick_locale(None, sender.platform_locale, self.default_locale)

    def locale_hint_for(self, body: dict[str, Any]) -> str:
        """For a page shown before the core answered: what we know of the member, else the default."""
        profile = self._people.get(str((body.get("user") or {}).get("id")))
        return pick_locale(None, profile.locale if profile else None, self.default_locale)

    async def command(self, body: dict[str, Any]) -> None:
        """A slash command: /repair opens its flow as a modal; /houqin <command> is any other command."""
        name = str(body.get("command", "")).lstrip("/").lower()
        text = str(body.get("text") or "").strip()[:MAX_TEXT]
        if name == HOME_COMMAND:
            head, _, args = text.partition(" ")
            command, args = head.lower() or "help", args.strip()
        else:
            command, args = name, text
        sender = await self.sender(str(body["user_id"]))
        trigger = str(body["trigger_id"])
        inbound = Inbound(sender, Kind.COMMAND, f"command:{trigger}", text=args, command=command)
        view_id = None
        wanted = self.houqin.flows.get(command)
        if wanted is not None and wanted.listed:
            # The trigger lives 3 s: open the modal now, fill it in when the core has answered.
            view_id = await self.open_view(trigger, blocks.loading_modal(self.locale_hint(sender)))
        try:
            outcome = await self.houqin.handle(inbound)
        except Exception:
            await self.apologise(sender, view_id)
            raise
        if outcome.duplicate and outcome.replied:
            return
        # A command that starts a flow of its own (/houqin stock import) opens it with the unused trigger.
        await self.present(sender, outcome, view_id=view_id, trigger_id=None if view_id else trigger)
        await self.done(outcome)

    async def apologise(self, sender: Sender, view_id: str | None) -> None:
        """The core failed (nothing was kept): say so where the person is looking."""
        locale = self.locale_hint(sender)
        try:
            if view_id is not None:
                await self.client.views_update(view_id=view_id, view=blocks.failed_modal(locale))
            else:
                await self.post_own_reply(sender.address, Reply(translate(locale, "dialog.error.internal")))
        except SlackApiError as exc:
            log.warning("could not tell %s about a failure: %s", sender.external_id, exc.response.get("error"))

    async def press(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A button: on a message (a card, a question in the DM), on a modal page, or on the App Home."""
        sender = await self.sender(str(body["user"]["id"]))
        value = str(action.get("value") or "")[:MAX_TEXT]
        trigger = str(body.get("trigger_id") or action.get("action_ts"))
        try:
            outcome = await self.houqin.handle(Inbound(sender, Kind.BUTTON, f"press:{trigger}", text=value))
        except Exception:
            await self.apologise(sender, None)
            raise
        if outcome.duplicate and outcome.replied:
            return
        container = body.get("container") or {}
        view = body.get("view") or {}
        if container.get("type") == "view" and view.get("type") == "modal":
            step = await self.houqin.current_step(sender)
            locale = outcome.locale or self.locale_hint(sender)
            if step is not None:
                page = blocks.step_modal(step, locale, blocks.notes_of(outcome, step))
            else:
                title = translate(locale, "slack.modal.title")
                page = blocks.message_modal(title, blocks.notes_of(outcome, None), locale)
            await self.client.views_update(view_id=view["id"], hash=view.get("hash"), view=page)
        else:
            message = body.get("message")
            if container.get("type") == "message" and message and not outcome.on_card and not outcome.duplicate:
                await self.retire(str(container["channel_id"]), str(container["message_ts"]), message, outcome.chosen)
            await self.present(sender, outcome, trigger_id=trigger)
            if view.get("type") == "home":
                await self.publish_home(str(body["user"]["id"]))
        await self.done(outcome)

    async def submission(self, body: dict[str, Any]) -> Screen:
        """A modal page submitted: its answer through the core, and what the page does next."""
        view = body["view"]
        meta = json.loads(view.get("private_metadata") or "{}")
        sender = await self.sender(str(body["user"]["id"]))
        version = int(meta.get("v", -1))
        key = submission_key(view)
        typed = blocks.submitted_value(view)
        kind, skip = meta.get("k"), meta.get("skip")
        attached = blocks.submitted_files(view) if kind in ("photo", "file") else []
        if attached and kind == "photo":
            return await self.photos_submitted(sender, key, version, attached)
        if attached:
            return await self.file_submitted(sender, key, version, attached[0])
        words = (blocks.submitted_value(view, blocks.WORDS) or "").strip()
        if kind == "choice" and typed:
            inbound = Inbound(sender, Kind.BUTTON, key, text=f"s{version}:{typed}"[:MAX_TEXT])
        elif kind == "choice" and words:
            inbound = Inbound(sender, Kind.TEXT, key, text=words, version=version)
        elif kind in ("text", "number") and typed:
            inbound = Inbound(sender, Kind.TEXT, key, text=typed, version=version)
        elif skip:
            inbound = Inbound(sender, Kind.BUTTON, key, text=f"s{version}:{skip}")
        else:
            inbound = Inbound(sender, Kind.TEXT, key, text="", version=version)
        outcome = await self.houqin.handle(inbound)
        return await self.screen_after(sender, outcome, version, kind)

    async def photos_submitted(self, sender: Sender, key: str, version: int, files: list[dict[str, Any]]) -> Screen:
        """Photos attached on the page: each fetched from Slack and handed to the core as a photo, then
        the step is done (unless the last photo it takes completed it already)."""
        step = await self.houqin.current_step(sender)
        if step is None or step.version != version:
            stale = Inbound(sender, Kind.TEXT, key, text="", version=version)
            return await self.screen_after(sender, await self.houqin.handle(stale), version, "photo")
        outcome = None
        for index, shared in enumerate(files[: step.max_files or 1]):
            photo = await self.fetch_photo(shared)
            outcome = await self.houqin.handle(Inbound(sender, Kind.PHOTO, f"{key}:{index}", photo=photo))
            if outcome.problem:
                return await self.screen_after(sender, outcome, version, "photo")
            await self.houqin.mark_replied(outcome)
        now = await self.houqin.current_step(sender)
        if now is not None and now.flow == step.flow and now.step == step.step and now.skip:
            done = Inbound(sender, Kind.BUTTON, f"{key}:done", text=now.payload(now.skip))
            outcome = await self.houqin.handle(done)
        assert outcome is not None
        return await self.screen_after(sender, outcome, version, "photo")

    async def file_submitted(self, sender: Sender, key: str, version: int, shared: dict[str, Any]) -> Screen:
        """A file attached on the page (a catalog to import): fetched, then the step's answer."""
        step = await self.houqin.current_step(sender)
        if step is None or step.version != version:
            stale = Inbound(sender, Kind.TEXT, key, text="", version=version)
            return await self.screen_after(sender, await self.houqin.handle(stale), version, "file")
        outcome = await self.houqin.handle(Inbound(sender, Kind.DOCUMENT, key, document=await self.document(shared)))
        return await self.screen_after(sender, outcome, version, "file")

    async def document(self, shared: dict[str, Any]) -> DocumentIn:
        size = int(shared.get("size") or 0)
        return DocumentIn(
            name=str(shared.get("name") or "file"),
            content=await self.fetch_file(shared, MAX_DOCUMENT) if size <= MAX_DOCUMENT else None,
            content_type=str(shared.get("mimetype") or "") or None,
            size=size or None,
            file_id=str(shared.get("id") or ""),
        )

    async def fetch_photo(self, shared: dict[str, Any]) -> PhotoIn:
        """A picture the person attached; bytes that are not an image (or none at all) are passed on
        as such, and the step refuses them in the person's words."""
        content = await self.fetch_file(shared, MAX_PHOTO_BYTES)
        kind = sniff_image_type(content) if content is not None else None
        return PhotoIn(file_id=str(shared.get("id") or ""), content=content or b"", content_type=kind or "unknown")

    async def fetch_file(self, shared: dict[str, Any], limit: int) -> bytes | None:
        """A file the person shared, fetched from Slack with the bot token (files:read) before the
        core's transaction begins; None when too big or unreadable."""
        url = str(shared.get("url_private_download") or shared.get("url_private") or "")
        if int(shared.get("size") or 0) > limit:
            return None
        # The bot token goes only to Slack's own file host (or the API's, for a self-hosted or test one).
        trusted = urlsplit(url).hostname in {"files.slack.com", urlsplit(self.settings.slack_api_base_url).hostname}
        if not trusted or not url.startswith(("https://", "http://")):
            log.warning("not fetching a Slack file from %s", urlsplit(url).hostname)
            return None
        try:
            async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
                fetched = await http.get(url, headers={"Authorization": f"Bearer {self.settings.slack_bot_token}"})
        except httpx.HTTPError as exc:
            log.info("could not fetch Slack file %s: %s", shared.get("id"), exc)
            return None
        if fetched.status_code != 200 or len(fetched.content) > limit:
            return None
        return fetched.content

    async def screen_after(self, sender: Sender, outcome: Outcome, version: int, kind: str | None) -> Screen:
        locale = outcome.locale or self.locale_hint(sender)
        step = await self.houqin.current_step(sender)
        screen = Screen(outcome, sender, locale)
        same_page = step is not None and step.version == version
        if outcome.problem and not outcome.duplicate and same_page and kind in blocks.INPUT_KINDS:
            screen.errors = {blocks.ANSWER: outcome.problem}
        elif step is not None:
            screen.notes = blocks.notes_of(outcome, step)
            screen.view = blocks.step_modal(step, locale, screen.notes)
        return screen

    async def after_submission(self, screen: Screen) -> None:
        """Once the page was answered: a flow that ended says so in the DM (the ticket number...)."""
        outcome = screen.outcome
        if outcome.duplicate:
            # A double click: the first submission is saying it (or has said it) already.
            return
        if screen.errors is None and screen.view is None:
            await self.post_replies(screen.sender, outcome.replies)
        await self.done(outcome)

    async def late_submission(self, task: Awaitable[Screen], view_id: str) -> None:
        """The core took longer than Slack waits: the loading page shown meanwhile becomes the answer."""
        screen = await task
        if screen.errors is not None:
            step = await self.houqin.current_step(screen.sender)
            if step is not None:
                notes = [*blocks.notes_of(screen.outcome, step)]
                await self.client.views_update(view_id=view_id, view=blocks.step_modal(step, screen.locale, notes))
        elif screen.view is not None:
            await self.client.views_update(view_id=view_id, view=screen.view)
        else:
            title = translate(screen.locale, "slack.modal.title")
            texts = [reply.text for reply in screen.outcome.replies]
            await self.client.views_update(view_id=view_id, view=blocks.message_modal(title, texts, screen.locale))
        await self.after_submission(screen)

    async def closed(self, body: dict[str, Any]) -> None:
        """The person closed a modal page: the flow is left, nothing saved (as /cancel)."""
        view = body["view"]
        meta = json.loads(view.get("private_metadata") or "{}")
        if "v" not in meta:
            return
        sender = await self.sender(str(body["user"]["id"]))
        key = f"closed:{view['id']}:{view.get('hash', '')}"
        outcome = await self.houqin.handle(Inbound(sender, Kind.BUTTON, key, text=f"s{meta['v']}:_cancel"))
        if outcome.duplicate and outcome.replied:
            return
        if outcome.toast is None:  # a stale page (the flow had moved on) is closed without a word
            await self.post_replies(sender, outcome.replies)
        await self.done(outcome)

    async def message(self, event: dict[str, Any], event_id: str) -> None:
        """Words typed in the DM (an answer to the question there, or a command), or files dropped
        into it: a picture is a photo for the step asking for one, another file a document (a CSV
        with "/stock import" as its message)."""
        sender = await self.sender(str(event["user"]))
        stripped = str(event.get("text") or "").strip()
        command, args = "", stripped
        head, _, rest = stripped.removeprefix("/").partition(" ")
        names_upload = bool(event.get("files")) and head.lower() in self.houqin.uploads
        if (stripped.startswith("/") and len(stripped) > 1) or names_upload:
            # Slack's composer keeps a leading slash for itself: a file's message "stock import" names
            # the command it is for as well as "/stock import" would.
            command, args = head.lower(), rest.strip()
        shared = [f for f in event.get("files") or [] if isinstance(f, dict)]
        inbounds: list[Inbound] = []
        for index, file in enumerate(shared[:MAX_FILES_PER_MESSAGE]):
            key = f"event:{event_id}:{index}"
            if str(file.get("mimetype", "")).startswith("image/"):
                inbounds.append(Inbound(sender, Kind.PHOTO, key, photo=await self.fetch_photo(file)))
            else:
                document = await self.document(file)
                inbounds.append(Inbound(sender, Kind.DOCUMENT, key, text=args, command=command, document=document))
        if not inbounds:
            key = f"event:{event_id}"
            if command:
                inbounds.append(Inbound(sender, Kind.COMMAND, key, text=args, command=command))
            else:
                inbounds.append(Inbound(sender, Kind.TEXT, key, text=str(event.get("text") or "")))
        for inbound in inbounds:
            try:
                outcome = await self.houqin.handle(inbound)
            except Exception:
                await self.apologise(sender, None)
                raise
            if outcome.duplicate and outcome.replied:
                continue
            await self.post_replies(sender, outcome.replies)
            await self.done(outcome)

    async def publish_home(self, user_id: str) -> None:
        sender = await self.sender(user_id)
        overview, locale = await self.houqin.overview(sender)
        await self.client.views_publish(user_id=user_id, view=blocks.home_view(overview, locale))

    async def done(self, outcome: Outcome) -> None:
        await self.houqin.mark_replied(outcome)
        self._wake.set()

    # --- outbound -------------------------------------------------------------------------------

    async def present(
        self, sender: Sender, outcome: Outcome, *, view_id: str | None = None, trigger_id: str | None = None
    ) -> None:
        """Show an outcome: as the modal page of the flow the person is now in, else in their DM."""
        step: StepView | None = await self.houqin.current_step(sender) if (view_id or trigger_id) else None
        locale = outcome.locale or self.locale_hint(sender)
        if step is not None and asked(outcome, step):
            page = blocks.step_modal(step, locale, blocks.notes_of(outcome, step))
            if view_id is not None:
                await self.client.views_update(view_id=view_id, view=page)
                return
            assert trigger_id is not None
            try:
                await self.client.views_open(trigger_id=trigger_id, view=page)
                return
            except SlackApiError as exc:
                # An expired trigger: the same question in the DM, answered with buttons or words.
                log.info("could not open a modal (%s); asking in the DM", exc.response.get("error"))
        if view_id is not None:
            title = translate(locale, "slack.modal.title")
            texts = [reply.text for reply in outcome.replies]
            await self.client.views_update(view_id=view_id, view=blocks.message_modal(title, texts, locale))
            return
        await self.post_replies(sender, outcome.replies)

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> str | None:
        try:
            opened = await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.info("could not open a modal (%s)", exc.response.get("error"))
            return None
        return str(opened["view"]["id"])

    async def post_replies(self, sender: Sender, replies: list[Reply]) -> None:
        for reply in replies:
            if reply.text or reply.buttons:
                try:
                    await self.pacer.turn(sender.address)
                except Held as held:
                    # Their own answer: it waits out Slack's limit rather than being dropped.
                    await asyncio.sleep(held.seconds)
                await self.post_own_reply(sender.address, reply)
            await self.send_files(sender.address, reply.files)

    async def post_own_reply(self, conversation: str, reply: Reply) -> None:
        """An answer to the person's own action: on a 429 it waits out Retry-After once (this
        conversation only, in its own task) rather than being lost."""
        text, shown = blocks.fallback_text(reply), blocks.message_blocks(reply)
        try:
            await self.client.chat_postMessage(channel=conversation, text=text, blocks=shown)
        except SlackApiError as exc:
            if exc.response.status_code != 429:
                raise
            wait = retry_after(exc)
            self.pacer.hold(conversation, wait)
            await asyncio.sleep(wait)
            await self.client.chat_postMessage(channel=conversation, text=text, blocks=shown)

    async def send_photos(self, conversation: str, photo_ids: Sequence[int]) -> None:
        """A new card comes with the ticket's photos above it, uploaded from the bytes Houqin keeps
        (a photo Telegram keeps by its own file id only cannot be shown here)."""
        for photo_id in photo_ids:
            photo = await self.outbox.photo(photo_id)
            if photo is None or not photo.content:
                continue
            name = f"photo-{photo_id}.{(photo.content_type or 'image/jpeg').rpartition('/')[2]}"
            await self.client.files_upload_v2(channel=conversation, content=photo.content, filename=name)

    async def send_files(self, conversation: str, files: Sequence[FileOut]) -> None:
        """Files made for this person (an export, a chart), uploaded into the conversation."""
        for file in files:
            kept = await self.outbox.file(file.id)
            if kept is None:
                log.warning("file %s is gone; not sent to %s", file.id, conversation)
                continue
            await self.client.files_upload_v2(
                channel=conversation, content=kept.content, filename=kept.name, title=kept.name
            )

    async def retire(self, channel: str, ts: str, message: dict[str, Any], chosen: str | None) -> None:
        """The pressed question keeps its text and shows the answer; its buttons go."""
        try:
            await self.client.chat_update(
                channel=channel,
                ts=ts,
                text=str(message.get("text") or " "),
                blocks=blocks.retired(message.get("blocks") or [], chosen),
            )
        except SlackApiError as exc:
            log.info("could not retire the buttons of %s (%s)", ts, exc.response.get("error"))

    # --- notices to other people (the outbox) ---------------------------------------------------

    async def _send_notices(self) -> None:
        """Claim what the core queued for Slack and hand each conversation's rows to its own sender,
        without waiting for them: a conversation held back by its pace (or a 429) waits alone."""
        while True:
            try:
                claimed = await self.hand_out()
            except Exception:
                log.exception("draining the Slack outbox failed; trying again shortly")
                claimed = 0
            if not claimed:
                self._wake.clear()
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
                # arrives as the event is set, and stop() would then wait forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(NOTICE_POLL_SECONDS):
                        await self._wake.wait()

    async def hand_out(self) -> int:
        """Claim a batch and start a sender per conversation in it; returns how many rows were claimed."""
        batch = await self.outbox.claim(CHANNEL)
        for conversation, items in by_conversation(batch).items():
            # A conversation with a long queue already: the rest waits in the outbox (unclaimed, no
            # attempt spent) rather than outliving its claim in memory.
            room = max(0, MAX_QUEUED_PER_CONVERSATION - self._queued.get(conversation, 0))
            for later in items[room:]:
                await self.outbox.failed(later, "paced", timedelta(seconds=NOTICE_POLL_SECONDS), tried=False)
            if items[:room]:
                task = asyncio.create_task(self._send_in_order(conversation, items[:room]))
                self._chains.add(task)
                task.add_done_callback(self._chains.discard)
        return len(batch)

    def _send_in_order(self, conversation: str, items: list[Pending]) -> Coroutine[Any, Any, int]:
        # Counted now, as the work is handed out, not when it starts.
        self._queued[conversation] = self._queued.get(conversation, 0) + len(items)
        return self._sending(conversation, items)

    async def _sending(self, conversation: str, items: list[Pending]) -> int:
        lock = self._order.setdefault(conversation, asyncio.Lock())
        try:
            async with lock:  # FIFO: a conversation's notices go out in the order they were claimed
                return await drain(self.outbox, CHANNEL, self.send_notice, items)
        finally:
            self._queued[conversation] -= len(items)
            if not self._queued[conversation]:
                del self._queued[conversation]
                if not lock.locked():
                    self._order.pop(conversation, None)

    async def drain_once(self) -> int:
        """One claimed batch sent to the end (each conversation in order, all at once); for tests and
        tools that want to see it done."""
        batch = await self.outbox.claim(CHANNEL)
        counts = await asyncio.gather(
            *(self._send_in_order(conversation, items) for conversation, items in by_conversation(batch).items())
        )
        return sum(counts)

    async def send_notice(self, pending: Pending) -> str | None:
        """One notice: chat.update of the card it replaces when there is one, else a new message (its ts)."""
        try:
            await self.pacer.turn(pending.address)
        except Held as held:
            raise RetryLater(str(held), timedelta(seconds=held.seconds), tried=False) from held
        text, shown = blocks.fallback_text(pending.reply), blocks.message_blocks(pending.reply)
        try:
            if pending.card_ref is not None:
                try:
                    await self.client.chat_update(channel=pending.address, ts=pending.card_ref, text=text, blocks=shown)
                    return pending.card_ref
                except SlackApiError as exc:
                    if exc.response.get("error") not in CARD_GONE:
                        raise
                    log.info("card %s could not be updated; posting it anew", pending.card_ref)
            await self.send_photos(pending.address, pending.photos)
            ref = None
            if pending.reply.text or pending.reply.buttons:
                sent = await self.client.chat_postMessage(channel=pending.address, text=text, blocks=shown)
                ref = str(sent["ts"])
            await self.send_files(pending.address, pending.reply.files)
            return ref
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if exc.response.status_code == 429:
                wait = retry_after(exc)
                self.pacer.hold(pending.address, wait)
                raise RetryLater(f"ratelimited for {wait:.0f}s", timedelta(seconds=wait)) from exc
            if error in UNREACHABLE:
                raise Unreachable(error) from exc
            raise


def by_conversation(batch: Sequence[Pending]) -> dict[str, list[Pending]]:
    grouped: dict[str, list[Pending]] = {}
    for item in batch:
        grouped.setdefault(item.address, []).append(item)
    return grouped


def asked(outcome: Outcome, step: StepView) -> bool:
    """Whether this turn asked the person's current question (its buttons carry the step's version):
    then it is shown as a modal page. Otherwise the replies stand alone (a language choice asked
    mid-flow keeps its own buttons) and go to the DM."""
    prefix = step.payload("")
    payloads = (button.payload for reply in outcome.replies for row in reply.buttons for button in row)
    return any(payload.startswith(prefix) for payload in payloads)


def submission_key(view: dict[str, Any]) -> str:
    """A page submitted twice with the same answer is one delivery; corrected after an inline error
    (Slack keeps the view's hash then) it is another."""
    values = json.dumps(view.get("state", {}).get("values", {}), sort_keys=True, ensure_ascii=False)
    answer = hashlib.sha256(values.encode()).hexdigest()[:16]
    return f"view:{view['id']}:{str(view.get('hash', ''))[:40]}:{answer}"


def retry_after(exc: SlackApiError) -> float:
    headers = {str(k).lower(): v for k, v in (exc.response.headers or {}).items()}
    try:
        return max(1.0, float(headers.get("retry-after") or 1))
    except ValueError:
        return 1.0

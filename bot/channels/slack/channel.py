"""Slack: Bolt's AsyncApp translating slash commands, button presses, modal pages and events into
Houqin's neutral Inbound, and Outcomes and outbox notices back into Block Kit.

Every listener acknowledges at once (Slack gives 3 s) and does the work in a task the channel keeps
track of; a modal page is answered inline when the core is quick (errors beside the input, the
next page, or closing it), else with a loading page that is updated when the answer is ready.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels import acked
from bot.channels.slack import blocks, listeners
from bot.channels.slack.files import SlackFiles
from bot.channels.slack.outbound import CHANNEL, Outbound
from bot.settings import Settings
from handlers.core import keys
from handlers.core.conversation import (
    MAX_TEXT,
    Inbound,
    Kind,
    Outcome,
    PhotoView,
    Reply,
    Sender,
    StepView,
    asks,
)
from handlers.core.engine import Houqin
from handlers.core.i18n import commands_typed, pick_locale, translate
from handlers.core.outbox import STOP_GRACE_SECONDS, Outbox, Pending

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
# The one slash command that carries every other Houqin command as its first word (/houqin my).
HOME_COMMAND = blocks.HOME_COMMAND
# Slack's payloads are a few KiB; anything near this is not one of them.
MAX_REQUEST_BYTES = 1024 * 1024
# Files handled from one DM message (Slack allows ten; a repair takes three photos).
MAX_FILES_PER_MESSAGE = 3

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

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
    name = CHANNEL

    def __init__(self, settings: Settings, houqin: Houqin, outbox: Outbox, *, ack_within: float = 2.5) -> None:
        assert settings.slack_bot_token, "the channel is only built when a token is set"
        self.settings = settings
        self.houqin = houqin
        self.outbox = outbox
        self.default_locale = settings.default_locale
        # How long a modal page waits for the core before it is answered with a loading page.
        self.ack_within = ack_within
        self.client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_base_url)
        self.outbound = Outbound(self.client, outbox)
        self.files = SlackFiles(settings.slack_bot_token, settings.slack_api_base_url)
        self.app = AsyncApp(
            # Named here: unnamed, Bolt names the app after its caller's file through inspect.stack(),
            # which reads the source of every frame above it (tens of ms in a deep stack).
            name="houqin",
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
        self.background = acked.Background("Slack work", in_slack_words)
        self._people: dict[str, Profile] = {}
        self._spoken: dict[str, str] = {}
        # Keys the digest of submitted answers in delivery keys; derived from the server key, so every
        # process makes the same key of a page submitted twice (the second may reach another one).
        self._salt: bytes | None = None
        # Except an anonymous answer's: whoever holds the server key could test guesses ("4"?) against
        # the delivery record. Its key is this process's own and dies with it; a double submission that
        # reaches another process is then only told its page is stale.
        self._discreet_salt = secrets.token_bytes(16)
        listeners.register(self.app, self)

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return f"{CHANNEL} ({'socket mode' if self.settings.slack_socket_mode else 'http'})"

    def command_syntax(self, command: str) -> str:
        return blocks.typed_in_slack(command)

    async def send_notice(self, pending: Pending) -> str | None:
        return await self.outbound.send_notice(pending)

    async def start(self) -> None:
        self.outbound.start()
        if self.settings.slack_socket_mode:
            # Socket Mode brings aiohttp with it: imported only by those who use it.
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self.settings.slack_app_token)
            await self._socket.connect_async()  # type: ignore[no-untyped-call]

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        await self.outbound.stop()
        # What requests started (handled after Slack was answered) is finished, within the grace.
        await self.background.finish(STOP_GRACE_SECONDS)

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Work that goes on after Slack was acknowledged (in Slack's words)."""
        return self.background.spawn(work)

    async def settled(self) -> None:
        """Until every piece of work started by a request (and what it started) is done."""
        await self.background.settled()

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

    async def handle(self, inbound: Inbound) -> Outcome:
        outcome = await self.houqin.handle(inbound)
        if outcome.locale:
            self._spoken[inbound.sender.external_id] = outcome.locale
        return outcome

    def locale_hint(self, sender: Sender) -> str:
        """For what is shown before the core answers (a loading page): the language it last spoke
        with them, else Slack's, else the default."""
        return pick_locale(self._spoken.get(sender.external_id), sender.platform_locale, self.default_locale)

    def locale_hint_for(self, body: dict[str, Any]) -> str:
        user = str((body.get("user") or {}).get("id"))
        profile = self._people.get(user)
        return pick_locale(self._spoken.get(user), profile.locale if profile else None, self.default_locale)

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
            outcome = await self.handle(inbound)
        except Exception:
            await self.apologise(sender, view_id)
            raise
        if self.answered(outcome):
            return
        # A command that starts a flow of its own (/houqin stock import) opens it with the unused trigger.
        await self.present(sender, outcome, view_id=view_id, trigger_id=None if view_id else trigger)
        await self.done(outcome)

    async def submission_salt(self) -> bytes:
        if self._salt is None:
            async with self.houqin.db.unit_of_work() as session:
                self._salt = keys.derive(await keys.server_key(session), "slack-submission")
        return self._salt

    async def page_key(self, view: dict[str, Any], meta: dict[str, Any]) -> str:
        salt = self._discreet_salt if meta.get("d") else await self.submission_salt()
        return submission_key(view, salt)

    def answered(self, outcome: Outcome) -> bool:
        """A repeat whose replies were sent, or are being sent by the first handling."""
        return acked.answered(outcome, self.houqin.clock())

    async def apologise(self, sender: Sender, view_id: str | None) -> None:
        """The core failed (nothing was kept): say so where the person is looking."""
        locale = self.locale_hint(sender)
        try:
            if view_id is not None:
                await self.client.views_update(view_id=view_id, view=blocks.failed_modal(locale))
            else:
                await self.outbound.post_own_reply(sender.address, Reply(translate(locale, "dialog.error.internal")))
        except SlackApiError as exc:
            # Not who: the failed turn may have been an anonymous answer.
            log.warning("could not tell the sender about a failure: %s", exc.response.get("error"))

    async def press(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A button: on a message (a card, a question in the DM), on a modal page, or on the App Home."""
        sender = await self.sender(str(body["user"]["id"]))
        value = str(action.get("value") or "")[:MAX_TEXT]
        trigger = str(body.get("trigger_id") or action.get("action_ts"))
        try:
            outcome = await self.handle(Inbound(sender, Kind.BUTTON, f"press:{trigger}", text=value))
        except Exception:
            await self.apologise(sender, None)
            raise
        if self.answered(outcome):
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
                where = (str(container["channel_id"]), str(container["message_ts"]))
                await self.outbound.retire(*where, message, outcome.chosen)
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
        key = await self.page_key(view, meta)
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
        outcome = await self.handle(inbound)
        return await self.screen_after(sender, outcome, version, kind)

    async def photos_submitted(self, sender: Sender, key: str, version: int, files: list[dict[str, Any]]) -> Screen:
        """Photos attached on the page: each fetched from Slack and handed to the core as a photo, then
        the step is done (unless the last photo it takes completed it already)."""
        step = await self.houqin.current_step(sender)
        if step is None or step.version != version:
            stale = Inbound(sender, Kind.TEXT, key, text="", version=version)
            return await self.screen_after(sender, await self.handle(stale), version, "photo")
        outcome = None
        limit = step.max_files if isinstance(step, PhotoView) else 1
        for index, shared in enumerate(files[: limit or 1]):
            photo = await self.files.photo(shared)
            outcome = await self.handle(Inbound(sender, Kind.PHOTO, f"{key}:{index}", photo=photo))
            if outcome.problem:
                return await self.screen_after(sender, outcome, version, "photo")
            await self.houqin.mark_replied(outcome)
        now = await self.houqin.current_step(sender)
        if now is not None and (now.flow, now.step, now.part) == (step.flow, step.step, step.part) and now.skip:
            done = Inbound(sender, Kind.BUTTON, f"{key}:done", text=now.payload(now.skip))
            outcome = await self.handle(done)
        assert outcome is not None
        return await self.screen_after(sender, outcome, version, "photo")

    async def file_submitted(self, sender: Sender, key: str, version: int, shared: dict[str, Any]) -> Screen:
        """A file attached on the page (a catalog to import): fetched, then the step's answer."""
        step = await self.houqin.current_step(sender)
        if step is None or step.version != version:
            stale = Inbound(sender, Kind.TEXT, key, text="", version=version)
            return await self.screen_after(sender, await self.handle(stale), version, "file")
        document = await self.files.document(shared)
        outcome = await self.handle(Inbound(sender, Kind.DOCUMENT, key, document=document))
        return await self.screen_after(sender, outcome, version, "file")

    async def screen_after(self, sender: Sender, outcome: Outcome, version: int, kind: str | None) -> Screen:
        locale = outcome.locale or self.locale_hint(sender)
        step = await self.houqin.current_step(sender)
        screen = Screen(outcome, sender, locale)
        same_page = step is not None and step.version == version
        if outcome.problem and not outcome.duplicate and same_page and kind in blocks.INPUT_FORMS:
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
            await self.outbound.post_replies(screen.sender.address, outcome.replies)
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
        outcome = await self.handle(Inbound(sender, Kind.BUTTON, key, text=f"s{meta['v']}:_cancel"))
        if self.answered(outcome):
            return
        if outcome.toast is None:  # a stale page (the flow had moved on) is closed without a word
            await self.outbound.post_replies(sender.address, outcome.replies)
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
                inbounds.append(Inbound(sender, Kind.PHOTO, key, photo=await self.files.photo(file)))
            else:
                document = await self.files.document(file)
                inbounds.append(Inbound(sender, Kind.DOCUMENT, key, text=args, command=command, document=document))
        if not inbounds:
            key = f"event:{event_id}"
            if command:
                inbounds.append(Inbound(sender, Kind.COMMAND, key, text=args, command=command))
            else:
                inbounds.append(Inbound(sender, Kind.TEXT, key, text=str(event.get("text") or "")))
        for inbound in inbounds:
            try:
                outcome = await self.handle(inbound)
            except Exception:
                await self.apologise(sender, None)
                raise
            if self.answered(outcome):
                continue
            await self.outbound.post_replies(sender.address, outcome.replies)
            await self.done(outcome)

    async def user_left(self, user_id: str) -> None:
        """The workspace deactivated this member: under ACCESS_POLICY=directory they leave Houqin too."""
        await self.houqin.directory_left(self.name, user_id)

    async def publish_home(self, user_id: str) -> None:
        sender = await self.sender(user_id)
        overview, locale = await self.houqin.overview(sender)
        await self.client.views_publish(user_id=user_id, view=blocks.home_view(overview, locale))

    async def done(self, outcome: Outcome) -> None:
        await self.houqin.mark_replied(outcome)
        self.outbound.wake()

    # --- outbound -------------------------------------------------------------------------------

    async def present(
        self, sender: Sender, outcome: Outcome, *, view_id: str | None = None, trigger_id: str | None = None
    ) -> None:
        """Show an outcome: as the modal page of the flow the person is now in, else in their DM."""
        step: StepView | None = await self.houqin.current_step(sender) if (view_id or trigger_id) else None
        locale = outcome.locale or self.locale_hint(sender)
        # A turn that asked the current question shows it as a modal page; otherwise the replies go to the DM.
        if step is not None and asks(outcome, step):
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
        await self.outbound.post_replies(sender.address, outcome.replies)

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> str | None:
        try:
            opened = await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            log.info("could not open a modal (%s)", exc.response.get("error"))
            return None
        return str(opened["view"]["id"])


async def in_slack_words(work: Awaitable[T]) -> T:
    """Whatever the core says while doing this names commands as Slack types them (/houqin my)."""
    with commands_typed(blocks.typed_in_slack):
        return await work


def submission_key(view: dict[str, Any], salt: bytes) -> str:
    """A page submitted twice with the same answer is one delivery; corrected after an inline error
    (Slack keeps the view's hash then) it is another. The answer is told apart by a keyed digest, so
    the delivery record cannot be matched against guesses (an anonymous survey's "4")."""
    values = json.dumps(view.get("state", {}).get("values", {}), sort_keys=True, ensure_ascii=False)
    # surrogatepass: a lone surrogate in what was typed (JSON carries "\ud800") is digested, not a failure;
    # the words themselves are made plain when they become an Inbound.
    answer = hmac.new(salt, values.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]
    return f"view:{view['id']}:{str(view.get('hash', ''))[:40]}:{answer}"

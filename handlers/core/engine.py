"""The core every channel calls: one inbound delivery in, the replies out, one transaction between.

Per delivery: record its key (a duplicate stops here), resolve the person, load their dialog
state, act on the command, button, text or photo, save the state, commit. The state row carries a
version that SQLAlchemy checks on every UPDATE, so when two processes answer for the same person
one of them retries against what the other wrote. Files an action leaves for after the commit
(Action.later: charts, big exports) are made then, with no transaction open, and kept in a short one.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from handlers.core import (
    audit,
    authz,
    directory,
    files,
    keys,
    logcontext,
    membership,
    menu,
    menus,
    metrics,
    org_settings,
    uploads,
)
from handlers.core.area import Area, check
from handlers.core.conversation import (
    MAX_TEXT,
    Button,
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
from handlers.core.discreet import day_of, sealed_key
from handlers.core.flow import (
    PAGES,
    Action,
    Answer,
    Data,
    Flow,
    Goto,
    Invalid,
    Option,
    Rows,
    Step,
    StepContext,
    Submitted,
)
from handlers.core.i18n import LOCALES, Msg, Renderable, msg, pick_locale, translate
from handlers.core.ids import parse_id
from handlers.core.jobs import run_once
from handlers.core.membership import EVERYONE, Admission, NotMember
from handlers.core.people import ACCOUNT_OF_SENDER, AdminAccount, admit, identify, see
from handlers.core.replied import Mark, ReplyMarks
from handlers.core.rules import RepairRules, SupplyRules
from handlers.core.schedule import Schedule
from storage.db import Database
from storage.models import ChannelAccount, DialogState, Person, Photo, ProcessedDelivery, utcnow

log = logging.getLogger(__name__)

# Button values the engine itself understands inside a flow, on every step (never option values);
# steps have their own (handlers/core/flow.py: Done, Submit, a page turned).
BACK, CANCEL = "_back", "_cancel"
ATTEMPTS = 4
# Set in a stored outcome whose files (Action.later) are still to be made after the commit.
FILES_PENDING = "files_pending"

# Every update runs these; built once, as building the expression again cost more than running it
# (issue 17's profile). A delivery kept under its sealed key (a discreet one):
SEALED_KEPT = select(ProcessedDelivery.id).where(
    ProcessedDelivery.channel == bindparam("channel"), ProcessedDelivery.key == bindparam("sealed")
)
# The sender's account, their person and roles (people.ACCOUNT_OF_SENDER), their dialog in this
# channel, and whether a discreet copy of this delivery was kept under its sealed key: one query, where
# three cost two round trips more on every update.
ACCOUNT_AND_DIALOG = ACCOUNT_OF_SENDER.add_columns(DialogState, SEALED_KEPT.exists().label("kept_sealed")).outerjoin(
    DialogState, and_(DialogState.person_id == ChannelAccount.person_id, DialogState.channel == ChannelAccount.channel)
)


class HandledDiscreetly(Exception):
    """This delivery was handled before, discreetly: it is kept under its sealed key."""


@dataclass
class Turn:
    """One delivery being handled: who, where they are, and what we will say."""

    session: AsyncSession
    person: Person
    state: DialogState
    locale: str
    channel: str
    now: datetime
    zone: ZoneInfo
    texts: list[tuple[Renderable | str, tuple[tuple[Button, ...], ...], tuple[FileOut, ...]]] = field(
        default_factory=list
    )
    chosen: str | None = None
    toast: Msg | None = None
    on_card: bool = False
    problem: Msg | None = None
    # Inside a discreet flow: the stored outcome does not echo the choice (see Flow.discreet).
    discreet: bool = False
    rules: RepairRules = field(default_factory=RepairRules)
    supply: SupplyRules = field(default_factory=SupplyRules)
    # The running areas, for a handler that lists what each declares (/admin's entries, exports).
    areas: tuple[Area, ...] = ()
    # The environment's office calendar (StepContext.calendar).
    calendar: Schedule | None = None
    # Files to make after the commit (Action.later), each with the index in `texts` of its reply.
    later: list[tuple[int, files.Later]] = field(default_factory=list)

    def say(
        self, text: Renderable | str, buttons: tuple[tuple[Button, ...], ...] = (), files: tuple[FileOut, ...] = ()
    ) -> None:
        self.texts.append((text, buttons, files))

    def move(self, flow: str | None, step: str | None, data: dict[str, Any]) -> None:
        """Every change of where the person is goes through here, stamped with the engine's clock
        (jobs judge idleness by it) in the same versioned write; a discreet turn with its day only."""
        self.state.flow, self.state.step, self.state.data = flow, step, data
        self.state.updated_at = day_of(self.now) if self.discreet else self.now

    def context(self, data: Data | None = None) -> StepContext:
        """What steps and handlers see; `data` is a working copy of the answers when a step is judged."""
        return StepContext(
            self.session,
            self.person,
            self.locale,
            self.channel,
            self.now,
            self.zone,
            self.state.data if data is None else data,
            self.rules,
            self.supply,
            self.areas,
            self.calendar,
        )


class Houqin:
    def __init__(
        self,
        db: Database,
        areas: Sequence[Area],
        default_locale: str,
        zone: ZoneInfo,
        admins: Sequence[AdminAccount] = (),
        clock: Callable[[], datetime] = utcnow,
        rules: RepairRules | None = None,
        supply_rules: SupplyRules | None = None,
        admission: Admission = EVERYONE,
        calendar: Schedule | None = None,
    ) -> None:
        self.db = db
        # The environment's office calendar, handed to areas through StepContext.calendar.
        self.calendar = calendar
        # Who becomes a member by writing (ACCESS_POLICY: handlers/core/membership.py).
        self.admission = admission
        # Two areas answering the same command or button: refused here, at start-up, naming both.
        check(areas)
        self.areas = tuple(areas)
        # Their privileged actions beside the core's, for authz to judge (refused if one is the core's).
        authz.declare(areas)
        self.flows = {flow.name: flow for area in areas for flow in area.flows}
        self.listed = [flow for flow in self.flows.values() if flow.listed]
        self.buttons = {prefix: handler for area in areas for prefix, handler in area.buttons.items()}
        self.commands = {name: handler for area in areas for name, handler in area.commands.items()}
        self.links = {prefix: handler for area in areas for prefix, handler in area.links.items()}
        self.uploads = {name: upload for area in areas for name, upload in area.uploads.items()}
        self.mine = [area.mine for area in areas if area.mine is not None]
        self.privileged = {name: action for area in areas for name, action in area.privileged.items()}
        self.rules = rules or RepairRules()
        self.supply_rules = supply_rules or SupplyRules()
        self.default_locale = default_locale
        self.zone = zone
        self.admins = tuple(admins)
        self.clock = clock
        self.replies = ReplyMarks(db)
        self._server_key: bytes | None = None

    async def handle(self, inbound: Inbound) -> Outcome:
        channel = inbound.sender.channel
        with logcontext.about(channel=channel, delivery=logcontext.tag(inbound.delivery_key)):
            began = time.perf_counter()
            try:
                outcome, repeat = await self._handle(inbound)
            except BaseException:
                metrics.UPDATES.labels(channel, "failed").inc()
                raise
            took = time.perf_counter() - began
            metrics.UPDATES.labels(channel, "repeat" if repeat else "handled").inc()
            metrics.HANDLING.labels(channel).observe(took)
            log.debug("handled", extra={"duration_ms": round(took * 1000, 1)})
            return outcome

    async def _handle(self, inbound: Inbound) -> tuple[Outcome, bool]:
        """The delivery's outcome, and whether it is a repeat's (the first handling's, given back)."""
        sealed = await self.sealed_key(inbound)
        inbound = await self._parse_upload(inbound)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.db.unit_of_work(brief=True) as session:
                    outcome, turn = await self._handle_once(session, inbound, sealed)
            except (IntegrityError, HandledDiscreetly):
                # Either this delivery was handled already (by us or another process), or two
                # processes raced to create the same person or state row: look, then retry.
                if earlier := await self.earlier_outcome(inbound):
                    return earlier, True
                if attempt == ATTEMPTS:
                    raise
            except StaleDataError:
                # The delivery, not the person: an anonymous answer's sender is written nowhere.
                log.info(
                    "dialog changed under us while handling delivery %s; retrying", logcontext.tag(inbound.delivery_key)
                )
                if attempt == ATTEMPTS:
                    raise
            else:
                return await self._make_later(outcome, turn), False
        raise AssertionError("unreachable")

    async def _parse_upload(self, inbound: Inbound) -> Inbound:
        """A file to import is parsed before the delivery's transaction opens: in a child process with
        limits (handlers/core/uploads.py), with the event loop and the database connection free meanwhile.
        The importer takes the result (uploads.read) inside the transaction."""
        document = inbound.document
        if inbound.kind is not Kind.DOCUMENT or document is None or document.content is None:
            return inbound
        parser = await self._parser_for(inbound)
        if parser is None:
            return inbound
        parsed = await uploads.parse(parser, document.name, document.content)
        return replace(inbound, document=replace(document, parsed=parsed))

    async def _parser_for(self, inbound: Inbound) -> uploads.Parser | None:
        """The parser the file will meet, as _dispatch will route it: the file step the person is on,
        else the command in its caption, if they may use it (nobody else's files are parsed)."""
        async with self.db.unit_of_work() as session:
            account = await session.scalar(
                select(ChannelAccount).where(
                    ChannelAccount.channel == inbound.sender.channel,
                    ChannelAccount.external_id == inbound.sender.external_id,
                )
            )
            if account is None or not account.person.member:
                return None
            state = await session.scalar(
                select(DialogState).where(
                    DialogState.person_id == account.person_id, DialogState.channel == inbound.sender.channel
                )
            )
            flow = self.flows.get(state.flow or "") if state is not None else None
            if flow is not None and state is not None:
                step = next((step for step in flow.steps if step.key == state.step), None)
                return step.file_parser() if step is not None else None
            upload = self.uploads.get(inbound.command)
            if upload is None or not authz.allowed_somewhere(account.person, upload.action):
                return None
            return upload.parser

    async def _make_later(self, outcome: Outcome, turn: Turn | None) -> Outcome:
        """After the commit, the files an action left for later: each made in a worker thread while no
        transaction is open, then kept, added to its reply and to the stored outcome in a short one."""
        if turn is None or not turn.later:
            return outcome
        made = [(index, later, await asyncio.to_thread(later.make)) for index, later in turn.later]
        async with self.db.unit_of_work() as session:
            for index, later, content in made:
                kept = await files.keep(session, turn.person.id, later.name, later.content_type, content, turn.now)
                reply = outcome.replies[index]
                outcome.replies[index] = replace(reply, files=(*reply.files, kept))
            await session.execute(
                update(ProcessedDelivery)
                .where(ProcessedDelivery.id == outcome.delivery_id)
                .values(outcome=stored(outcome))
            )
        return outcome

    async def sealed_key(self, inbound: Inbound) -> str:
        """The key a discreet delivery is kept under (handlers/core/discreet.py). The server key is read
        once, in a transaction of its own: one made in a delivery's rolled-back transaction must not
        be remembered."""
        if self._server_key is None:
            async with self.db.unit_of_work() as session:
                self._server_key = await keys.server_key(session)
        return sealed_key(self._server_key, inbound.sender.channel, inbound.delivery_key)

    async def earlier_outcome(self, inbound: Inbound) -> Outcome | None:
        sealed = await self.sealed_key(inbound)
        async with self.db.unit_of_work(brief=True) as session:
            found = await session.scalar(
                select(ProcessedDelivery).where(
                    ProcessedDelivery.channel == inbound.sender.channel,
                    ProcessedDelivery.key.in_((inbound.delivery_key, sealed)),
                )
            )
        if found is None:
            return None
        replied = found.replied_at is not None
        earlier = Outcome.from_record(found.outcome, replied=replied, delivery_id=found.id, recorded_at=found.at)
        if found.outcome.get(FILES_PENDING):
            # Its files were never made (the process died after the commit, or making one failed):
            # the stored words would promise a file that is not there, so the person is told instead.
            earlier.replies = [Reply(translate(earlier.locale or self.default_locale, "dialog.error.file_not_made"))]
        return earlier

    async def mark_replied(self, outcome: Outcome, prompt_ref: str | None = None) -> None:
        """Channels call this once the replies are out, so a redelivery does not send them again;
        with where the new buttons are shown, when the replies had any. Returns once committed
        (together with other channels' marks arriving meanwhile: handlers/core/replied.py)."""
        if outcome.delivery_id is None:
            return
        await self.replies.mark(Mark(outcome, prompt_ref, self.clock()))

    async def directory_left(self, channel: str, external_id: str) -> bool:
        """A platform whose directory decides (ACCESS_POLICY=directory) says this account's owner has
        left the organisation: they leave as by /org leave, the system acting. False if nothing changed."""
        if channel not in self.admission.directories:
            return False
        async with self.db.unit_of_work() as session:
            account = await membership.account_of(session, channel, external_id)
            if account is None or not account.person.member:
                return False
            await membership.leave(self._system(session, channel), account.person, "directory")
        return True

    async def directory_sync(
        self, channel: str, found: directory.Directory, period: str | None = None
    ) -> directory.Applied | None:
        """The organisation as the platform's directory has it (handlers/core/directory.py): its
        departments, managers and people, and, when the directory decides (ACCESS_POLICY=directory),
        who left. With a period (a day), at most once in it whichever process asks; None if done."""
        decides = channel in self.admission.directories
        if period is None:
            async with self.db.unit_of_work() as session:
                return await directory.apply(self._system(session, channel), found, decides_membership=decides)
        applied: list[directory.Applied] = []

        async def work(session: AsyncSession) -> directory.Applied:
            applied.append(await directory.apply(self._system(session, channel), found, decides_membership=decides))
            return applied[-1]

        ran = await run_once(self.db, f"directory:{channel}", period, self.clock(), work)
        return applied[-1] if ran else None

    def _system(self, session: AsyncSession, channel: str) -> StepContext:
        """The system acting on a channel's behalf (a directory): a person never added to the session."""
        system = Person(display_name="Houqin")
        return StepContext(
            session,
            system,
            self.default_locale,
            channel,
            self.clock(),
            self.zone,
            {},
            self.rules,
            self.supply_rules,
            self.areas,
        )

    # --- command menus (handlers/core/menus.py) ---------------------------------------------------------

    def menu_commands(self, person: Person | None = None) -> tuple[str, ...]:
        """What a command menu lists for this person; None: everyone's menu."""
        flows = [flow.name for flow in self.listed]
        return menus.commands_for(flows, list(self.commands), self.privileged, person)

    async def command_menu(self, channel: str, address: str) -> menus.CommandMenu | None:
        """The menu of whoever is reached at this address now, in their language; None if nobody is."""
        async with self.db.unit_of_work() as session:
            account = await session.scalar(
                select(ChannelAccount)
                .where(ChannelAccount.channel == channel, ChannelAccount.address == address)
                .order_by(ChannelAccount.last_seen_at.desc().nulls_last())
                .limit(1)
            )
            if account is None:
                return None
            person = account.person
            locale = await self._locale_of(session, account)
            if not person.member:
                # Someone who left sees no more than a stranger's menu: how to start (and be turned away).
                return menus.CommandMenu(locale, ("start",), everyone=False)
            commands = self.menu_commands(person)
            return menus.CommandMenu(locale, commands, everyone=commands == self.menu_commands())

    async def _locale_of(self, session: AsyncSession, account: ChannelAccount) -> str:
        """The person's own choice, else their app's language, else the organisation's default (read,
        as it may have been changed from chat, only when the first two say nothing)."""
        chosen = pick_locale(account.person.locale, account.platform_locale, "")
        return chosen or await org_settings.default_locale(session, self.default_locale)

    # --- read-only views for channels that draw whole screens (Slack modals, App Home) ------------

    async def current_step(self, sender: Sender) -> StepView | None:
        """The question this person is on in this channel, described whole; None outside a flow.
        Changes nothing: the answer still comes back through ``handle``."""
        async with self.db.unit_of_work(brief=True) as session:
            account = await session.scalar(
                select(ChannelAccount).where(
                    ChannelAccount.channel == sender.channel, ChannelAccount.external_id == sender.external_id
                )
            )
            if account is None or not account.person.member:
                return None
            state = await session.scalar(
                select(DialogState).where(
                    DialogState.person_id == account.person_id, DialogState.channel == sender.channel
                )
            )
            flow = self.flows.get(state.flow or "") if state is not None else None
            if state is None or flow is None:
                return None
            locale = await self._locale_of(session, account)
            turn = Turn(
                session,
                account.person,
                state,
                locale,
                sender.channel,
                self.clock(),
                self.zone,
                rules=self.rules,
                supply=self.supply_rules,
                areas=self.areas,
            )
            return await self._describe(turn, flow, self._current(turn, flow))

    async def overview(self, sender: Sender) -> tuple[Reply, str]:
        """What /my says, with the menu, and the person's language: for a home screen (Slack's App
        Home). Only the person's first contact is written (as on any channel); their dialog is left."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._overview(sender)
            except IntegrityError:
                # A first contact raced another (a retried app_home_opened, another process) to create
                # the person or their account: the next try finds theirs.
                if attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _overview(self, sender: Sender) -> tuple[Reply, str]:
        async with self.db.unit_of_work() as session:
            now = self.clock()
            try:
                person, account = await identify(
                    session, sender, self.admins, now, newcomers=self.admission.admits(sender.channel)
                )
            except NotMember as outsider:
                locale = await self._outsider_locale(session, sender, outsider.account)
                return membership.reply(membership.not_member()[0], locale, buttons=True), locale
            locale = await self._locale_of(session, account)
            state = DialogState(person_id=person.id, channel=sender.channel, data={}, version=0, updated_at=now)
            turn = Turn(session, person, state, locale, sender.channel, now, self.zone, calendar=self.calendar)
            ctx = turn.context()
            parts = [part for mine in self.mine for part in await mine(ctx)]
            text = menu.my_requests(parts)
            return Reply(text.render(locale), (*menu.my_buttons(parts, locale), *self._menu_buttons(turn))), locale

    async def _describe(self, turn: Turn, flow: Flow, step: Step) -> StepView:
        """The step's own view, placed: which flow, which version, whether Back has anywhere to go."""
        view = await step.view(turn.context())
        return replace(
            view,
            flow=flow.name,
            discreet=flow.discreet,
            flow_title=flow.title.render(turn.locale),
            step=step.key,
            version=turn.state.version,
            can_go_back=self._can_go_back(turn, step),
            back=msg("dialog.button.back").render(turn.locale),
            cancel=msg("dialog.button.cancel").render(turn.locale),
        )

    async def _handle_once(self, session: AsyncSession, inbound: Inbound, sealed: str) -> tuple[Outcome, Turn | None]:
        delivery = ProcessedDelivery(channel=inbound.sender.channel, key=inbound.delivery_key, at=self.clock())
        session.add(delivery)
        await session.flush()
        now = self.clock()
        sender = inbound.sender
        # A discreet delivery is kept under its sealed key: looked for after our own row is in, so a
        # copy handled at this moment by another process is seen once that one commits.
        found = (
            (
                await session.execute(
                    ACCOUNT_AND_DIALOG,
                    {"channel": sender.channel, "external_id": sender.external_id, "sealed": sealed},
                )
            )
            .unique()
            .first()
        )
        if found is None:  # someone new: no account row to carry the answer
            account, state = None, None
            kept_sealed = await session.scalar(SEALED_KEPT, {"channel": sender.channel, "sealed": sealed})
        else:
            account, state, kept_sealed = found
        if kept_sealed:
            raise HandledDiscreetly
        try:
            person, account = await admit(
                session, account, sender, self.admins, now, seen=False, newcomers=self.admission.admits(sender.channel)
            )
        except NotMember as outsider:
            return await self._turn_away(session, inbound, delivery, outsider.account, now), None
        if state is None:
            # Stamped with the day: a dialog only starts to count as idle once something moves it.
            state = DialogState(
                person_id=person.id, channel=inbound.sender.channel, data={}, version=0, updated_at=day_of(now)
            )
            session.add(state)
            await session.flush()
        locale = await self._locale_of(session, account)
        turn = Turn(
            session,
            person,
            state,
            locale,
            inbound.sender.channel,
            now,
            self.zone,
            rules=self.rules,
            supply=self.supply_rules,
            areas=self.areas,
            calendar=self.calendar,
        )
        await self._dispatch(turn, inbound)
        await session.flush()
        replies = [
            Reply(text if isinstance(text, str) else text.render(turn.locale), buttons, files)
            for text, buttons, files in turn.texts
        ]
        outcome = Outcome(
            replies=replies,
            chosen=turn.chosen,
            toast=turn.toast.render(turn.locale) if turn.toast else None,
            locale=turn.locale,
            delivery_id=delivery.id,
            dialog_id=state.id,
            dialog_version=state.version,
            retire_prompt=state.prompt_ref,
            on_card=turn.on_card,
            problem=turn.problem.render(turn.locale) if turn.problem else None,
        )
        outcome.discreet = turn.discreet
        delivery.outcome = stored(outcome)
        if turn.discreet:
            # Nothing kept of this turn places the person at it (handlers/core/discreet.py): their account
            # is not even written (on PostgreSQL it would carry the id of this transaction).
            delivery.key = sealed
            if account.last_seen_at is None:
                account.last_seen_at = day_of(now)
            if person.created_at == now:
                person.created_at = day_of(now)
        else:
            see(account, now)
        if turn.later:
            # Cleared once the files are kept (_make_later); left set if that never happens.
            delivery.outcome[FILES_PENDING] = True
        return outcome, turn

    async def _turn_away(
        self,
        session: AsyncSession,
        inbound: Inbound,
        delivery: ProcessedDelivery,
        account: ChannelAccount | None,
        now: datetime,
    ) -> Outcome:
        """A delivery from someone who is not a member (handlers/core/membership.py): one message, and
        nothing else runs. Their request to join or invitation code is the only thing that may."""
        said = await membership.turn_away(session, inbound, account, now)
        locale = await self._outsider_locale(session, inbound.sender, account)
        quiet = said.key in ("member.request.sent", "member.request.already", "org.invite.joined")
        outcome = Outcome(
            replies=[membership.reply(said, locale, buttons=not quiet)], locale=locale, delivery_id=delivery.id
        )
        delivery.outcome = stored(outcome)
        return outcome

    async def _outsider_locale(self, session: AsyncSession, sender: Sender, account: ChannelAccount | None) -> str:
        """A non-member is answered in their own choice if they had one, else in their app's language."""
        if account is not None:
            return await self._locale_of(session, account)
        chosen = pick_locale(None, sender.platform_locale, "")
        return chosen or await org_settings.default_locale(session, self.default_locale)

    # --- dispatch -------------------------------------------------------------------------------

    async def _dispatch(self, turn: Turn, inbound: Inbound) -> None:
        flow = self.flows.get(turn.state.flow or "")
        # Whatever happens inside a discreet flow (an answer, /cancel, /help, a stale button) is discreet.
        turn.discreet = flow is not None and flow.discreet
        if inbound.version is not None and (flow is None or inbound.version != turn.state.version):
            await self._stale(turn, flow)
            return
        if inbound.kind is Kind.COMMAND:
            await self._command(turn, flow, inbound.command, inbound.text)
        elif inbound.kind is Kind.BUTTON:
            await self._button(turn, flow, inbound.text)
        elif (
            inbound.kind is Kind.DOCUMENT
            and inbound.document is not None
            and inbound.command in self.uploads
            and not (flow is not None and self._current(turn, flow).takes_files)
        ):
            # A file with a command as its caption; a flow waiting for a file takes it as its answer.
            await self._upload(turn, flow, inbound.command, inbound.text, inbound.document)
        elif flow is None and inbound.kind is Kind.TEXT and menu.is_greeting(inbound.text):
            # A newcomer's first words are often a hello: answer it as /start would.
            turn.say(msg("menu.welcome", name=turn.person.display_name), self._menu_buttons(turn))
        elif flow is None:
            turn.say(msg("dialog.not_understood"), self._menu_buttons(turn))
        elif inbound.kind is Kind.TEXT:
            if len(inbound.text) > MAX_TEXT:
                await self._reask(turn, flow, msg("dialog.error.too_long", max=MAX_TEXT, got=len(inbound.text)))
            else:
                await self._answer(turn, flow, text=inbound.text)
        elif inbound.kind is Kind.PHOTO and inbound.photo is not None:
            await self._answer(turn, flow, photo=inbound.photo)
        elif inbound.kind is Kind.DOCUMENT and inbound.document is not None:
            await self._answer(turn, flow, document=inbound.document)
        else:
            await self._reask(turn, flow, msg("dialog.error.unsupported"))

    async def _command(self, turn: Turn, flow: Flow | None, command: str, args: str) -> None:
        if command == "cancel":
            if flow is None:
                turn.say(msg("dialog.cancel.nothing"), self._menu_buttons(turn))
            else:
                await self._forget_photos(turn, flow, turn.state.data)
                kept = await flow.on_cancel(turn.context()) if flow.on_cancel is not None else None
                self._leave_flow(turn)
                turn.say(kept or msg("dialog.cancel.done", flow=flow.title), self._menu_buttons(turn))
            return
        if command == "help":
            everyday = [c for c in self.menu_commands() if c != "start"]
            theirs = [c for c in self.menu_commands(turn.person) if c in self.privileged]
            turn.say(menu.help_text(everyday, theirs, self.listed))
            if flow is not None:
                await self._ask(turn, flow, self._current(turn, flow))
            return
        if command == "lang":
            turn.say(msg("lang.ask"), menu.language_buttons())
            return
        link = self.links.get(args.partition("_")[0]) if command == "start" and args else None
        if link is not None and flow is not None:
            # Scanning a code on a door is a deliberate new start, unlike a command typed mid-answer.
            await self._forget_photos(turn, flow, turn.state.data)
            self._leave_flow(turn)
            turn.say(msg("dialog.flow.replaced", flow=flow.title))
            flow = None
        if flow is not None:
            # Starting something else would silently drop what they have typed so far.
            await self._reask(turn, flow, msg("dialog.busy", flow=flow.title))
            return
        if link is not None:
            # A deep link (t.me/<bot>?start=room_12, a QR code on a door) goes straight to its area.
            await self._act(turn, None, await link(turn.context(), args.partition("_")[2]))
        elif command in ("start", "menu"):  # /menu: what people try when they have lost the buttons
            turn.say(msg("menu.welcome", name=turn.person.display_name), self._menu_buttons(turn))
        elif command == "my":
            ctx = turn.context()
            parts = [part for mine in self.mine for part in await mine(ctx)]
            turn.say(menu.my_requests(parts), menu.my_buttons(parts, turn.locale))
        elif command in self.commands:
            await self._act(turn, None, await self.commands[command](turn.context(), args))
        elif command in self.flows and self.flows[command].listed:
            wanted = self.flows[command]
            preset = await wanted.preset(turn.context(), args.strip()) if wanted.preset and args.strip() else None
            await self._start_flow(turn, wanted, preset)
        else:
            turn.say(msg("dialog.unknown_command", command=command[:32]), self._menu_buttons(turn))

    async def _button(self, turn: Turn, flow: Flow | None, payload: str) -> None:
        kind, _, value = payload.partition(":")
        if kind == "lang" and value in LOCALES:
            turn.person.locale = value
            turn.locale = value
            await menus.changed(turn.session, [turn.person], turn.now)
            turn.chosen = msg("lang.name").render(value)
            turn.say(msg("lang.set"))
            if flow is not None:
                await self._ask(turn, flow, self._current(turn, flow))
            else:
                turn.say(msg("menu.what_next"), self._menu_buttons(turn))
            return
        if kind == "go" and ((value in self.flows and self.flows[value].listed) or value in ("my", "help")):
            label = self.flows[value].title if value in self.flows else msg(f"menu.{value}")
            turn.chosen = label.render(turn.locale)
            await self._command(turn, flow, value, "")
            return
        version = parse_id(kind[1:]) if kind.startswith("s") else None
        if version is not None:
            if flow is None or version != turn.state.version:
                await self._stale(turn, flow)
                return
            await self._answer(turn, flow, choice=value)
            return
        if kind in self.buttons:
            await self._act(turn, flow, await self.buttons[kind](turn.context(), value))
            return
        log.warning("refused button payload %r from person %s", payload[:64], turn.person.id)
        audit.write(
            turn.session,
            action="button.forged",
            actor_id=turn.person.id,
            channel=turn.channel,
            outcome="refused",
            detail={"payload": payload[:64]},
        )
        turn.toast = msg("dialog.error.forged_button")
        turn.say(msg("dialog.error.forged_button"))
        if flow is not None:
            await self._ask(turn, flow, self._current(turn, flow))

    async def _stale(self, turn: Turn, flow: Flow | None) -> None:
        turn.toast = msg("dialog.error.stale_button")
        turn.say(msg("dialog.error.stale_button"))
        if flow is not None:
            await self._ask(turn, flow, self._current(turn, flow))

    async def _upload(self, turn: Turn, flow: Flow | None, command: str, args: str, document: DocumentIn) -> None:
        """A file sent with a command as its caption (a spreadsheet captioned /stock import)."""
        if flow is not None:
            await self._reask(turn, flow, msg("dialog.busy", flow=flow.title))
            return
        await self._act(turn, None, await self.uploads[command].handle(turn.context(), args, document))

    async def _act(self, turn: Turn, flow: Flow | None, action: Action) -> None:
        """Carry out what an area's button, command or deep link asked for."""
        said = len(action.say)
        for index, (text, rows) in enumerate(action.say, start=1):
            turn.say(text, self._rows(turn, rows), action.files if index == said else ())
        if (action.files or action.later) and not said:
            turn.say("", files=action.files)
        turn.later += [(len(turn.texts) - 1, later) for later in action.later]
        turn.toast = action.toast or turn.toast
        turn.on_card = turn.on_card or action.on_card
        turn.discreet = turn.discreet or action.discreet
        if action.chosen is not None:
            turn.chosen = action.chosen.render(turn.locale)
        if action.start is not None and flow is not None and action.follow_up:
            await self._ask(turn, flow, self._current(turn, flow))
        elif action.start is not None:
            name, preset = action.start
            if flow is not None:
                await self._reask(turn, flow, msg("dialog.busy", flow=flow.title))
                return
            await self._start_flow(turn, self.flows[name], preset)
        elif flow is not None and action.say:
            # Answered something else mid-flow: show the open question again with its buttons.
            await self._ask(turn, flow, self._current(turn, flow))

    def _rows(self, turn: Turn, rows: Rows) -> tuple[tuple[Button, ...], ...]:
        return tuple(tuple(Button(label.render(turn.locale), payload) for label, payload in row) for row in rows)

    # --- walking a flow -------------------------------------------------------------------------

    async def _start_flow(self, turn: Turn, flow: Flow, preset: Data | None = None) -> None:
        # Starting a discreet flow is part of it: when someone began answering tells when they answered.
        turn.discreet = turn.discreet or flow.discreet
        data: Data = {"_trail": [], **(preset or {})}
        first = await self._next(turn, flow, None, data)
        assert first is not None, f"flow {flow.name} has nothing to ask"
        turn.move(flow.name, first.key, data)
        await turn.session.flush()
        if flow.listed:
            turn.say(msg("dialog.flow.started", flow=flow.title, hint=flow.description))
        await self._ask(turn, flow, first)

    async def _next(self, turn: Turn, flow: Flow, after: str | None, data: Data) -> Step | None:
        following = flow.next_step(after, data)
        ctx = turn.context(data)
        while following is not None and await following.skipped(ctx):
            following = flow.next_step(following.key, data)
        return following

    def _current(self, turn: Turn, flow: Flow) -> Step:
        return flow.step(turn.state.step or "")

    def _leave_flow(self, turn: Turn) -> None:
        turn.move(None, None, {})

    async def _forget_photos(self, turn: Turn, flow: Flow, data: Data) -> None:
        """Photos sent in a discreet flow and then taken back (Back, /cancel, a submit that did not
        take them) are deleted at once: the row names its sender, and its bytes may be the very photo
        they then attach to their anonymous suggestion."""
        if not flow.discreet:
            return
        ids = [i for step in flow.steps for i in step.photo_ids(data.get(step.key))]
        if ids:
            await turn.session.execute(
                delete(Photo)
                .where(Photo.id.in_(ids), Photo.person_id == turn.person.id, Photo.ticket_id.is_(None))
                .execution_options(synchronize_session=False)
            )

    def _finish(self, turn: Turn, flow: Flow, done: Submitted) -> None:
        self._leave_flow(turn)
        turn.say(done.message, self._menu_buttons(turn) if flow.listed or flow.menu_after else (), done.files)

    async def _answer(
        self,
        turn: Turn,
        flow: Flow,
        *,
        text: str | None = None,
        choice: str | None = None,
        photo: PhotoIn | None = None,
        document: DocumentIn | None = None,
    ) -> None:
        step = self._current(turn, flow)
        turn.discreet = turn.discreet or flow.discreet
        if choice == CANCEL:
            turn.chosen = msg("dialog.button.cancel").render(turn.locale)
            await self._command(turn, flow, "cancel", "")
            return
        if choice == BACK:
            turn.chosen = msg("dialog.button.back").render(turn.locale)
            await self._go_back(turn, flow)
            return
        # A deep copy: hooks may change nested answers (a cart) and must not touch the stored state.
        data = copy.deepcopy(turn.state.data)
        ctx = turn.context(data)
        try:
            if document is not None and not step.takes_files:
                raise Invalid(msg("dialog.error.unsupported"))
            taken = await step.take(ctx, Answer(text, choice, photo, document))
        except Invalid as problem:
            await self._reask(turn, flow, problem.reason)
            return
        except Goto as goto:
            await self._goto(turn, flow, data, goto)
            return
        if taken.chosen is not None:
            turn.chosen = taken.chosen.render(turn.locale)
        if not taken.done:
            # A step with several rounds (photos, building then room, a page turned) moved on inside itself.
            turn.move(flow.name, step.key, data)
            await turn.session.flush()
            await self._ask(turn, flow, step)
            return
        data["_trail"] = [*data.get("_trail", []), step.key]
        settled = await step.settle(ctx)
        if settled is None and step.then is not None:
            try:
                target = await step.then(ctx)
            except Goto as goto:
                await self._goto(turn, flow, data, goto)
                return
            if target is not None:
                await self._goto(turn, flow, data, Goto(target))
                return
        following = None if settled or step.submits else await self._next(turn, flow, step.key, data)
        if following is None:
            try:
                done = settled or await self._submit(turn, flow, ctx)
            except Invalid as problem:
                await self._reask(turn, flow, problem.reason)
                return
            except Goto as goto:
                await self._goto(turn, flow, data, goto)
                return
            await self._forget_photos(turn, flow, data)
            self._finish(turn, flow, done)
            return
        turn.move(flow.name, following.key, data)
        await turn.session.flush()
        await self._ask(turn, flow, following)

    async def _submit(self, turn: Turn, flow: Flow, ctx: StepContext) -> Submitted:
        """The flow's submit in a savepoint: one that refuses (Goto, Invalid) leaves nothing behind,
        while the dialog itself moves on in the same transaction."""
        async with turn.session.begin_nested():
            return await flow.submit(ctx)

    async def _goto(self, turn: Turn, flow: Flow, data: Data, goto: Goto) -> None:
        """Continue at goto.key: its answer and those of the steps after it are forgotten (and their
        pages), the trail keeps only the steps before it, and what the hook changed in data stays."""
        keys = [step.key for step in flow.steps]
        target = flow.step(goto.key)
        index = keys.index(target.key)
        current = keys.index(turn.state.step or target.key)
        if index <= current:
            for step in flow.steps[index:]:
                data.pop(step.key, None)
            forget_pages(data, keys[index:])
            data["_trail"] = [key for key in data.get("_trail", []) if key in keys and keys.index(key) < index]
        elif keys[current] in data and keys[current] not in data.get("_trail", []):
            data["_trail"] = [*data.get("_trail", []), keys[current]]
        following: Step | None = target
        if not target.applies(data) or target.key in data:
            following = await self._next(turn, flow, target.key, data)
        assert following is not None, f"flow {flow.name} jumped past its last step"
        turn.move(flow.name, following.key, data)
        await turn.session.flush()
        if goto.say is not None:
            turn.say(goto.say)
        await self._ask(turn, flow, following)

    async def _go_back(self, turn: Turn, flow: Flow) -> None:
        data = dict(turn.state.data)
        trail: list[str] = list(data.get("_trail", []))
        current = self._current(turn, flow)
        target: Step
        if current.key in data and current.has_rounds:
            # Inside a step with several rounds, Back first undoes that step's own progress.
            await self._forget_photos(turn, flow, {current.key: data.pop(current.key)})
            target = current
        elif trail:
            target = flow.step(trail.pop())
            answer = data.pop(target.key, None)
            resumed = target.back_into(answer)
            if resumed is not None:
                data[target.key] = resumed
            else:
                await self._forget_photos(turn, flow, {target.key: answer})
            forget_pages(data, [current.key])
        else:
            await self._reask(turn, flow, msg("dialog.error.nothing_to_go_back_to"))
            return
        data["_trail"] = trail
        turn.move(flow.name, target.key, data)
        await turn.session.flush()
        await self._ask(turn, flow, target)

    # --- asking ---------------------------------------------------------------------------------

    async def _reask(self, turn: Turn, flow: Flow, problem: Msg) -> None:
        turn.problem = problem
        turn.say(msg("dialog.error.prefix", problem=problem))
        await self._ask(turn, flow, self._current(turn, flow))

    async def _ask(self, turn: Turn, flow: Flow, step: Step) -> None:
        """The step's question as replies: what it says first, then its prompt with its buttons and a
        last row of its controls, Back (when there is somewhere to go) and Cancel."""
        question = await step.ask(turn.context())
        version = turn.state.version

        def buttons(options: Sequence[Option]) -> tuple[Button, ...]:
            return tuple(Button(o.label.render(turn.locale), f"s{version}:{o.value}") for o in options)

        controls = list(question.controls)
        if self._can_go_back(turn, step):
            controls.append(Option(BACK, msg("dialog.button.back")))
        controls.append(Option(CANCEL, msg("dialog.button.cancel")))
        for said in question.before:
            turn.say(said)
        turn.say(question.prompt, (*(buttons(row) for row in question.rows if row), buttons(controls)))

    def _can_go_back(self, turn: Turn, step: Step) -> bool:
        return bool(turn.state.data.get("_trail") or turn.state.data.get(step.key))

    def _menu_buttons(self, turn: Turn) -> tuple[tuple[Button, ...], ...]:
        return menu.menu_buttons(self.listed, turn.locale)


def stored(outcome: Outcome) -> dict[str, Any]:
    """The outcome as kept with its delivery, for a redelivery: a discreet one without the choice and
    without the dialog it moved (which names the person)."""
    record = outcome.to_record()
    if outcome.discreet:
        record.update(chosen=None, dialog_id=None, dialog_version=None)
    return record


def forget_pages(data: Data, keys: Sequence[str]) -> None:
    """Paged steps among `keys` start again at their first page."""
    pages = {key: page for key, page in (data.get(PAGES) or {}).items() if key not in keys}
    if pages:
        data[PAGES] = pages
    else:
        data.pop(PAGES, None)

"""Who gets the weekly digest, sending it to each once per week (or once a day on demand), the dry
run, and the digest's buttons (jb:<value>), each answered by the area that offers it.

What the digest says is the areas' sections (Area.digest, framed by handlers/core/digest.py); the
once-per-person guarantee is handlers/core/sends.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import ids, people
from handlers.core.area import Area
from handlers.core.charts import draw
from handlers.core.conversation import FileOut
from handlers.core.digest import ORG_ROLES, Digest, DigestButton, Scope, Section, chart, compute, text
from handlers.core.files import keep
from handlers.core.flow import Action, StepContext
from handlers.core.i18n import Renderable, msg, pick_locale
from handlers.core.jobs import Job, Running
from handlers.core.outbox import Notice
from handlers.core.schedule import WEEKDAYS, Schedule
from handlers.core.sends import Delivery, Tally, deliver_all
from storage.db import Database
from storage.models import ChannelAccount, Department, Person, PersonRole

log = logging.getLogger(__name__)
BUTTON_PREFIX = "jb"


@dataclass(frozen=True)
class Recipient:
    person_id: int
    name: str
    scope: Scope


async def recipients(session: AsyncSession) -> list[Recipient]:
    """Each manager for their department; logistics admins and admins for the whole organisation."""
    found: list[Recipient] = []
    managers = await session.execute(
        select(Person.id, Person.display_name, Department)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .join(Department, Department.code == PersonRole.scope)
        .where(PersonRole.role == "manager", Person.left_at.is_(None))
        .order_by(Person.id, Department.code)
    )
    found += [Recipient(pid, name, Scope(department)) for pid, name, department in managers.all()]
    org = await session.execute(
        select(Person.id, Person.display_name)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(PersonRole.role.in_(ORG_ROLES), Person.left_at.is_(None))
        .distinct()
        .order_by(Person.id)
    )
    found += [Recipient(pid, name, Scope()) for pid, name in org.all()]
    return found


async def reachable(session: AsyncSession, person_ids: Sequence[int]) -> set[int]:
    """Who has an account we may write to (not marked unreachable: blocked the bot, left)."""
    found = await session.scalars(
        select(ChannelAccount.person_id)
        .where(ChannelAccount.person_id.in_(person_ids))
        .where(ChannelAccount.unreachable_since.is_(None), ChannelAccount.address.is_not(None))
        .distinct()
    )
    return set(found.all())


@dataclass
class Prepared:
    period: str
    digests: dict[str, Digest]
    recipients: list[Recipient]
    unreachable: list[Recipient]
    locales: dict[int, str]
    # Each scope's chart in each language someone reads it in (None: no area draws one): drawn
    # before the fan-out, so no transaction is held open while matplotlib works.
    charts: dict[tuple[str, str], bytes | None]
    buttons: list[DigestButton]


def sections_of(areas: Sequence[Area]) -> list[Section]:
    return [section for area in areas for section in area.digest]


def buttons_of(areas: Sequence[Area]) -> list[DigestButton]:
    return sorted((button for area in areas for button in area.digest_buttons), key=lambda button: button.place)


async def prepare(
    db: Database,
    schedule: Schedule,
    due: datetime,
    now: datetime,
    only: Sequence[int] | None = None,
    period: str | None = None,
    default_locale: str = "zh_CN",
    *,
    areas: Sequence[Area],
) -> Prepared:
    """The digests of the week that ends before `due`, one per scope, and who gets which: made of
    the areas' sections (Area.digest)."""
    sections = sections_of(areas)
    start, end = schedule.digest_week(due)
    async with db.unit_of_work() as session:
        everyone = await recipients(session)
        if only is not None:
            everyone = [r for r in everyone if r.person_id in only]
        can = await reachable(session, [r.person_id for r in everyone])
        locales = {r.person_id: await locale_of(session, r.person_id, default_locale) for r in everyone}
        digests: dict[str, Digest] = {}
        for recipient in everyone:
            if recipient.scope.subject not in digests:
                digests[recipient.scope.subject] = await compute(session, recipient.scope, start, end, now, sections)
    charts: dict[tuple[str, str], bytes | None] = {}
    for recipient in everyone:
        key = (recipient.scope.subject, locales[recipient.person_id])
        if key not in charts:
            drawn = chart(digests[key[0]], key[1], schedule.zone)
            charts[key] = await draw(drawn) if drawn is not None else None
    unreachable = [r for r in everyone if r.person_id not in can]
    if "org" in digests:
        # Admins should know who cannot be reached, to fix it.
        digests["org"].unreachable = sorted({r.name for r in unreachable})
    reached = [r for r in everyone if r.person_id in can]
    return Prepared(period or schedule.week_key(due), digests, reached, unreachable, locales, charts, buttons_of(areas))


async def notice_for(
    session: AsyncSession,
    recipient: Recipient,
    digest: Digest,
    now: datetime,
    zone: ZoneInfo,
    buttons: Sequence[DigestButton] = (),
    picture: tuple[str, bytes] | None = None,
) -> Notice:
    """The digest as one person gets it: with the buttons the areas offer them now, and its chart
    (kept for them, sent after the text)."""
    person = await session.get(Person, recipient.person_id)
    assert person is not None
    rows: list[tuple[tuple[Renderable, str], ...]] = []
    for button in buttons:
        label = await button.offer(session, person, digest, now, zone)
        if label is not None:
            rows.append(((label, f"{BUTTON_PREFIX}:{button.value}"),))
    files: tuple[FileOut, ...] = ()
    if picture is not None:
        name, png = picture
        files = (await keep(session, recipient.person_id, name, "image/png", png, now),)
    return Notice(recipient.person_id, text(digest, zone), tuple(rows), files=files)


async def send_weekly(
    db: Database,
    schedule: Schedule,
    due: datetime,
    now: datetime,
    only: Sequence[int] | None = None,
    period: str | None = None,
    default_locale: str = "zh_CN",
    *,
    areas: Sequence[Area],
) -> Tally:
    """Each recipient gets this week's digest once (or once per `period` given, for one on demand);
    a rerun serves only those not yet served."""
    prepared = await prepare(db, schedule, due, now, only, period, default_locale, areas=areas)

    def delivery(recipient: Recipient) -> Delivery:
        subject = recipient.scope.subject
        digest = prepared.digests[subject]
        png = prepared.charts[(subject, prepared.locales[recipient.person_id])]
        name = f"digest-{prepared.period.replace(':', '-')}-{subject.replace(':', '-')}.png"

        async def build(session: AsyncSession) -> Notice:
            picture = (name, png) if png is not None else None
            return await notice_for(session, recipient, digest, now, schedule.zone, prepared.buttons, picture)

        return Delivery("digest", recipient.scope.subject, recipient.person_id, prepared.period, build)

    tally = await deliver_all(db, [delivery(r) for r in prepared.recipients], now)
    tally.unreachable += [r.person_id for r in prepared.unreachable]
    if prepared.unreachable:
        log.info("digest %s: unreachable: %s", prepared.period, ", ".join(r.name for r in prepared.unreachable))
    return tally


async def find_person(session: AsyncSession, who: str) -> int | None:
    """A person by id or as commands name them (for `houqin digest --to`)."""
    person_id = ids.parse_id(who)
    if person_id is not None and await session.get(Person, person_id) is not None:
        return person_id
    found = await people.find_person(session, who)
    return found.id if found is not None else None


async def locale_of(session: AsyncSession, person_id: int, default: str) -> str:
    """The language a person reads: their choice, else their latest app's, else the organisation's."""
    person = await session.get(Person, person_id)
    hint = await session.scalar(
        select(ChannelAccount.platform_locale)
        .where(ChannelAccount.person_id == person_id)
        .order_by(ChannelAccount.last_seen_at.desc().nulls_last(), ChannelAccount.id)
        .limit(1)
    )
    return pick_locale(person.locale if person else None, hint, default)


@dataclass(frozen=True)
class Preview:
    heading: str
    text: str
    chart_name: str
    chart: bytes | None


async def dry_run(
    db: Database,
    schedule: Schedule,
    now: datetime,
    default_locale: str,
    only: Sequence[int] | None,
    *,
    areas: Sequence[Area],
) -> list[Preview]:
    """Each digest as its recipient would read it, sending and keeping nothing (the transaction
    it is built in is rolled back)."""
    prepared = await prepare(db, schedule, now, now, only, None, default_locale, areas=areas)
    shown: list[Preview] = []
    async with db.sessions() as session:
        for recipient in [*prepared.recipients, *prepared.unreachable]:
            subject = recipient.scope.subject
            locale = prepared.locales[recipient.person_id]
            notice = await notice_for(
                session, recipient, prepared.digests[subject], now, schedule.zone, prepared.buttons
            )
            buttons = "  ".join(f"[{label.render(locale)}]" for row in notice.buttons for label, _ in row)
            reached = "" if recipient in prepared.recipients else " (unreachable: would be skipped)"
            heading = f"{recipient.name} ({recipient.person_id}), {subject}, {locale}{reached}"
            body = notice.text.render(locale) + (f"\n{buttons}" if buttons else "")
            name = f"digest-{recipient.person_id}-{subject.replace(':', '-')}.png"
            shown.append(Preview(heading, body, name, prepared.charts[(subject, locale)]))
        await session.rollback()
    return shown


# --- the digest's buttons (jb:<value>): each area's DigestButton decides who may, and what -------------


async def on_button(ctx: StepContext, value: str) -> Action:
    pressed = next((button for button in buttons_of(ctx.areas) if button.value == value), None)
    if pressed is None:
        return Action(say=((msg("dialog.error.forged_button"), ()),), toast=msg("dialog.error.forged_button"))
    return await pressed.press(ctx)


DIGEST = "weekly_digest"


async def _digest(jobs: Running, scheduled: datetime, now: datetime) -> object:
    return await send_weekly(
        jobs.db, jobs.schedule, scheduled, now, default_locale=jobs.default_locale, areas=jobs.areas
    )


JOB = Job(
    DIGEST,
    "the weekly digest to managers, logistics admins and admins",
    lambda s: {
        "day_of_week": WEEKDAYS[s.digest_weekday],
        "hour": s.digest_time.hour,
        "minute": s.digest_time.minute,
    },
    lambda s, at: s.week_key(at),
    _digest,
    lookback=timedelta(days=8),
    rank=40,
)

AREA = Area("digest", buttons={BUTTON_PREFIX: on_button}, jobs=(JOB,))

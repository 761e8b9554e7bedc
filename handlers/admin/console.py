"""The admin area's pages in the web console: statistics over any period — the areas' parts of
/stats (Area.stats: the same lines and chart the chat sends) and the areas' trend charts
(Area.console_charts: repairs by week and on time, satisfaction, supplies by department), each drawn
in the browser from the Chart the server computed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from handlers.admin import audit_log, org, roles, scorecards
from handlers.core import authz, console, uploads
from handlers.core.adminkit import Period, month_period, parse_month
from handlers.core.area import Area
from handlers.core.charts import Chart, Series
from handlers.core.console import ConsolePage, Paged, Viewer
from handlers.core.conversation import DocumentIn
from handlers.core.i18n import Label, Lines, Renderable, catalog, msg, translate
from handlers.core.people import find_person
from handlers.core.refusals import Refused
from storage.models import AuditEntry, Building, Department, Person, PersonRole, Room

STATS = "stats.view"


@dataclass(frozen=True)
class Statistics:
    period: Period
    lines: list[str]  # /stats' own words, in the viewer's language
    charts: list[Chart]


async def statistics(viewer: Viewer, areas: Sequence[Area], period: Period) -> Statistics:
    ctx = console.step_context(viewer, areas)
    parts = [await part(ctx, period) for area in areas for part in area.stats]
    lines = [line.render(viewer.locale) for part in parts for line in part.lines]
    charts = [part.chart for part in parts if part.chart is not None]
    for area in areas:
        for drawn in area.console_charts:
            charts.extend(await drawn(viewer, period))
    return Statistics(period, lines, charts)


# --- the audit log ------------------------------------------------------------------------------------------

AUDIT = "audit.view"
OUTCOMES = ("ok", "refused")


@dataclass(frozen=True)
class AuditFilters:
    who: str = ""
    record: str = ""
    action: str = ""
    outcome: str = ""
    channel: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1

    def query(self, **changed: object) -> dict[str, str]:
        values = {
            "who": self.who,
            "record": self.record,
            "action": self.action,
            "outcome": self.outcome,
            "channel": self.channel,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "page": str(self.page),
        }
        return console.query_string(values, changed)


def audit_filters_from(params: Mapping[str, str]) -> AuditFilters:
    outcome = params.get("outcome", "")
    action = params.get("action", "")
    channel = params.get("channel", "")
    return AuditFilters(
        who=params.get("who", "").strip()[:40],
        record=params.get("record", "").strip()[: audit_log.MAX_RECORD],
        action=action if action in actions_named() else "",
        outcome=outcome if outcome in OUTCOMES else "",
        channel=channel if channel in channels_named() else "",
        since=console.day_param(params, "since"),
        until=console.day_param(params, "until"),
        page=console.page_number(params),
    )


def actions_named() -> list[str]:
    """Every action the audit log has a name for (audit.po), the filter's choices."""
    return sorted(key.removeprefix("audit.action.") for key in catalog("en") if key.startswith("audit.action."))


def channels_named() -> list[str]:
    return sorted(key.removeprefix("audit.channel.") for key in catalog("en") if key.startswith("audit.channel."))


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    who: str
    action: Renderable | str
    record: str
    outcome: str
    channel: Renderable | str
    detail: str


@dataclass(frozen=True)
class AuditPage:
    rows: Paged[AuditRow]
    # Set when `who` names nobody: the page says so rather than showing everyone's.
    nobody: bool = False


async def audit_table(viewer: Viewer, filters: AuditFilters) -> AuditPage:
    """A page of the audit log, newest first: /audit's query (audit_log.entries_query) with the
    console's further filters, counted and read a page at a time."""
    session = viewer.session
    person = None
    if filters.who:
        person = await find_person(session, filters.who)
        if person is None:
            return AuditPage(Paged([], 1, console.PER_PAGE, 0), nobody=True)
    period = None
    if filters.since or filters.until:
        period = Period(filters.since or date(2000, 1, 1), filters.until or viewer.today)
    query = audit_log.entries_query(period, viewer.zone, person, filters.record or None)
    if filters.action:
        query = query.where(AuditEntry.action == filters.action)
    if filters.outcome:
        query = query.where(AuditEntry.outcome == filters.outcome)
    if filters.channel:
        query = query.where(AuditEntry.channel == filters.channel)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page = console.within(filters.page, total)
    found = await session.execute(
        query.order_by(AuditEntry.id.desc()).offset((page - 1) * console.PER_PAGE).limit(console.PER_PAGE)
    )
    rows = [
        AuditRow(
            entry.at,
            who or "Houqin",
            audit_log.named("action", entry.action),
            entry.record or "—",
            entry.outcome,
            audit_log.named("channel", entry.channel),
            ", ".join(f"{key}={value}" for key, value in sorted((entry.detail or {}).items()))[:200],
        )
        for entry, who in found.all()
    ]
    return AuditPage(Paged(rows, page, console.PER_PAGE, total))


# --- the organisation: people, roles, departments, rooms; importing them ------------------------------------

ORG = "org.view"
IMPORT = "org.import"
ROLES = authz.ROLES
# The largest file /org import takes.
IMPORT_BYTES = org.FILE_MB * 1024 * 1024


@dataclass(frozen=True)
class PeopleFilters:
    department: int | None = None
    role: str = ""
    search: str = ""
    page: int = 1

    def query(self, **changed: object) -> dict[str, str]:
        values = {
            "department": str(self.department or ""),
            "role": self.role,
            "q": self.search,
            "page": str(self.page),
        }
        return console.query_string(values, changed)


def people_filters_from(params: Mapping[str, str]) -> PeopleFilters:
    role = params.get("role", "")
    return PeopleFilters(
        department=console.id_param(params, "department"),
        role=role if role in authz.ROLES else "",
        search=params.get("q", "").strip()[:40],
        page=console.page_number(params),
    )


@dataclass(frozen=True)
class PersonRow:
    id: int
    handle: str | None
    name: str
    department: Label | None
    roles: Renderable
    left: bool


@dataclass(frozen=True)
class Organisation:
    people: Paged[PersonRow]
    departments: list[tuple[int, str, Label, int]]  # id, code, name, members
    buildings: list[tuple[str, Label, list[str]]]  # code, name, room codes
    may_import: bool
    may_change_roles: bool
    may_change: bool


async def organisation(viewer: Viewer, filters: PeopleFilters) -> Organisation:
    """/org's overview (departments with their members, buildings with their rooms) and the people a
    page at a time, with their roles as /role says them."""
    session = viewer.session
    where = []
    if filters.department is not None:
        where.append(Person.department_id == filters.department)
    if filters.role:
        where.append(Person.id.in_(select(PersonRole.person_id).where(PersonRole.role == filters.role)))
    if filters.search:
        words = filters.search.lower().removeprefix("@")
        where.append(console.matching(words, Person.display_name, Person.handle))
    total = int(await session.scalar(select(func.count(Person.id)).where(*where)) or 0)
    page = console.within(filters.page, total)
    found = await session.scalars(
        select(Person)
        .where(*where)
        .order_by(Person.left_at.is_not(None), Person.display_name, Person.id)
        .offset((page - 1) * console.PER_PAGE)
        .limit(console.PER_PAGE)
    )
    rows = [
        PersonRow(
            p.id,
            p.handle,
            p.display_name,
            Label(p.department.name_zh, p.department.name_en) if p.department else None,
            roles.roles_of(p),
            p.left_at is not None,
        )
        for p in found.unique().all()
    ]
    members = dict(
        (
            await session.execute(
                select(Person.department_id, func.count())
                .where(Person.left_at.is_(None))
                .group_by(Person.department_id)
            )
        ).all()
    )
    departments = [
        (d.id, d.code, Label(d.name_zh, d.name_en), int(members.get(d.id, 0)))
        for d in await session.scalars(select(Department).order_by(Department.code))
    ]
    rooms = (await session.scalars(select(Room).order_by(Room.building_id, Room.code))).all()
    buildings = [
        (b.code, Label(b.name_zh, b.name_en), [r.code for r in rooms if r.building_id == b.id])
        for b in await session.scalars(select(Building).order_by(Building.code))
    ]
    return Organisation(
        Paged(rows, page, console.PER_PAGE, total),
        departments,
        buildings,
        authz.allowed(viewer.person, IMPORT),
        authz.allowed(viewer.person, "role.grant"),
        authz.allowed(viewer.person, "org.change"),
    )


@dataclass(frozen=True)
class Imported:
    """What an uploaded file did: its problems line by line (nothing imported), or what it holds (a
    check) or did (imported)."""

    problems: list[Renderable]
    said: Renderable | None = None
    imported: bool = False


async def import_file(viewer: Viewer, areas: Sequence[Area], document: DocumentIn, confirmed: bool) -> Imported:
    """/org import from the console: the file read as the chat reads it (org.parse: every bad line
    named, nothing imported), then — when the admin confirms — org.submit_import itself (authz asked
    again, the same rows applied, the same audit line)."""
    ctx = console.step_context(viewer, areas)
    authz.require(ctx, IMPORT)
    try:
        found = await org.parse(viewer.session, await uploads.read(document, uploads.TABLE))
    except org.Problems as problems:
        return Imported(list(problems.problems))
    except uploads.FileProblem as problem:
        return Imported([problem.message()])
    ctx.data["file"] = found
    if not confirmed:
        return Imported([], await org.import_summary(ctx))
    submitted = await org.submit_import(ctx)
    return Imported([], submitted.message, imported=True)


# --- scorecards ------------------------------------------------------------------------------------------

SCORECARDS = "scorecard.view"


@dataclass(frozen=True)
class DepartmentScores:
    """A department's month as its scorecard counts it: each worker's figures, and the total."""

    name: Label
    code: str
    people: list[tuple[str, dict[str, object]]]
    total: dict[str, object]
    chart: Chart


def month_of(params: Mapping[str, str], today: date) -> Period:
    """The month asked for (YYYY-MM, an <input type=month>), else this month so far (as /scorecard)."""
    return parse_month(params.get("month", "")) or month_period(today)


async def scorecard_table(viewer: Viewer, reach: console.Reach, period: Period) -> list[DepartmentScores]:
    """Every department (those who oversee all), or a manager's own: scorecards.score for its workers,
    the same figures and points as /scorecard, with a chart of each worker's resolved tickets and points."""
    session = viewer.session
    query = select(Department).order_by(Department.code)
    if not reach.everything:
        query = query.where(Department.code.in_(reach.codes))
    found: list[DepartmentScores] = []
    for department in (await session.scalars(query)).all():
        people = await scorecards.workers_of(session, department)
        scores = await scorecards.score(session, [p.id for p in people], period, viewer.zone)
        total = scorecards.Score()
        ordered = sorted(people, key=lambda p: (-scores[p.id].points, p.id))
        for person in ordered:
            total.add(scores[person.id])
        if not people:
            continue
        chart = Chart(
            title=Label(department.name_zh, department.name_en).render(viewer.locale),
            categories=[p.display_name for p in ordered],
            series=[
                Series(translate(viewer.locale, "console.scorecard.resolved"), [scores[p.id].volume for p in ordered]),
                Series(translate(viewer.locale, "console.scorecard.points"), [scores[p.id].points for p in ordered]),
            ],
            counts=True,
        )
        found.append(
            DepartmentScores(
                Label(department.name_zh, department.name_en),
                department.code,
                [(p.display_name, scores[p.id].figures()) for p in ordered],
                total.figures(),
                chart,
            )
        )
    return found


PAGES = (
    ConsolePage("stats", "console.nav.stats", STATS, place=50),
    ConsolePage("audit", "console.nav.audit", AUDIT, place=60),
    ConsolePage("org", "console.nav.org", ORG, place=70),
    ConsolePage("scorecards", "console.nav.scorecards", SCORECARDS, place=55),
)


async def change_role(viewer: Viewer, areas: Sequence[Area], form: Mapping[str, str]) -> Renderable:
    """/role grant|revoke @handle role [scope] from the organisation page: the chat's own command (its
    authz, the last admin kept, the scope checked, menus, the person told, the audit line); what it said."""
    sub = form.get("change", "")
    handle = form.get("person", "").strip().lstrip("@")[:40]
    role = form.get("role", "")
    scope = form.get("scope", "").strip()[:32]
    if (
        sub not in ("grant", "revoke")
        or not handle
        or role not in authz.ROLES
        or any(c.isspace() for c in handle + scope)
    ):
        return msg("role.usage")
    ctx = console.step_context(viewer, areas)
    action = await roles.role_command(ctx, f"{sub} @{handle} {role} {scope}".strip())
    return Lines(tuple(said for said, _ in action.say))


async def add_to_organisation(viewer: Viewer, areas: Sequence[Area], form: Mapping[str, str]) -> Renderable:
    """/org dept add, /org building add or /org room add from the organisation page: its authz
    (org.change, audited when refused), then org.add_unit / org.add_room themselves; what they said."""
    kind = form.get("kind", "")
    code = form.get("code", "").strip()[:40]
    zh = form.get("name_zh", "").strip()
    en = form.get("name_en", "").strip() or zh
    building = form.get("building", "").strip()[:40]
    what = {"department": "dept add", "building": "building add", "room": "room add"}.get(kind)
    if what is None or not code or not zh or (kind == "room" and not building):
        return msg("org.usage")
    ctx = console.step_context(viewer, areas)
    try:
        authz.require(ctx, "org.change", what)
    except Refused as refusal:
        return refusal.reason
    if kind == "room":
        action = await org.add_room(ctx, building, code, zh, en)
    else:
        action = await org.add_unit(ctx, org.DEPARTMENT if kind == "department" else org.BUILDING, code, zh, en)
    return Lines(tuple(said for said, _ in action.say))

"""The web console's frame: who is looking (`Viewer`), how far they see (`Reach`), the pages the areas
declare (`ConsolePage`, through Area.console) and a page of rows at a time (`Paged`).

The console is another way in, not another set of rules: each area's console module answers with
plain data for a viewer, asking handlers/core/authz exactly as the chat does, and its actions call the
same functions the chat's buttons and commands call (so the same rules, notices and audit lines).
The HTTP and HTML side is bot/channels/web/console.py; this module imports no area.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import authz
from handlers.core.adminkit import MAX_PERIOD, Period
from handlers.core.charts import Chart
from handlers.core.digest import ORG_ROLES, Scope, Week, compute
from handlers.core.flow import StepContext
from handlers.core.i18n import Renderable
from handlers.core.people import managed_departments
from handlers.core.rules import RepairRules, SupplyRules
from storage.models import ChannelAccount, Department, Person

# The console acts as the browser channel: its audit lines and notices say "web", like the chat page's.
CHANNEL = "web"
PER_PAGE = 25
# However a query string asks: no page is ever more than this many rows (and never everything).
MOST_PER_PAGE = 100

if TYPE_CHECKING:
    from handlers.core.area import Area

T = TypeVar("T")
# The statistics page's period when none is asked for: the last twelve weeks.
DEFAULT_WEEKS = 12
# However long the period, its trend charts have at most this many bars (buckets of whole weeks).
MOST_BUCKETS = 26


@dataclass
class Viewer:
    """Who is looking, in which language, at what time: the `Acting` of an action taken from a page."""

    session: AsyncSession
    person: Person
    locale: str
    now: datetime
    zone: ZoneInfo
    rules: RepairRules
    supply: SupplyRules
    channel: str = CHANNEL

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()


@dataclass(frozen=True)
class Reach:
    """How much of something a viewer may see: all of it, or these departments' part (a manager's)."""

    everything: bool
    departments: tuple[Department, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(department.code for department in self.departments)


async def reach(session: AsyncSession, person: Person, action: str) -> Reach | None:
    """How far `person` may do `action` (authz's table): everywhere, their departments only (a
    manager's role counts for its department), or not at all (None)."""
    if authz.allowed(person, action):
        return Reach(True)
    codes = [code for code in managed_departments(person) if authz.allowed(person, action, department=code)]
    if not codes:
        return None
    found = await session.scalars(select(Department).where(Department.code.in_(codes)).order_by(Department.code))
    return Reach(False, tuple(found.all()))


# (the viewer, how far they see the page's things) → how many wait for them there (0: nothing).
Waiting = Callable[[Viewer, Reach], Awaitable[int]]


@dataclass(frozen=True)
class ConsolePage:
    """A page an area brings to the console: its path under /console, its title (a catalog key), the
    authz action whose holders see it (a manager: their departments' part), where it stands in the
    navigation, and what waits there for the viewer (the home page's list), if anything does."""

    path: str
    title: str
    action: str
    place: int
    waiting: Waiting | None = None
    waiting_label: str | None = None


def pages_for(person: Person, pages: list[ConsolePage]) -> list[ConsolePage]:
    """The pages this person may open, in their places."""
    return sorted((p for p in pages if authz.allowed_somewhere(person, p.action)), key=lambda p: p.place)


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of rows, and how many there are in all (a COUNT, never the rows themselves)."""

    rows: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return last_page(self.total, self.per_page)

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def last_page(total: int, per_page: int = PER_PAGE) -> int:
    return max(1, -(-total // per_page))


def within(page: int, total: int, per_page: int = PER_PAGE) -> int:
    """The page asked for, or the last there is: asking past the end shows the end, not nothing."""
    return min(page, last_page(total, per_page))


def matching(words: str, *columns: Any) -> ColumnElement[bool]:
    """Any of these text columns holds the words, whatever their case (LIKE's wildcards escaped)."""
    return or_(*(func.lower(column).contains(words.lower(), autoescape=True) for column in columns))


def on_days(column: Any, since: date | None, until: date | None, zone: ZoneInfo) -> list[ColumnElement[bool]]:
    """A time column within the days since–until, both included, as the viewer's calendar has them."""
    found: list[ColumnElement[bool]] = []
    if since:
        found.append(column >= datetime.combine(since, time(), zone))
    if until:
        found.append(column < datetime.combine(until + timedelta(days=1), time(), zone))
    return found


def ordered(sorts: Mapping[str, Any], sort: str) -> Any:
    """The order a sort parameter asks for: its column, descending when it starts with '-'."""
    column = sorts[sort.removeprefix("-")]
    return column.desc() if sort.startswith("-") else column.asc()


def query_string(values: Mapping[str, str], changed: Mapping[str, Any]) -> dict[str, str]:
    """A filter's values as a query string's, with `changed` put in (for links that keep the filters:
    sort, pages); empty values and the first page are left out, so links stay short."""
    merged = {**values, **{key: str(value) for key, value in changed.items()}}
    return {key: value for key, value in merged.items() if value and not (key == "page" and value == "1")}


def page_number(params: Mapping[str, str]) -> int:
    """The page a query string asks for: a positive number, else the first."""
    raw = params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


def day_param(params: Mapping[str, str], name: str) -> date | None:
    """A date typed as YYYY-MM-DD (an <input type=date>); anything else is no date."""
    raw = params.get(name, "").strip()
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        return None


def id_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name, "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def chart_json(chart: Chart) -> dict[str, object]:
    """A chart as the console's script draws it (Chart.js in the browser): the figures the server
    computed, the same Chart the chat draws as a PNG."""
    return {
        "title": chart.title,
        "type": chart.kind,
        "labels": list(chart.categories),
        "series": [{"name": series.label, "values": list(series.values)} for series in chart.series],
        "y_max": chart.y_max,
    }


async def member(session: AsyncSession, person_id: int | None, account: str | None) -> Person | None:
    """The member a request names: by id (a session's), or by their browser account (the demo's
    picker); None for nobody, or someone who has left."""
    if person_id is not None:
        person = await session.get(Person, person_id)
        return person if person is not None and person.left_at is None else None
    return await person_of_account(session, CHANNEL, account) if account else None


async def person_of_account(session: AsyncSession, channel: str, external_id: str) -> Person | None:
    """The member behind a channel account (the demo's picker names a browser account), if any."""
    account = await session.scalar(
        select(ChannelAccount).where(ChannelAccount.channel == channel, ChannelAccount.external_id == external_id)
    )
    if account is None or account.person.left_at is not None:
        return None
    return account.person


def period_of(params: Mapping[str, str], today: date) -> Period:
    """The period a query string asks for (`since`, `until`, days included); the last twelve weeks
    when it asks for none or for nonsense (backwards, longer than /stats allows)."""
    first, last = day_param(params, "since"), day_param(params, "until")
    last = last or today
    first = first or last - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1)
    if last < first or last - first > MAX_PERIOD:
        return Period(today - timedelta(weeks=DEFAULT_WEEKS) + timedelta(days=1), today)
    return Period(first, last)


def buckets(period: Period, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The period cut into whole weeks (several weeks each when it is long), the last one ending
    with the period: the bars of a trend."""
    start, end = period.bounds(zone)
    weeks = max(1, -(-(end - start).days // 7))
    size = timedelta(weeks=max(1, -(-weeks // MOST_BUCKETS)))
    found: list[tuple[datetime, datetime]] = []
    upper = end
    while upper > start:
        found.append((max(start, upper - size), upper))
        upper -= size
    return found[::-1]


def step_context(viewer: Viewer, areas: Sequence[Area]) -> StepContext:
    """A step's context for the viewer, for the areas' parts of /stats (Area.stats), called as the
    chat's /stats calls them: the console shows the same figures."""
    return StepContext(
        viewer.session,
        viewer.person,
        viewer.locale,
        viewer.channel,
        viewer.now,
        viewer.zone,
        {},
        viewer.rules,
        viewer.supply,
        tuple(areas),
    )


# (the viewer, the period) → the area's charts of the statistics page, in the viewer's language.
Charts = Callable[[Viewer, Period], Awaitable[list[Chart]]]


async def digest_scopes(session: AsyncSession, person: Person) -> list[Scope]:
    """Whose week the person's weekly digest tells: the organisation's (logistics admins, admins), else
    each department they manage (handlers/digest/send.recipients' rule)."""
    if any(person.has_role(role) for role in ORG_ROLES):
        return [Scope()]
    codes = managed_departments(person)
    found = await session.scalars(select(Department).where(Department.code.in_(codes)).order_by(Department.code))
    return [Scope(department) for department in found.all()]


async def week_in_words(viewer: Viewer, areas: Sequence[Area], week: Week) -> list[tuple[Scope, list[Renderable]]]:
    """The week as the weekly digest says it, for each scope the viewer's digest has: every area's
    section (Area.digest) computed by digest.compute for this week, its lines in the digest's words."""
    sections = [section for area in areas for section in area.digest]
    found = []
    for scope in await digest_scopes(viewer.session, viewer.person):
        told = await compute(viewer.session, scope, week.start, week.end, week.now, sections)
        found.append((scope, [line for part in told.parts for line in part.lines(viewer.zone)]))
    return found

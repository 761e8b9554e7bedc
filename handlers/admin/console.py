"""The admin area's pages in the web console: statistics over any period — the areas' parts of
/stats (Area.stats: the same lines and chart the chat sends) and the areas' trend charts
(Area.console_charts: repairs by week and on time, satisfaction, supplies by department), each drawn
in the browser from the Chart the server computed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from handlers.admin import audit_log
from handlers.core import console
from handlers.core.adminkit import Period
from handlers.core.area import Area
from handlers.core.charts import Chart
from handlers.core.console import ConsolePage, Paged, Viewer
from handlers.core.i18n import Renderable, catalog
from handlers.core.people import find_person
from storage.models import AuditEntry

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
        values.update({key: str(value) for key, value in changed.items()})
        return {key: value for key, value in values.items() if value and not (key == "page" and value == "1")}


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
    page = min(filters.page, max(1, -(-total // console.PER_PAGE)))
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


PAGES = (
    ConsolePage("stats", "console.nav.stats", STATS, place=50),
    ConsolePage("audit", "console.nav.audit", AUDIT, place=60),
)

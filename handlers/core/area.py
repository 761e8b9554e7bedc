"""`Area`: the one unit a part of Houqin plugs in by. An area declares everything it brings, and the
core (engine, jobs, the digest, housekeeping) iterates over the areas it is given instead of
importing any of them; bot/service.areas() lists them.

Two areas answering the same button prefix, command, deep link, upload command, privileged command,
privileged action or job would leave one of them silently unreachable: `check` refuses such a set at start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.adminkit import Period
from handlers.core.charts import Chart
from handlers.core.console import Charts as ConsoleCharts
from handlers.core.console import ConsolePage
from handlers.core.faults import FaultDesk
from handlers.core.flow import Flow, Handler, MineHandler, StepContext, Upload
from handlers.core.i18n import Renderable
from handlers.core.meters import MeterDesk
from handlers.core.metrics import Gauges
from handlers.core.sheets import Cell
from storage.models import Person, Photo

if TYPE_CHECKING:
    # Types only: these modules' own imports reach back here.
    from handlers.core.authz import Rule as Permission
    from handlers.core.demo import History
    from handlers.core.digest import DigestButton, Section
    from handlers.core.housekeeping import KeepSends, TidyStep
    from handlers.core.jobs import Job
    from handlers.core.reminders import Rule


@dataclass(frozen=True)
class AdminEntry:
    """A line and button of /admin (handlers/admin/menu.py) for a command of the area's: shown to
    whoever may do `action` somewhere; pressed, it runs the command bare (`on_its_own`) or shows
    its usage (the catalog's `usage`, else `<command>.usage`)."""

    command: str
    action: str
    handler: Handler
    on_its_own: bool
    # Where it stands in /admin: entries are listed by it (the admin area's own are 10, 20 … 80).
    place: int
    usage: str | None = None


# (session, period or None for all time, the organisation's zone, the asker's locale) → rows.
ExportRows = Callable[[AsyncSession, Period | None, ZoneInfo, str], Awaitable[list[list[Cell]]]]


@dataclass(frozen=True)
class Export:
    """What `/export <kind>` writes for an area (handlers/admin/exports.py): its columns (catalog keys
    `export.column.<column>`) and its rows; asking needs the action `export.<kind>`."""

    columns: tuple[str, ...]
    rows: ExportRows


@dataclass(frozen=True)
class StatsPart:
    """An area's figures in /stats for one period (handlers/admin/stats.py): its lines, and the chart
    it offers, if any, already in the asker's language."""

    lines: tuple[Renderable, ...]
    chart: Chart | None = None


# A condition on photos: those an area still holds although no ticket has them.
KeepPhotos = Callable[[], ColumnElement[bool]]


# (session, person, a photo they did not send) → may they see it? The area keeping such photos says
# (the repairs: whoever may view its ticket); its sender always may (handlers/accounts/views.py).
MaySeePhoto = Callable[[AsyncSession, Person, Photo], Awaitable[bool]]

# (the context of whoever makes them leave: an admin, or the system for a directory; the person
# leaving) → what the area does with what they held: their tickets back to the queue, their approvals
# to the next approver, their requisitions cancelled. Called in the transaction that marks them left.
Leaver = Callable[[StepContext, Person], Awaitable[None]]

# (the asker's context, the period asked about) → the area's part of /stats. The period itself, not
# only its bounds (`period.bounds(ctx.zone)`): a chart's title names it.
Stats = Callable[[StepContext, Period], Awaitable[StatsPart]]


@dataclass(frozen=True)
class Area:
    """One part of what Houqin does: its flows, the button prefixes and commands it answers, the
    deep links (/start <prefix>_...) it takes, the commands that take a file, its part of /my (and
    App Home), its reminder rules, its lines in the weekly digest and what it forgets daily."""

    # Named in start-up errors (two areas claiming the same command...).
    name: str
    flows: tuple[Flow, ...] = ()
    buttons: dict[str, Handler] = field(default_factory=dict)
    commands: dict[str, Handler] = field(default_factory=dict)
    links: dict[str, Handler] = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)
    mine: MineHandler | None = None
    # Its commands (or listed flows) Slack has as slash commands of their own (slack/manifest.yml):
    # /repair; every other command is typed after /houqin.
    slash_commands: tuple[str, ...] = ()
    # Commands only some may run → the authz action whose holders' command menus list them
    # (handlers/core/menus.py); the command itself still asks authz when it runs.
    privileged: dict[str, str] = field(default_factory=dict)
    # Its privileged actions → who may do them (handlers/core/authz.py judges; its name is also the
    # catalog key a refusal calls it by). The core's own (roles, settings, audit…) stay in authz.
    actions: dict[str, Permission] = field(default_factory=dict)
    # Its entries in /admin and what /export writes for it, by kind (handlers/admin/).
    admin: tuple[AdminEntry, ...] = ()
    exports: dict[str, Export] = field(default_factory=dict)
    # Reminder rules (handlers/core/reminders.py), in the order their reminders go out.
    reminders: tuple[Rule, ...] = ()
    # Its sections of the weekly digest, and the buttons it offers under it (handlers/core/digest.py).
    digest: tuple[Section, ...] = ()
    digest_buttons: tuple[DigestButton, ...] = ()
    # What daily housekeeping also does for this area (handlers/core/housekeeping.py).
    tidy: tuple[TidyStep, ...] = ()
    # Send-log rows it still needs past housekeeping's KEEP_SENDS (handlers/core/housekeeping.py).
    keep_sends: tuple[KeepSends, ...] = ()
    # Its scheduled jobs (handlers/core/jobs.py), run by jobs/scheduler.py beside the core's.
    jobs: tuple[Job, ...] = ()
    # Its part of /stats (handlers/admin/stats.py), listed in the order of the areas.
    stats: tuple[Stats, ...] = ()
    # Who besides its sender may see a photo it keeps, in the browser chat (handlers/accounts/views.py).
    photos: MaySeePhoto | None = None
    # What happens to what a leaver held in this area (handlers/core/membership.leave).
    leavers: tuple[Leaver, ...] = ()
    # Its figures on /metrics, read from the database when scraped (handlers/core/metrics.py).
    gauges: tuple[Gauges, ...] = ()
    # Its part of the demo's past (handlers/core/demo.py): what `houqin demo` writes of months before today.
    demo: tuple[History, ...] = ()
    # The area keeping repair tickets opens one for a fault another area found (handlers/core/faults.py).
    faults: FaultDesk | None = None
    # Photos it keeps that belong to no ticket (a round's photo item): housekeeping leaves them be.
    keep_photos: tuple[KeepPhotos, ...] = ()
    # Where readings of meters are judged and kept (handlers/core/meters.py): the energy area's desk,
    # which other areas (an inspection round's meter item) find among the running areas.
    meters: MeterDesk | None = None
    # Its pages in the web console (handlers/core/console.py; bot/channels/web/console.py draws them):
    # the navigation and the home page's "waiting for me" iterate over the areas' pages.
    console: tuple[ConsolePage, ...] = ()
    # Its charts on the console's statistics page over any period, drawn in the browser.
    console_charts: tuple[ConsoleCharts, ...] = ()


class AreaClash(ValueError):
    """Two areas declare the same thing: only one of them could ever answer it."""


Declared = Callable[[Area], Iterable[str]]
# What must be unique across areas: each kind as an error names it, and where an area declares it.
UNIQUE: tuple[tuple[str, Declared], ...] = (
    ("area name", lambda area: (area.name,)),
    ("flow", lambda area: (flow.name for flow in area.flows)),
    ("button prefix", lambda area: area.buttons),
    # A listed flow is started by its name as a command, so it takes that name too.
    ("command", lambda area: {*area.commands, *(flow.name for flow in area.flows if flow.listed)}),
    ("deep-link prefix", lambda area: area.links),
    ("upload command", lambda area: area.uploads),
    ("privileged command", lambda area: area.privileged),
    ("privileged action", lambda area: area.actions),
    ("/admin entry", lambda area: (entry.command for entry in area.admin)),
    ("export", lambda area: area.exports),
    ("job", lambda area: (job.name for job in area.jobs)),
    ("digest button", lambda area: (button.value for button in area.digest_buttons)),
    # One desk judges every reading: two would judge the same meter by two sets of rules.
    ("meter desk", lambda area: ("meters",) if area.meters is not None else ()),
    ("console page", lambda area: (page.path for page in area.console)),
)


def check(areas: Sequence[Area], more: Mapping[str, Declared] | None = None) -> None:
    """Refuse areas that clash: two with one name, or two declaring the same button prefix, command,
    deep-link prefix, upload command or privileged command (and whatever `more` adds: jobs)."""
    for kind, declared in (*UNIQUE, *(more or {}).items()):
        owner: dict[str, str] = {}
        for area in areas:
            for key in sorted(set(declared(area))):
                if key in owner:
                    raise AreaClash(f"{kind} {key!r} is declared by two areas: {owner[key]!r} and {area.name!r}")
                owner[key] = area.name

"""Areas plug in by declaration alone, and two that claim the same thing are refused at start-up,
naming both: otherwise one of them would silently never be reached."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.areas import AREAS
from handlers.admin.stats import stats_command
from handlers.core import authz
from handlers.core.adminkit import Period
from handlers.core.area import AdminEntry, Area, AreaClash, Export, StatsPart
from handlers.core.authz import ActionClash, rule
from handlers.core.charts import Chart, Series
from handlers.core.digest import DigestButton
from handlers.core.engine import Houqin
from handlers.core.flow import Action, Flow, StepContext, Submitted, Upload, said
from handlers.core.i18n import Label, Renderable, msg
from handlers.core.jobs import Job, Running, local_format
from handlers.core.schedule import Schedule
from handlers.core.sheets import Cell
from handlers.core.uploads import TABLE
from jobs.scheduler import Jobs
from storage.db import Database
from storage.models import Person, PersonRole

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def hello(ctx: StepContext, args: str) -> Action:
    return said(msg("menu.what_next"))


async def imported(ctx: StepContext, args: str, document: object) -> Action:
    return said(msg("menu.what_next"))


async def submitted(ctx: StepContext) -> Submitted:
    return Submitted(msg("menu.what_next"), "lamp")


async def no_rows(session: object, period: object, zone: object, locale: str) -> list[list[Cell]]:
    return []


async def checked(jobs: Running, scheduled: datetime, now: datetime) -> object:
    return "checked"


def nightly(name: str) -> Job:
    return Job(name, "a look at every lamp", lambda s: {"hour": 2}, local_format("%Y-%m-%d"), checked)


def flow(name: str) -> Flow:
    return Flow(name, msg("menu.my"), msg("menu.help"), (), submitted)


async def nothing_to_offer(*_: object) -> Renderable | None:
    return None


async def pressed(ctx: StepContext) -> Action:
    return said(msg("dialog.error.forged_button"))


def start(areas: tuple[Area, ...]) -> Houqin:
    return Houqin(Database("sqlite+aiosqlite:///:memory:"), areas, "zh_CN", SHANGHAI)


@pytest.mark.parametrize(
    ("kind", "first", "second", "duplicate"),
    [
        ("button prefix", Area("lamps", buttons={"lp": hello}), Area("lockers", buttons={"lp": hello}), "lp"),
        ("command", Area("lamps", commands={"fix": hello}), Area("lockers", commands={"fix": hello}), "fix"),
        # A listed flow is started by its name, so it takes the command too.
        ("command", Area("lamps", commands={"lamp": hello}), Area("lockers", flows=(flow("lamp"),)), "lamp"),
        ("flow", Area("lamps", flows=(flow("lamp"),)), Area("lockers", flows=(flow("lamp"),)), "lamp"),
        ("deep-link prefix", Area("lamps", links={"desk": hello}), Area("lockers", links={"desk": hello}), "desk"),
        (
            "upload command",
            Area("lamps", uploads={"load": Upload(imported, TABLE, "stock.manage")}),
            Area("lockers", uploads={"load": Upload(imported, TABLE, "stock.manage")}),
            "load",
        ),
        (
            "privileged command",
            Area("lamps", privileged={"fix": "stock.manage"}),
            Area("lockers", privileged={"fix": "org.view"}),
            "fix",
        ),
        (
            "privileged action",
            Area("lamps", actions={"lamp.fix": rule("admin")}),
            Area("lockers", actions={"lamp.fix": rule("admin")}),
            "lamp.fix",
        ),
        (
            "/admin entry",
            Area("lamps", admin=(AdminEntry("lamp", "stock.manage", hello, True, place=95),)),
            Area("lockers", admin=(AdminEntry("lamp", "org.view", hello, True, place=96),)),
            "lamp",
        ),
        (
            "export",
            Area("lamps", exports={"lamps": Export(("number",), no_rows)}),
            Area("lockers", exports={"lamps": Export(("code",), no_rows)}),
            "lamps",
        ),
        (
            "job",
            Area("lamps", jobs=(nightly("lamps.check"),)),
            Area("lockers", jobs=(nightly("lamps.check"),)),
            "lamps.check",
        ),
        (
            "digest button",
            Area("lamps", digest_buttons=(DigestButton("lend", 30, nothing_to_offer, pressed),)),
            Area("lockers", digest_buttons=(DigestButton("lend", 40, nothing_to_offer, pressed),)),
            "lend",
        ),
        ("area name", Area("lamps"), Area("lamps", commands={"fix": hello}), "lamps"),
    ],
)
def test_two_areas_claiming_the_same_thing_fail_at_start_up_naming_both(
    kind: str, first: Area, second: Area, duplicate: str
) -> None:
    with pytest.raises(AreaClash) as clash:
        start((first, second))
    assert str(clash.value) == f"{kind} {duplicate!r} is declared by two areas: {first.name!r} and {second.name!r}"


def test_a_new_area_beside_every_other_starts_and_answers_its_command() -> None:
    houqin = start((*AREAS, Area("lamps", commands={"lamp": hello}, buttons={"lp": hello})))
    assert houqin.commands["lamp"] is hello and houqin.buttons["lp"] is hello


def test_an_area_clashing_with_one_of_houqins_own_is_refused_too() -> None:
    with pytest.raises(AreaClash, match="command 'survey' is declared by two areas: 'surveys' and 'lamps'"):
        start((*AREAS, Area("lamps", commands={"survey": hello})))


def test_houqins_own_areas_do_not_clash() -> None:
    assert len(start(AREAS).commands) == sum(len(area.commands) for area in AREAS)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> None:
    """authz's table as it was before the test: the lamps' actions must not outlive it."""
    monkeypatch.setattr(authz, "RULES", dict(authz.RULES))
    monkeypatch.setattr(authz, "DECLARED_BY", dict(authz.DECLARED_BY))


@pytest.mark.usefixtures("table")
def test_an_area_declaring_one_of_the_cores_own_actions_is_refused() -> None:
    with pytest.raises(ActionClash) as clash:
        start((*AREAS, Area("lamps", actions={"audit.view": rule("manager")})))
    assert str(clash.value) == "privileged action 'audit.view' is the core's; area 'lamps' declares it too"
    assert authz.RULES["audit.view"] == rule("admin")


@pytest.mark.usefixtures("table")
def test_an_action_an_area_declared_is_judged_by_authz_and_starting_again_changes_nothing() -> None:
    lamps = Area("lamps", actions={"lamp.fix": rule("technician")}, privileged={"fixlamp": "lamp.fix"})
    start((*AREAS, lamps))
    start((*AREAS, lamps))
    assert authz.roles_for("lamp.fix") == ("technician",)
    with pytest.raises(ActionClash) as clash:
        start((Area("bulbs", actions={"lamp.fix": rule("admin")}),))
    assert str(clash.value) == "privileged action 'lamp.fix' is declared twice: by 'lamps' and by 'bulbs'"
    assert authz.roles_for("lamp.fix") == ("technician",)


def test_an_area_job_taking_the_name_of_one_of_the_cores_stops_the_jobs_at_start_up() -> None:
    lamps = Area("lamps", jobs=(nightly("reminders"),))
    with pytest.raises(AreaClash) as clash:
        Jobs(Database("sqlite+aiosqlite:///:memory:"), Schedule(SHANGHAI), areas=(*AREAS, lamps))
    assert str(clash.value) == "job 'reminders' is declared twice: by 'the core' and by 'lamps'"


def test_the_areas_jobs_run_beside_the_cores_in_rank_order() -> None:
    jobs = Jobs(Database("sqlite+aiosqlite:///:memory:"), Schedule(SHANGHAI), areas=AREAS)
    names = [job.name for job in jobs.table]
    assert names == [
        "repairs.autoclose",
        "inspections.plan",
        "housekeeping",
        "reminders",
        "bookings.attendance",
        "weekly_digest",
        "scorecards.monthly",
    ]


async def lamps_lent(ctx: StepContext, period: Period) -> StatsPart:
    return StatsPart((Label("借出台灯 3 盏", "Lamps lent: 3"),))


async def lockers_taken(ctx: StepContext, period: Period) -> StatsPart:
    chart = Chart(f"Lockers ({period.label})", ["east", "west"], [Series("taken", [1, 2])])
    return StatsPart((Label("柜子：东 1 · 西 2", "Lockers: east 1 · west 2"),), chart)


async def stats_among(areas: tuple[Area, ...]) -> Action:
    """/stats for one week, asked by an admin of a Houqin running `areas` (whose parts read nothing)."""
    admin = Person(display_name="admin")
    admin.roles = [PersonRole(role="admin", scope="")]
    now = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
    ctx = StepContext(None, admin, "en", "web", now, SHANGHAI, {}, areas=areas)  # type: ignore[arg-type]
    return await stats_command(ctx, "2026-11-16 2026-11-22")


async def test_stats_join_the_areas_parts_in_their_order_and_draw_the_chart_one_offers() -> None:
    action = await stats_among(
        (Area("lamps", stats=(lamps_lent,)), Area("bulbs"), Area("lockers", stats=(lockers_taken,)))
    )
    [(text, _)] = action.say
    assert text.render("en") == "📈 Statistics (2026-11-16 – 2026-11-22)\nLamps lent: 3\nLockers: east 1 · west 2"
    [picture] = action.later
    assert picture.name == "stats-20261116-20261122.png"


async def test_stats_without_a_chart_among_the_parts_send_no_picture() -> None:
    action = await stats_among((Area("lamps", stats=(lamps_lent,)), Area("bulbs")))
    [(text, _)] = action.say
    assert text.render("zh_CN") == "📈 统计（2026-11-16 – 2026-11-22）\n借出台灯 3 盏"
    assert action.later == ()


def test_houqins_stats_are_the_repairs_then_the_requisitions() -> None:
    declared = [(area.name, part.__name__) for area in AREAS for part in area.stats]
    assert declared == [("repair", "repair_figures"), ("supply", "requisition_figures")]

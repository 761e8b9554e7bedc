"""The console's repairs, without a browser: who sees which tickets (the chat's authz table, a manager
their department's), the table's filters and pages, a ticket refused and audited, an action through the
chat's own functions, the live mark, and the home page's figures and chart against the weekly digest's
for the same week (issue 24)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.areas import AREAS
from handlers.admin import console as admin_console
from handlers.admin import scorecards
from handlers.core import console, digest
from handlers.core.actor import Actor
from handlers.core.console import Viewer
from handlers.core.digest import Scope, Week
from handlers.core.refusals import Refused
from handlers.core.rules import RepairRules, SupplyRules
from handlers.digest.send import sections_of
from handlers.repairs import console as repairs
from handlers.repairs import digest as repair_digest
from handlers.suggestions import box
from handlers.suggestions import console as suggestion_console
from handlers.supplies import console as supplies
from handlers.supplies import requisitions
from storage.db import Database
from storage.models import AuditEntry, OutboxMessage, Person, SupplyItem, TicketEvent
from tests.tickets import ticket_in_room_201

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai


@asynccontextmanager
async def looking(db: Database, handle: str) -> AsyncIterator[Viewer]:
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person).where(Person.handle == handle))
        assert person is not None
        yield Viewer(session, person, "zh_CN", NOW, SHANGHAI, RepairRules(), SupplyRules())


async def tickets_of(db: Database) -> dict[str, str]:
    """A finance ticket (王芳's) and an HR one (张伟's), both worked by 赵磊 (logistics): number by name."""
    finance = await ticket_in_room_201(db, status="resolved", created=NOW - timedelta(days=2), due=NOW, resolved=NOW)
    hr = await ticket_in_room_201(
        db, status="assigned", created=NOW - timedelta(days=1), due=NOW - timedelta(hours=1), reporter="zhang.wei"
    )
    return {"finance": finance.number, "hr": hr.number}


async def test_who_reaches_which_tickets_is_the_chat_table(db: Database) -> None:
    for handle, everything, departments in (
        ("admin", True, ()),
        ("lin.hua", True, ()),  # logistics admin
        ("huang.li", False, ("finance",)),  # manager of finance
    ):
        async with looking(db, handle) as viewer:
            found = await console.reach(viewer.session, viewer.person, repairs.ACTION)
            assert found is not None and (found.everything, found.codes) == (everything, departments), handle
    for handle in ("wang.fang", "zhao.lei", "guo.tao"):  # staff, a technician, logistics staff
        async with looking(db, handle) as viewer:
            assert await console.reach(viewer.session, viewer.person, repairs.ACTION) is None, handle
            assert console.pages_for(viewer.person, list(repairs.PAGES)) == []


async def test_a_manager_sees_their_department_and_is_refused_the_rest_audited(db: Database) -> None:
    numbers = await tickets_of(db)
    async with looking(db, "huang.li") as viewer:
        reach = await console.reach(viewer.session, viewer.person, repairs.ACTION)
        assert reach is not None
        table = await repairs.ticket_table(viewer, reach, repairs.filters_from({}))
        assert [row.number for row in table.rows] == [numbers["finance"]]
        page = await repairs.ticket_page(viewer, reach, numbers["finance"])
        # She sees it, but supervises only her own technicians' tickets (tickets.supervises): no action.
        assert page.may == ()
        with pytest.raises(Refused):
            await repairs.ticket_page(viewer, reach, numbers["hr"])
    async with db.unit_of_work() as session:
        refused = await session.scalar(
            select(func.count()).where(
                AuditEntry.action == "ticket.view", AuditEntry.record == numbers["hr"], AuditEntry.outcome == "refused"
            )
        )
    assert refused == 1


async def test_filters_search_sort_and_pages_never_load_everything(db: Database) -> None:
    numbers = await tickets_of(db)
    for n in range(30):
        await ticket_in_room_201(db, status="closed", created=NOW - timedelta(days=10, hours=n), due=NOW)
    async with looking(db, "admin") as viewer:
        reach = await console.reach(viewer.session, viewer.person, repairs.ACTION)
        assert reach is not None

        async def numbers_for(**params: str) -> tuple[list[str], int]:
            table = await repairs.ticket_table(viewer, reach, repairs.filters_from(params))
            return [row.number for row in table.rows], table.total

        first, total = await numbers_for()
        assert total == 32 and len(first) == console.PER_PAGE
        second, _ = await numbers_for(page="2")
        assert len(second) == 7 and not set(first) & set(second)
        assert await numbers_for(overdue="1") == ([numbers["hr"]], 1)
        assert await numbers_for(status="resolved") == ([numbers["finance"]], 1)
        assert (await numbers_for(q=numbers["hr"].lower()))[0] == [numbers["hr"]]
        assert (await numbers_for(since=(NOW.date() - timedelta(days=3)).isoformat()))[1] == 2
        by_number, _ = await numbers_for(sort="number", status="closed")
        assert by_number == sorted(by_number)
        # Whatever a query string says, a page is a page and a filter only a known value.
        assert (await numbers_for(page="50"))[0] == second
        assert (await numbers_for(status="'; DROP TABLE tickets; --"))[1] == 32


async def test_closing_from_the_console_is_the_chats_close(db: Database) -> None:
    numbers = await tickets_of(db)
    async with looking(db, "lin.hua") as viewer:
        reach = await console.reach(viewer.session, viewer.person, repairs.ACTION)
        assert reach is not None
        before = await repairs.queue_mark(viewer, reach)
        page = await repairs.ticket_page(viewer, reach, numbers["finance"])
        assert set(page.may) == {"close", "reopen", "comment"}
        said = await repairs.act(viewer, numbers["finance"], "close", {"note": "无人确认"})
        assert said == "ticket.done.close"
        assert await repairs.queue_mark(viewer, reach) != before
    async with db.unit_of_work() as session:
        line = (
            await session.execute(
                select(AuditEntry.outcome, AuditEntry.channel).where(
                    AuditEntry.action == "ticket.close", AuditEntry.record == numbers["finance"]
                )
            )
        ).one()
        assert tuple(line) == ("ok", "web")
        event = await session.scalar(select(TicketEvent).order_by(TicketEvent.id.desc()).limit(1))
        assert event is not None and (event.to_status, event.note) == ("closed", "无人确认")
        # The reporter hears of it as from the chat's /ticket close.
        told = await session.scalar(select(func.count()).select_from(OutboxMessage))
        assert told
    async with looking(db, "huang.li") as viewer:
        reach = await console.reach(viewer.session, viewer.person, repairs.ACTION)
        assert reach is not None
        with pytest.raises(Refused):
            await repairs.act(viewer, numbers["finance"], "reopen", {})


async def test_the_home_pages_figures_and_chart_are_the_digests(db: Database) -> None:
    """The week as the console shows it (tiles and the chart's JSON) against the weekly digest's parts
    computed for the same scope and week."""
    await tickets_of(db)
    await ticket_in_room_201(
        db, status="closed", created=NOW - timedelta(days=9), due=NOW - timedelta(days=8), resolved=NOW, rating=4
    )
    async with looking(db, "admin") as viewer:
        reach = await console.reach(viewer.session, viewer.person, repairs.ACTION)
        assert reach is not None
        week = repairs.last_week(viewer)
        [shown] = await repairs.week_of(viewer, reach, week)
        computed = await digest.compute(viewer.session, Scope(), week.start, week.end, NOW, sections_of(AREAS))
    repairs_part = computed.find(repair_digest.Repairs)
    trend = computed.find(repair_digest.Trend)
    assert repairs_part is not None and trend is not None
    assert shown.repairs == repairs_part
    assert shown.repairs.opened == 2 and shown.repairs.resolved == 2
    chart = shown.chart("zh_CN", SHANGHAI)
    assert chart["series"] == [
        {"name": "新增", "values": [w.opened for w in trend.weeks]},
        {"name": "解决", "values": [w.resolved for w in trend.weeks]},
    ]
    assert dict(shown.tiles("zh_CN"))["console.week.sla"] == "50%"


def test_a_week_is_the_last_seven_local_days() -> None:
    viewer = Viewer(None, None, "en", NOW, SHANGHAI, RepairRules(), SupplyRules())  # type: ignore[arg-type]
    week = repairs.last_week(viewer)
    assert week.end - week.start == timedelta(days=7)
    assert week.end.astimezone(SHANGHAI).hour == 0 and week.now == NOW
    assert isinstance(week, Week)


# --- requisitions -------------------------------------------------------------------------------------


async def submit(db: Database, handle: str, purpose: str) -> str:
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person).where(Person.handle == handle))
        item = await session.scalar(
            select(SupplyItem).where(SupplyItem.on_hand - SupplyItem.reserved >= 2).order_by(SupplyItem.id).limit(1)
        )
        assert person is not None and item is not None
        actor = Actor(session, person, "web", NOW, SHANGHAI, SupplyRules())
        return str((await requisitions.submit(actor, [(item.id, 1)], purpose)).number)


async def test_requisitions_a_manager_sees_their_departments_and_approves_through_the_chat(db: Database) -> None:
    finance = await submit(db, "wang.fang", "打印纸")
    hr = await submit(db, "zhang.wei", "文件夹")
    async with looking(db, "huang.li") as viewer:
        reach = await console.reach(viewer.session, viewer.person, supplies.ACTION)
        assert reach is not None and reach.codes == ("finance",)
        table = await supplies.requisition_table(viewer, reach, supplies.filters_from({"status": "pending"}))
        assert [row.number for row in table.rows] == [finance]
        page = await supplies.requisition_page(viewer, reach, finance)
        assert page.may == ("approve", "reject")
        with pytest.raises(Refused):
            await supplies.requisition_page(viewer, reach, hr)
        before = await supplies.queue_mark(viewer, reach)
        assert await supplies.act(viewer, finance, "approve", {}) == "console.requisition.done.approve"
        assert await supplies.queue_mark(viewer, reach) != before
        with pytest.raises(Refused):
            await supplies.act(viewer, finance, "reject", {"reason": "x"})  # too short: asked again
    async with db.unit_of_work() as session:
        lines = (
            await session.execute(
                select(AuditEntry.action, AuditEntry.record, AuditEntry.outcome).where(
                    AuditEntry.action.in_(("requisition.approve", "requisition.view"))
                )
            )
        ).all()
    assert set(map(tuple, lines)) == {("requisition.approve", finance, "ok"), ("requisition.view", hr, "refused")}
    async with looking(db, "wang.fang") as viewer:
        assert await console.reach(viewer.session, viewer.person, supplies.ACTION) is None


async def test_stock_a_delivery_from_the_console_is_stock_add(db: Database) -> None:
    async with looking(db, "lin.hua") as viewer:
        table = await supplies.stock_table(viewer, supplies.stock_filters_from({}))
        code = table.rows[0].code
        before = table.rows[0].on_hand
        assert (
            await supplies.change(viewer, code, "add", {"quantity": "12", "note": "到货"}) == "console.stock.done.add"
        )
        with pytest.raises(Refused):
            await supplies.change(viewer, code, "add", {"quantity": "0"})  # /stock add takes 1 and more
        page = await supplies.item_page(viewer, code, 1)
        assert page.item.on_hand == before + 12
        assert (page.ledger.rows[0].kind, page.ledger.rows[0].on_hand) == ("receipt", 12)
    async with looking(db, "huang.li") as viewer:
        with pytest.raises(Refused):
            await supplies.change(viewer, code, "add", {"quantity": "5"})
    async with db.unit_of_work() as session:
        lines = (
            await session.execute(
                select(AuditEntry.outcome, Person.handle)
                .join(Person, Person.id == AuditEntry.actor_id)
                .where(AuditEntry.record == code, AuditEntry.action.in_(("stock.add", "stock.manage")))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [tuple(line) for line in lines] == [("ok", "lin.hua"), ("refused", "huang.li")]


async def test_the_statistics_weeks_count_as_the_digest_counts_its_week(db: Database) -> None:
    """A bar of the repairs-by-week chart against the weekly digest's week_of_repairs for that week."""
    await tickets_of(db)
    await ticket_in_room_201(db, status="closed", created=NOW - timedelta(days=3), due=NOW, resolved=NOW)
    await ticket_in_room_201(
        db, status="closed", created=NOW - timedelta(days=12), due=NOW - timedelta(days=11), resolved=NOW
    )
    async with looking(db, "admin") as viewer:
        period = console.period_of({}, viewer.today)
        weeks = await repairs.weeks_of(viewer, period)
        spans = console.buckets(period, SHANGHAI)
        assert len(weeks) == console.DEFAULT_WEEKS == len(spans)
        for (start, end), week in zip(spans, weeks, strict=True):
            told = await repair_digest.week_of_repairs(viewer.session, Scope(), Week(start, end, NOW))
            assert (week.opened, week.resolved, week.within_sla) == (told.opened, told.resolved, told.within_sla)
        assert sum(w.opened for w in weeks) == 4
        found = await admin_console.statistics(viewer, AREAS, period)
        titles = [chart.title for chart in found.charts]
        assert "每周报修：新增与解决" in titles and "各部门物资领用" in titles
        assert found.lines  # /stats' own lines


def test_a_period_is_asked_for_or_the_last_twelve_weeks() -> None:
    today = NOW.date()
    assert console.period_of({"since": "2026-01-01", "until": "2026-03-31"}, today).label == "2026-01-01 – 2026-03-31"
    default = console.period_of({"since": "2026-05-01", "until": "2026-04-01"}, today)  # backwards: the default
    assert (default.last, (default.last - default.first).days) == (today, 83)
    long = console.period_of({"since": "2025-01-01", "until": "2026-11-30"}, today)
    assert len(console.buckets(long, SHANGHAI)) <= console.MOST_BUCKETS


async def test_the_audit_log_is_audits_query_a_page_at_a_time(db: Database) -> None:
    numbers = await tickets_of(db)
    async with looking(db, "huang.li") as viewer:
        reach = await console.reach(viewer.session, viewer.person, repairs.ACTION)
        assert reach is not None
        with pytest.raises(Refused):
            await repairs.ticket_page(viewer, reach, numbers["hr"])
    async with looking(db, "admin") as viewer:
        everyone = await admin_console.audit_table(viewer, admin_console.audit_filters_from({}))
        assert everyone.rows.total >= 1 and len(everyone.rows.rows) <= console.PER_PAGE
        hers = await admin_console.audit_table(
            viewer,
            admin_console.audit_filters_from({"who": "@huang.li", "outcome": "refused", "action": "ticket.view"}),
        )
        assert [(row.record, row.outcome) for row in hers.rows.rows] == [(numbers["hr"], "refused")]
        nobody = await admin_console.audit_table(viewer, admin_console.audit_filters_from({"who": "@no.one"}))
        assert nobody.nobody and nobody.rows.total == 0
        # An action the log has no name for is no filter at all (never an error, never an injection).
        assert admin_console.audit_filters_from({"action": "x' OR 1=1"}).action == ""


async def test_an_anonymous_suggestion_in_the_console_names_nobody_and_the_reply_reaches_its_writer(
    db: Database,
) -> None:
    async with looking(db, "emma.clark") as writer:
        ctx = console.step_context(writer, ())
        ctx.data.update({"who": "anonymous", "topic": "canteen", "body": "午餐太咸", "share": "private"})
        await box.submit_suggestion(ctx)
    async with looking(db, "lin.hua") as viewer:
        page = await suggestion_console.inbox(viewer, suggestion_console.filters_from({"status": "waiting"}))
        [row] = [r for r in page.rows if r.excerpt == "午餐太咸"]
        assert row.named is False
        thread = await suggestion_console.thread(viewer, str(row.id))
        shown = thread.card.render("en")
        assert "Emma" not in shown and "emma" not in shown
        told = await suggestion_console.act(viewer, str(row.id), "reply", {"body": "已转告食堂"})
        assert told == "console.suggestion.done.reply"
        with pytest.raises(Refused):
            await suggestion_console.act(viewer, str(row.id), "status", {"status": "adopted"})
    async with db.unit_of_work() as session:
        writer_id = await session.scalar(select(Person.id).where(Person.handle == "emma.clark"))
        notice = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.person_id == writer_id)
        )
        assert notice == 1
    async with looking(db, "huang.li") as viewer:
        with pytest.raises(Refused):
            await suggestion_console.act(viewer, str(row.id), "reply", {"body": "x"})


async def test_scorecards_are_the_chats_figures_for_the_reach(db: Database) -> None:
    await ticket_in_room_201(
        db, status="closed", created=NOW - timedelta(days=2), due=NOW, resolved=NOW - timedelta(hours=1), rating=5
    )
    async with looking(db, "admin") as viewer:
        reach = await console.reach(viewer.session, viewer.person, admin_console.SCORECARDS)
        assert reach is not None and reach.everything
        period = admin_console.month_of({}, viewer.today)
        found = await admin_console.scorecard_table(viewer, reach, period)
        logistics = next(d for d in found if d.code == "logistics")
        zhao = dict(logistics.people)["赵磊"]
        [person] = (await viewer.session.scalars(select(Person).where(Person.handle == "zhao.lei"))).all()
        told = (await scorecards.score(viewer.session, [person.id], period, SHANGHAI))[person.id]
        assert zhao == told.figures() and zhao["volume"] == 1
    async with looking(db, "sarah.lin") as viewer:
        reach = await console.reach(viewer.session, viewer.person, admin_console.SCORECARDS)
        assert reach is not None
        assert [d.code for d in await admin_console.scorecard_table(viewer, reach, period)] == ["it"]
    assert admin_console.month_of({"month": "2026-02"}, NOW.date()).label == "2026-02-01 – 2026-02-28"


async def test_the_week_in_words_is_the_weekly_digests_text(db: Database) -> None:
    await tickets_of(db)
    async with looking(db, "huang.li") as viewer:
        week = repairs.last_week(viewer)
        [(scope, lines)] = await console.week_in_words(viewer, AREAS, week)
        assert scope.department is not None and scope.department.code == "finance"
        told = await digest.compute(viewer.session, scope, week.start, week.end, NOW, sections_of(AREAS))
        text = digest.text(told, SHANGHAI).render("zh_CN").split("\n", 1)[1]  # less its title line
        assert "\n".join(line.render("zh_CN") for line in lines) == text


async def test_a_logistics_admin_cancels_a_requisition_and_its_stock_is_released(db: Database) -> None:
    number = await submit(db, "wang.fang", "多余的申请")
    async with looking(db, "lin.hua") as viewer:
        reach = await console.reach(viewer.session, viewer.person, supplies.ACTION)
        assert reach is not None
        page = await supplies.requisition_page(viewer, reach, number)
        assert "cancel" in page.may
        item_id = page.requisition.lines[0].item_id
        reserved = (await viewer.session.get(SupplyItem, item_id, populate_existing=True)).reserved  # type: ignore[union-attr]
        assert await supplies.act(viewer, number, "cancel", {}) == "console.requisition.done.cancel"
        after = await viewer.session.get(SupplyItem, item_id, populate_existing=True)
        assert after is not None and after.reserved == reserved - 1
    async with db.unit_of_work() as session:
        outcome = await session.scalar(
            select(AuditEntry.outcome).where(AuditEntry.action == "requisition.cancel", AuditEntry.record == number)
        )
    assert outcome == "ok"


async def test_a_partial_hand_out_from_the_console_is_the_chats(db: Database) -> None:
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person).where(Person.handle == "wang.fang"))
        item = await session.scalar(
            select(SupplyItem).where(SupplyItem.on_hand - SupplyItem.reserved >= 5).order_by(SupplyItem.id).limit(1)
        )
        assert person is not None and item is not None
        actor = Actor(session, person, "web", NOW, SHANGHAI, SupplyRules())
        number = str((await requisitions.submit(actor, [(item.id, 3)], "会议用")).number)
    async with looking(db, "huang.li") as viewer:
        await supplies.act(viewer, number, "approve", {})
    async with looking(db, "lin.hua") as viewer:
        reach = await console.reach(viewer.session, viewer.person, supplies.ACTION)
        assert reach is not None
        page = await supplies.requisition_page(viewer, reach, number)
        [line] = page.lines
        with pytest.raises(Refused):
            await supplies.act(viewer, number, "handout", {f"given_{line.id}": "9"})
        await supplies.act(viewer, number, "handout", {f"given_{line.id}": "1"})
        page = await supplies.requisition_page(viewer, reach, number)
        assert (page.requisition.status, page.lines[0].handed_out) == ("handed_out", 1)
    async with db.unit_of_work() as session:
        outcome = await session.scalar(
            select(AuditEntry.outcome).where(AuditEntry.action == "requisition.partial", AuditEntry.record == number)
        )
    assert outcome == "ok"

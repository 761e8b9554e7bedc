"""The weekly digest's figures against a hand-counted week, on SQLite and PostgreSQL; who gets which
digest, with which buttons; and the buttons, re-checked on the server when pressed."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select, update

from bot.service import AREAS
from handlers.core.charts import render
from handlers.core.conversation import Inbound, Kind, Sender
from handlers.core.digest import Digest, Said, Scope, Section, Week, chart, compute, text
from handlers.core.engine import Houqin
from handlers.core.i18n import msg, translate
from handlers.digest.send import sections_of, send_weekly
from handlers.repairs.digest import Rating, Repairs, Trend
from handlers.supplies.oversight import Supplies
from storage.db import Database
from storage.models import Attachment, AuditEntry, ChannelAccount, Department, SupplyItem
from tests.jobs.org import SCHEDULE, SHANGHAI, buttons_sent_to, local, person_id, requisition, sent_to, ticket
from tests.test_charts import needs_a_chinese_font

DUE = local(23, 8)  # Monday 08:00: the digest of 16–22 November
NOW = local(23, 9)
H = timedelta(hours=1)


@pytest.fixture
async def week(db: Database) -> dict[str, str]:
    """A week counted by hand (see the comments); returns the numbers of the records."""
    numbers = {
        # finance reports, electrician 赵磊: 24 h to resolve, within its 72 h; rated 5
        "t1": await ticket(
            db, created=local(17), takes=72 * H, status="closed", resolved=local(18), closed=local(19), rating=5
        ),
        # 8 h to resolve, past its 4 h; rated 3
        "t2": await ticket(
            db,
            created=local(18, 9),
            takes=4 * H,
            status="closed",
            resolved=local(18, 17),
            closed=local(20),
            rating=3,
        ),
        # HR reports, plumber 孙强: 48 h, past its 24 h; not yet confirmed
        "t3": await ticket(
            db,
            reporter="zhang.wei",
            assignee="sun.qiang",
            category="plumbing",
            created=local(19),
            status="resolved",
            resolved=local(21),
        ),
        # finance, still being worked on, due 20 Nov 14:00: 67 h late at 23 Nov 09:00
        "t4": await ticket(db, reporter="li.na", created=local(20), takes=4 * H, status="in_progress"),
        # the week before: opened, resolved and rated 4 then
        "t5": await ticket(
            db,
            reporter="zhang.wei",
            assignee="sun.qiang",
            category="plumbing",
            created=local(10),
            status="closed",
            resolved=local(12),
            closed=local(13),
            rating=4,
        ),
        # teaching, nobody assigned yet, not due for a week
        "t6": await ticket(
            db, reporter="chen.jing", assignee=None, category="plumbing", status="new", created=local(22), takes=168 * H
        ),
        # finance: approved after 3 h, 5 packs of paper handed out
        "r1": await requisition(
            db,
            status="handed_out",
            created=local(17, 9),
            approved=local(17, 12),
            handed_out=local(18),
            lines=(("PAPER-A4", 5),),
        ),
        # HR: waiting for its manager
        "r2": await requisition(db, requester="zhang.wei", created=local(19), lines=(("PEN-GEL-BK", 10),)),
        # finance: rejected (its stapler counts nowhere)
        "r3": await requisition(db, requester="li.na", status="rejected", created=local(20), lines=(("STAPLER", 1),)),
        # HR: approved after 24 h, not yet handed out
        "r4": await requisition(
            db,
            requester="david.wu",
            status="approved",
            created=local(18),
            approved=local(19),
            lines=(("PEN-GEL-BK", 3),),
        ),
    }
    async with db.unit_of_work() as session:
        await session.execute(update(SupplyItem).where(SupplyItem.code == "BATT-9V").values(on_hand=5))  # reorder at 5
    return numbers


async def digest_of(db: Database, department: str | None, more: Sequence[Section] = ()) -> Digest:
    """The digest the running areas make (and `more` sections)."""
    start, end = SCHEDULE.digest_week(DUE)
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Department).where(Department.code == department)) if department else None
        return await compute(session, Scope(found), start, end, NOW, [*sections_of(AREAS), *more])


def figures(digest: Digest) -> tuple[Repairs, Supplies]:
    repairs, supplies = digest.find(Repairs), digest.find(Supplies)
    assert repairs is not None and supplies is not None
    return repairs, supplies


async def test_the_organisations_week_matches_the_hand_count(db: Database, week: dict[str, str]) -> None:
    digest = await digest_of(db, None)
    r, s = figures(digest)
    assert (r.opened, r.resolved, r.within_sla, r.median_hours) == (5, 3, 1, 24.0)
    assert r.backlog == [("electrical", 1), ("plumbing", 1)]
    assert (r.overdue_total, r.overdue) == (1, [(week["t4"], "electrical", "赵磊", 67)])
    assert r.scoreboard == [("赵磊", 2, 1, 4.0), ("孙强", 1, 0, None)]
    assert digest.find(Rating) == Rating(4.0, 2)
    trend = digest.find(Trend)
    assert trend is not None
    assert [(w.opened, w.resolved, w.rating) for w in trend.weeks] == [
        (0, 0, None),
        (0, 0, None),
        (1, 1, 4.0),
        (5, 3, 4.0),
    ]
    assert (s.requisitions, s.approved, s.approval_hours, s.pending) == (4, 2, 13.5, 1)
    assert [(item.en, n) for item, n in s.top_items] == [
        ("Black gel pen 0.5 mm", 13),
        ("A4 copy paper, 70 g, 500 sheets", 5),
    ]
    assert [(department.en, n) for department, n in s.by_department] == [("Finance Office", 5)]
    assert [(item.en, left, at) for item, left, at in s.low_stock] == [("9 V battery", 5, 5)]


async def test_a_managers_week_is_their_departments(db: Database, week: dict[str, str]) -> None:
    digest = await digest_of(db, "finance")
    r, s = figures(digest)
    assert (r.opened, r.resolved, r.within_sla, r.median_hours) == (3, 2, 1, 16.0)
    assert (r.overdue_total, r.backlog) == (1, [("electrical", 1)])
    assert (s.requisitions, s.approved, s.approval_hours, s.pending) == (2, 1, 3.0, 0)
    assert [(item.en, n) for item, n in s.top_items] == [("A4 copy paper, 70 g, 500 sheets", 5)]
    assert s.low_stock == [], "the stores' levels are the organisation's business"


async def test_the_digest_reads_well_in_both_languages(db: Database, week: dict[str, str]) -> None:
    said = text(await digest_of(db, "finance"), SHANGHAI)
    english = said.render("en")
    assert english.startswith("📊 Weekly digest — Finance Office, 11-16 to 11-22\n")
    assert "🔧 Repairs: 3 opened, 2 resolved, 50% within SLA, median time to resolve 16.0 h" in english
    assert f"Overdue now (1):\n  · {week['t4']} Electrical, 赵磊, 67 h late" in english
    assert "  · 赵磊: 2 resolved, 50% on time, ★4.0" in english
    assert "(average approval time 3.0 h)" in english
    assert "  · week of 11-16: 3 opened, 2 resolved, ★4.0" in english
    chinese = said.render("zh_CN")
    assert chinese.startswith("📊 每周简报 — 财务处，11-16 至 11-22\n")
    assert "解决用时中位数 16.0 小时" in chinese


async def test_each_recipient_gets_their_digest_once_and_unreachable_ones_are_named_to_admins(
    db: Database, week: dict[str, str]
) -> None:
    sarah = await person_id(db, "sarah.lin")
    async with db.unit_of_work() as session:
        await session.execute(
            update(ChannelAccount).where(ChannelAccount.person_id == sarah).values(unreachable_since=NOW)
        )

    tally = await send_weekly(db, SCHEDULE, DUE, NOW, areas=AREAS)
    assert (tally.sent, tally.already, tally.unreachable) == (6, 0, [sarah])
    [finance] = await sent_to(db, "huang.li")
    assert finance.startswith("📊 Weekly digest — Finance Office")
    assert await buttons_sent_to(db, "huang.li") == [[("⏰ Remind overdue technicians (1)", "jb:remind")]]
    assert [b for [b, *_] in await buttons_sent_to(db, "xu.ming")] == [("✔ Approve pending (1)", "jb:queue")]
    logistics, organisation = await sent_to(db, "lin.hua")  # manager of logistics and a logistics admin
    assert logistics.startswith("📊 Weekly digest — Logistics Office")
    assert organisation.startswith("📊 Weekly digest — the whole organisation")
    assert "🚫 Could not be reached (1; they blocked the bot or left): Sarah Lin" in organisation
    assert "Could not be reached" not in logistics
    assert await sent_to(db, "sarah.lin") == []

    async with db.unit_of_work() as session:
        kept = (await session.scalars(select(Attachment).order_by(Attachment.id))).all()
    assert len(kept) == 6 and {a.content_type for a in kept} == {"image/png"}
    assert kept[0].name == "digest-2026-W48-dept-finance.png"

    again = await send_weekly(db, SCHEDULE, DUE, NOW + H, areas=AREAS)
    assert (again.sent, again.already) == (0, 6)
    assert len(await sent_to(db, "lin.hua")) == 2


async def test_the_digests_buttons_open_the_queue_and_remind_only_for_those_who_may(
    db: Database, week: dict[str, str]
) -> None:
    houqin = Houqin(db, AREAS, "zh_CN", SHANGHAI, clock=lambda: NOW)

    async def press(key: str, payload: str) -> str:
        outcome = await houqin.handle(
            Inbound(Sender("web", key, key, key, "en"), Kind.BUTTON, f"{key}-{payload}", payload)
        )
        return "\n".join(reply.text for reply in outcome.replies)

    queue = await press("xu.ming", "jb:queue")
    assert "等你审批（1 个）" in queue  # 徐明 reads Chinese
    assert await press("huang.li", "jb:remind") == "已提醒 1 位维修人员处理超时工单。"
    assert [m.split(" is overdue")[0] for m in await sent_to(db, "zhao.lei")] == [f"⏰ {week['t4']}"]
    await press("admin", "jb:remind")  # within the same hour: nobody is nudged twice
    assert len(await sent_to(db, "zhao.lei")) == 1

    assert await press("wang.fang", "jb:remind") == "只有部门负责人和管理员可以提醒维修人员。"
    async with db.unit_of_work() as session:
        refused = await session.scalar(select(AuditEntry.action).where(AuditEntry.outcome == "refused"))
    assert refused == "digest.remind"
    assert await press("wang.fang", "jb:everything") == translate("zh_CN", "dialog.error.forged_button")


def test_the_chart_is_a_png_of_the_weeks_with_chinese_drawn_as_chinese(week_digest: Digest) -> None:
    needs_a_chinese_font()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = chart(week_digest, "zh_CN", SHANGHAI)
        assert drawn is not None, "the repairs' trend draws the digest's chart"
        png = render(drawn)
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert drawn.title == "每周报修 — 财务处"
    assert drawn.categories == ["10-26", "11-02", "11-09", "11-16"]
    assert [(s.label, list(s.values)) for s in drawn.series] == [("新增", [0, 0, 0, 3]), ("解决", [0, 0, 0, 2])]
    english = chart(week_digest, "en", SHANGHAI)
    assert english is not None and english.title == "Repair tickets per week — Finance Office"


@pytest.fixture
async def week_digest(db: Database, week: dict[str, str]) -> Digest:
    return await digest_of(db, "finance")


async def test_areas_add_their_digest_sections(db: Database, week: dict[str, str]) -> None:
    """How the surveys area adds NPS and suggestions: a section it declares, a function over the scope's
    week, placed among the others'."""
    seen: list[tuple[str, Week]] = []

    async def surveys(session: object, scope: Scope, week: Week) -> Said:
        seen.append((scope.subject, week))
        return Said([msg("digest.hours", hours="NPS 42")])

    said = text(await digest_of(db, None, (Section(40, surveys),)), SHANGHAI).render("en")
    assert "😊 Satisfaction: average repair rating ★4.0 (2 ratings)\nNPS 42 h\n" in said
    assert said.index("NPS 42") < said.index("The last weeks:")
    assert seen == [("org", Week(local(16, 0), local(23, 0), NOW))]

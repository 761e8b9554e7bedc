"""An area made entirely inside this test — one command, a two-step flow, a reminder rule, a line in
the weekly digest, its words in a catalog of its own — handed to the service builder beside the real
ones: it answers on Telegram, in Slack (typed after /houqin, its flow as a modal) and in the browser
chat, the reminders job nudges by its rule, and the digest carries its line. Nothing outside this file
names it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.service import AREAS, Service, build_service
from handlers.core.area import Area
from handlers.core.digest import Said, Scope, Section, Week
from handlers.core.flow import Action, ConfirmStep, Flow, StepContext, Submitted, TextStep, said
from handlers.core.i18n import Msg, catalog, msg
from handlers.core.outbox import Notice
from handlers.core.reminders import Context
from handlers.core.rules import RepairRules
from handlers.core.sends import Delivery, fixed
from handlers.digest.send import send_weekly
from jobs.scheduler import REMINDERS, Jobs
from storage.db import Database
from storage.models import Person
from tests.channels import telegram_of
from tests.dialog.conftest import slack_settings, slack_world_for, telegram_running, telegram_settings
from tests.dialog.slack_person import SlackPerson
from tests.dialog.telegram_person import TelegramPerson, notices_delivered
from tests.dialog.test_ticket_life_telegram import make_staff
from tests.dialog.web_person import WebPerson, browser_chat
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeBotAPI
from tests.jobs.org import SCHEDULE, local

# The area's words, as its .po files would hold them.
WORDS = {
    "zh_CN": {
        "command.lamp": "台灯借用须知",
        "command.lamps": "借台灯",
        "lamps.title": "🪔 借台灯",
        "lamps.description": "借一盏台灯到工位",
        "lamps.rules": "台灯借用一周，到期请归还前台。",
        "lamps.ask_desk": "送到哪个工位？",
        "lamps.ask_confirm": "请确认：",
        "lamps.summary": "借一盏台灯到 {desk}",
        "lamps.done": "好的，台灯会送到 {desk}。",
        "lamps.reminder": "别忘了本周五归还台灯。",
        "lamps.digest": "🪔 本周借出台灯 {count} 盏",
    },
    "en": {
        "command.lamp": "Lamp lending rules",
        "command.lamps": "Borrow a lamp",
        "lamps.title": "🪔 Borrow a lamp",
        "lamps.description": "Borrow a desk lamp",
        "lamps.rules": "Lamps are lent for a week; bring yours back to the front desk.",
        "lamps.ask_desk": "Which desk should it go to?",
        "lamps.ask_confirm": "Please confirm:",
        "lamps.summary": "A lamp for {desk}",
        "lamps.done": "Fine, a lamp is on its way to {desk}.",
        "lamps.reminder": "Remember to bring the lamp back this Friday.",
        "lamps.digest": "🪔 Lamps lent this week: {count}",
    },
}
BORROWER = "陈晨"


async def rules(ctx: StepContext, args: str) -> Action:
    return said(msg("lamps.rules"))


async def summary(ctx: StepContext) -> Msg:
    return msg("lamps.summary", desk=ctx.data["desk"])


async def lend(ctx: StepContext) -> Submitted:
    return Submitted(msg("lamps.done", desk=ctx.data["desk"]), f"lamp:{ctx.data['desk']}")


async def bring_it_back(ctx: Context) -> list[Delivery]:
    borrower = await ctx.session.scalar(select(Person.id).where(Person.display_name == BORROWER))
    if borrower is None:
        return []
    notice = Notice(borrower, msg("lamps.reminder"))
    return [Delivery("reminder.lamps", "desk", borrower, ctx.today, fixed(notice))]


async def lamps_lent(session: AsyncSession, scope: Scope, week: Week) -> Said:
    return Said([msg("lamps.digest", count=3)])


LAMPS = Area(
    "lamps",
    flows=(
        Flow(
            "lamps",
            msg("lamps.title"),
            msg("lamps.description"),
            (
                TextStep("desk", msg("lamps.ask_desk")),
                ConfirmStep("confirm", msg("lamps.ask_confirm"), summary=summary),
            ),
            lend,
        ),
    ),
    commands={"lamp": rules},
    reminders=(bring_it_back,),
    digest=(Section(60, lamps_lent),),
)
# Houqin's own areas and this one, as bot/areas.py would list it.
EVERY = (*AREAS, LAMPS)


@pytest.fixture(autouse=True)
def lamp_words(monkeypatch: pytest.MonkeyPatch) -> None:
    for locale, words in WORDS.items():
        for key, text in words.items():
            monkeypatch.setitem(catalog(locale), key, text)


@pytest.fixture
async def telegram_with_lamps(db: Database, bot_api: FakeBotAPI) -> AsyncIterator[Service]:
    async for service in telegram_running(build_service(telegram_settings(db, bot_api), areas=EVERY)):
        yield service


async def test_a_tiny_area_answers_on_telegram_and_its_reminder_and_digest_line_arrive(
    db: Database, bot_api: FakeBotAPI, telegram_with_lamps: Service
) -> None:
    chen = TelegramPerson(bot_api, db, bot_api.user(7301, BORROWER, "zh-hans"))
    assert "台灯借用一周" in await chen.says("/lamp")
    assert "送到哪个工位？" in await chen.says("/lamps")
    assert "借一盏台灯到 3楼A12" in await chen.says("3楼A12")
    assert "好的，台灯会送到 3楼A12。" in await chen.presses("✔ 提交")
    assert "/lamps — 借一盏台灯到工位" in await chen.says("/help")

    # The reminders job runs the area's rule (a Tuesday morning: a working hour).
    jobs = Jobs(db, SCHEDULE, RepairRules(), clock=lambda: local(24, 10, 5), areas=EVERY)
    await jobs.fire(jobs.job(REMINDERS))
    # The weekly digest carries the area's line (the borrower oversees the office for it).
    await make_staff(db, chen, "admin")
    async with db.unit_of_work() as session:
        borrower = await session.scalar(select(Person.id).where(Person.display_name == BORROWER))
    assert borrower is not None
    tally = await send_weekly(db, SCHEDULE, local(23, 8), local(23, 8, 5), only=[borrower], areas=EVERY)
    assert tally.sent == 1
    telegram_of(telegram_with_lamps)._wake.set()
    await notices_delivered(db)
    texts = [message.text or "" for message in chen.chat]
    assert "别忘了本周五归还台灯。" in texts
    assert any("🪔 本周借出台灯 3 盏" in text for text in texts)


async def test_a_tiny_area_answers_in_the_browser_chat(db: Database) -> None:
    async with browser_chat(db, EVERY) as client:
        wang = WebPerson(client, "wang.fang")
        assert "台灯借用一周" in await wang.says("/lamp")
        assert "送到哪个工位？" in await wang.says("/lamps")
        assert "借一盏台灯到 2楼B3" in await wang.says("2楼B3")
        assert "好的，台灯会送到 2楼B3。" in await wang.presses("✔ 提交")


async def test_a_tiny_area_answers_in_slack(db: Database, slack_api: FakeSlackAPI) -> None:
    service = build_service(slack_settings(db, slack_api), areas=EVERY)
    async for slack in slack_world_for(service, slack_api, db):
        chen = SlackPerson.of(slack, "UCHEN", BORROWER)
        await chen.slash("/houqin", "lamp")
        assert "台灯借用一周" in chen.dm[-1].shown
        await chen.slash("/houqin", "lamps")  # its flow, page by page in a modal
        assert "送到哪个工位？" in chen.page
        await chen.types("5楼C7")
        assert "借一盏台灯到 5楼C7" in chen.page
        await chen.submits()
        assert "好的，台灯会送到 5楼C7。" in chen.dm[-1].shown

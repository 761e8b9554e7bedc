"""Slack's App Home, one person on two channels (link codes), English from Slack's locale, modal
pages closed or gone back on, files, and the outbound pace."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, func, select

from bot.service import build_service
from handlers.core.conversation import FileOut
from handlers.core.files import keep
from handlers.core.i18n import Msg
from handlers.core.outbox import Notice, notify
from storage.db import Database
from storage.models import AuditEntry, ChannelAccount, DialogState, OutboxMessage, Person, PersonRole
from tests.channels import slack_of
from tests.dialog.conftest import slack_settings
from tests.dialog.slack_person import SlackPerson, SlackWorld
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.test_slack_repair import linked, report_leak
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeBotAPI

CODE = re.compile(r"[A-Z2-9]{8}")


async def test_app_home_lists_my_requests_and_what_waits_for_a_manager(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    admin, wang, huang = slack_user("UADMIN", "管理员"), slack_user("UWANG", "王芳"), slack_user("UHUANG", "黄丽")
    assert "你目前没有未完成的申请" in await wang.opens_home()
    await linked(admin, wang, "wang.fang")
    await linked(admin, huang, "huang.li")
    number = await report_leak(wang)
    await wang.slash("/supply", "电池")
    await wang.chooses("5 号电池")
    await wang.types("2")
    await wang.chooses("✔ 选好了")
    await wang.types("会议室遥控器")
    await wang.submits()

    home = await wang.opens_home()
    assert number in home and "你的物资申领（1 个）" in home
    assert "等你审批的物资申领（1 个）" in await huang.opens_home()

    # The home's buttons start a flow as a modal, like the slash command.
    await wang.presses("报修")
    assert wang.modal is not None and "需要维修的是哪一类？" in wang.page


async def test_english_from_slacks_locale_and_a_modal_closed_or_gone_back_on(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    emma = slack_user("UEMMA", "Emma", "en-US")
    await emma.slash("/repair")
    assert "What kind of problem is it?" in emma.page and emma.modal.view["submit"]["text"] == "Next"  # type: ignore[union-attr]
    await emma.chooses("Plumbing")
    await emma.presses("← Back")
    assert emma.options()[0] != "" and "Plumbing" in emma.options()
    await emma.chooses("Electrical")
    await emma.closes()
    assert emma.dm[-1].shown == 'Stopped "Report a repair". Nothing was saved.'

    async with db.unit_of_work() as session:
        state = await session.scalar(
            select(DialogState)
            .join(ChannelAccount, ChannelAccount.person_id == DialogState.person_id)
            .where(ChannelAccount.external_id == "UEMMA", DialogState.channel == "slack")
        )
        assert state is not None and state.flow is None
    # In the DM, /houqin commands answer as messages, and words typed there are understood too.
    await emma.slash("/houqin", "help")
    assert "/repair" in emma.dm[-1].shown
    await emma.writes("hello")
    assert emma.dm[-1].buttons and "I'm Houqin" in emma.dm[-1].shown  # a hello: the welcome and its menu
    await emma.writes("what now")
    assert emma.dm[-1].buttons and "didn't understand" in emma.dm[-1].shown  # not understood: the menu too


async def test_a_telegram_plumber_links_his_slack_account_with_a_code(
    db: Database, both_worlds: SlackWorld, bot_api: FakeBotAPI
) -> None:
    from tests.dialog.test_ticket_life_telegram import make_staff

    li_telegram = TelegramPerson(bot_api, db, bot_api.user(8101, "老李", "zh-hans"))
    await make_staff(db, li_telegram, "technician:plumbing")
    asked = await li_telegram.says("/link")
    code = CODE.search(asked.text)
    assert code is not None, asked.texts

    li = SlackPerson.of(both_worlds, "ULI", "Li on Slack")
    await li.slash("/houqin", "link WRONG123")
    assert "关联码不正确或已过期" in li.dm[-1].shown
    await li.slash("/houqin", f"link {code.group().lower()}")  # typed in lower case: still the code
    assert "已关联" in li.dm[-1].shown and "老李" in li.dm[-1].shown, li.dm[-1].shown
    await li.slash("/houqin", f"link {code.group()}")  # once only
    assert "关联码不正确或已过期" in li.dm[-1].shown
    async with db.unit_of_work() as session:
        owners = (
            await session.scalars(
                select(ChannelAccount.person_id).where(ChannelAccount.external_id.in_(("8101", "ULI")))
            )
        ).all()
        assert len(owners) == 2 and len(set(owners)) == 1
        refused = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "accounts.link", AuditEntry.outcome == "refused")
        )
        assert refused == 2
        sun = await session.scalar(select(Person.id).where(Person.display_name == "孙强"))
        await session.execute(delete(PersonRole).where(PersonRole.person_id == sun, PersonRole.role == "technician"))

    # He is a plumber on Telegram, and Slack is where he was last: his next card comes there.
    number = await report_leak(SlackPerson.of(both_worlds, "UWANG", "小王"))
    assert li.latest(number).buttons


async def test_someone_elses_accounts_are_linked_by_admins_only(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    mallory = slack_user("UMAL", "Mallory")
    await mallory.opens_home()
    await mallory.slash("/houqin", "link slack:UMAL web:lin.hua")
    assert "只有管理员" in mallory.dm[-1].shown
    async with db.unit_of_work() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "UMAL"))
        assert account is not None and account.person.display_name == "Mallory"


async def test_a_file_in_a_notice_is_uploaded_to_the_dm(db: Database, slack_user: Callable[..., SlackPerson]) -> None:
    wang = slack_user("UWANG", "王芳")
    await wang.opens_home()
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person).join(ChannelAccount).where(ChannelAccount.external_id == "UWANG"))
        assert person is not None
        content = b"code,stock\nA4,10\n"
        kept: FileOut = await keep(session, person.id, "stock.csv", "text/csv", content, person.created_at)
        await notify(session, Notice(person.id, Msg("lang.set"), files=(kept,)), person.created_at)
    wang.world.channel.outbound.wake()
    await wang.world.settle()
    [uploaded] = wang.api.files["DUWANG"]
    assert (uploaded.name, uploaded.content) == ("stock.csv", b"code,stock\nA4,10\n")


async def test_a_rate_limited_dm_waits_alone(db: Database, slack_api: FakeSlackAPI) -> None:
    """Slack answers 429 for one DM: that notice is retried after Retry-After, the others go now."""
    service = build_service(slack_settings(db, slack_api))
    slack = slack_of(service)
    assert slack is not None
    slack_api.user("UA", "甲")
    slack_api.user("UB", "乙")
    async with db.unit_of_work() as session:
        ids = []
        for user in ("UA", "UB"):
            person = Person(display_name=user)
            session.add(person)
            await session.flush()
            session.add(ChannelAccount(person_id=person.id, channel="slack", external_id=user, address=f"D{user}"))
            ids.append(person.id)
        now = service.houqin.clock()
        for person_id in ids:
            await notify(session, Notice(person_id, Msg("lang.set")), now)
    slack_api.rate_limited["DUA"] = 30
    assert await slack.outbound.drain_once() == 1
    assert [m.channel for ms in slack_api.messages.values() for m in ms] == ["DUB"]
    async with db.unit_of_work() as session:
        waiting = await session.scalar(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
        assert waiting is not None and waiting.address == "DUA" and waiting.error
        assert waiting.claimed_until is not None and waiting.claimed_until - now >= timedelta(seconds=29)
    # Meanwhile the pacer holds that DM: nothing more to it until Slack's time is up.
    assert slack.outbound.pacer.held_for("DUA") > 25
    await service.db.dispose()


async def test_the_language_chosen_in_slack_is_kept_over_slacks_own(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    wang = slack_user("UWANG", "小王", "zh-CN")
    await wang.slash("/houqin", "lang")
    await wang.presses("English")
    assert [m.shown for m in wang.dm[-2:]] == [
        "OK, I'll speak English with you from now on.",
        "What would you like to do next?",
    ]
    assert wang.dm[0].buttons == [] and wang.dm[0].shown.endswith("→ English")  # the question, answered
    await wang.slash("/repair")
    assert "What kind of problem is it?" in wang.page


async def test_changing_language_mid_report_keeps_the_language_buttons(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    wang = slack_user("UWANG", "小王")
    await wang.slash("/repair")
    await wang.chooses("给排水")
    await wang.slash("/houqin", "lang")
    assert [b["text"]["text"] for b in wang.dm[-1].buttons] == ["中文", "English"]
    await wang.presses("English")
    assert "Which building?" in wang.page  # the report goes on where it was, now in English


async def test_a_held_back_dm_spends_no_attempts_and_holds_up_nobody(db: Database, slack_api: FakeSlackAPI) -> None:
    service = build_service(slack_settings(db, slack_api))
    slack = slack_of(service)
    assert slack is not None
    async with db.unit_of_work() as session:
        people = {user: Person(display_name=user) for user in ("UA", "UB")}
        session.add_all(people.values())
        await session.flush()
        for user, person in people.items():
            session.add(ChannelAccount(person_id=person.id, channel="slack", external_id=user, address=f"D{user}"))
        for person in [people["UA"]] * 3 + [people["UB"]]:
            await notify(session, Notice(person.id, Msg("lang.set")), service.houqin.clock())
    slack.outbound.hold("DUA", 60)  # Slack said 429 to this DM a moment ago
    assert await slack.outbound.hand_out() == 4
    await asyncio.gather(*slack.outbound._chains)
    assert [m.channel for ms in slack_api.messages.values() for m in ms] == ["DUB"]
    async with db.unit_of_work() as session:
        held = (await session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))).all()
    assert [(row.address, row.attempts) for row in held] == [("DUA", 0)] * 3
    await service.db.dispose()


async def test_app_home_shows_a_logistics_admin_the_queue_and_what_is_overdue(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    from storage.models import Ticket

    admin, lin, wang = slack_user("UADMIN", "管理员"), slack_user("ULIN", "林华"), slack_user("UWANG", "小王")
    await linked(admin, lin, "lin.hua")
    assert "等待派单" not in await lin.opens_home()
    async with db.unit_of_work() as session:
        await session.execute(delete(PersonRole).where(PersonRole.role == "technician", PersonRole.scope == "plumbing"))
    waiting = await report_leak(wang)  # no plumber: it waits in the queue
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == waiting))
        assert ticket is not None and ticket.created_at is not None
        ticket.due_at = ticket.created_at - timedelta(hours=1)  # and it is late already
    home = await lin.opens_home()
    assert f"等待派单的报修（1 个）：\n{waiting}" in home and f"已超时的报修（1 个）：\n{waiting}" in home
    assert "等待派单" not in await wang.opens_home()  # the reporter sees her own request, not the queue

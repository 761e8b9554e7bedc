"""Members only, on Telegram (ACCESS_POLICY=invite): an account nobody added is turned away from
everything, asks to join, is approved or denied; invitation codes for a person and for anyone."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from storage.models import ChannelAccount, JoinRequest, Person
from tests.dialog.membership import (
    JOIN_EN,
    JOIN_ZH,
    NOT_MEMBER_EN,
    NOT_MEMBER_ZH,
    audit_actions,
    houqin_of,
    join_requests,
    later,
    person_named,
    row_counts,
)
from tests.dialog.slack_person import SlackWorld
from tests.dialog.telegram_person import TelegramPerson, notices_delivered
from tests.dialog.test_command_menus import menu_seen, names
from tests.dialog.web_person import WebPerson
from tests.fakes.telegram_api import FakeBotAPI

CODE = re.compile(r"join_([0-9a-f]{24})")
# Buttons nobody showed a non-member, and old ones: a flow's step, a menu, a language, a ticket's,
# a requisition's, an admin menu's, a join request's Approve.
FORGED = ("go:repair", "go:my", "lang:en", "s0:electrical", "tk:1:accept", "rq:1:approve", "adm:role", "jr:1:approve")


def stranger(members_only: SlackWorld, bot_api: FakeBotAPI, user_id: int, name: str, lang: str) -> TelegramPerson:
    return TelegramPerson(bot_api, members_only.db, bot_api.user(user_id, name, lang))


async def asked_to_join(person: TelegramPerson, label: str) -> tuple[TelegramPerson, JoinRequest]:
    """They wrote, were turned away and pressed the button on that message: their request, the only one."""
    await person.says("/start")
    await person.presses(label)
    [request] = await join_requests(person.db)
    return person, request


async def asks_again(person: TelegramPerson) -> str:
    """The Request to join button pressed again (the pressed message has lost its buttons: an old one)."""
    return (await person.presses_data(person.chat[-1].message_id, "member:join", strict=False)).text


def turned_away(heard: str, english: bool = False) -> bool:
    return (NOT_MEMBER_EN if english else NOT_MEMBER_ZH) in heard


async def test_a_non_member_is_turned_away_from_every_command_and_button_and_nothing_is_kept(
    members_only: SlackWorld, bot_api: FakeBotAPI
) -> None:
    admin = WebPerson(members_only.http, "admin")
    await admin.says("/start")  # the service's own first writes (its key) are not the stranger's
    before = await row_counts(members_only.db)
    outsider = stranger(members_only, bot_api, 6101, "路人甲", "zh-hans")
    houqin = houqin_of(members_only)
    commands = {"start", "my", "help", "lang", "cancel", *houqin.commands, *houqin.flows, *houqin.uploads}
    for command in sorted(commands):
        heard = await outsider.says(f"/{command}")
        assert heard.texts and all(turned_away(t) for t in heard.texts), (command, heard.texts)
        assert outsider.chat[-1].buttons and outsider.chat[-1].buttons[0]["text"] == JOIN_ZH, command
    for words in ("你好", "/repair 灯不亮", "/broadcast all 明天停电", "/org invite", "123456"):
        assert turned_away((await outsider.says(words)).text), words
    assert turned_away((await outsider.sends_photo()).text)
    for payload in FORGED:
        last = outsider.chat[-1].message_id
        assert turned_away((await outsider.presses_data(last, payload, strict=False)).text), payload
    # Nothing was created for them: no person, account, dialog, ticket, request or notice.
    assert await row_counts(members_only.db) == before
    assert await person_named(members_only.db, "路人甲") is None


async def test_a_join_request_is_approved_with_a_department_and_the_newcomer_then_works(
    members_only: SlackWorld, bot_api: FakeBotAPI
) -> None:
    db = members_only.db
    newcomer = stranger(members_only, bot_api, 6102, "Zoe Xu", "en")
    assert turned_away((await newcomer.says("/start")).text, english=True)
    assert "has been sent to the admins" in await newcomer.presses(JOIN_EN)
    assert "already asked" in await asks_again(newcomer)  # once is enough
    [request] = await join_requests(db)
    assert (request.status, request.display_name) == ("pending", "Zoe Xu")
    # The admins and the logistics admins get the card; the admin approves into Human Resources.
    admin, lin = WebPerson(members_only.http, "admin"), WebPerson(members_only.http, "lin.hua")
    for decider in (admin, lin):
        cards = [n["text"] for n in await decider.inbox()]
        assert any(f"加入申请 #{request.id}：Zoe Xu" in card for card in cards), cards
    asked = await admin.presses_payload(f"jr:{request.id}:approve")
    assert "Zoe Xu 加入哪个部门" in asked and "人事处" in asked.labels
    assert "Zoe Xu 现在是成员了" in await admin.presses("人事处")
    await notices_delivered(db)
    assert "Welcome, Zoe Xu! Your request to join was approved" in (newcomer.chat[-1].text or "")
    # A second decider pressing later is told it was decided, and changes nothing.
    assert "已经处理过了（已批准）" in await lin.presses_payload(f"jr:{request.id}:deny")
    # Each decider's card now says what was decided, and by whom.
    assert any("处理结果：✅ 系统管理员 Admin 已批准" in n["text"] for n in await lin.inbox())
    person = await person_named(db, "Zoe Xu")
    assert person is not None and person.department is not None and person.department.code == "hr"
    assert [role.role for role in person.roles] == ["staff"]
    assert "Report a repair" in (await newcomer.says("/repair")).text
    assert await audit_actions(db, "member.request", "member.approve", "member.deny") == [
        ("member.request", f"join_request:{request.id}", "ok"),
        ("member.approve", f"join_request:{request.id}", "ok"),
    ]


async def test_an_admin_approves_a_request_as_someone_already_added_by_org(
    members_only: SlackWorld, bot_api: FakeBotAPI
) -> None:
    db = members_only.db
    chen, request = await asked_to_join(stranger(members_only, bot_api, 6103, "小陈", "zh-hans"), JOIN_ZH)
    admin = WebPerson(members_only.http, "admin")
    assert "没有编号为 #999 的加入申请" in await admin.says("/org approve 999 @chen.jing")
    assert "陈静 现在是成员了" in await admin.says(f"/org approve {request.id} @chen.jing")
    await notices_delivered(db)
    assert "欢迎，陈静" in (chen.chat[-1].text or "")
    async with db.unit_of_work() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "6103"))
        assert account is not None and account.person.handle == "chen.jing"
    assert "陈静" in (await chen.says("/start")).text


async def test_a_denied_request_is_told_in_the_askers_language_and_nobody_is_made(
    members_only: SlackWorld, bot_api: FakeBotAPI
) -> None:
    db = members_only.db
    asker, request = await asked_to_join(stranger(members_only, bot_api, 6104, "Max Mustermann", "en"), JOIN_EN)
    lin = WebPerson(members_only.http, "lin.hua")  # a logistics admin may decide too
    assert "已拒绝 Max Mustermann 的申请" in await lin.presses_payload(f"jr:{request.id}:deny")
    await notices_delivered(db)
    assert "Sorry, your request to join was not approved" in (asker.chat[-1].text or "")
    assert await person_named(db, "Max Mustermann") is None
    assert turned_away((await asker.says("/my")).text, english=True)
    # Staff may not decide, whatever the button says.
    staff = WebPerson(members_only.http, "wang.fang")
    assert "审批加入申请" in await staff.presses_payload(f"jr:{request.id}:approve")


async def test_requests_from_one_account_are_rate_limited(members_only: SlackWorld, bot_api: FakeBotAPI) -> None:
    db = members_only.db
    eager = stranger(members_only, bot_api, 6105, "急急", "zh-hans")
    await eager.says("/start")
    for _ in range(6):
        await asks_again(eager)
    assert len(await join_requests(db)) == 1
    assert "您已经申请过了" in (eager.chat[-1].text or "")
    # Denied, then asked again within the hour: still "already asked"; an hour later it is a new request.
    [request] = await join_requests(db)
    await WebPerson(members_only.http, "admin").presses_payload(f"jr:{request.id}:deny")
    assert "您已经申请过了" in await asks_again(eager)
    later(houqin_of(members_only), timedelta(hours=2))
    assert "已提交给管理员" in await asks_again(eager)
    assert [r.status for r in await join_requests(db)] == ["denied", "pending"]


async def test_invitation_codes_for_a_person_and_for_anyone(members_only: SlackWorld, bot_api: FakeBotAPI) -> None:
    db = members_only.db
    admin = WebPerson(members_only.http, "admin")
    # A code for a person: once.
    for_liu = CODE.search((await admin.says("/org invite @liu.yang")).text)
    assert for_liu is not None
    liu = stranger(members_only, bot_api, 6106, "Liu", "zh-hans")
    assert "欢迎，刘洋" in await liu.says(f"/start join_{for_liu.group(1)}")
    other = stranger(members_only, bot_api, 6107, "Other", "zh-hans")
    assert "这个邀请码无效、已用过或已过期" in await other.says(f"/start join_{for_liu.group(1)}")
    # A code for anyone, for a department: each account once, typed as it is.
    opened = (await admin.says("/org invite dept teaching")).text
    code = CODE.search(opened)
    assert code is not None and "教务处" in opened and "7 天内有效" in opened
    first = stranger(members_only, bot_api, 6108, "New One", "en")
    assert "Welcome, New One" in await first.says(code.group(1))
    assert "already joined" in await first.says(f"/start join_{code.group(1)}")  # a second time: refused
    second = stranger(members_only, bot_api, 6109, "New Two", "zh-hans")
    assert "欢迎，New Two" in await second.says(f"/start join_{code.group(1)}")
    for name in ("New One", "New Two"):
        person = await person_named(db, name)
        assert person is not None and person.department is not None and person.department.code == "teaching"
        assert [role.role for role in person.roles] == ["staff"]
    # Eight days on it has expired.
    later(houqin_of(members_only), timedelta(days=8))
    late = stranger(members_only, bot_api, 6110, "Late", "zh-hans")
    assert "这个邀请码无效、已用过或已过期" in await late.says(code.group(1))
    assert await person_named(db, "Late") is None


async def test_guessing_codes_is_cut_off_and_audited(members_only: SlackWorld, bot_api: FakeBotAPI) -> None:
    db = members_only.db
    guesser = stranger(members_only, bot_api, 6111, "猜猜", "zh-hans")
    for attempt in range(5):
        assert "这个邀请码无效" in await guesser.says(f"{attempt:024x}")
    assert "输错邀请码的次数太多了" in await guesser.says("f" * 24)
    refused = [row for row in await audit_actions(db, "org.join") if row[2] == "refused"]
    assert len(refused) == 6 and {row[1] for row in refused} == {"account:telegram:6111"}
    async with db.unit_of_work() as session:
        assert await session.scalar(select(Person).where(Person.display_name == "猜猜")) is None


async def test_a_leavers_telegram_menu_shrinks_to_start_and_rejoining_gives_it_back(
    members_only: SlackWorld, bot_api: FakeBotAPI
) -> None:
    db = members_only.db
    async with db.unit_of_work() as session:
        manager = await session.scalar(select(Person).where(Person.handle == "huang.li"))
        assert manager is not None
        session.add(ChannelAccount(person_id=manager.id, channel="telegram", external_id="6120", address="6120"))
    huang = stranger(members_only, bot_api, 6120, "黄丽", "zh-hans")
    assert "黄丽" in await huang.says("/start")
    admin = WebPerson(members_only.http, "admin")
    await admin.says("/org leave @huang.li 退休")
    await notices_delivered(db)
    assert names(menu_seen(bot_api, 6120)) == ["start"]
    assert turned_away((await huang.says("/stats")).text)
    await admin.says("/org rejoin @huang.li")
    await notices_delivered(db)
    assert "stats" in names(menu_seen(bot_api, 6120))
    assert "统计" in (await huang.says("/stats")).text

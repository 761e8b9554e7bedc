"""Members only, on Slack: under ACCESS_POLICY=invite a workspace member nobody added is turned away
and may ask to join; under `directory` the workspace decides: its members are in, and one the
workspace deactivates (user_change, deleted) leaves at once. Telegram, with no directory, invites."""

from __future__ import annotations

import re

from sqlalchemy import select

from storage.models import ChannelAccount
from tests.dialog.admin_people import SlackSpeaker, link_slack
from tests.dialog.membership import (
    JOIN_ZH,
    NOT_MEMBER_ZH,
    audit_actions,
    join_requests,
    markers_requested,
    person_named,
    row_counts,
)
from tests.dialog.slack_person import SlackPerson, SlackWorld
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.web_person import WebPerson
from tests.fakes.telegram_api import FakeBotAPI
from tests.supplies import requisition, stock_of


async def test_a_workspace_member_nobody_added_is_turned_away_then_asks_and_is_approved(
    members_only: SlackWorld,
) -> None:
    db = members_only.db
    await WebPerson(members_only.http, "admin").says("/start")
    before = await row_counts(db)
    guest = SlackPerson.of(members_only, "UGUEST", "访客", "zh-CN")
    speaker = SlackSpeaker(guest)
    houqin = members_only.channel.houqin
    every = sorted({"start", "my", "help", "lang", "cancel", *houqin.commands, *houqin.flows, *houqin.uploads})
    typed = [("/houqin", name) for name in every] + [
        ("/repair", ""),
        ("/supply", ""),
        ("/survey", ""),
        ("/suggest", ""),
    ]
    for command, words in typed:
        # A command Slack opens a modal for shows the message there (and no flow); else it is in the DM.
        shown = await speaker.heard(guest.slash(command, words))
        assert NOT_MEMBER_ZH in shown, (command, words, shown)
    await guest.writes("你好")
    await members_only.settle()
    assert NOT_MEMBER_ZH in guest.dm[-1].shown
    assert NOT_MEMBER_ZH in await guest.opens_home()
    await guest.presses_value("tk:1:accept")
    await members_only.settle()
    assert NOT_MEMBER_ZH in guest.dm[-1].shown
    assert await row_counts(db) == before
    # The button on the message: a request, then the admin approves into IT.
    await guest.presses(JOIN_ZH)
    await members_only.settle()
    assert "加入申请已提交给管理员" in guest.dm[-1].shown
    [request] = await join_requests(db)
    admin = WebPerson(members_only.http, "admin")
    await admin.presses_payload(f"jr:{request.id}:approve")
    assert "访客 现在是成员了" in await admin.presses("信息中心")
    await members_only.settle()
    assert "欢迎，访客" in guest.dm[-1].shown
    await guest.slash("/houqin", "my")
    await members_only.settle()
    assert NOT_MEMBER_ZH not in guest.dm[-1].shown


async def test_under_directory_the_workspace_decides_and_a_deactivated_member_leaves(
    directory_world: SlackWorld, bot_api: FakeBotAPI
) -> None:
    db = directory_world.db
    member = SlackPerson.of(directory_world, "UMEMBER", "Amy Chen", "en-US")
    await member.slash("/houqin", "my")
    await directory_world.settle()
    assert "not a member" not in member.dm[-1].shown
    assert await person_named(db, "Amy Chen") is not None
    # Telegram has no directory: there, a stranger is still turned away.
    outsider = TelegramPerson(bot_api, db, bot_api.user(6201, "路人", "zh-hans"))
    assert NOT_MEMBER_ZH in await outsider.says("/start")
    # The workspace deactivates her: she leaves, the system acting.
    user = {"id": "UMEMBER", "name": "amy", "deleted": True, "profile": {"real_name": "Amy Chen"}}
    await member.event({"type": "user_change", "user": user})
    await directory_world.settle()
    person = await person_named(db, "Amy Chen")
    assert person is not None and person.left_at is not None
    await member.writes("hello")
    await directory_world.settle()
    assert "not a member yet" in member.dm[-1].shown
    assert ("org.leave", f"person:{person.id}", "ok") in await audit_actions(db, "org.leave")
    # The same event again (Slack retries) changes nothing more.
    await member.event({"type": "user_change", "user": user})
    await directory_world.settle()
    assert len(await audit_actions(db, "org.leave")) == 1
    async with db.unit_of_work() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "UMEMBER"))
        assert account is not None and account.person_id == person.id


async def test_a_department_code_typed_in_slack_makes_a_member_once(members_only: SlackWorld) -> None:
    db = members_only.db
    opened = (await WebPerson(members_only.http, "admin").says("/org invite dept it")).text
    code = re.search(r"[0-9a-f]{24}", opened)
    assert code is not None
    newcomer = SlackPerson.of(members_only, "UNEW", "Nina Park", "en-US")
    await newcomer.writes(code.group())
    await members_only.settle()
    assert "Welcome, Nina Park" in newcomer.dm[-1].shown
    person = await person_named(db, "Nina Park")
    assert person is not None and person.department is not None and person.department.code == "it"
    await newcomer.slash("/houqin", f"start join_{code.group()}")
    await members_only.settle()
    assert "already joined" in newcomer.dm[-1].shown
    async with db.unit_of_work() as session:
        assert (
            len((await session.scalars(select(ChannelAccount).where(ChannelAccount.external_id == "UNEW"))).all()) == 1
        )


async def test_a_deactivated_members_requisition_is_cancelled_and_its_stock_released(
    directory_world: SlackWorld,
) -> None:
    db = directory_world.db
    wang_on_slack = await link_slack(directory_world, "UWANG", "wang.fang")
    number = await markers_requested(WebPerson(directory_world.http, "wang.fang"), "3")
    assert await stock_of(db, "MARKER-WB") == (60, 3)
    user = {"id": "UWANG", "name": "wang", "deleted": True}
    await wang_on_slack.event({"type": "user_change", "user": user})
    await directory_world.settle()
    assert (await requisition(db, number)).status == "cancelled"
    assert await stock_of(db, "MARKER-WB") == (60, 0)
    # Her browser account is hers too: turned away there as well.
    assert NOT_MEMBER_ZH in await WebPerson(directory_world.http, "wang.fang").says("/my")

"""Where the words tell someone to type a command, Slack gets it as Slack takes it: `/houqin my`,
not `/my` (Slack's composer has only the app's own slash commands; /repair is one of them). The
catalogs write such a command as {/my}; the browser chat and Telegram still read /my."""

from __future__ import annotations

import re

from tests.clock import days_from_today
from tests.dialog.admin_people import link_slack
from tests.dialog.slack_person import SlackPerson, SlackWorld
from tests.dialog.test_slack_repair import report_leak
from tests.dialog.web_person import WebPerson

BARE_HINT = re.compile(r"(?<!/houqin )(?<![\w/])/(my|cancel|help|lang|requisitions|delegate|role|settings)\b")


def everything_seen(*people: SlackPerson) -> str:
    shown = [message.shown for person in people for message in person.dm]
    shown += [person.page for person in people if person.modal is not None]
    return "\n".join(shown)


async def test_a_slack_person_is_told_slacks_own_way_to_type_a_command(slack_office: SlackWorld) -> None:
    wang = await link_slack(slack_office, "UWANG", "wang.fang")
    await wang.slash("/houqin", "help")
    help_text = wang.dm[-1].shown
    assert "/houqin my — 我的申请及进度" in help_text
    assert "/houqin cancel — 退出当前流程" in help_text
    assert "/repair — " in help_text and "/supply — " in help_text  # the app's own slash commands stay

    number = await report_leak(wang)
    assert wang.latest(number).shown.endswith("处理进展会通知你，发送 /houqin my 可随时查看。")
    await wang.writes("我想问一下")
    assert wang.dm[-1].shown.endswith("或发送 /houqin help 查看帮助。")
    await wang.slash("/repair")
    await wang.slash("/houqin", "requisitions")  # something else, halfway through a report
    assert "请先回答上面的问题，或发送 /houqin cancel 退出。" in wang.page

    # A notice queued for someone else is rendered for Slack too: the approver's delegate hears of it.
    huang = await link_slack(slack_office, "UHUANG", "huang.li")  # manager of finance
    li = await link_slack(slack_office, "ULI", "li.na")
    await huang.slash("/houqin", f"delegate 李娜 {days_from_today(1)} {days_from_today(10)}")
    assert li.dm[-1].shown.endswith("发送 /houqin requisitions 查看待审批的申领。")
    await huang.slash("/houqin", "delegate")
    assert huang.dm[-1].shown.endswith("发送 /houqin delegate off 取消。")

    admin = await link_slack(slack_office, "UADM", "admin")
    await admin.slash("/houqin", "admin")
    assert "• /houqin role grant|revoke @用户名 角色 [部门|专长]：授予或收回角色" in admin.dm[-1].shown
    assert "• /survey：调查列表；/survey import|launch|close|results|export" in admin.dm[-1].shown
    await admin.slash("/houqin", "settings")
    assert admin.dm[-1].shown.startswith("⚙️ 系统设置（/houqin settings 项目 值 可修改）：")

    assert BARE_HINT.findall(everything_seen(wang, huang, li, admin)) == []


async def test_the_browser_chat_still_reads_the_command_as_typed_there(slack_office: SlackWorld) -> None:
    """The same words at the same time in the same Houqin, for a reader who is not on Slack."""
    wang = await link_slack(slack_office, "UWANG", "wang.fang")
    await wang.slash("/houqin", "help")
    said = await WebPerson(slack_office.http, "li.na").says("/help")
    assert "/my — 我的申请及进度" in said and "/houqin" not in said.text
    assert "/houqin my" in wang.dm[-1].shown

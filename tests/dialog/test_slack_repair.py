"""Repairs in Slack: signed payloads through Bolt into Houqin, a fake Slack Web API behind it.

A report is a modal, page by page (one typed step each); the technician's card is a Block Kit
message in their DM, edited in place with chat.update as the ticket moves.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select

from storage.db import Database
from storage.models import Ticket
from tests.dialog.slack_person import SlackPerson

TICKET = re.compile(r"R-\d{4}-\d{6}")


async def test_a_leak_reported_in_a_modal(db: Database, slack_user: Callable[..., SlackPerson]) -> None:
    wang = slack_user("UWANG", "小王")
    await wang.slash("/repair")
    assert "需要维修的是哪一类？" in wang.page
    await wang.chooses("给排水")
    assert "在哪栋楼？" in wang.page
    await wang.chooses("教学楼")
    assert "在哪个房间？" in wang.page
    await wang.chooses("301 三楼卫生间")
    await wang.types("短")
    assert wang.errors, wang.page
    await wang.types("洗手池水龙头关不紧，一直滴水")
    assert "照片" in wang.page, (wang.errors, wang.page)
    await wang.submits()  # no photos from Slack
    await wang.chooses("一般")
    assert "请确认报修信息" in wang.page
    await wang.submits()
    assert wang.modal is None
    done = wang.dm[-1].shown
    number = TICKET.search(done)
    assert number is not None, done
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
        assert ticket is not None and ticket.channel == "slack"

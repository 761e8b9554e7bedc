"""A vehicle in Slack, in English and Chinese: Emma asks for a car in a modal, her manager Sarah
approves from the card in her DM, 林华 assigns a vehicle and a driver in a modal opened by the card's
button, and the driver 周军 finishes the trip with its mileage."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.service import build_service
from storage.db import Database
from tests.bookings import TUESDAY_MORNING, on_clock, ticking
from tests.dialog.admin_people import link_slack
from tests.dialog.conftest import slack_settings, slack_world_for
from tests.dialog.slack_person import SlackWorld
from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture
async def office(db: Database, slack_api: FakeSlackAPI) -> AsyncIterator[SlackWorld]:
    settings = slack_settings(db, slack_api, web_enabled=True, demo_mode=True)
    async for world in slack_world_for(on_clock(build_service(settings), ticking(TUESDAY_MORNING)), slack_api, db):
        yield world


async def test_a_car_through_slack_from_request_to_mileage(office: SlackWorld) -> None:
    lin = await link_slack(office, "ULIN", "lin.hua")
    emma = await link_slack(office, "UEMMA", "emma.clark", "en-US")
    sarah = await link_slack(office, "USARAH", "sarah.lin", "en-US")
    zhou = await link_slack(office, "UZHOU", "zhou.jun")
    await lin.slash("/houqin", "book vehicle 沪A12345 7 商务车 @zhou.jun")
    assert "已登记车辆：沪A12345 商务车（7 座），司机：周军" in lin.dm[-1].shown

    await emma.slash("/houqin", "book car")
    assert "Where to?" in emma.page
    await emma.types("Pudong airport")
    await emma.types("2")
    await emma.types("Meet the auditors")
    await emma.chooses("Tomorrow")
    await emma.chooses("08:30")
    await emma.chooses("3 hours")
    assert "Destination: Pudong airport\n2 passengers" in emma.page
    await emma.submits()
    assert "Vehicle request V-2026-000001 sent: your department's manager decides first." in emma.dm[-1].shown

    await office.settle()
    assert "A vehicle request to decide:\n🚗 V-2026-000001 · Emma Clark" in sarah.latest("V-2026-000001").shown
    await sarah.presses("✔ Approve")
    await office.settle()
    assert "Approved V-2026-000001: logistics will assign a vehicle." in sarah.dm[-1].shown
    assert "Sarah Lin approved your vehicle request V-2026-000001" in emma.latest("approved").shown

    await lin.presses("🚗 派车")  # the card's button opens the assignment as a modal
    assert "派哪辆车？" in lin.page
    await lin.chooses("沪A12345 商务车")
    await lin.chooses("周军")
    assert "车辆：沪A12345 商务车\n司机：周军" in lin.page
    await lin.submits()
    await office.settle()
    assert "已派车 V-2026-000001：沪A12345 商务车，司机 周军。" in lin.dm[-1].shown
    assert (
        "Your vehicle request V-2026-000001 is assigned: 沪A12345 商务车, driven by 周军"
        in emma.latest("assigned").shown
    )
    assert "🚗 你有一趟出车任务（沪A12345 商务车）" in zhou.latest("出车任务").shown

    await zhou.presses("🏁 行程结束")
    assert "本趟行驶了多少公里？" in zhou.page
    await zhou.types("62")
    assert "行程 V-2026-000001 已结束，里程 62 公里。" in zhou.dm[-1].shown

"""One rule for the language a person is spoken to in: their own choice, else their app's, else the
organisation's default as changed from chat (/settings default_language), else the environment's.
Every view follows it: a turn, the command menu, a home screen (Slack's App Home), a step page (a
Slack modal)."""

from __future__ import annotations

from collections.abc import Callable

from handlers.core.conversation import Inbound, Kind, Sender
from handlers.core.engine import Houqin
from storage.db import Database
from storage.models import OrgSetting

ALEX = Sender("slack", "U-ALEX", "D-ALEX", "Alex")  # their app says no language


async def test_a_home_screen_and_a_step_page_speak_the_organisations_default_language(
    db: Database, separate_process: Callable[..., Houqin]
) -> None:
    houqin = separate_process()  # the environment's default is zh_CN
    home, locale = await houqin.overview(ALEX)
    assert locale == "zh_CN" and "你目前没有未完成的" in home.text
    await houqin.handle(Inbound(ALEX, Kind.COMMAND, "1", command="repair"))
    async with db.unit_of_work() as session:
        session.add(OrgSetting(key="default_language", value="en"))
    home, locale = await houqin.overview(ALEX)
    assert locale == "en" and "You have no open requests" in home.text
    page = await houqin.current_step(ALEX)
    assert page is not None and page.flow_title == "Report a repair" and page.back == "← Back"

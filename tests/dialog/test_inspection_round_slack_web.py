"""An inspection round walked on Slack (a modal page per item, through Bolt's request handling against
the fake Slack Web API) and in the browser chat (its HTTP API), in English: the same round as on
Telegram, a fault opening a repair ticket with its photo, the round going on where it stopped after
a restart, and its number at the end."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select

from bot.areas import AREAS
from handlers.inspections.routes import keep, parse, resolve
from storage.db import Database
from storage.models import InspectionResult, InspectionRound, Photo, Ticket
from tests.dialog.admin_people import link_slack
from tests.dialog.inspection_routes import FIRE_ROUND, every_day_a_working_day
from tests.dialog.slack_person import SlackWorld
from tests.dialog.telegram_person import PNG_BYTES
from tests.dialog.web_person import WebPerson, browser_chat

# Walked by the IT technicians (Tom Baker reads English).
IT_ROUND = FIRE_ROUND.replace("specialty: electrical", "specialty: it")


async def route_imported(admin: WebPerson) -> None:
    """The logistics admin sends the route file from the browser chat."""
    heard = await admin.sends_file(IT_ROUND.encode(), "fire.yml", caption="/inspect import")
    assert "行政楼消防巡检（FIRE-A）" in heard.text, heard.texts
    assert "已导入" in (await admin.presses("✔")).text


async def test_a_round_on_slack_page_by_page(db: Database, slack_office: SlackWorld) -> None:
    await every_day_a_working_day(db)
    async with db.unit_of_work() as session:  # imported by the logistics admin (as on Telegram)
        await keep(session, await resolve(session, parse("fire.yml", IT_ROUND.encode())), None)
    tom = await link_slack(slack_office, "UTOM", "tom.baker", locale="en-US")

    await tom.slash("/houqin", "inspect")
    # Due at 23:59 so it is not late, but in the day's last minute it is (the service runs on the real clock).
    assert re.search(
        r"Your round today \(1\):\n• Admin building fire round · due 23:59 · (⚠️ late, )?not started", tom.dm[-1].shown
    )
    await tom.presses("▶ Start")
    assert "Checkpoint 1/2: Hall fire point" in tom.page and "Extinguishers in place" in tom.page
    await tom.chooses("✅ OK")
    assert "Type the reading in MPa (normal: 0.8–1.2 MPa)." in tom.page
    await tom.types("0.1")
    assert "What is wrong with “Pressure gauge” at Hall fire point (read 0.1 MPa, normal 0.8–1.2 MPa)?" in tom.page
    await tom.types("The needle is at zero: refill it")
    await tom.attaches(PNG_BYTES)
    assert "Photo of the hydrant cabinet" in tom.page
    await tom.attaches(PNG_BYTES)
    assert "Anything to note?" in tom.page
    await tom.types("Nothing else")
    assert re.search(r"faults 1\. Repair tickets: R-\d{4}-000001\.", tom.page), tom.page
    await tom.submits()
    assert re.search(r"✅ Round I-\d{4}-000001 done: Admin building fire round, faults 1\.", tom.dm[-1].shown or "")

    async with db.unit_of_work() as session:
        round_ = await session.scalar(select(InspectionRound))
        ticket = await session.scalar(select(Ticket))
        assert round_ is not None and round_.status == "done" and ticket is not None
        failed = await session.scalar(select(InspectionResult).where(InspectionResult.outcome == "fail"))
        assert failed is not None and (failed.value, failed.ticket_id, failed.opened_ticket) == ("0.1", ticket.id, True)
        assert [p.ticket_id for p in (await session.scalars(select(Photo).order_by(Photo.id))).all()] == [
            ticket.id,
            None,
        ]


async def test_a_round_in_the_browser_chat(db: Database, person: Callable[[str], WebPerson]) -> None:
    await every_day_a_working_day(db)
    await route_imported(person("lin.hua"))
    tom = person("tom.baker")
    assert "Your round today (1)" in (await tom.says("/inspect")).text
    assert "Checkpoint 1/2: Hall fire point" in (await tom.presses("▶ Start")).text
    heard = await tom.presses("❌ Fault")
    assert heard.texts == [
        "What is wrong with “Extinguishers in place” at Hall fire point (found not in order)? "
        "Describe it for the technician."
    ]
    await tom.says("One extinguisher is missing")
    assert "1 photo received" in (await tom.sends_photo(PNG_BYTES)).text
    heard = await tom.presses("Done")
    assert re.fullmatch(
        r"🛠 Repair ticket opened: ✅ Repair request submitted: R-\d{4}-000001\.\n.*", heard.texts[0], re.S
    )
    assert "Pressure gauge\nType the reading in MPa (normal: 0.8–1.2 MPa)." in heard.texts[1]
    assert "Photo of the hydrant cabinet" in (await tom.says("1.0")).text
    # Houqin restarts halfway through the round: the next answer goes on where it stopped.
    async with browser_chat(db, AREAS) as restarted:
        again = WebPerson(restarted, "tom.baker")
        assert "Anything to note? Type it, or press Skip." in (await again.sends_photo(PNG_BYTES)).text
        heard = await again.presses("Skip")
        assert re.fullmatch(
            r"Admin building fire round: checkpoints 2, items answered 4, faults 1\. Repair tickets: R-\d{4}-000001\.",
            heard.texts[0],
        )
        heard = await again.presses("✔ Submit")
    assert re.fullmatch(r"✅ Round I-\d{4}-000001 done: Admin building fire round, faults 1\..*", heard.texts[0])
    async with db.unit_of_work() as session:
        outcomes = (await session.scalars(select(InspectionResult.outcome).order_by(InspectionResult.id))).all()
        assert outcomes == ["fail", "ok", "ok", "ok"]

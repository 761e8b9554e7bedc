"""`houqin jobs` and `houqin digest --now`, as an operator runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from bot.areas import AREAS
from bot.cli import main
from handlers.core.rules import RepairRules
from jobs.scheduler import Jobs
from storage.db import Database
from storage.demo import seed_database
from storage.models import OutboxMessage
from tests.jobs.org import SCHEDULE, Clock, local


async def queued(url: str) -> int:
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)
    finally:
        await db.dispose()


def test_an_operator_lists_the_jobs_previews_a_digest_and_sends_one(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("DATABASE_URL", database_url)
    asyncio.run(seed_database(database_url))

    assert main(["jobs"]) == 0
    listed = capsys.readouterr().out
    assert "weekly_digest: the weekly digest to managers, logistics admins and admins\n  next run: " in listed
    assert "Mon (Asia/Shanghai)\n  no runs yet" in listed
    assert listed.count("next run:") == 7  # with the monthly scorecards, inspections.plan and bookings.attendance

    assert main(["digest", "--now", "--dry-run", "--to", "sarah.lin"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("=== Sarah Lin (15), dept:it, en\n📊 Weekly digest — IT Centre, ")
    chart = tmp_path / "var/digest/digest-15-dept-it.png"
    assert f"[chart: var/digest/{chart.name}]" in shown
    assert Image.open(chart).format == "PNG"
    assert asyncio.run(queued(database_url)) == 0, "a dry run sends nothing"

    assert main(["digest", "--now", "--to", "Sarah Lin"]) == 0
    assert capsys.readouterr().out == "digest: sent 1, already sent 0\n"
    assert main(["digest", "--now", "--to", "15"]) == 0
    assert capsys.readouterr().out == "digest: sent 0, already sent 1\n", "once a day on demand"
    assert asyncio.run(queued(database_url)) == 1

    assert main(["digest", "--now", "--to", "nobody"]) == 2
    assert "houqin: nobody is called 'nobody'" in capsys.readouterr().err

    asyncio.run(caught_up(database_url))  # the service started on Monday at 09:00
    assert main(["jobs"]) == 0
    listed = capsys.readouterr().out
    assert "  2026-11-23 09:00  2026-W48  sent 7, already sent 0\n" in listed
    assert "  2026-11-23 09:00  2026-11-23T09:00  sent 0, already sent 0\n" in listed  # reminders


async def caught_up(url: str) -> None:
    db = Database(url)
    try:
        await Jobs(db, SCHEDULE, RepairRules(), areas=AREAS, clock=Clock(local(23, 9))).catch_up()
    finally:
        await db.dispose()

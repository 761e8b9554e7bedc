"""`houqin backup` and `houqin restore`: what people did through the flows, backed up while Houqin
serves, comes back whole in a fresh database — every table, row for row, photos included."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select

from bot.cli import back_up, restore_backup
from bot.service import core_jobs
from bot.settings import load_settings
from handlers.core.rules import RepairRules
from jobs.backups import BACKUP
from jobs.runs import last_runs
from jobs.scheduler import Jobs
from storage import backup
from storage.db import Database
from storage.migrate import check_current
from storage.models import Base, Photo, Ticket
from tests.conftest import PG_ADMIN_DSN, _pg_url
from tests.dialog.web_person import PNG_1X1, WebPerson
from tests.jobs.org import SCHEDULE, Clock, local

NUMBER = re.compile(r"R-\d{4}-\d{6}")


async def every_row(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows, in primary-key order, as the database gives them back."""
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            tables = {}
            for table in Base.metadata.sorted_tables:
                rows = await session.execute(select(table).order_by(*table.primary_key.columns))
                tables[table.name] = [tuple(row) for row in rows]
            return tables
    finally:
        await db.dispose()


@pytest.fixture
async def fresh_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the same kind, for the restore (not even migrated)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'houqin.db'}"
        return
    name = f"{database_url.rsplit('/', 1)[1]}_restored"
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield _pg_url(name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def report_a_light(who: WebPerson, room: str) -> str:
    await who.says("/repair")
    await who.presses("电气照明")
    await who.presses("行政楼")
    await who.presses(room)
    await who.says("会议室的灯一直闪，开会时很影响")
    await who.sends_photo(PNG_1X1)
    await who.presses("完成")
    await who.presses("较急")
    done = await who.presses("✔ 提交")
    found = NUMBER.search(done.text)
    assert found is not None, done.text
    return found.group()


async def test_what_the_flows_wrote_comes_back_whole_in_a_fresh_database(
    db: Database, person: Callable[[str], WebPerson], fresh_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wang, li = person("wang.fang"), person("li.na")
    number = await report_a_light(wang, "201 第一会议室")
    assert "建言献策" in await li.says("/suggest")  # and Li is halfway through a suggestion

    settings = load_settings(database_url=db.url, backup_dir=tmp_path / "backups")
    assert await back_up(settings, None) == 0
    [written] = list((tmp_path / "backups").iterdir())
    assert written.name.startswith("houqin-") and f"backup written: {written}" in capsys.readouterr().out

    assert await restore_backup(load_settings(database_url=fresh_url), written, force=False) == 0
    await asyncio.to_thread(check_current, fresh_url)  # migrated: `houqin run` starts on it
    assert await every_row(fresh_url) == await every_row(db.url)
    restored = Database(fresh_url)
    async with restored.unit_of_work() as session:
        assert await session.scalar(select(Photo.content).join(Ticket).where(Ticket.number == number)) == PNG_1X1
    await restored.dispose()


async def test_a_backup_taken_while_people_report_holds_each_ticket_whole(
    db: Database, person: Callable[[str], WebPerson], fresh_url: str, tmp_path: Path
) -> None:
    reporters = [person(key) for key in ("wang.fang", "li.na", "zhang.wei")]
    rooms = ("201 第一会议室", "101 接待大厅", "305 财务处办公室")
    reporting = [asyncio.create_task(report_a_light(who, room)) for who, room in zip(reporters, rooms, strict=True)]
    await asyncio.sleep(0.05)
    written = await backup.backup(db.url, tmp_path / "houqin-now.bak")
    numbers = await asyncio.gather(*reporting)

    await backup.restore(fresh_url, written)
    restored = Database(fresh_url)
    async with restored.unit_of_work() as session:
        kept = (await session.scalars(select(Ticket).order_by(Ticket.id))).all()
        assert {t.number for t in kept} <= set(numbers)
        for ticket in kept:  # each written in one transaction: all of it, or none of it
            assert [e.to_status for e in ticket.history][:2] == ["new", "assigned"]
            assert (
                await session.scalar(select(func.count()).select_from(Photo).where(Photo.ticket_id == ticket.id)) == 1
            )
    await restored.dispose()


async def test_a_restore_refuses_a_database_in_use_and_a_file_that_is_no_backup(
    db: Database, fresh_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = await backup.backup(db.url, tmp_path / "houqin-now.bak")
    # Into the database it came from: that one is not empty, and stays as it is.
    rows = await every_row(db.url)
    assert await restore_backup(load_settings(database_url=db.url), written, force=False) == 1
    refused = capsys.readouterr().err
    assert "the database is not empty" in refused and "--force" in refused
    assert await every_row(db.url) == rows
    not_one = tmp_path / "notes.txt"
    not_one.write_text("hello")
    assert await restore_backup(load_settings(database_url=fresh_url), not_one, force=False) == 1
    assert "is not a Houqin backup" in capsys.readouterr().err
    assert await backup.tables_of(fresh_url) == []  # nothing was written


async def test_the_daily_backup_keeps_the_newest_few(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    for day in range(1, 10):
        (folder / f"houqin-202612{day:02d}-024500.sqlite3").write_bytes(b"x")
    (folder / "notes.txt").write_text("not ours")
    gone = backup.keep_last(folder, 7)
    assert [p.name[7:15] for p in gone] == ["20261201", "20261202"]
    assert sorted(p.name for p in folder.iterdir())[0] == "houqin-20261203-024500.sqlite3"
    assert (folder / "notes.txt").exists()


async def test_the_daily_backup_runs_once_a_day_whichever_process_comes_first(db: Database, tmp_path: Path) -> None:
    settings = load_settings(database_url=db.url, backup_dir=tmp_path / "daily", backup_keep=3)
    clock = Clock(local(24, 3))  # Tuesday 03:00, after the 02:45 backup time
    first, second = (Jobs(db, SCHEDULE, RepairRules(), table=core_jobs(settings), clock=clock) for _ in range(2))
    await asyncio.gather(first.fire(first.job(BACKUP)), second.fire(second.job(BACKUP)))
    [written] = list((tmp_path / "daily").iterdir())
    assert written.read_bytes().startswith(b"SQLite format 3" if db.url.startswith("sqlite") else b"PGDMP")
    assert [(period, outcome) for period, outcome in await runs(db)] == [("2026-11-24", written.name)]


async def runs(db: Database) -> list[tuple[str, str | None]]:
    return [(run.period, run.outcome) for run in await last_runs(db, BACKUP)]

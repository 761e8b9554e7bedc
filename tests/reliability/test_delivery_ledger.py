"""The harness's own eyes: a delivery ledger that can no longer read processed_deliveries says so and
fails the scenario, rather than showing an old view a scenario would judge Houqin by."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import Database
from tests.reliability.harness import DeliveryLedger, HarnessError


async def test_a_ledger_that_cannot_read_fails_the_scenario(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "houqin.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        with pytest.raises(HarnessError, match="has not read processed_deliveries"):
            async with DeliveryLedger(db.url, blind_limit=0.3) as ledger:
                assert ledger.replied == set()
                async with db.unit_of_work() as session:  # what it reads is gone from under it
                    await session.execute(text("ALTER TABLE processed_deliveries RENAME TO elsewhere"))
                await asyncio.sleep(0.6)
                assert ledger.failures > 0
                ledger.replied  # noqa: B018 - reading it is what must fail
    finally:
        await db.dispose()


async def test_a_ledger_blind_at_the_end_fails_the_scenario(sqlite_template: Path, tmp_path: Path) -> None:
    path = tmp_path / "houqin.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        with pytest.raises(Exception, match="processed_deliveries"):
            async with DeliveryLedger(db.url), db.unit_of_work() as session:
                await session.execute(text("ALTER TABLE processed_deliveries RENAME TO elsewhere"))
    finally:
        await db.dispose()

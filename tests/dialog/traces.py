"""Where an anonymous answer's words ended up: the tables holding them, and what was logged meanwhile
(with the transport loggers as `houqin run` keeps them). For the channels' anonymity tests."""

from __future__ import annotations

import json
import logging

import pytest

from bot.channels.registry import TRANSPORT_LOGGERS
from storage.db import Database
from storage.models import Base


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What was logged since caplog was last cleared; the transport loggers' levels let go after."""
    lines = [record.getMessage() for record in caplog.records]
    for name in TRANSPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    return lines


async def tables_holding(db: Database, words: str) -> set[str]:
    """Every table with a row in which these words appear, in any column."""
    holding = set()
    async with db.unit_of_work() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(table.select())).mappings():
                if words in json.dumps(dict(row), default=str, ensure_ascii=False):
                    holding.add(table.name)
    return holding

"""LOG_FORMAT=json: every line Houqin logs is one JSON object a collector can read, saying which
delivery or job it is about, and never what a person said or, when anonymous, who they are."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.channels.registry import TRANSPORT_LOGGERS, quieten_transport
from bot.logs import handler_for
from bot.service import AREAS
from bot.settings import LogFormat
from handlers.core.rules import RepairRules
from jobs.scheduler import REMINDERS, Jobs
from storage.db import Database
from tests.dialog.web_person import WebPerson
from tests.jobs.org import SCHEDULE, Clock, local


class JsonLog:
    def __init__(self) -> None:
        self.written = io.StringIO()

    def lines(self) -> list[dict[str, Any]]:
        """Each line written so far, parsed: a line that is not one JSON object fails here."""
        return [json.loads(line) for line in self.written.getvalue().splitlines()]


@pytest.fixture
def json_log() -> Iterator[JsonLog]:
    """What Houqin logs meanwhile, at DEBUG, as LOG_FORMAT=json writes it (the transports kept quiet
    as `houqin run` keeps them)."""
    log = JsonLog()
    handler = handler_for(LogFormat.JSON, log.written)
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *TRANSPORT_LOGGERS)}
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    quieten_transport()
    yield log
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


async def test_each_line_is_json_about_its_delivery_and_keeps_no_anonymous_words_or_names(
    db: Database, person: Callable[[str], WebPerson], json_log: JsonLog
) -> None:
    wang = person("wang.fang")
    await wang.says("/suggest")
    await wang.presses("食堂")
    await wang.says("希望食堂每周增加一次川菜")
    await wang.presses("跳过")
    await wang.presses("🔒 匿名")
    await wang.presses("📢 公开")
    assert "已提交" in await wang.presses("✔ 提交")

    lines = json_log.lines()
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    handled = [line for line in lines if line["message"] == "handled"]
    assert len(handled) == 7 and all(line["channel"] == "web" and line["delivery"] for line in handled)
    assert all(isinstance(line["duration_ms"], float) for line in handled)
    everything = json_log.written.getvalue()
    for trace in ("川菜", "王芳", "wang.fang"):
        assert trace not in everything


async def test_a_job_line_names_the_job_and_how_long_it_took(db: Database, json_log: JsonLog) -> None:
    jobs = Jobs(db, SCHEDULE, RepairRules(), areas=AREAS, clock=Clock(local(24, 10) + timedelta(seconds=1)))
    await jobs.fire(jobs.job(REMINDERS))
    [done] = [line for line in json_log.lines() if line.get("job") == REMINDERS and "duration_ms" in line]
    assert (
        done["level"] == "INFO" and done["logger"] == "jobs.scheduler" and done["message"].startswith("reminders for")
    )

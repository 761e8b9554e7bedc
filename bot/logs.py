"""How Houqin writes its log: plain lines by default, or one JSON object a line (LOG_FORMAT=json) for a
log collector, with what each line is about (handlers/core/logcontext.py: channel, delivery, job)."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from bot.channels.registry import quieten_transport
from bot.settings import LogFormat
from handlers.core.logcontext import ABOUT

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The record's own names, as a collector expects them.
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}


class About(logging.Filter):
    """Lays the current delivery's or job's fields onto each record (a record's own extra wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in ABOUT.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def handler_for(form: LogFormat, stream: TextIO = sys.stderr) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    if form is LogFormat.JSON:
        formatter = JsonFormatter(
            ["asctime", "levelname", "name", "message"],
            rename_fields=RENAMED,
            datefmt="%Y-%m-%dT%H:%M:%S%z",
            json_ensure_ascii=False,
        )
        handler.setFormatter(formatter)
        handler.addFilter(About())
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    return handler


def configure(level: str, form: LogFormat, stream: TextIO = sys.stderr) -> None:
    """The root logger's one handler, at LOG_LEVEL, with the transports kept quiet."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler_for(form, stream))
    root.setLevel(level.upper())
    # Transport loggers would write people's words and tokens (bot/channels/registry.py).
    quieten_transport()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

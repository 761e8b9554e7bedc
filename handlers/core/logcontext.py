"""What a log line is about: the delivery or the job being handled, for structured logs (LOG_FORMAT=json).

Set where the work begins (Houqin.handle: its channel and delivery key; the scheduler: the job) and
read by the log formatter (bot/logs.py) for every line written meanwhile. Never a person's words or who
they are: a channel, a delivery key, a job name, a duration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

ABOUT: ContextVar[Mapping[str, str]] = ContextVar("log_about", default=MappingProxyType({}))


def tag(delivery_key: str) -> str:
    """A delivery as its log lines name it: the same for each line of it, and naming nobody (a browser
    chat's key starts with the person's handle)."""
    return hashlib.blake2s(delivery_key.encode(), digest_size=6).hexdigest()


@contextmanager
def about(**fields: str) -> Iterator[None]:
    token = ABOUT.set({**ABOUT.get(), **fields})
    try:
        yield
    finally:
        ABOUT.reset(token)

"""What Houqin counts for Prometheus (GET /metrics, METRICS_ENABLED): updates and their handling time,
notices sent, job runs, counted as they happen in this process; and, read from the database when
scraped, what every process shares: the outbox, whether the database answers, and the areas' own
figures (Area.gauges: open tickets, approvals waiting…).

Counters are per process (Prometheus adds up the instances it scrapes); what is read from the database
is the same whichever process is asked, so several processes need no shared metrics directory.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, PlatformCollector, ProcessCollector
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database

# Houqin's own registry (not the library's global one): what it counts, with the process's CPU,
# memory and Python version beside it; a module imported afresh (tests do) starts a registry afresh.
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

UPDATES = Counter(
    "houqin_updates",
    "Updates handled, by channel and outcome (handled, repeat, failed)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
HANDLING = Histogram(
    "houqin_handling_seconds",
    "Time to handle one update in the core, by channel",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
NOTICES = Counter(
    "houqin_notices",
    "Notices to people (cards, reminders, digests), by channel and outcome: sent; retry_later (the "
    "platform asked to wait: 429s); held (our own pacing); unreachable; failed",
    ["channel", "outcome"],
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "houqin_job_runs",
    "Scheduled job runs, by job and outcome (done, skipped, failed)",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_LAST_SUCCESS = Gauge(
    "houqin_job_last_success_timestamp_seconds",
    "When each job last finished its period (Unix time)",
    ["job"],
    registry=REGISTRY,
)
BUILD = Info("houqin_build", "The running Houqin", registry=REGISTRY)
BUILD.info({"version": metadata.version("houqin"), "python": sys.version.split()[0]})


@dataclass(frozen=True)
class Reading:
    """One value read from the database when /metrics is asked: a gauge, with its labels."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


# An area's figures for /metrics: read in the scrape's transaction, at its moment.
Gauges = Callable[[AsyncSession, datetime], Awaitable[Sequence[Reading]]]


async def read_all(db: Database, gauges: Iterable[Gauges], now: datetime) -> list[Reading]:
    """Everything read from the database for one scrape (the outbox's, the areas'); a database that
    does not answer is said so."""
    up = Reading("houqin_database_up", "Whether the database answers (1) or not (0)", 1.0)
    try:
        async with db.unit_of_work() as session:
            readings: list[Reading] = []
            for area_gauges in gauges:
                readings.extend(await area_gauges(session, now))
    except Exception:  # unreachable, or a query failed: the scrape still answers, saying so
        return [Reading(up.name, up.help, 0.0)]
    return [up, *readings]

"""The test's own clock for services that run on the real one: dates a test types are derived from
it, never written out, so the suite means the same on any day (`make test` also runs under a shifted
clock, see tests/shifted_clock.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the demo organisation's zone (TIMEZONE's default)


def today(zone: ZoneInfo = SHANGHAI) -> date:
    return datetime.now(zone).date()


def days_from_today(days: int, zone: ZoneInfo = SHANGHAI) -> str:
    """A date as people type it (YYYY-MM-DD), `days` after today in the organisation's zone."""
    return (today(zone) + timedelta(days=days)).isoformat()

"""Runs the tests that start a service or drive jobs with the clock moved, under libfaketime.

A suite that passes today may fail on a Monday morning (the digest is due), on the first working day
of a month (scorecards), across New Year or simply next year (a date typed into a test has passed).
`make test` runs one of these clocks after the ordinary run, taking them in turn commit by commit, so
every clock is exercised over four commits; `python -m tests.shifted_clock --clock all` runs them all.

The clock is moved by an offset (libfaketime's FAKETIME="+Ns"), not set to an instant, so processes
the tests start (`houqin run`) share the moved clock and it keeps running.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, time, timedelta

from tests.clock import SHANGHAI

# Where a date can matter: services, dialogs and jobs. Browser tests stay on the real clock
# (Chromium is not run under LD_PRELOAD), and so do the reliability scenarios (minutes each; they
# start `houqin run` like tests/e2e does). PostgreSQL twins are left out here: every time is taken
# in Python, never from the database server, which libfaketime could not move anyway.
PATHS = [
    "tests/jobs",
    "tests/dialog",
    "tests/e2e",
    "tests/test_ticket_rules.py",
    "tests/test_requisition_rules.py",
    "tests/test_survey_rules.py",
    "tests/test_scorecards.py",
]
SELECTION = "not postgresql"


def next_monday_10(now: datetime) -> datetime:
    """Monday 10:00 in Shanghai: two hours after the weekly digest, inside its catch-up window."""
    days = (7 - now.weekday()) % 7 or 7
    return datetime.combine(now.date() + timedelta(days=days), time(10), SHANGHAI)


def first_working_day_of_next_month_9(now: datetime) -> datetime:
    """09:00 on the first weekday of next month: the monthly scorecards' morning."""
    day = (now.replace(day=1) + timedelta(days=32)).replace(day=1).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(9), SHANGHAI)


def new_years_eve(now: datetime) -> datetime:
    """23:59:59 on 31 December: the run crosses midnight into a new year."""
    eve = datetime(now.year, 12, 31, 23, 59, 59, tzinfo=SHANGHAI)
    return eve if eve > now else eve.replace(year=now.year + 1)


def a_year_ahead(now: datetime) -> datetime:
    return now + timedelta(days=366)


CLOCKS: dict[str, Callable[[datetime], datetime]] = {
    "monday-10": next_monday_10,
    "month-start-9": first_working_day_of_next_month_9,
    "new-years-eve": new_years_eve,
    "year-ahead": a_year_ahead,
}


def in_turn() -> str:
    """This commit's clock: the number of commits so far picks the next in turn."""
    counted = subprocess.run(["git", "rev-list", "--count", "HEAD"], capture_output=True, text=True, check=False)
    number = int(counted.stdout.strip()) if counted.returncode == 0 and counted.stdout.strip().isdigit() else 0
    return list(CLOCKS)[number % len(CLOCKS)]


def run(name: str, pytest_args: list[str]) -> int:
    faketime = shutil.which("faketime")
    if faketime is None:
        if os.environ.get("CI"):
            print("shifted clock: faketime is required in CI (apt-get install faketime)", file=sys.stderr)
            return 1
        print("shifted clock: skipped, faketime is not installed (apt-get install faketime)")
        return 0
    now = datetime.now(SHANGHAI)
    moved_to = CLOCKS[name](now)
    offset = int((moved_to - now).total_seconds())
    print(f"shifted clock {name}: now is {moved_to:%Y-%m-%d %H:%M:%S %Z} ({offset:+d} s)", flush=True)
    paths = [arg for arg in pytest_args if not arg.startswith("-")] or PATHS
    options = [arg for arg in pytest_args if arg.startswith("-")]
    command = [faketime, "-f", f"{offset:+d}", sys.executable, "-m", "pytest", *paths, "-k", SELECTION,
               "-p", "no:cacheprovider", "-q", *options]  # fmt: skip
    return subprocess.run(command, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Other arguments go to pytest: test paths replace the default selection, options are added.",
    )
    parser.add_argument("--clock", choices=[*CLOCKS, "all", "in-turn"], default="in-turn")
    args, pytest_args = parser.parse_known_args()
    names = list(CLOCKS) if args.clock == "all" else [in_turn() if args.clock == "in-turn" else args.clock]
    failed = [name for name in names if run(name, pytest_args) != 0]
    if failed:
        print(f"shifted clock: failed at {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

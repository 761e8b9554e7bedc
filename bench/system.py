"""Whether the machine was quiet: CPU used by others while a benchmark ran.

On a shared 2-core machine someone else's test run halves what a benchmark measures, silently.
Others = all CPU time the kernel counted (/proc/stat) minus this process and its children, minus
PostgreSQL (its backends serve the benchmark) and kernel threads (mostly work on behalf of whoever
runs, us included). Short-lived processes are caught because the total comes from /proc/stat; our own
and PostgreSQL's come from a once-a-second scan of /proc (a backend that lived less than a second is
missed and shows up as "others", so this errs towards warning).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
KTHREADD = 2  # the parent of every kernel thread
SCAN_EVERY_S = 1.0


def _busy_seconds() -> float:
    """CPU seconds spent in user and system mode by everything, since boot."""
    user, nice, system = (int(value) for value in Path("/proc/stat").read_text().split()[1:4])
    return (user + nice + system) / TICKS


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid → (command, parent pid, CPU seconds so far) for every process we may read."""
    found: dict[int, tuple[str, int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # The command is in parentheses and may itself contain spaces or parentheses.
        command = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(entry.name)] = (command, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def _own_seconds() -> float:
    """This process (all threads) and the children it has reaped."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class SystemLoad:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.busy, self.own = _busy_seconds(), _own_seconds()
        self.first = _processes()
        self.last = dict(self.first)
        self._stop = threading.Event()
        self._scanner = threading.Thread(target=self._scan, name="system-load", daemon=True)
        self._scanner.start()

    def _scan(self) -> None:
        while not self._stop.wait(SCAN_EVERY_S):
            self.last.update(_processes())

    def finish(self) -> dict[str, float]:
        self._stop.set()
        self._scanner.join()
        now = _processes()
        self.last.update(now)
        elapsed = time.monotonic() - self.started
        me = os.getpid()
        descendants: set[int] = set()
        # A parent may have a higher pid than its child, so repeat until nothing is added.
        while True:
            more = {
                pid
                for pid, (_, parent, _) in self.last.items()
                if (parent == me or parent in descendants) and pid not in descendants
            }
            if not more:
                break
            descendants |= more
        accounted = _own_seconds() - self.own
        for pid, (command, parent, cpu) in self.last.items():
            earlier = self.first.get(pid)
            used = cpu - (earlier[2] if earlier is not None and earlier[0] == command else 0.0)
            # Reaped children are in os.times() already; live ones (the fake Telegram side) are not.
            live_child = pid in descendants and pid in now
            if live_child or command.startswith("postgres") or KTHREADD in (pid, parent):
                accounted += used
        others = max(0.0, _busy_seconds() - self.busy - accounted)
        return {"seconds": round(elapsed, 1), "others_busy_cores": round(others / elapsed, 2) if elapsed else 0.0}


def wait_until_quiet(limit_s: float, threshold_cores: float = 0.1, window_s: float = 3.0) -> bool:
    """Block until others use less than `threshold_cores` for a whole window; False at the limit."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        load = SystemLoad()
        time.sleep(min(window_s, max(0.1, deadline - time.monotonic())))
        if load.finish()["others_busy_cores"] < threshold_cores:
            return True
    return False

"""Resident memory from /proc (Linux), so no psutil is needed; kept import-light for the footprint worker."""

from __future__ import annotations

from pathlib import Path


def memory_mib(pid: int | str = "self") -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in MiB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(rest.split()[0]) / 1024
    return found

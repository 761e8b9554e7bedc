"""`python -m bench [NAME...] [--quick]`: run the benchmarks, print a table, write bench/results/latest.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    assignment,
    console,
    core_throughput,
    demo_past,
    digest,
    dingtalk,
    fan_out,
    feishu,
    footprint,
    handling_latency,
    scale_out,
    slack_ack,
    telegram,
    telegram_throughput,
    web_api,
    wecom,
)
from bench.common import Context, Databases, Row, machine
from bench.system import SystemLoad, wait_until_quiet

BENCHES: dict[str, Callable[[Context], Awaitable[list[Row]]]] = {
    telegram_throughput.NAME: telegram_throughput.run,
    handling_latency.NAME: handling_latency.run,
    core_throughput.NAME: core_throughput.run,
    scale_out.NAME: scale_out.run,
    web_api.NAME: web_api.run,
    slack_ack.NAME: slack_ack.run,
    footprint.NAME: footprint.run,
    digest.NAME: digest.run,
    fan_out.NAME: fan_out.run,
    demo_past.NAME: demo_past.run,
    assignment.NAME: assignment.run,
    feishu.ACK: feishu.run_ack,
    feishu.FAN_OUT: feishu.run_fan_out,
    dingtalk.NAME: dingtalk.run,
    wecom.NAME: wecom.run,
    console.NAME: console.run,
}
RESULTS = Path(__file__).parent / "results"
DISTURBED_CORES = 0.25  # other processes using more than this meanwhile make a result suspect


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Houqin's benchmarks (docs/PERFORMANCE.md)")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"which to run (default: all): {', '.join(BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="a short smoke variant of each, to check they work")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json", help="where to write the JSON")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each benchmark, wait up to SECONDS for other processes to leave the CPU alone",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=0,
        metavar="N",
        help="run a benchmark up to N more times while other processes disturb it; the least disturbed counts",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    # Houqin's per-delivery INFO lines, PTB's and httpx's request logs would drown the table.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    names = args.names or list(BENCHES)
    report = asyncio.run(run(names, quick=args.quick, wait_quiet=args.wait_quiet, retries=args.retries))
    report["seconds"] = round(time.perf_counter() - started, 1)
    print_table(report["results"])
    for note in report["notes"]:
        print(f"note: {note}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{len(report['results'])} results in {report['seconds']:.0f} s → {args.output}")
    return 1 if report["failed"] else 0


async def run(names: list[str], *, quick: bool, wait_quiet: float = 0.0, retries: int = 0) -> dict[str, Any]:
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": await machine(),
        "results": [],
        "load": {},
        "notes": [],
        "failed": [],
    }
    with tempfile.TemporaryDirectory(prefix="houqin-bench-") as workdir:
        ctx = Context(quick=quick, databases=Databases(Path(workdir)))
        try:
            for name in names:
                measured = await _measure(ctx, name, wait_quiet, retries)
                if isinstance(measured, str):
                    report["failed"].append(measured)
                    continue
                rows, load = measured
                report["results"].extend(row.as_dict() for row in rows)
                report["load"][name] = load
                if load["others_busy_cores"] > DISTURBED_CORES:
                    ctx.notes.append(
                        f"{name}: other processes kept {load['others_busy_cores']:.1f} cores busy meanwhile; "
                        "its numbers are disturbed, run it again on a quiet machine"
                    )
        finally:
            await telegram.shutdown()
            await ctx.databases.close()
        if ctx.databases.pg_problem:
            ctx.notes.append(f"PostgreSQL variants skipped: {ctx.databases.pg_problem}")
    report["notes"] = ctx.notes + [f"FAILED {failure}" for failure in report["failed"]]
    return report


async def _measure(
    ctx: Context, name: str, wait_quiet: float, retries: int
) -> tuple[list[Row], dict[str, float]] | str:
    """The benchmark's rows and the load meanwhile; up to `retries` more tries while others disturb it,
    keeping the least disturbed. A failure comes back as its description."""
    best: tuple[list[Row], dict[str, float]] | None = None
    for attempt in range(retries + 1):
        if wait_quiet and not await asyncio.to_thread(wait_until_quiet, wait_quiet):
            ctx.notes.append(f"{name}: the machine was still busy after waiting {wait_quiet:.0f} s")
        again = f", try {attempt + 1}" if attempt else ""
        print(f"running {name}{' (quick)' if ctx.quick else ''}{again} …", file=sys.stderr, flush=True)
        load = SystemLoad()
        try:
            rows = await BENCHES[name](ctx)
        except Exception as exc:  # one broken benchmark must not lose the others' numbers
            logging.getLogger("bench").exception("%s failed", name)
            return f"{name}: {type(exc).__name__}: {exc}"
        finished = load.finish()
        if best is None or finished["others_busy_cores"] < best[1]["others_busy_cores"]:
            best = (rows, finished)
        if finished["others_busy_cores"] <= DISTURBED_CORES:
            break
    assert best is not None
    return best


def print_table(results: list[dict[str, Any]]) -> None:
    header = ("benchmark", "variant", "metric", "value", "target", "meets")
    lines = [header]
    for row in results:
        value = row["value"]
        shown = "—" if value is None or (isinstance(value, float) and math.isnan(value)) else _number(value)
        meets = "" if row["meets"] is None else ("yes" if row["meets"] else "NO")
        lines.append((row["bench"], row["variant"], row["metric"], f"{shown} {row['unit']}", row["target"], meets))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for index, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())

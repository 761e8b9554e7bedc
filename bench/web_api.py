"""web-api: the browser chat's POST /api/web/messages during repair conversations.

The ASGI app as `houqin run --demo` builds it, called through httpx's ASGITransport (no sockets: the
client's own cost is in the numbers, the network's is not). Each demo person walks whole repair
conversations, pressing the buttons the previous answer showed; one person alone gives the latency
of a request with no queueing, all 20 demo people at once give the throughput.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import Context, Row, bench_settings, latency_rows
from bench.script import MAX_STEPS, START, Act, decide
from bot.app import create_app
from bot.service import build_service
from storage.demo import PEOPLE

NAME = "web-api"
LIMIT_S = 60.0  # one variant never runs longer than this, whatever happens


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    failures: list[str] = field(default_factory=list)


async def run(ctx: Context) -> list[Row]:
    conversations = 1 if ctx.quick else 5
    databases = await ctx.databases.both()
    rows: list[Row] = []
    everyone = [key for key, *_ in PEOPLE]
    for db_name, url in databases:
        for people in (everyone[:1], everyone):
            # Alone, four times the conversations: enough requests for a p99 that means something.
            measured = await measure(url, people, conversations * (4 if len(people) == 1 else 1))
            variant = f"{len(people)} {'person' if len(people) == 1 else 'people'}, {db_name}"
            rate = len(measured.latencies) / measured.elapsed
            note = f"{len(measured.latencies)} requests in {measured.elapsed:.1f} s"
            if measured.failures:
                note += f"; {len(measured.failures)} failed, first: {measured.failures[0][:120]}"
            rows.append(Row(NAME, variant, "requests/s", rate, "/s", note=note))
            rows.extend(latency_rows(NAME, variant, measured.latencies)[:2])
    return rows


async def measure(database_url: str, people: list[str], conversations: int) -> Measured:
    settings = bench_settings(database_url=database_url, demo_mode=True, web_enabled=True, telegram_bot_token="")
    service = build_service(settings)
    measured = Measured()
    try:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://houqin.bench", timeout=30) as client:
            await _conversation(client, people[0], Measured())  # warm-up, not counted
            started = time.perf_counter()
            deadline = started + LIMIT_S

            async def person(key: str) -> None:
                for _ in range(conversations):
                    if time.perf_counter() > deadline:
                        measured.failures.append(f"{key}: stopped at the {LIMIT_S:.0f} s limit")
                        return
                    try:
                        await _conversation(client, key, measured)
                    except (LookupError, KeyError, httpx.HTTPError) as exc:
                        measured.failures.append(f"{key}: {type(exc).__name__}: {exc}")
                        return

            async with asyncio.TaskGroup() as group:
                for key in people:
                    group.create_task(person(key))
            measured.elapsed = time.perf_counter() - started
    finally:
        await service.db.dispose()
    return measured


async def _conversation(client: httpx.AsyncClient, key: str, measured: Measured) -> None:
    act: Act | None = START
    for _ in range(MAX_STEPS):
        if act is None:
            return
        body: dict[str, Any] = {"person": key, "client_id": uuid.uuid4().hex}
        body["button" if act.kind == "press" else "text"] = act.text
        started = time.perf_counter()
        response = await client.post("/api/web/messages", json=body)
        took = time.perf_counter() - started
        if response.status_code != 200:
            measured.failures.append(f"{key}: HTTP {response.status_code} {response.text[:80]}")
            return
        measured.latencies.append(took)
        act = decide([b["payload"] for reply in response.json()["replies"] for row in reply["buttons"] for b in row])
    measured.failures.append(f"{key}: the conversation did not end in {MAX_STEPS} steps")

"""dingtalk: how long DingTalk waits for Houqin's acknowledgement, and a fan-out's rate against
DingTalk's per-app QPS limit.

Acknowledgement: the robot's messages signed into the webhook route of the ASGI app as `houqin run`
builds it with DINGTALK_MODE=webhook (httpx's ASGITransport, no sockets), and as CALLBACK frames
pushed over the Stream connection the official SDK opened at the fake DingTalk on 127.0.0.1 (frame
sent to acknowledgement read). Each round is one step of a repair (/repair, then its first button's
answer); rounds are one after another, so the numbers are a delivery's own latency, not queueing.

Fan-out: reminders queued for many people as the reminder job queues them, sent by Houqin's outbox
sender at its default budget (DINGTALK_SEND_RATE 15/s) and at 19/s, against a fake that refuses
more than 20 sends in any second with Forbidden.AccessDenied.QpsLimitForApi.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from bench.common import Context, Row, bench_settings, latency_rows
from bench.fan_out import make_people, remind, sent_out
from bot.app import create_app
from bot.channels.pacing import Pacer
from bot.service import build_service
from storage.db import Database
from tests.channels import dingtalk_of
from tests.dialog.dingtalk_person import DingTalkPerson, DingTalkWorld
from tests.fakes.dingtalk_api import CHATBOT_TOPIC, FakeDingTalk, signed

NAME = "dingtalk"
# DingTalk retries a robot message it has no answer for within a few seconds; Houqin answers before
# the work, so a small fraction of that is the target.
ACK_TARGET_MS = 500.0
DINGTALK_QPS = 20.0
TARGET = 0.9


async def run(ctx: Context) -> list[Row]:
    rounds = 10 if ctx.quick else 200
    people = 100 if ctx.quick else 1_000
    url = await ctx.databases.sqlite()
    rows: list[Row] = []
    for mode in ("webhook", "stream"):
        rows.extend(latency_rows(NAME, f"ack, {mode}", await acks(url, mode, rounds), p99_target_ms=ACK_TARGET_MS))
    for budget in (15.0, 19.0):
        rows.extend(await fan_out(await ctx.databases.sqlite(), people, budget))
    return rows


async def acks(database_url: str, mode: str, rounds: int) -> list[float]:
    took: list[float] = []
    async with FakeDingTalk() as api:
        settings = bench_settings(
            database_url=database_url,
            dingtalk_client_id=api.client_id,
            dingtalk_client_secret=api.client_secret,
            dingtalk_mode=mode,
            dingtalk_api_base_url=api.base_url,
            dingtalk_directory_sync=False,
            web_enabled=False,
            telegram_bot_token="",
        )
        service = build_service(settings)
        channel = dingtalk_of(service)
        channel.pacer = Pacer(1000, chat_interval=0)
        await service.start()
        try:
            if mode == "stream":
                await asyncio.wait_for(api.connected.wait(), timeout=20)
            transport = httpx.ASGITransport(app=create_app(service))
            async with httpx.AsyncClient(transport=transport, base_url="http://houqin.bench", timeout=30) as http:
                world = DingTalkWorld(api, channel, service.db, http if mode == "webhook" else None)
                person = DingTalkPerson.of(world, f"bench-{mode}", "测试")
                for round_ in range(rounds + 1):  # the first is a warm-up
                    for words in ("/repair", None):
                        message = person.message("text", {"text": {"content": words or person.button("给排水")}})
                        started = time.perf_counter()
                        if mode == "stream":
                            ack = await api.push("CALLBACK", CHATBOT_TOPIC, message)
                            assert ack["code"] == 200, ack
                        else:
                            headers = signed()
                            body = json.dumps(message, ensure_ascii=False).encode()
                            response = await http.post("/dingtalk/events", content=body, headers=headers)
                            response.raise_for_status()
                        if round_:
                            took.append(time.perf_counter() - started)
                        await world.settle()
                    await person.writes("/cancel")
        finally:
            await service.stop()
    return took


async def fan_out(url: str, people: int, budget: float) -> list[Row]:
    async with FakeDingTalk(qps=DINGTALK_QPS) as api:
        db = Database(url)
        try:
            person_ids = await make_people(db, range(people), "dingtalk", "u")
        finally:
            await db.dispose()
        settings = bench_settings(
            database_url=url,
            web_enabled=False,
            telegram_bot_token="",
            dingtalk_client_id=api.client_id,
            dingtalk_client_secret=api.client_secret,
            dingtalk_mode="webhook",
            dingtalk_api_base_url=api.base_url,
            dingtalk_directory_sync=False,
            dingtalk_send_rate=budget,
        )
        service = build_service(settings)
        await service.start()
        try:
            await remind(service.db, person_ids, "bench")
            dingtalk_of(service)._wake.set()
            left = await sent_out(service.db, people / budget * 2 + 60)
        finally:
            await service.stop()
        rate = api.measured_rate()
        variant = f"{people:,} reminders, budget {budget:g}/s"
        note = f"delivered {len(api.sent_times):,}; never sent {left}"
        errors = api.rate_limited_answers
        return [
            Row(NAME, variant, "achieved rate", rate, "msg/s"),
            Row(NAME, variant, "of the budget", rate / budget, "", f"≥ {TARGET:.0%}", rate / budget >= TARGET),
            Row(NAME, variant, "rate-limit errors", errors, "", "0", errors == 0, note),
        ]

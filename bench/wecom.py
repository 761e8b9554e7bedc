"""wecom: how soon WeCom's callback is acknowledged (WeCom retries after 5 s), and the rate notices
fan out at against a fake WeCom that refuses (45009) anything over WeCom's limits: an app's 10,000
calls of one API a minute, and one person's 30 messages a minute (beyond which WeCom drops them).

Acknowledgement: encrypted, signed callbacks through the ASGI app as `houqin run` builds it with
WECOM_* set (httpx's ASGITransport, no sockets), the channel's API on the fake WeCom on 127.0.0.1:
a /repair text and a card press each round (the work after the answer is waited out, not timed).
Fan-out: five notices to each of N people queued as the reminder job queues them, then the
channel's outbox sender paces them out at WECOM_SEND_RATE (the default 20/s and the most, 100/s),
one person every 2 s.
"""

from __future__ import annotations

import time

import httpx

from bench.common import Context, Row, bench_settings, latency_rows
from bench.fan_out import make_people, remind, sent_out
from bot.app import create_app
from bot.channels.pacing import Pacer
from bot.channels.wecom.channel import PERSON_INTERVAL
from bot.service import build_service
from bot.settings import Settings
from storage.db import Database
from tests.channels import wecom_of
from tests.dialog.wecom_person import event_fields, message_fields
from tests.fakes.wecom_api import ENCODING_AES_KEY, TOKEN, FakeWeCom, sealed

NAME = "wecom"
WECOM_RETRIES_AFTER_MS = 5000.0
FIRST_ID = 900_000
EACH = 5


def settings_for(url: str, api: FakeWeCom, **more: object) -> Settings:
    return bench_settings(
        database_url=url,
        web_enabled=False,
        telegram_bot_token="",
        wecom_corp_id=api.corp_id,
        wecom_agent_id=api.agent_id,
        wecom_secret=api.secret,
        wecom_token=TOKEN,
        wecom_encoding_aes_key=ENCODING_AES_KEY,
        wecom_api_base_url=api.base_url,
        wecom_directory_sync=False,
        **more,
    )


async def run(ctx: Context) -> list[Row]:
    rounds = 10 if ctx.quick else 200
    rows: list[Row] = []
    databases = [("SQLite", await ctx.databases.sqlite())]
    if (pg := await ctx.databases.postgresql()) is not None:
        databases.append(("PostgreSQL", pg))
    for db_name, url in databases:
        texts, presses = await acknowledgements(url, rounds)
        rows.extend(latency_rows(NAME, f"ack of a text, {db_name}", texts, p99_target_ms=WECOM_RETRIES_AFTER_MS))
        rows.extend(
            latency_rows(NAME, f"ack of a card press, {db_name}", presses, p99_target_ms=WECOM_RETRIES_AFTER_MS)
        )
    for budget in (20.0, 100.0):
        rows.extend(await fan_out(await ctx.databases.sqlite(), 40 if ctx.quick else 200, budget))
    return rows


async def acknowledgements(url: str, rounds: int) -> tuple[list[float], list[float]]:
    texts: list[float] = []
    presses: list[float] = []
    async with FakeWeCom() as api:
        api.person("Bench", "测试")
        service = build_service(settings_for(url, api))
        wecom = wecom_of(service)
        wecom.pacer = Pacer(1000, chat_interval=0)
        await service.start()
        try:
            transport = httpx.ASGITransport(app=create_app(service))
            async with httpx.AsyncClient(transport=transport, base_url="http://houqin.bench", timeout=30) as http:

                async def post(fields: dict[str, object]) -> float:
                    query, body = sealed(fields)
                    started = time.perf_counter()
                    response = await http.post(f"/wecom/callback?{query}", content=body)
                    took = time.perf_counter() - started
                    response.raise_for_status()
                    await wecom.settled()
                    return took

                for round_ in range(rounds + 1):  # the first is a warm-up
                    took_text = await post(message_fields("Bench", "text", Content="/repair"))
                    card = api.chat_of("Bench")[-1]
                    button = card.buttons[0]
                    press = event_fields(
                        "Bench",
                        "template_card_event",
                        EventKey=button["key"],
                        TaskId=card.task_id,
                        ResponseCode=api.press_code(card),
                    )
                    took_press = await post(press)
                    await post(message_fields("Bench", "text", Content="/cancel"))
                    if round_:
                        texts.append(took_text)
                        presses.append(took_press)
        finally:
            await service.stop()
    return texts, presses


async def fan_out(url: str, people: int, budget: float) -> list[Row]:
    async with FakeWeCom() as api:
        ids = range(FIRST_ID, FIRST_ID + people)
        for userid in ids:
            api.person(str(userid), f"员工{userid}")
        db = Database(url)
        try:
            person_ids = await make_people(db, ids, "wecom")
        finally:
            await db.dispose()
        service = build_service(settings_for(url, api, wecom_send_rate=budget))
        await service.start()
        try:
            api.enforce_limits()
            for round_ in range(EACH):
                await remind(service.db, person_ids, f"bench-wecom-{round_}")
            wecom_of(service)._wake.set()
            left = await sent_out(service.db, people * EACH / budget * 2 + EACH * 2 + 60)
        finally:
            await service.stop()
        rate = api.measured_rate()
        variant = f"{people:,} people × {EACH} notices, budget {budget:g}/s"
        note = f"never sent {left}"
        refused = api.rate_limited_answers
        # One person gets one every 2 s: fewer people than twice the budget cannot use all of it.
        possible = min(budget, people / PERSON_INTERVAL)
        return [
            Row(NAME, variant, "achieved rate", rate, "msg/s"),
            Row(NAME, variant, "of the possible", rate / possible, "", "≥ 95%", rate / possible >= 0.95),
            Row(NAME, variant, "45009s", refused, "", "0", refused == 0, note),
        ]

"""slack-ack: how long Slack waits for Houqin's acknowledgement (Slack's own limit is 3 s).

Signed requests through Bolt's request handling into the ASGI app as `houqin run` builds it with
Slack's tokens set (httpx's ASGITransport, no sockets), its Web API client on the fake Slack served on
127.0.0.1. A slash command (/repair) is acknowledged before any work; a modal page's submission
waits for the core's answer (errors, the next page), so it carries a dialog turn. Each round opens
the modal, answers its first page, and closes it (not timed); rounds are one after another, so the
numbers are a request's own latency, not queueing.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import httpx

from bench.common import Context, Row, bench_settings, latency_rows
from bot.app import create_app
from bot.channels.pacing import Pacer
from bot.service import build_service
from tests.channels import slack_of
from tests.dialog.slack_person import SIGNING_SECRET, signed_headers
from tests.fakes.slack_api import FakeSlackAPI

NAME = "slack-ack"
FORM = "application/x-www-form-urlencoded"
SLACK_LIMIT_MS = 3000.0


async def run(ctx: Context) -> list[Row]:
    rounds = 10 if ctx.quick else 200
    databases = await ctx.databases.both()
    rows: list[Row] = []
    for db_name, url in databases:
        commands, pages = await measure(url, rounds)
        rows.extend(latency_rows(NAME, f"slash command, {db_name}", commands, p99_target_ms=SLACK_LIMIT_MS))
        rows.extend(latency_rows(NAME, f"view submission, {db_name}", pages, p99_target_ms=SLACK_LIMIT_MS))
    return rows


async def measure(database_url: str, rounds: int) -> tuple[list[float], list[float]]:
    commands: list[float] = []
    pages: list[float] = []
    async with FakeSlackAPI() as api:
        settings = bench_settings(
            database_url=database_url,
            slack_bot_token=api.token,
            slack_signing_secret=SIGNING_SECRET,
            slack_api_base_url=api.base_url,
            web_enabled=False,
            telegram_bot_token="",
        )
        service = build_service(settings)
        slack = slack_of(service)
        slack.outbound.pacer = Pacer(1000, chat_interval=0)
        api.user("UBENCH", "测试")
        await service.start()
        try:
            transport = httpx.ASGITransport(app=create_app(service))
            async with httpx.AsyncClient(transport=transport, base_url="http://houqin.bench", timeout=30) as http:

                async def post(body: bytes) -> tuple[float, httpx.Response]:
                    started = time.perf_counter()
                    response = await http.post("/slack/events", content=body, headers=signed_headers(body, FORM))
                    took = time.perf_counter() - started
                    response.raise_for_status()
                    return took, response

                for round_ in range(rounds + 1):  # the first is a warm-up
                    form = {
                        "team_id": "T1",
                        "user_id": "UBENCH",
                        "user_name": "ubench",
                        "command": "/repair",
                        "text": "",
                        "api_app_id": "A1",
                        "channel_id": "C1",
                        "response_url": "https://hooks.slack.test/1",
                        "trigger_id": api.new_trigger("UBENCH"),
                    }
                    took_command, _ = await post(urlencode(form).encode())
                    await slack.settled()
                    modal = api.modal_of("UBENCH")
                    assert modal is not None, "the modal did not open"
                    [block] = [b for b in modal.view["blocks"] if b["type"] == "input"]
                    option = block["element"]["options"][0]
                    view = {**modal.view, "id": modal.id, "hash": modal.hash, "team_id": "T1"}
                    state = {"values": {"answer": {"value": {"type": "static_select", "selected_option": option}}}}
                    submit = {"type": "view_submission", "team": {"id": "T1"}, "api_app_id": "A1"}
                    submit |= {"user": {"id": "UBENCH", "team_id": "T1"}, "view": {**view, "state": state}}
                    took_page, answered = await post(urlencode({"payload": json.dumps(submit)}).encode())
                    assert answered.json().get("response_action") == "update", answered.text
                    api.replace_view(modal.id, answered.json()["view"])  # as Slack does with the answer
                    await slack.settled()
                    modal = api.modal_of("UBENCH")
                    assert modal is not None
                    closed = {"type": "view_closed", "team": {"id": "T1"}, "api_app_id": "A1"}
                    closed |= {"user": {"id": "UBENCH", "team_id": "T1"}}
                    closed["view"] = {**modal.view, "id": modal.id, "hash": modal.hash, "team_id": "T1"}
                    api.close_views("UBENCH")
                    await post(urlencode({"payload": json.dumps(closed)}).encode())
                    await slack.settled()
                    if round_:
                        commands.append(took_command)
                        pages.append(took_page)
        finally:
            await service.stop()
    return commands, pages

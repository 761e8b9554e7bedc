"""Once a stop has begun (SIGTERM), requests are answered 503 with Retry-After: Telegram and Slack send
their updates again, to this process once restarted or to another; a load balancer's /healthz says so."""

from __future__ import annotations

import httpx

from bot.app import create_app
from bot.service import build_service
from bot.settings import load_settings
from storage.db import Database


async def test_a_stopping_houqin_asks_to_be_tried_again_and_a_started_one_answers(db: Database) -> None:
    service = build_service(load_settings(database_url=db.url, demo_mode=True, telegram_bot_token=""))
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as client:
        assert (await client.get("/healthz")).status_code == 200
        service.stopping = True  # what uvicorn's exit handler sets on SIGTERM (bot/cli.serve)
        for path in ("/healthz", "/api/web/strings"):
            refused = await client.get(path)
            assert (refused.status_code, refused.headers["retry-after"]) == (503, "5")
        await service.start()  # a start (the same process object, in tests) answers again
        assert (await client.get("/healthz")).status_code == 200
        await service.stop()

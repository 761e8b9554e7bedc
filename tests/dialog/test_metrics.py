"""GET /metrics: what an IT person's Prometheus reads after people have used Houqin — updates by
channel, handling time, open tickets and approvals, the outbox, the database — and who may read it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import create_app
from bot.service import build_service
from bot.settings import load_settings
from storage.db import Database
from tests.dialog.test_backup_restore import report_a_light
from tests.dialog.web_person import WebPerson

TOKEN = "s3cret-for-prometheus"


@pytest.fixture
async def office(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The demo's browser chat with /metrics on, behind a token."""
    settings = load_settings(
        database_url=db.url, demo_mode=True, telegram_bot_token="", metrics_enabled=True, metrics_token=TOKEN
    )
    service = build_service(settings)
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as client:
        yield client
    await service.db.dispose()


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_after_a_repair_and_a_requisition_the_figures_say_so(db: Database, office: httpx.AsyncClient) -> None:
    before = await scrape(office)
    handled = ("houqin_updates_total", (("channel", "web"), ("outcome", "handled")))

    await report_a_light(WebPerson(office, "wang.fang"), "201 第一会议室")
    li = WebPerson(office, "li.na")
    await li.says("/supply 打印纸")
    await li.presses("A4 打印纸")
    await li.says("2")
    await li.presses("✔ 选好了")
    await li.says("报表打印")
    assert "物资申领已提交" in await li.presses("✔ 提交")

    after = await scrape(office)
    assert after[handled] - before.get(handled, 0) == 15  # every message and press, once
    assert after[("houqin_handling_seconds_count", (("channel", "web"),))] >= 15
    assert (
        after[("houqin_tickets_open", (("status", "assigned"),))]
        == before[("houqin_tickets_open", (("status", "assigned"),))] + 1
    )
    assert after[("houqin_approvals_pending", (("step", "pending_manager"),))] >= 1
    assert after[("houqin_outbox_pending", (("channel", "web"),))] >= 1  # the cards wait for their readers' pages
    assert after[("houqin_database_up", ())] == 1
    assert any(name == "houqin_build_info" and dict(labels)["version"] for name, labels in after)
    assert ("houqin_tickets_overdue", ()) in after


async def test_without_the_token_nothing_is_told_and_without_the_setting_there_is_no_route(
    db: Database, office: httpx.AsyncClient
) -> None:
    assert (await office.get("/metrics")).status_code == 401
    assert (await office.get("/metrics", headers={"Authorization": "Bearer guess"})).status_code == 401
    plain = build_service(load_settings(database_url=db.url, demo_mode=True, telegram_bot_token=""))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(plain)), base_url="http://h") as client:
        assert (await client.get("/metrics")).status_code == 404
    await plain.db.dispose()

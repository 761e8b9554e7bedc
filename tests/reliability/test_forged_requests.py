"""Forged requests to the real `houqin run` webhook: refused before any work.

"Before any work" means: no processed_deliveries row, no person or account created, no audit entry,
and no Bot API call at all after start-up. A genuine update sent afterwards is handled, so the refusals
are not a misconfigured service refusing everything.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import AuditEntry, ChannelAccount, ProcessedDelivery
from tests.reliability.conftest import Variant
from tests.reliability.harness import (
    SECRET,
    SECRET_HEADER,
    WEBHOOK_PATH,
    Counts,
    HouqinProcess,
    Launch,
    ObservedBotAPI,
    start_webhook,
    webhook_env,
)

pytestmark = pytest.mark.reliability

# Far above any real update (text is at most 4096 characters), far below what would strain the test.
OVERSIZED = 2 * 1024 * 1024
CLOSED = 0  # see Webhook.post


@dataclass
class Webhook:
    houqin: HouqinProcess
    http: httpx.AsyncClient
    api: ObservedBotAPI
    db: Database
    calls_at_start: int

    @property
    def url(self) -> str:
        return f"{self.houqin.base_url}{WEBHOOK_PATH}"

    async def post(self, content: bytes, secret: str | None) -> int:
        """The status, or CLOSED when the server answered and closed before the body was all sent (a
        refusal without reading it: the client then cannot always read the answer)."""
        # A connection per request: after an unhandled exception uvicorn drops the connection it used.
        headers = {"content-type": "application/json", "connection": "close"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        try:
            response = await self.http.post(self.url, content=content, headers=headers, timeout=60)
        except httpx.TransportError:
            if len(content) < OVERSIZED:
                raise
            return CLOSED
        return response.status_code

    def calls_since_start(self) -> list[str]:
        return [name for name, _ in self.api.calls[self.calls_at_start :]]

    async def footprint(self) -> tuple[int, int, int]:
        """(delivery rows, Telegram accounts, audit entries)"""
        async with self.db.unit_of_work() as session:
            deliveries = await session.scalar(select(func.count()).select_from(ProcessedDelivery))
            accounts = await session.scalar(
                select(func.count()).select_from(ChannelAccount).where(ChannelAccount.channel == "telegram")
            )
            audit = await session.scalar(select(func.count()).select_from(AuditEntry))
        return int(deliveries or 0), int(accounts or 0), int(audit or 0)


@pytest.fixture
async def webhook(
    db: Database, observed_api: ObservedBotAPI, http: httpx.AsyncClient, launch: Launch
) -> AsyncIterator[Webhook]:
    houqin = launch("houqin", webhook_env(db.url, observed_api))
    await start_webhook(houqin, http)
    try:
        yield Webhook(houqin, http, observed_api, db, len(observed_api.calls))
    finally:
        await houqin.stop()


def update_json(webhook: Webhook, user_id: int, text: str = "/start") -> bytes:
    return json.dumps(webhook.api.user(user_id, "Mallory", "en").send_text(text)).encode()


async def test_forged_webhook_requests_are_refused_before_any_work(
    webhook: Webhook, variant: Variant, report: list[Counts]
) -> None:
    began = time.monotonic()
    genuine = update_json(webhook, 9101)
    big = update_json(webhook, 9102, "x" * OVERSIZED)
    cases = [
        ("wrong secret", genuine, "wrong-secret", 403),
        ("missing secret", genuine, None, 403),
        ("empty secret", genuine, "", 403),
        ("the secret plus one character", genuine, SECRET + "x", 403),
        ("the secret's prefix", genuine, SECRET[:-1], 403),
        ("oversized body, wrong secret", big, "wrong-secret", 403),
        ("oversized body, no secret", big, None, 403),
        ("not JSON", b"{not json", SECRET, 400),
        ("JSON without update_id", b"{}", SECRET, 400),
    ]
    before = await webhook.footprint()
    wrong = []
    for name, body, secret, expected in cases:
        status = await webhook.post(body, secret)
        if status != expected and not (status == CLOSED and len(body) >= OVERSIZED):
            wrong.append(f"{name}: {status}, want {expected}")
    after = await webhook.footprint()
    calls = webhook.calls_since_start()

    # The same service handles the genuine update: the refusals were about the requests.
    assert await webhook.post(genuine, SECRET) == 200
    handled = await webhook.footprint()
    report.append(
        Counts(
            "forged",
            {
                "requests": len(cases),
                "refused_as_expected": len(cases) - len(wrong),
                "rows_written": sum(after) - sum(before),
                "bot_calls": len(calls),
                "seconds": round(time.monotonic() - began, 1),
            },
        )
    )
    assert not wrong, wrong
    assert after == before, f"(deliveries, accounts, audit entries) went from {before} to {after}"
    assert calls == [], calls
    assert handled[0] == before[0] + 1 and handled[1] == before[1] + 1


async def test_an_oversized_update_with_the_right_secret_is_refused_before_any_work(webhook: Webhook) -> None:
    before = await webhook.footprint()
    status = await webhook.post(update_json(webhook, 9201, "x" * OVERSIZED), SECRET)
    after = await webhook.footprint()
    assert (status in (413, CLOSED), after, webhook.calls_since_start()) == (True, before, []), status


async def test_json_that_is_not_an_update_object_is_a_bad_request(webhook: Webhook) -> None:
    bodies = [b"[]", b'"update"', b"null", b"42", b'{"update_id": 1, "message": "x"}']
    statuses = [await webhook.post(body, SECRET) for body in bodies]
    assert statuses == [400] * len(bodies), dict(zip(bodies, statuses, strict=True))

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

from storage.db import Database
from tests.reliability.conftest import Variant
from tests.reliability.harness import (
    CLOSED,
    OVERSIZED,
    SECRET,
    SECRET_HEADER,
    WEBHOOK_PATH,
    Counts,
    Forgery,
    HouqinProcess,
    Launch,
    ObservedBotAPI,
    footprint_of,
    post_refusable,
    send_forgeries,
    start_webhook,
    webhook_env,
)

pytestmark = pytest.mark.reliability


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
        headers = {"content-type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        return await post_refusable(self.http, self.url, content, headers)

    def calls_since_start(self) -> list[str]:
        return [name for name, _ in self.api.calls[self.calls_at_start :]]

    async def footprint(self) -> tuple[int, int, int]:
        """(delivery rows, Telegram accounts, audit entries)"""
        return await footprint_of(self.db, "telegram")


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
    cases: list[Forgery] = [
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
    refusals = await send_forgeries(webhook.post, webhook.footprint, cases)
    calls = webhook.calls_since_start()

    # The same service handles the genuine update: the refusals were about the requests.
    assert await webhook.post(genuine, SECRET) == 200
    handled = await webhook.footprint()
    report.append(refusals.counts("forged", "bot_calls", len(calls), began))
    before, after, wrong = refusals.before, refusals.after, refusals.wrong
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

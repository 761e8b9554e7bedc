"""Slack against the real `houqin run`: forged requests refused before any work, every event retried
1-3 times changing nothing, and a genuine command still handled.

"Before any work" means: no processed_deliveries row, no Slack account created, no audit entry, and
no Slack Web API call at all.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import ProcessedDelivery
from tests.dialog.slack_person import SIGNING_SECRET, delivery_replied, signed_headers
from tests.fakes.slack_api import FakeSlackAPI
from tests.reliability.conftest import Variant
from tests.reliability.harness import (
    OVERSIZED,
    Counts,
    Forgery,
    HouqinProcess,
    Launch,
    footprint_of,
    post_refusable,
    send_forgeries,
    start_webhook,
)

pytestmark = pytest.mark.reliability

FORM = "application/x-www-form-urlencoded"


@dataclass
class SlackService:
    houqin: HouqinProcess
    http: httpx.AsyncClient
    api: FakeSlackAPI
    db: Database

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        return await post_refusable(self.http, f"{self.houqin.base_url}/slack/events", body, headers)

    async def footprint(self) -> tuple[int, int, int]:
        """(delivery rows, Slack accounts, audit entries)"""
        return await footprint_of(self.db, "slack")

    async def replied(self, key: str) -> None:
        await delivery_replied(self.db, "slack", key)


@pytest.fixture
async def slack(db: Database, http: httpx.AsyncClient, launch: Launch) -> AsyncIterator[SlackService]:
    async with FakeSlackAPI() as api:
        env = {
            "DATABASE_URL": db.url,
            "SLACK_BOT_TOKEN": api.token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_BASE_URL": api.base_url,
            "WEB_ENABLED": "false",
            "ACCESS_POLICY": "open",
        }
        houqin = launch("houqin-slack", env)
        await start_webhook(houqin, http)
        try:
            yield SlackService(houqin, http, api, db)
        finally:
            await houqin.stop()


def slash(api: FakeSlackAPI, user: str, command: str = "/repair") -> bytes:
    form = {"team_id": "T1", "user_id": user, "user_name": user.lower(), "command": command, "text": ""}
    form |= {"api_app_id": "A1", "channel_id": "C1", "response_url": "https://hooks.slack.test/1"}
    return urlencode(form | {"trigger_id": api.new_trigger(user)}).encode()


def dm_event(user: str, text: str, event_id: str) -> bytes:
    event = {"type": "message", "channel_type": "im", "user": user, "text": text, "channel": f"D{user}"}
    body: dict[str, object] = {"token": "t", "team_id": "T1", "api_app_id": "A1", "type": "event_callback"}
    body["event_id"] = event_id
    body |= {"event": {**event, "ts": f"{time.time():.6f}"}, "event_time": int(time.time())}
    return json.dumps(body).encode()


async def test_forged_slack_requests_are_refused_before_any_work(slack: SlackService, report: list[Counts]) -> None:
    began = time.monotonic()
    body = slash(slack.api, "UMALLORY")
    good = signed_headers(body, FORM)
    cases: list[Forgery] = [
        ("wrong signing secret", body, signed_headers(body, FORM, secret="guessed"), 401),
        ("timestamp 6 minutes old", body, signed_headers(body, FORM, age=6 * 60), 401),
        ("timestamp 6 minutes ahead", body, signed_headers(body, FORM, age=-6 * 60), 401),
        ("no signature", body, {"Content-Type": FORM}, 401),
        ("signature of another body", body + b"&text=x", good, 401),
        ("a signature that is not v0", body, {**good, "X-Slack-Signature": "v1=" + "0" * 64}, 401),
        ("oversized body", b"x" * OVERSIZED, signed_headers(b"x" * OVERSIZED, FORM), 413),
    ]
    refusals = await send_forgeries(slack.post, slack.footprint, cases)
    calls = [name for name, _ in slack.api.calls]

    # The same service handles the genuine command: the refusals were about the requests.
    slack.api.user("UMALLORY", "Mallory", "en-US")
    assert await slack.post(body, signed_headers(body, FORM)) == 200
    await slack.replied(f"command:{dict(pair.split('=') for pair in body.decode().split('&'))['trigger_id']}")
    assert slack.api.modal_of("UMALLORY") is not None
    report.append(refusals.counts("slack forged", "api_calls", len(calls), began))
    before, after, wrong = refusals.before, refusals.after, refusals.wrong
    assert not wrong, wrong
    assert after == before, f"(deliveries, accounts, audit entries) went from {before} to {after}"
    assert calls == [], calls


async def test_every_event_retried_changes_nothing(slack: SlackService, variant: Variant, report: list[Counts]) -> None:
    """Slack retries an event it did not see acknowledged (X-Slack-Retry-Num 1-3): each is one delivery."""
    began = time.monotonic()
    rng = variant.rng("slack-retries")
    people = [f"UR{n}" for n in range(6 if variant.long else 3)]
    for user in people:
        slack.api.user(user, f"Retry {user}")
    events = [(user, f"Ev{user}{n}", text) for user in people for n, text in enumerate(("/start", "hello", "/help"))]
    retries = 0
    for user, event_id, text in events:
        body = dm_event(user, text, event_id)
        assert await slack.post(body, signed_headers(body, "application/json")) == 200
        await slack.replied(f"event:{event_id}")
        for retry in range(1, rng.randint(1, 3) + 1):
            headers = signed_headers(body, "application/json") | {
                "X-Slack-Retry-Num": str(retry),
                "X-Slack-Retry-Reason": rng.choice(["http_timeout", "http_error"]),
            }
            assert await slack.post(body, headers) == 200
            retries += 1
    # A last genuine event, answered after the retries were taken: anything they sent would be out by now.
    sentinel = dm_event(people[0], "/help", "EvSENTINEL")
    assert await slack.post(sentinel, signed_headers(sentinel, "application/json")) == 200
    await slack.replied("event:EvSENTINEL")
    events.append((people[0], "EvSENTINEL", "/help"))
    async with slack.db.unit_of_work() as session:
        keys = (await session.scalars(select(ProcessedDelivery.key).where(ProcessedDelivery.channel == "slack"))).all()
    per_person = {user: len(slack.api.messages.get(f"D{user}", [])) for user in people}
    report.append(
        Counts(
            "slack retries",
            {
                "events": len(events),
                "retries": retries,
                "delivery_rows": len(keys),
                "messages": sum(per_person.values()),
                "seconds": round(time.monotonic() - began, 1),
            },
        )
    )
    assert sorted(keys) == sorted(f"event:{event_id}" for _, event_id, _ in events)
    # Each message answered once (the first person wrote once more).
    others = {per_person[user] for user in people[1:]}
    assert len(others) == 1 and per_person[people[0]] > others.pop(), per_person

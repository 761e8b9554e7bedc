"""Slack people against real `houqin run` processes: Slack's side of the HTTP connection (signing,
retrying, a load balancer taking turns) and what Houqin recorded and showed, read back for the checks.

The people are tests/dialog/slack_person.SlackPerson, unchanged: they read the fake Slack Web API
(their modal, their DM) and post signed payloads. Here their "world" is a `SlackFront` that posts to
the processes and delivers every request 1-3 times, as Slack and its clients do:

- an Events API request (words in the DM, App Home opened) is retried with X-Slack-Retry-Num n and
  X-Slack-Retry-Reason, as Slack does when it did not see the first acknowledgement in time;
- an interactive payload (a button, a modal page) is sent again as it was (the client retrying a
  request whose answer it lost) or, for a button, as a second click (a new trigger_id and action_ts);
- a slash command is delivered once: Slack never retries one, and typing it again is a new request
  (a new trigger_id, a second modal, as the person asked).

Each repeat follows the first answer at once, so it meets the first delivery's work still running.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from random import Random
from urllib.parse import parse_qs, urlencode

import httpx
from sqlalchemy import func, select

from bot.channels.slack.blocks import fallback_text
from handlers.core.conversation import Outcome
from handlers.core.i18n import pick_locale
from handlers.core.outbox import GIVE_UP_AFTER, due_by, render_body
from storage.db import Database
from storage.models import ChannelAccount, OutboxMessage, Person, ProcessedDelivery, utcnow
from tests.dialog.slack_person import JSON, SIGNING_SECRET, SlackPerson, SlackWorld, signed_headers
from tests.fakes.slack_api import FakeSlackAPI
from tests.reliability.harness import POLL, HarnessError, HouqinProcess, reader_engine, wait_until

FORM = "application/x-www-form-urlencoded"
EVENTS_PATH = "/slack/events"
RETRY_REASONS = ("http_timeout", "http_error")


def slack_env(db_url: str, api: FakeSlackAPI, **more: str) -> dict[str, str]:
    """`houqin run` with Slack in HTTP mode, talking to the fake Web API; the member UADMIN is an admin.
    No catch-up of a missed digest on start unless the scenario asks for one."""
    return {
        "DATABASE_URL": db_url,
        "SLACK_BOT_TOKEN": api.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": api.base_url,
        "WEB_ENABLED": "false",
        "ACCESS_POLICY": "open",
        "ADMINS": "slack:UADMIN",
        "CATCH_UP_HOURS": "0",
        **more,
    }


@dataclass
class Delivered:
    """One request a person made, and every time Slack delivered it."""

    kind: str  # "event", "command", "press", "view"
    targets: list[str]
    statuses: list[int]
    clicks: int = 1  # a second click is a request of its own (its own trigger_id)


@dataclass
class SlackFront:
    """Slack's side: posts each request to the instances in turn (a repeat to the next one), 1-3 times."""

    http: httpx.AsyncClient
    api: FakeSlackAPI
    db: Database
    instances: Sequence[HouqinProcess]
    rng: Random
    log: list[Delivered] = field(default_factory=list)
    turn: int = 0

    def _next(self) -> HouqinProcess:
        chosen = self.instances[self.turn % len(self.instances)]
        self.turn += 1
        return chosen

    async def _post(self, body: bytes, content_type: str, headers: dict[str, str]) -> tuple[str, httpx.Response]:
        instance = self._next()
        sent = {**signed_headers(body, content_type), **headers}
        response = await self.http.post(f"{instance.base_url}{EVENTS_PATH}", content=body, headers=sent, timeout=30)
        return instance.name, response

    async def deliver(
        self, body: bytes, content_type: str, headers: dict[str, str]
    ) -> tuple[httpx.Response, list[bytes]]:
        """The first delivery's answer (what the person sees), after 0-2 repeats; and the bodies of the
        second clicks among them (requests of their own)."""
        kind, payload = request_kind(body, content_type)
        target, first = await self._post(body, content_type, headers)
        delivered = Delivered(kind, [target], [first.status_code])
        self.log.append(delivered)
        clicks: list[bytes] = []
        for retry in range(1, self.rng.randint(1, 3) if kind != "command" else 1):
            again, extra = body, dict(headers)
            if kind == "event":
                extra |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": self.rng.choice(RETRY_REASONS)}
            elif kind == "press" and payload is not None and self.rng.random() < 0.5:
                again = second_click(self.api, payload)
                clicks.append(again)
                delivered.clicks += 1
            target, response = await self._post(again, content_type, extra)
            delivered.targets.append(target)
            delivered.statuses.append(response.status_code)
        return first, clicks

    @property
    def repeats(self) -> int:
        return sum(len(d.targets) - 1 for d in self.log)


def request_kind(body: bytes, content_type: str) -> tuple[str, JSON | None]:
    if content_type.startswith("application/json"):
        return "event", None
    form = parse_qs(body.decode())
    if "payload" not in form:
        return "command", None
    payload: JSON = json.loads(form["payload"][0])
    return ("press" if payload["type"] == "block_actions" else "view"), payload


def second_click(api: FakeSlackAPI, payload: JSON) -> bytes:
    """The same button pressed again: Slack gives every click its own trigger_id and action_ts."""
    user = str(payload["user"]["id"])
    actions = [{**action, "action_ts": f"{time.time():.6f}"} for action in payload["actions"]]
    clicked = {**payload, "trigger_id": api.new_trigger(user), "actions": actions}
    return urlencode({"payload": json.dumps(clicked)}).encode()


def delivery_key(body: bytes, content_type: str) -> str | None:
    """The key (or, for a modal page, the key's beginning) Houqin records the request under;
    None for a request that records no delivery (App Home opened)."""
    if content_type.startswith("application/json"):
        envelope = json.loads(body)
        if envelope["event"]["type"] != "message":
            return None
        return f"event:{envelope['event_id']}"
    form = parse_qs(body.decode())
    if "payload" not in form:
        return f"command:{form['trigger_id'][0]}"
    payload = json.loads(form["payload"][0])
    if payload["type"] == "block_actions":
        return f"press:{payload['trigger_id']}"
    view = payload["view"]
    return f"view:{view['id']}:{str(view.get('hash', ''))[:40]}:"


class SlackLine(SlackWorld):
    """One person's connection through the front: the delivery keys their requests were recorded
    under, waited for until replied (and every queued notice sent) before they look again."""

    def __init__(self, front: SlackFront) -> None:
        # SlackWorld's in-process channel is not here: posting and settling go to the processes.
        self.front, self.http, self.api, self.db, self.channels = front, front.http, front.api, front.db, ("slack",)
        self.keys: list[str] = []
        self._waiting: list[str] = []
        self._homes: tuple[str, int] | None = None  # whose App Home was opened, and its publishes then

    async def post(self, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        key = delivery_key(body, content_type)
        if key is not None:
            self.keys.append(key)
            self._waiting.append(key)
        elif self._homes is None:
            user = home_opener(body)
            self._homes = (user, self.publishes(user))
        response, clicks = await self.front.deliver(body, content_type, headers)
        for click in clicks:
            if (again := delivery_key(click, content_type)) is not None:
                self.keys.append(again)
                self._waiting.append(again)
        return response

    async def settle(self) -> None:
        homes, self._homes = self._homes, None
        if homes is not None:
            # This person's own App Home: another's, republished meanwhile (a link), says nothing of theirs.
            user, before = homes
            await wait_until(lambda: self.publishes(user) > before, 20, f"{user}'s App Home to be published")
        waiting, self._waiting = self._waiting, []
        deadline = time.monotonic() + 30
        while not await replied(self.db, waiting):
            if time.monotonic() > deadline:
                raise HarnessError(f"not replied within 30 s: {waiting}")
            await asyncio.sleep(POLL)
        await slack_outbox_drained(self.db)

    def publishes(self, user: str) -> int:
        """App Home publishes for `user` ("": for anyone)."""
        published = self.api.called("views.publish")
        return sum(1 for params in published if not user or str(params.get("user_id")) == user)


def home_opener(body: bytes) -> str:
    """Who opened their App Home, from the event's body ("" when the body is not one)."""
    try:
        return str(json.loads(body).get("event", {}).get("user", ""))
    except (ValueError, AttributeError):
        return ""


async def replied(db: Database, keys: Sequence[str]) -> bool:
    if not keys:
        return True
    async with db.unit_of_work() as session:
        rows = (
            await session.execute(
                select(ProcessedDelivery.key, ProcessedDelivery.replied_at).where(ProcessedDelivery.channel == "slack")
            )
        ).all()
    done = [key for key, at in rows if at is not None]
    return all(any(found.startswith(key) for found in done) for key in keys)


async def slack_outbox_drained(db: Database, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    engine = reader_engine(db.url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            async with engine.connect() as connection:
                waiting = await connection.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.channel == "slack", OutboxMessage.sent_at.is_(None))
                    # A notice held back until later (a low rating waiting for its comment) is not due yet.
                    .where(due_by(utcnow()))
                    .where(OutboxMessage.attempts < GIVE_UP_AFTER)
                )
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"the Slack outbox was not drained within {timeout:.0f} s")
            await asyncio.sleep(POLL)
    finally:
        await engine.dispose()


def person(front: SlackFront, user_id: str, name: str) -> SlackPerson:
    front.api.user(user_id, name)
    return SlackPerson(SlackLine(front), user_id, name)


def line_of(who: SlackPerson) -> SlackLine:
    world = who.world
    assert isinstance(world, SlackLine)
    return world


# --- what Houqin showed, against what it recorded ------------------------------------------------


@dataclass
class Shown:
    """What the fake Slack saw, checked against processed_deliveries and the outbox."""

    notices: int = 0
    cards: int = 0
    card_edits: int = 0
    problems: list[str] = field(default_factory=list)


async def check_shown(db: Database, api: FakeSlackAPI, people: Sequence[SlackPerson]) -> Shown:
    """Every outbox row sent once (one attempt, one call in the fake: a card's first version a new
    message, each later one a chat.update of it), and no DM message more often than the replies
    recorded for the person's deliveries and the notices to them explain."""
    shown = Shown()
    async with db.unit_of_work() as session:
        rows = list((await session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "slack"))).all())
        deliveries = (
            await session.execute(
                select(ProcessedDelivery.key, ProcessedDelivery.outcome, ProcessedDelivery.id).where(
                    ProcessedDelivery.channel == "slack"
                )
            )
        ).all()
        locales = {
            account.address: pick_locale(who.locale, account.platform_locale, "zh_CN")
            for account, who in (
                await session.execute(
                    select(ChannelAccount, Person)
                    .join(Person, Person.id == ChannelAccount.person_id)
                    .where(ChannelAccount.channel == "slack")
                )
            ).all()
        }
    posted = Counter((str(p["channel"]), str(p.get("text"))) for p in api.called("chat.postMessage"))
    updated = Counter((str(p["channel"]), str(p.get("text"))) for p in api.called("chat.update"))
    wanted: Counter[tuple[str, str]] = Counter()
    notices: Counter[tuple[str, str]] = Counter()
    cards: dict[tuple[str, str], list[OutboxMessage]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        if row.sent_at is None or row.attempts != 1 or row.error is not None:
            shown.problems.append(f"outbox {row.id} ({row.card_key}): sent_at={row.sent_at} attempts={row.attempts}")
        if row.card_key is not None:
            cards.setdefault((row.card_key, row.address), []).append(row)
        else:
            shown.notices += 1
            notices[row.address, fallback_text(render_body(row.body, locales.get(row.address, "zh_CN")))] += 1
    for (key, address), versions in cards.items():
        texts = [fallback_text(render_body(row.body, locales.get(address, "zh_CN"))) for row in versions]
        shown.cards += 1
        shown.card_edits += len(texts) - 1
        wanted[address, texts[0]] += 1
        if posted[address, texts[0]] < 1:
            shown.problems.append(f"card {key}: never posted to {address}")
        for later, count in Counter(texts[1:]).items():
            if updated[address, later] != count:
                shown.problems.append(f"card {key}: {count} versions «{later[:30]}», {updated[address, later]} edits")
    wanted.update(notices)
    for who in people:
        dm = api.dm_of(who.user_id)
        keys = line_of(who).keys
        for key, outcome, row_id in deliveries:
            if any(key.startswith(mine) for mine in keys):
                for reply in Outcome.from_record(outcome, replied=True, delivery_id=row_id).replies:
                    wanted[dm, fallback_text(reply)] += 1
    for (address, text), count in posted.items():
        if count > wanted[address, text]:
            shown.problems.append(f"{address}: «{text[:60]}» posted {count} times, {wanted[address, text]} explained")
    for (address, text), count in notices.items():
        if posted[address, text] < count:
            shown.problems.append(
                f"{address}: notice «{text[:60]}» queued {count} times, posted {posted[address, text]}"
            )
    return shown

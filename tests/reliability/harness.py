"""What the reliability scenarios share: the real `houqin run` as a subprocess that can be killed and
restarted, a fake Bot API that can stall, fail or kill at a chosen call, a read-only view of
processed_deliveries, and the two ways an update reaches Houqin (polling, webhook POST).

Everything talks to 127.0.0.1 only, on ports the kernel hands out, and every wait is bounded.
At the end: what the hostile-input and forged-request tests share (random conversations, refusals).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any, Protocol
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.service import AREAS
from handlers.core.conversation import Inbound, Kind, Outcome, PhotoIn, Sender
from handlers.core.engine import Houqin
from handlers.core.outbox import GIVE_UP_AFTER, due_by
from storage.db import Database
from storage.models import (
    AuditEntry,
    ChannelAccount,
    Department,
    OutboxMessage,
    Person,
    PersonRole,
    ProcessedDelivery,
    utcnow,
)
from tests.fakes.telegram_api import FakeBotAPI, FakeUser, JSONDict

HOUQIN = str(Path(sys.executable).with_name("houqin"))
SECRET = "reliability-secret_2026"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram/webhook"
POLL = 0.02  # how often a condition is looked at again (seconds)

# The Bot API methods that change what a person sees in their chat.
VISIBLE = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup", "deleteMessage"}
)


class HarnessError(Exception):
    """The harness could not bring about (or see) what a scenario needs. Not a finding about Houqin:
    it is raised instead of an AssertionError, so a failed scenario says whether the set-up or Houqin
    broke; either way the scenario fails."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_until(
    condition: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109 - a bounded poll, as in the fake's own wait_for
    what: str,
    *,
    alive: Callable[[], str | None] | None = None,
) -> None:
    """Look at `condition` every POLL seconds; HarnessError after `timeout` or when `alive` reports a death."""
    deadline = time.monotonic() + timeout
    while not condition():
        if alive is not None and (death := alive()) is not None:
            raise HarnessError(f"{what}: {death}")
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(POLL)


# --- the service as an operator runs it --------------------------------------------------------------


@dataclass
class Incarnation:
    process: subprocess.Popen[bytes]
    log: Path
    port: int
    started: float
    ready: float | None = None
    killed: bool = False


class HouqinProcess:
    """`houqin run` in its own process: started, SIGKILLed and restarted at will; a log file per run."""

    def __init__(self, name: str, env: Mapping[str, str], workdir: Path) -> None:
        self.name, self.env, self.workdir = name, dict(env), workdir
        self.runs: list[Incarnation] = []

    @property
    def current(self) -> Incarnation:
        if not self.runs:
            raise HarnessError(f"{self.name} was never started")
        return self.runs[-1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.current.port}"

    @property
    def kills(self) -> int:
        return sum(run.killed for run in self.runs)

    def running(self) -> bool:
        return bool(self.runs) and self.current.process.poll() is None

    def start(self) -> None:
        if self.running():
            raise HarnessError(f"{self.name} is already running")
        port = free_port()
        log = self.workdir / f"{self.name}-{len(self.runs) + 1}.log"
        # Only what the scenario sets: no TELEGRAM_/DATABASE_ settings leak in from the developer's shell.
        # And no proxy: every request of the service goes to 127.0.0.1.
        clean = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TELEGRAM_", "DATABASE_", "HTTP_", "DEMO_", "WEB_", "ADMINS", "LOG_LEVEL"))
            and key.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [HOUQIN, "run"],
                env={**clean, **self.env, "HTTP_PORT": str(port), "NO_PROXY": "127.0.0.1,localhost"},
                cwd=self.workdir,  # no .env here
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.runs.append(Incarnation(process, log, port, time.monotonic()))

    def death(self) -> str | None:
        """None while the current run lives; else how it ended, with the end of its log."""
        if not self.runs or self.current.process.poll() is None:
            return None
        return f"{self.name} exited with {self.current.process.returncode}:\n{self.tail()}"

    async def wait_ready(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await wait_until(condition, timeout, f"{self.name} to be ready", alive=self.death)
        self.current.ready = time.monotonic()

    def signal_kill(self) -> None:
        """SIGKILL, at once (callable from inside a fake Bot API request): no shutdown code runs, open
        transactions and half-sent replies stay as they are."""
        run = self.current
        if run.process.poll() is None:
            os.kill(run.process.pid, signal.SIGKILL)
            run.killed = True

    def reap(self) -> None:
        """Wait for the killed process to be gone (SIGKILL takes effect within milliseconds)."""
        self.current.process.wait(timeout=10)

    def kill(self) -> None:
        self.signal_kill()
        self.reap()

    async def stop(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """SIGTERM, as a service manager stops it; SIGKILL if it does not finish in time."""
        if not self.runs:
            return
        process = self.current.process
        if process.poll() is None:
            process.terminate()
            with contextlib.suppress(HarnessError):
                await wait_until(lambda: process.poll() is not None, timeout, f"{self.name} to stop")
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        text = self.current.log.read_text(errors="replace") if self.runs else ""
        return "\n".join(text.splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(f"--- {run.log.name}\n{run.log.read_text(errors='replace')}" for run in self.runs)

    def tracebacks(self) -> list[str]:
        """Logs of runs that printed a Python traceback (a killed run simply stops mid-line)."""
        found = []
        for run in self.runs:
            text = run.log.read_text(errors="replace")
            if "Traceback" in text:
                found.append(f"--- {run.log.name}\n{text[-6000:]}")
        return found


Launch = Callable[[str, Mapping[str, str]], HouqinProcess]


def polling_env(db_url: str, api: FakeBotAPI) -> dict[str, str]:
    return {
        "DATABASE_URL": db_url,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.base_url.removesuffix("/bot"),
        "TELEGRAM_MODE": "polling",
        "WEB_ENABLED": "false",
        # Unknown Telegram users write first and become staff (the membership tests are in tests/dialog/).
        "ACCESS_POLICY": "open",
    }


def webhook_env(db_url: str, api: FakeBotAPI) -> dict[str, str]:
    return {
        **polling_env(db_url, api),
        "TELEGRAM_MODE": "webhook",
        # Telegram would POST here; the fake only records it, the scenarios POST themselves.
        "TELEGRAM_WEBHOOK_URL": "https://houqin.invalid/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
    }


async def start_polling(houqin: HouqinProcess, api: FakeBotAPI) -> None:
    """Start (or restart) a polling Houqin; ready once it asks the fake for updates."""

    async def ready() -> None:
        polls = len(api.calls_to("getUpdates"))
        houqin.start()
        await houqin.wait_ready(lambda: len(api.calls_to("getUpdates")) > polls)

    await _with_port_retries(houqin, ready)


async def start_webhook(houqin: HouqinProcess, client: httpx.AsyncClient) -> None:
    """Start a webhook Houqin; ready once /healthz answers (the lifespan has set the webhook by then)."""

    async def healthy() -> bool:
        try:
            return (await client.get(f"{houqin.base_url}/healthz", timeout=2)).status_code == 200
        except httpx.TransportError:
            return False

    async def ready() -> None:
        houqin.start()
        deadline = time.monotonic() + 30
        while not await healthy():
            if (death := houqin.death()) is not None:
                raise HarnessError(death)
            if time.monotonic() > deadline:
                raise HarnessError(f"{houqin.name} did not answer /healthz within 30 s:\n{houqin.tail()}")
            await asyncio.sleep(POLL)
        houqin.current.ready = time.monotonic()

    await _with_port_retries(houqin, ready)


async def _with_port_retries(houqin: HouqinProcess, start: Callable[[], Awaitable[None]]) -> None:
    """A port found free can be taken before Houqin binds it: then start again on another one."""
    for attempt in range(3):
        try:
            await start()
            return
        except HarnessError as problem:
            if "address already in use" not in str(problem).lower() or attempt == 2:
                raise


# --- the Bot API, observed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    """A Bot API request as it arrives, before the fake acts on it."""

    method: str
    params: Mapping[str, str]

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if value is not None and value.lstrip("-").isdigit() else None


BeforeHook = Callable[[ApiCall], Awaitable[Response | None]]
AfterHook = Callable[[ApiCall, Response], Awaitable[None]]


def bot_api_error(code: int, description: str) -> Response:
    return JSONResponse({"ok": False, "error_code": code, "description": description}, status_code=code)


class ObservedBotAPI(FakeBotAPI):
    """The fake Bot API with hooks around every method call.

    A `before` hook may answer in the fake's place (an outage: 502) or act first (SIGKILL the bot
    while it waits for the answer); an `after` hook sees the answer the fake gave.
    """

    def __init__(self) -> None:
        super().__init__()
        self.before: list[BeforeHook] = []
        self.after: list[AfterHook] = []

    async def _handle_api(self, request: Request) -> Response:
        name = str(request.path_params.get("method", ""))
        call = ApiCall(self._method_names.get(name.lower(), name), await _peek(request))
        for hook in list(self.before):
            early = await hook(call)
            if early is not None:
                self.calls.append((call.method, dict(call.params)))
                return early
        response = await super()._handle_api(request)
        for after in list(self.after):
            await after(call, response)
        return response

    def visible_calls(self, chat_id: int, since: int = 0) -> list[tuple[str, JSONDict]]:
        """Calls from index `since` on that changed what `chat_id` sees (sends, edits, deletions)."""
        return [
            (name, params)
            for name, params in self.calls[since:]
            if name in VISIBLE and str(params.get("chat_id")) == str(chat_id)
        ]

    def sent_texts(self, chat_id: int) -> list[str]:
        """Every text the bot asked to send to `chat_id`, successful or not, in order."""
        return [
            str(params.get("text"))
            for name, params in self.calls
            if name == "sendMessage" and str(params.get("chat_id")) == str(chat_id)
        ]


async def _peek(request: Request) -> dict[str, str]:
    """The request's parameters, read without consuming them (Starlette replays a body once read)."""
    kind = request.headers.get("content-type", "")
    params = {key: value for key, value in request.query_params.items()}
    if kind.startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))
    elif kind.startswith("application/json"):
        with contextlib.suppress(ValueError):
            data = json.loads(await request.body() or b"{}")
            if isinstance(data, dict):
                params.update({key: v if isinstance(v, str) else json.dumps(v) for key, v in data.items()})
    return params


def response_json(response: Response) -> JSONDict:
    body = bytes(response.body)
    decoded: JSONDict = json.loads(body) if body else {}
    return decoded


# --- what Houqin recorded -----------------------------------------------------------------------------


def reader_engine(url: str) -> AsyncEngine:
    """A connection of our own for looking while Houqin writes: no BEGIN IMMEDIATE on SQLite (the
    service's engine takes the write lock at every BEGIN), so watching does not slow Houqin down."""
    if url.startswith("sqlite"):
        return create_async_engine(url, connect_args={"timeout": 30})
    return create_async_engine(url, pool_size=2, max_overflow=0)


class DeliveryLedger:
    """processed_deliveries of the Telegram channel, re-read every POLL seconds while in use.

    A read may fail now and then (a writer killed mid-transaction: SQLite recovering its WAL); what
    the ledger shows is then a little old. Blind for longer than `blind_limit`, it refuses to be read
    (HarnessError): a scenario must not judge Houqin by a view that stopped moving. On the way out it
    reads once more, and that read must succeed.
    """

    def __init__(self, url: str, blind_limit: float = 5.0) -> None:
        self.engine = reader_engine(url)
        self.blind_limit = blind_limit
        self._recorded: set[str] = set()
        self._replied: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.failures = 0  # reads that failed, in all
        self._blind_since: float | None = None
        self._last_error: BaseException | None = None

    async def __aenter__(self) -> DeliveryLedger:
        await self.refresh()
        self._task = asyncio.create_task(self._watch(), name="delivery-ledger")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            if exc_type is None:
                await self.refresh()
        finally:
            await self.engine.dispose()

    @property
    def recorded(self) -> set[str]:
        self._still_seeing()
        return self._recorded

    @property
    def replied(self) -> set[str]:
        self._still_seeing()
        return self._replied

    def _still_seeing(self) -> None:
        if self._blind_since is None:
            return
        blind = time.monotonic() - self._blind_since
        if blind > self.blind_limit:
            raise HarnessError(
                f"the delivery ledger has not read processed_deliveries for {blind:.1f} s "
                f"({self.failures} failed reads, the last: {self._last_error!r})"
            )

    async def refresh(self) -> None:
        async with self.engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(ProcessedDelivery.key, ProcessedDelivery.replied_at).where(
                        ProcessedDelivery.channel == "telegram"
                    )
                )
            ).all()
        self._recorded = {key for key, _ in rows}
        self._replied = {key for key, replied in rows if replied is not None}

    async def _watch(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:
                # A writer killed mid-transaction can make one read fail (SQLite recovering its WAL).
                self.failures += 1
                self._last_error = exc
                if self._blind_since is None:
                    self._blind_since = time.monotonic()
            else:
                self._blind_since = None
            await asyncio.sleep(POLL)


async def wait_drained(engine: AsyncEngine, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Until every Telegram notice Houqin queued has been sent (or given up on)."""

    async def waiting() -> int:
        async with engine.connect() as connection:
            count = await connection.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.channel == "telegram", OutboxMessage.sent_at.is_(None))
                # A notice held back until later (a low rating waiting for its comment) is not due yet.
                .where(due_by(utcnow()))
                .where(OutboxMessage.attempts < GIVE_UP_AFTER)
            )
        return int(count or 0)

    deadline = time.monotonic() + timeout
    while await waiting():
        if time.monotonic() > deadline:
            raise HarnessError(f"the Telegram outbox was not drained within {timeout:.0f} s")
        await asyncio.sleep(POLL)


async def make_technicians(db: Database, users: Mapping[FakeUser, str], replacing: Sequence[str]) -> None:
    """What an admin does today in the database: Telegram people (after their /start) become the
    technicians of their scope, instead of the demo's own, who work in the browser."""
    async with db.unit_of_work() as session:
        await session.execute(
            delete(PersonRole).where(PersonRole.role == "technician", PersonRole.scope.in_(list(replacing)))
        )
        logistics = await session.scalar(select(Department.id).where(Department.code == "logistics"))
        for user, scope in users.items():
            person_id = await session.scalar(
                select(ChannelAccount.person_id).where(
                    ChannelAccount.channel == "telegram", ChannelAccount.external_id == str(user.user_id)
                )
            )
            person = await session.get(Person, person_id) if person_id is not None else None
            if person is None:
                raise HarnessError(f"technician {user.user_id} has no account after /start")
            session.add(PersonRole(person_id=person.id, role="technician", scope=scope))
            person.department_id = logistics


# --- how an update reaches Houqin ---------------------------------------------------------------------


class Transport(Protocol):
    async def exchange(self, update: JSONDict) -> bool:
        """Hand `update` to Houqin and wait for its answer; False when the person gave up waiting."""
        ...


@dataclass
class Uptime:
    """Whether the polling service is up, and since when (a person's patience starts then)."""

    up: bool = False
    since: float = 0.0

    def mark_up(self) -> None:
        self.up, self.since = True, time.monotonic()

    def mark_down(self) -> None:
        self.up = False


class PollingTransport:
    """Houqin fetches the update itself (the fake queued it): wait until it is handled and replied, or
    until `patience` seconds of the service being up pass without that, as a person stops waiting."""

    def __init__(self, ledger: DeliveryLedger, uptime: Uptime, patience: float) -> None:
        self.ledger, self.uptime, self.patience = ledger, uptime, patience
        self.gave_up = 0

    async def exchange(self, update: JSONDict) -> bool:
        key, acted = str(update["update_id"]), time.monotonic()
        while key not in self.ledger.replied:
            if self.uptime.up and time.monotonic() - max(acted, self.uptime.since) > self.patience:
                self.gave_up += 1
                return False
            await asyncio.sleep(POLL)
        return True


@dataclass
class Posted:
    update_id: int
    targets: list[str]
    statuses: list[int]


class WebhookTransport:
    """Telegram's side of a webhook: POST the update with the secret; anything but 200 is retried.

    Instances take turns; with probability `both` an update goes to two instances at the same time
    (as if a timed-out delivery were retried while the first attempt was still running).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        api: FakeBotAPI,
        instances: Sequence[HouqinProcess],
        rng: Random,
        *,
        both: float = 0.0,
        attempts: int = 6,
    ) -> None:
        # The API is Telegram's side too: it runs what a webhook's answer asks (a press's answer).
        self.client, self.api, self.instances, self.rng = client, api, list(instances), rng
        self.both, self.attempts = both, attempts
        self.turn = 0
        self.log: list[Posted] = []

    def _next(self) -> HouqinProcess:
        chosen = self.instances[self.turn % len(self.instances)]
        self.turn += 1
        return chosen

    async def post(self, instance: HouqinProcess, update: JSONDict) -> int:
        response = await self.client.post(
            f"{instance.base_url}{WEBHOOK_PATH}", json=update, headers={SECRET_HEADER: SECRET}, timeout=60
        )
        self.api.webhook_answered(response.status_code, response.content)
        return response.status_code

    @property
    def doubled(self) -> set[int]:
        """update_ids that were POSTed to two instances at once."""
        return {posted.update_id for posted in self.log if len(posted.targets) > 1}

    async def exchange(self, update: JSONDict) -> bool:
        targets = [self._next()]
        if len(self.instances) > 1 and self.rng.random() < self.both:
            targets.append(self._next())
        statuses = list(await asyncio.gather(*(self.post(target, update) for target in targets)))
        self.log.append(Posted(int(update["update_id"]), [t.name for t in targets], statuses))
        for _ in range(self.attempts):
            if 200 in statuses:
                return True
            # Not acknowledged: Telegram tries again (here: at once, on the next instance).
            retry = self._next()
            statuses = [await self.post(retry, update)]
            self.log.append(Posted(int(update["update_id"]), [retry.name], statuses))
        return False


@dataclass
class Counts:
    """Numbers a scenario prints at the end (and keeps for the terminal summary)."""

    title: str
    values: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.title}: " + ", ".join(f"{key}={value}" for key, value in self.values.items())


# --- hostile input: random conversations with the core --------------------------------------------------

# A conversation Hypothesis made up: (kind of input, its value) pairs; a test's own kinds ("offered")
# stand for moves it resolves against what is on screen.
Script = list[tuple[object, object]]


def seed_demo(database_url: str) -> None:
    from storage.demo import seed_database

    asyncio.run(seed_database(database_url))


def hostile_inbound(sender: Sender, kind: Kind, value: object, key: str) -> Inbound:
    if kind is Kind.COMMAND:
        return Inbound(sender, kind, key, command=str(value))
    if kind is Kind.PHOTO:
        assert isinstance(value, PhotoIn)
        return Inbound(sender, kind, key, photo=value)
    return Inbound(sender, kind, key, text="" if value is None else str(value))


def on_screen(outcome: Outcome) -> list[str]:
    """The payloads of the buttons under an outcome's replies, in order."""
    return [b.payload for r in outcome.replies for row in r.buttons for b in row]


@dataclass
class Tried:
    examples: int = 0
    inputs: int = 0
    kept: int = 0  # what the last check found stored


def hostile_conversations(
    database_url: str,
    scripts: SearchStrategy[Script],
    max_examples: int,
    play: Callable[[Houqin, Database, Script], Awaitable[list[Outcome]]],
    check: Callable[[Database], Awaitable[int]],
) -> Tried:
    """Hypothesis plays `scripts` to the core: every message gets an answer, none is blank, every button
    fits Telegram's 64 bytes, and after each conversation `check` finds what was stored whole."""
    tried = Tried()

    # Hypothesis drives a synchronous test; each example runs its conversation on a private loop.
    @settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(script=scripts)
    def conversation(script: Script) -> None:
        async def run() -> None:
            db = Database(database_url)
            try:
                houqin = Houqin(db, AREAS, "zh_CN", ZoneInfo("Asia/Shanghai"))
                outcomes = await play(houqin, db, script)
                for outcome in outcomes:
                    assert outcome.duplicate or outcome.replies, "every message gets an answer"
                    assert all(r.text.strip() for r in outcome.replies)
                    assert all(len(b.payload.encode()) <= 64 for r in outcome.replies for row in r.buttons for b in row)
                tried.kept = await check(db)
            finally:
                await db.dispose()

        asyncio.run(run())
        tried.inputs += len(script) + 1
        tried.examples += 1

    conversation()
    return tried


# --- forged requests: refused before any work -----------------------------------------------------------

# Far above any real request (a Telegram text is at most 4096 characters), far below what would strain the test.
OVERSIZED = 2 * 1024 * 1024
CLOSED = 0  # see post_refusable


async def post_refusable(http: httpx.AsyncClient, url: str, content: bytes, headers: Mapping[str, str]) -> int:
    """The status, or CLOSED when the server answered and closed before an oversized body was all sent
    (a refusal without reading it: the client then cannot always read the answer)."""
    # A connection per request: after an unhandled exception uvicorn drops the connection it used.
    try:
        response = await http.post(url, content=content, headers={**headers, "connection": "close"}, timeout=60)
    except httpx.TransportError:
        if len(content) < OVERSIZED:
            raise
        return CLOSED
    return response.status_code


async def footprint_of(db: Database, channel: str) -> tuple[int, int, int]:
    """(delivery rows, the channel's accounts, audit entries)"""
    async with db.unit_of_work() as session:
        deliveries = await session.scalar(select(func.count()).select_from(ProcessedDelivery))
        accounts = await session.scalar(
            select(func.count()).select_from(ChannelAccount).where(ChannelAccount.channel == channel)
        )
        audit = await session.scalar(select(func.count()).select_from(AuditEntry))
    return int(deliveries or 0), int(accounts or 0), int(audit or 0)


# (what the request is, its body, what authenticates it, the status it must get)
Forgery = tuple[str, bytes, object, int]


@dataclass
class Refusals:
    requests: int
    wrong: list[str]  # "what: status got, want status"
    before: tuple[int, int, int]  # footprint before the first request
    after: tuple[int, int, int]  # and after the last

    def counts(self, title: str, calls_name: str, calls: int, began: float) -> Counts:
        return Counts(
            title,
            {
                "requests": self.requests,
                "refused_as_expected": self.requests - len(self.wrong),
                "rows_written": sum(self.after) - sum(self.before),
                calls_name: calls,
                "seconds": round(time.monotonic() - began, 1),
            },
        )


async def send_forgeries(
    post: Callable[[bytes, Any], Awaitable[int]],
    footprint_now: Callable[[], Awaitable[tuple[int, int, int]]],
    forgeries: Sequence[Forgery],
) -> Refusals:
    """Each forged request in turn, and the footprint around them all; an oversized body may be CLOSED."""
    before = await footprint_now()
    wrong = []
    for name, body, credentials, expected in forgeries:
        status = await post(body, credentials)
        if status != expected and not (status == CLOSED and len(body) >= OVERSIZED):
            wrong.append(f"{name}: {status}, want {expected}")
    return Refusals(len(forgeries), wrong, before, await footprint_now())

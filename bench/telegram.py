"""Telegram at full channel level: the real python-telegram-bot Application polling the fake Bot API.

The fake Bot API and the simulated people run in a child process, the bot under test (Houqin, or a
bare PTB echo bot for the ceiling) in this one. On one event loop the fake's own work (HTTP parsing,
JSON, deep copies) would be charged to the bot and squeeze the echo ceiling most; in its own process
it is on the other core, as real Telegram is on other machines. The parent sends the child orders
over a pipe and gets numbers back; both sides' CPU time is reported so a saturated fake would show.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
from starlette.requests import Request
from starlette.responses import Response
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from bench.common import bench_settings
from bench.load import schedule
from bench.script import MAX_STEPS, START, Act, decide
from bot.channels.telegram.transport import AiohttpRequest
from bot.service import Service, build_service, settle_memory
from tests.fakes.telegram_api import FakeBotAPI, FakeUser, JSONDict

ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_ATTEMPTS = 5
REPLY_TIMEOUT_S = 30.0  # one person waiting for one answer; far beyond any healthy run


# --- the child: fake Bot API and the people -----------------------------------------------------


@dataclass
class Sent:
    at: float
    message_id: int
    buttons: list[str]  # callback_data of its inline buttons, in order


class BenchBotAPI(FakeBotAPI):
    """The fake, noting when each message is sent and waking whoever waits on that chat.

    With `round_trip` each Bot API request is answered that much later, as api.telegram.org is
    tens to hundreds of milliseconds away from a real bot, where the fake on 127.0.0.1 is not.
    """

    def __init__(self, round_trip: float = 0.0) -> None:
        super().__init__()
        self.round_trip = round_trip
        self.sent: dict[int, list[Sent]] = {}
        self.prompts: dict[int, list[Sent]] = {}  # messages carrying buttons, per chat
        self.calibration: list[tuple[Act, int]] = []  # one new person's acts, for the open loop
        self.answered_in: list[float] = []  # closed loop: each act until the answer it waited for
        self._changed: dict[int, asyncio.Event] = {}
        # Webhook mode (bench/scale_out.py): updates POSTed to these, each person always to the same
        # one, as a load balancer with sticky sessions would; otherwise they wait for getUpdates.
        self.webhooks: list[str] = []
        self.webhook_secret = ""
        self.webhook_failures: list[str] = []
        self._client: aiohttp.ClientSession | None = None
        self._posting: set[asyncio.Task[None]] = set()

    def _push(self, body: JSONDict) -> JSONDict:
        if not self.webhooks:
            return super()._push(body)
        update: JSONDict = {"update_id": next(self._update_ids), **body}
        person = int((body.get("message") or body.get("callback_query") or {})["from"]["id"])
        posting = asyncio.get_running_loop().create_task(self._post(self.webhooks[person % len(self.webhooks)], update))
        self._posting.add(posting)
        posting.add_done_callback(self._posting.discard)
        return update

    async def _post(self, url: str, update: JSONDict) -> None:
        """POST one update; as Telegram does, again a little later while the answer is not a 200.
        With aiohttp: the fake must cost less than the bots it measures, and httpx's client cost
        the fake most of a core at 50 updates/s."""
        if self._client is None:
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REPLY_TIMEOUT_S), connector=aiohttp.TCPConnector(limit=200)
            )
        for attempt in range(WEBHOOK_ATTEMPTS):
            try:
                async with self._client.post(url, json=update, headers={SECRET_HEADER: self.webhook_secret}) as answer:
                    if answer.status == 200:
                        # A press is answered in the response: run, as Telegram runs it.
                        self.webhook_answered(answer.status, await answer.read())
                        return
                    problem = f"{url}: {answer.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{url}: {type(exc).__name__}"
            self.webhook_failures.append(problem)
            await asyncio.sleep(0.5 * (attempt + 1))

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
        await super().stop()

    async def _handle_api(self, request: Request) -> Response:
        if self.round_trip:
            await asyncio.sleep(self.round_trip)
        return await super()._handle_api(request)

    def _send_message(self, params: JSONDict) -> JSONDict:
        result = super()._send_message(params)
        chat = int(result["chat"]["id"])
        rows = (result.get("reply_markup") or {}).get("inline_keyboard") or []
        sent = Sent(time.monotonic(), int(result["message_id"]), [str(b["callback_data"]) for r in rows for b in r])
        self.sent.setdefault(chat, []).append(sent)
        if sent.buttons:
            self.prompts.setdefault(chat, []).append(sent)
        if (event := self._changed.pop(chat, None)) is not None:
            event.set()
        return result

    async def until(self, chat: int, count: int, *, prompts: bool) -> Sent:
        """Wait for the `count`-th message (or the `count`-th message with buttons) in `chat`."""
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            while True:
                seen = (self.prompts if prompts else self.sent).get(chat, [])
                if len(seen) >= count:
                    return seen[count - 1]
                await self._changed.setdefault(chat, asyncio.Event()).wait()


def _child(connection: Connection) -> None:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(connection))


async def _serve(connection: Connection) -> None:
    """Take orders until told to stop; each "fresh" order replaces the fake with a new, empty one."""
    api: BenchBotAPI | None = None
    try:
        while True:
            try:
                order: dict[str, Any] = await asyncio.to_thread(connection.recv)
            except EOFError:  # the parent went away
                return
            if order["op"] == "stop":
                return
            try:
                if order["op"] == "fresh":
                    if api is not None:
                        await api.stop()
                    api = BenchBotAPI(order["round_trip"])
                    await api.start()
                    answer = {"token": api.token, "base_url": api.base_url, "base_file_url": api.base_file_url}
                else:
                    assert api is not None, "an order before the first fresh fake"
                    answer = await ORDERS[order["op"]](api, order)
            except Exception as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            connection.send(answer)
    finally:
        if api is not None:
            await api.stop()


def _person(api: BenchBotAPI, user_id: int) -> FakeUser:
    return api.user(user_id, f"员工{user_id}", "zh-hans")


def _do(user: FakeUser, act: Act, message_id: int) -> None:
    if act.kind == "press":
        user.press(message_id, act.text, strict=False)
    else:
        user.send_text(act.text)


async def _repair(api: BenchBotAPI, user_id: int) -> list[tuple[Act, int]]:
    """One person's repair conversation, each act waiting for Houqin's next question.

    Returns each act with the message it was done on: the same for every new person.
    """
    user = _person(api, user_id)
    done: list[tuple[Act, int]] = []
    act: Act | None = START
    while act is not None:
        if len(done) == MAX_STEPS:
            raise RuntimeError(f"person {user_id}: the conversation did not end in {MAX_STEPS} steps")
        shown = api.prompts.get(user_id, [])
        message_id = shown[-1].message_id if shown else 0
        acted = time.monotonic()
        _do(user, act, message_id)
        done.append((act, message_id))
        act = decide((await api.until(user_id, len(done), prompts=True)).buttons)
        api.answered_in.append(time.monotonic() - acted)
    return done


async def _echo(api: BenchBotAPI, user_id: int, texts: int) -> None:
    user = _person(api, user_id)
    for step in range(1, texts + 1):
        user.send_text(f"回声 {step}")
        await api.until(user_id, step, prompts=False)


async def _closed_loop(api: BenchBotAPI, order: dict[str, Any]) -> dict[str, Any]:
    """`people` people at once, each doing a whole conversation and waiting for each answer."""
    texts: int = order["texts"]

    async def walk(user_id: int) -> int:
        if order["mode"] == "repair":
            return len(await _repair(api, user_id))
        await _echo(api, user_id, texts)
        return texts

    first: int = order["first_user"]
    for warm in range(order["warmup"]):
        await walk(first - 1 - warm)
    api.answered_in.clear()
    calls, in_answers = len(api.calls), len(api.answered_in_webhook)
    cpu, started = time.process_time(), time.monotonic()
    async with asyncio.timeout(order["limit"]):
        done = await asyncio.gather(*(walk(first + i) for i in range(order["people"])), return_exceptions=True)
    elapsed = time.monotonic() - started
    answered = len(api.answered_in_webhook) - in_answers
    return {
        # Bot API requests the bot made (polls aside), and calls it left to its webhook answers.
        "requests": sum(name != "getUpdates" for name, _ in api.calls[calls:]) - answered,
        "in_answers": answered,
        "elapsed": elapsed,
        "updates": sum(count for count in done if isinstance(count, int)),
        "cpu": time.process_time() - cpu,
        "errors": [f"{type(e).__name__}: {e}" for e in done if isinstance(e, BaseException)] + api.webhook_failures[:5],
        "answered_in": api.answered_in,
    }


async def _calibrate(api: BenchBotAPI, order: dict[str, Any]) -> dict[str, Any]:
    """Warm up as the core benchmark does (caches, and a ticket for later ones to notice), then record
    one new person's whole conversation for the open loop to replay."""
    first: int = order["first_user"]
    for warm in (1, 2):
        await _repair(api, first - warm)
    api.calibration = await _repair(api, first - 3)
    return {"steps": len(api.calibration)}


async def _open_loop(api: BenchBotAPI, order: dict[str, Any]) -> dict[str, Any]:
    """Conversation steps pushed at fixed times (bench/load.py); latency until each step's answer."""
    first: int = order["first_user"]
    loop = asyncio.get_running_loop()
    assert api.calibration, "the open loop needs a calibration conversation first"
    calibration = api.calibration
    sends = list(schedule(order["rate"], order["duration"], len(calibration)))
    due: dict[tuple[int, int], float] = {}
    ahead = 0

    def fire(user_id: int, step: int, at: float) -> None:
        nonlocal ahead
        act, message_id = calibration[step]
        user = _person(api, user_id)
        due[(user_id, step)] = at
        shown = api.prompts.get(user_id, [])
        if act.kind != "press" or len(shown) >= step:
            _do(user, act, shown[step - 1].message_id if act.kind == "press" else 0)
        else:
            # Houqin is behind: press the button it has not shown yet, as the payload is known.
            ahead += 1
            _press_unseen(api, user, message_id, act.text)

    start = loop.time() + 0.1
    for send in sends:
        loop.call_at(start + send.at, fire, first + send.conversation, send.step, start + send.at)
    cpu, began = time.process_time(), time.monotonic()
    await asyncio.sleep(start + sends[-1].at - loop.time() + 0.01)
    latencies, missing = [], 0
    drain_until = loop.time() + order["drain"]
    for (user_id, step), at in due.items():
        try:
            async with asyncio.timeout(max(0.0, drain_until - loop.time())):
                answered = await api.until(user_id, step + 1, prompts=True)
        except TimeoutError:
            missing += 1
            continue
        # Sent.at is time.monotonic(), the clock asyncio's loop.time() uses too.
        latencies.append(answered.at - at)
    elapsed = time.monotonic() - began
    return {
        "latencies": latencies,
        "elapsed": elapsed,
        "cpu": time.process_time() - cpu,
        "ahead": ahead,
        "missing": missing,
    }


async def _webhooks(api: BenchBotAPI, order: dict[str, Any]) -> dict[str, Any]:
    """From now on, POST updates to these webhooks instead of holding them for getUpdates."""
    api.webhooks, api.webhook_secret = list(order["urls"]), order["secret"]
    return {"webhooks": len(api.webhooks)}


ORDERS: dict[str, Callable[[BenchBotAPI, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "webhooks": _webhooks,
    "closed": _closed_loop,
    "calibrate": _calibrate,
    "open": _open_loop,
}


def _press_unseen(api: BenchBotAPI, user: FakeUser, message_id: int, data: str) -> None:
    """A callback query for a message the bot has not sent yet (FakeUser.press insists it exists)."""
    query_id = str(next(api._query_ids))
    api._callback_queries[query_id] = False
    stub = {"message_id": message_id, "from": api._bot_user(), "chat": user.chat_dict(), "date": int(time.time())}
    api._push(
        {
            "callback_query": {
                "id": query_id,
                "from": user.to_dict(),
                "message": stub,
                "chat_instance": str(-user.user_id * 7919),
                "data": data,
            }
        }
    )


# --- the parent: the bot under test -------------------------------------------------------------


class _Child:
    """The child process, kept for the whole run: spawning one costs about a second each time."""

    def __init__(self) -> None:
        spawn = multiprocessing.get_context("spawn")  # a clean interpreter: no copy of this loop or its sockets
        self.connection, theirs = spawn.Pipe()
        self.process = spawn.Process(target=_child, args=(theirs,), name="fake-telegram", daemon=True)
        self.process.start()
        theirs.close()

    async def order(self, timeout: float, **order: Any) -> dict[str, Any]:  # noqa: ASYNC109
        self.connection.send(order)

        def wait() -> dict[str, Any]:
            deadline = time.monotonic() + timeout
            while not self.connection.poll(0.2):
                if not self.process.is_alive():
                    raise RuntimeError(f"the fake Telegram side exited with code {self.process.exitcode}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer from the fake Telegram side in {timeout:.0f} s")
            answer: dict[str, Any] = self.connection.recv()
            return answer

        answer = await asyncio.to_thread(wait)
        if "error" in answer:
            raise RuntimeError(f"the fake Telegram side failed: {answer['error']}")
        return answer

    async def close(self) -> None:
        if self.process.is_alive():
            self.connection.send({"op": "stop"})
            await asyncio.to_thread(self.process.join, 15)
        if self.process.is_alive():
            self.process.terminate()
            await asyncio.to_thread(self.process.join, 5)
        self.connection.close()


_running: _Child | None = None


class FakeTelegram:
    """A fresh fake Bot API in the child process, seen from the bot's side."""

    def __init__(self, child: _Child, hello: dict[str, Any]) -> None:
        self.child = child
        self.token: str = hello["token"]
        self.base_url: str = hello["base_url"]
        self.base_file_url: str = hello["base_file_url"]

    async def order(self, timeout: float, **order: Any) -> dict[str, Any]:  # noqa: ASYNC109
        return await self.child.order(timeout, **order)


@asynccontextmanager
async def fake_telegram(round_trip: float = 0.0) -> AsyncIterator[FakeTelegram]:
    """A new, empty fake Bot API (in the child process, started on first use); stop the bot before leaving."""
    global _running
    if _running is None or not _running.process.is_alive():
        _running = _Child()
    yield FakeTelegram(_running, await _running.order(60, op="fresh", round_trip=round_trip))


async def shutdown() -> None:
    """End the child process, if one was started."""
    global _running
    if _running is not None:
        await _running.close()
        _running = None


@asynccontextmanager
async def echo_bot(
    fake: FakeTelegram, transport: str = "httpx"
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The ceiling: python-telegram-bot with one MessageHandler that sends the text back; over PTB's
    default httpx, or over aiohttp as Houqin's channel calls the Bot API (`transport`)."""

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None and update.effective_message is not None
        await context.bot.send_message(update.effective_chat.id, update.effective_message.text or "")

    # Built like Houqin's channel (bot/channels/telegram/channel.py), so only what each does per update differs.
    builder = ApplicationBuilder().token(fake.token).base_url(fake.base_url).base_file_url(fake.base_file_url)
    if transport == "aiohttp":
        builder = builder.request(AiohttpRequest(connection_pool_size=256)).get_updates_request(
            AiohttpRequest(connection_pool_size=1)
        )
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES, poll_interval=0.0, timeout=10)
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


@asynccontextmanager
async def houqin_bot(fake: FakeTelegram, database_url: str) -> AsyncIterator[Service]:
    """Houqin as `houqin run` builds it with a token set: polling, the browser chat off."""
    settings = bench_settings(
        database_url=database_url,
        telegram_bot_token=fake.token,
        telegram_api_base_url=fake.base_url.removesuffix("/bot"),
        web_enabled=False,
    )
    service = build_service(settings)
    await service.start()
    settle_memory()  # as `houqin run` does after start-up
    try:
        yield service
    finally:
        await service.stop()


# --- what the benchmarks call -------------------------------------------------------------------


@dataclass
class ClosedLoopResult:
    updates: int
    elapsed: float
    bot_cpu: float
    fake_cpu: float
    errors: list[str]
    requests: int  # Bot API requests the bot made while measured, getUpdates aside

    @property
    def rate(self) -> float:
        return self.updates / self.elapsed if self.elapsed > 0 else math.nan


async def closed_loop(
    mode: str,
    people: int,
    database_url: str | None = None,
    *,
    texts: int = 0,
    round_trip: float = 0.0,
    transport: str = "httpx",
) -> ClosedLoopResult:
    """`people` people at once: Houqin's repair conversation, or `texts` plain texts each to the echo bot.

    The database must be fresh: each fake numbers its updates from the same start.
    """
    warmup = 2
    async with fake_telegram(round_trip) as fake:
        bot = echo_bot(fake, transport) if database_url is None else houqin_bot(fake, database_url)
        async with bot:
            cpu = time.process_time()
            answer = await fake.order(
                240, op="closed", mode=mode, people=people, first_user=100_000, warmup=warmup, limit=180, texts=texts
            )
            bot_cpu = time.process_time() - cpu
    # The bot's CPU is counted over the warm-up too; scale it to the measured part by people.
    measured_share = people / (people + warmup)
    return ClosedLoopResult(
        answer["updates"],
        answer["elapsed"],
        bot_cpu * measured_share,
        answer["cpu"],
        answer["errors"],
        answer["requests"],
    )


@dataclass
class OpenLoopResult:
    latencies: list[float]
    achieved_rate: float
    bot_busy: float  # share of one core, over the schedule and its drain
    fake_busy: float
    ahead: int  # presses sent before Houqin had shown their button
    missing: int  # updates still unanswered when the drain ended


async def open_loop(database_url: str, rate: float, duration: float) -> OpenLoopResult:
    """The open-loop schedule at channel level, on a fresh database (see closed_loop)."""
    async with fake_telegram() as fake, houqin_bot(fake, database_url):
        await fake.order(120, op="calibrate", first_user=200_000)
        cpu = time.process_time()
        answer = await fake.order(duration + 120, op="open", rate=rate, duration=duration, first_user=200_000, drain=60)
        bot_cpu = time.process_time() - cpu
    latencies: list[float] = answer["latencies"]
    return OpenLoopResult(
        latencies,
        len(latencies) / answer["elapsed"],
        bot_cpu / answer["elapsed"],
        answer["cpu"] / answer["elapsed"],
        answer["ahead"],
        answer["missing"],
    )

"""Redelivery: every update of complete repair conversations arrives again, through polling and webhook.

Each update a person causes is delivered once more right after its answer came, and a random quarter
of them once or twice more at the end, after every conversation finished (2-3 deliveries in all).

What is asserted, precisely:

- a replay of a delivery whose replies were marked sent changes nothing the person sees: between the
  replay and the moment it is known to be handled, the bot makes no sendMessage, sendPhoto,
  sendDocument, editMessageText, editMessageReplyMarkup or deleteMessage call for that chat (it may
  answer the button press again, which Telegram refuses as already answered, and nobody sees);
- so each chat holds exactly the replies Houqin recorded for its deliveries, each once: the multiset
  of texts the bot sent (first versions, before buttons were retired) equals the multiset of reply
  texts in processed_deliveries.outcome of that person's updates;
- the exception by design is a delivery whose replies were not sent the first time (here: Telegram
  answered the first sendMessage with 502, so the webhook answered 500 and Telegram retried): its
  stored replies are sent on the retry, once, and the multiset above still holds exactly, because the
  failed send showed nothing;
- processed_deliveries has one row per distinct update (the persons' and the probes'), none missing,
  none unexpected, all marked replied;
- one complete ticket per conversation, as the person chose it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from random import Random

import httpx
import pytest
from starlette.responses import Response

from storage.db import Database
from tests.fakes.telegram_api import FakeUser, JSONDict
from tests.reliability.audit import audit_deliveries, audit_tickets, stored_replies
from tests.reliability.conftest import Variant
from tests.reliability.harness import (
    ApiCall,
    Counts,
    DeliveryLedger,
    HarnessError,
    Launch,
    ObservedBotAPI,
    PollingTransport,
    Uptime,
    WebhookTransport,
    bot_api_error,
    polling_env,
    start_polling,
    start_webhook,
    wait_until,
    webhook_env,
)
from tests.reliability.people import ASK_DESCRIPTION, ScriptedPerson, make_plan

pytestmark = pytest.mark.reliability


@dataclass(frozen=True)
class Size:
    people: int
    conversations: int
    again: float  # share of updates delivered once or twice more at the end
    fail_first_send: float  # webhook: share of deliveries whose first sendMessage gets a 502
    seconds: float


SHORT = Size(people=3, conversations=1, again=0.25, fail_first_send=0.15, seconds=60)
LONG = Size(people=6, conversations=3, again=0.25, fail_first_send=0.15, seconds=300)


def shown_texts(api: ObservedBotAPI, chat_id: int) -> list[str]:
    """The text of every message the bot managed to send to the chat, as first sent."""
    return [(m.edits[0] if m.edits else m.text) or "" for m in api.messages(chat_id)]


class Replays:
    """Delivers updates again and notes any visible change each replay caused."""

    def __init__(self, api: ObservedBotAPI, rng: Random, size: Size) -> None:
        self.api, self.rng, self.size = api, rng, size
        self.done: list[int] = []  # update_id of each replay
        self.later: list[tuple[int, JSONDict]] = []  # (chat, update) to deliver again at the end
        self.changes: list[str] = []

    def schedule(self, chat: int, update: JSONDict) -> None:
        if self.rng.random() < self.size.again:
            self.later.extend([(chat, update)] * self.rng.choice((1, 2)))

    def check(self, chat: int, update: JSONDict, since: int) -> None:
        self.done.append(int(update["update_id"]))
        if changed := self.api.visible_calls(chat, since):
            self.changes.append(f"replay of update {update['update_id']} in chat {chat}: {changed}")

    @property
    def repeated(self) -> int:
        """Updates delivered three or four times in all (the first time, once more, and these)."""
        return len({int(u["update_id"]) for _, u in self.later})


async def converse_all(people: list[ScriptedPerson], size: Size, variant: Variant, deadline: float) -> None:
    """Everybody at once, each person one report after another."""

    async def one(person: ScriptedPerson) -> None:
        plans = variant.rng(f"plans-{person.user.user_id}")
        for n in range(1, size.conversations + 1):
            await person.converse(make_plan(plans, person.user.first_name, n), deadline)

    await asyncio.gather(*(one(person) for person in people))


async def final_checks(
    db: Database,
    api: ObservedBotAPI,
    people: list[ScriptedPerson],
    replays: Replays,
    probes: list[int],
    report: list[Counts],
    title: str,
    began: float,
    extra: dict[str, int] | None = None,
) -> None:
    conversations = [c for person in people for c in person.conversations]
    sent = [int(u["update_id"]) for person in people for u in person.updates]
    tickets = await audit_tickets(db, conversations)
    deliveries = await audit_deliveries(db, [*sent, *probes])
    recorded = await stored_replies(db, sent)
    duplicates = []
    for person in people:
        chat = person.user.chat_id
        wanted = Counter(text for u in person.updates for text in recorded.get(int(u["update_id"]), []))
        shown = Counter(shown_texts(api, chat))
        if shown != wanted:
            duplicates.append(f"chat {chat}: sent more {shown - wanted}, missing {wanted - shown}")
    report.append(
        Counts(
            title,
            {
                "people": len(people),
                "conversations": len(conversations),
                "updates": len(sent),
                "replays": len(replays.done),
                "delivered_3_or_4_times": replays.repeated,
                **(extra or {}),
                "probes": len(probes),
                "delivery_rows": deliveries.rows,
                "tickets_checked": tickets.checked,
                "lost": len(tickets.lost) + len(deliveries.missing),
                "duplicated": len(tickets.duplicated),
                "visible_changes_by_replays": len(replays.changes),
                "chats_with_extra_or_missing_messages": len(duplicates),
                "seconds": round(time.monotonic() - began, 1),
            },
        )
    )
    assert not tickets.problems, "\n".join(tickets.problems)
    assert not replays.changes, "\n".join(replays.changes)
    assert not duplicates, "\n".join(duplicates)
    assert deliveries.rows == len(set(sent)) + len(probes)
    assert not (deliveries.missing or deliveries.unexpected or deliveries.unreplied or deliveries.without_outcome), (
        deliveries
    )


async def test_every_update_replayed_through_polling_changes_nothing(
    db: Database, observed_api: ObservedBotAPI, launch: Launch, variant: Variant, report: list[Counts]
) -> None:
    api, size, began = observed_api, LONG if variant.long else SHORT, time.monotonic()
    rng = variant.rng("replays")
    houqin = launch("houqin", polling_env(db.url, api))
    await start_polling(houqin, api)
    uptime = Uptime()
    uptime.mark_up()
    replays = Replays(api, rng, size)
    probe_user = api.user(7999, "探针")
    probes: list[int] = []

    async with DeliveryLedger(db.url) as ledger:

        async def replay(chat: int, update: JSONDict) -> None:
            """Telegram sends the update again. Houqin fetches the next batch only once the last one is
            handled, so a probe sent after the replay was handed out comes in a later batch: once the
            probe is answered, the replay has been handled."""
            since = len(api.calls)
            api.redeliver(update)
            await wait_until(lambda: api.pending_updates == 0, 30, "the replay to be fetched")
            probe = probe_user.send_text("/help")
            probes.append(int(probe["update_id"]))
            await wait_until(lambda: str(probe["update_id"]) in ledger.replied, 30, "a probe's answer")
            replays.check(chat, update, since)

        async def once_more(person: ScriptedPerson, update: JSONDict) -> None:
            await replay(person.user.chat_id, update)
            replays.schedule(person.user.chat_id, update)

        # Nobody is killed here: every update gets its answer, so patience is only a bound.
        transport = PollingTransport(ledger, uptime, patience=20)
        people = [
            ScriptedPerson(api, api.user(7001 + i, f"报修人{i + 1}"), transport, after_exchange=once_more)
            for i in range(size.people)
        ]
        await converse_all(people, size, variant, time.monotonic() + size.seconds)
        rng.shuffle(replays.later)
        for chat, update in replays.later:
            await replay(chat, update)
    await houqin.stop()
    await final_checks(db, api, people, replays, probes, report, "redelivery (polling)", began)
    assert not houqin.tracebacks(), "\n".join(houqin.tracebacks())


class FailingFirstSend:
    """A transport wrapper: for a random share of deliveries, Telegram answers the first sendMessage
    with 502, so Houqin's webhook answers 500 and the update is posted again (WebhookTransport retries)."""

    def __init__(self, inner: WebhookTransport, api: ObservedBotAPI, rng: Random, share: float) -> None:
        self.inner, self.api, self.rng, self.share = inner, api, rng, share
        self.failed: list[int] = []

    async def exchange(self, update: JSONDict) -> bool:
        if self.rng.random() >= self.share:
            return await self.inner.exchange(update)
        chat, armed = _chat_of(update), True

        async def bad_gateway(call: ApiCall) -> Response | None:
            nonlocal armed
            if armed and call.method == "sendMessage" and call.chat_id == chat:
                armed = False
                return bot_api_error(502, "Bad Gateway")
            return None

        self.api.before.append(bad_gateway)
        try:
            answered = await self.inner.exchange(update)
        finally:
            self.api.before.remove(bad_gateway)
        if not armed:
            self.failed.append(int(update["update_id"]))
        return answered


def _chat_of(update: JSONDict) -> int:
    if "callback_query" in update:
        return int(update["callback_query"]["from"]["id"])
    return int(update["message"]["chat"]["id"])


async def test_every_update_posted_again_to_the_webhook_changes_nothing(
    db: Database,
    observed_api: ObservedBotAPI,
    http: httpx.AsyncClient,
    launch: Launch,
    variant: Variant,
    report: list[Counts],
) -> None:
    api, size, began = observed_api, LONG if variant.long else SHORT, time.monotonic()
    rng = variant.rng("webhook-replays")
    houqin = launch("houqin", webhook_env(db.url, api))
    await start_webhook(houqin, http)
    webhook = WebhookTransport(http, api, [houqin], rng)
    transport = FailingFirstSend(webhook, api, rng, size.fail_first_send)
    replays = Replays(api, rng, size)
    statuses: list[int] = []

    async def replay(chat: int, update: JSONDict) -> None:
        # The webhook answers only after handling and replying, so the window is the request itself.
        since = len(api.calls)
        statuses.append(await webhook.post(houqin, update))
        replays.check(chat, update, since)

    async def once_more(person: ScriptedPerson, update: JSONDict) -> None:
        await replay(person.user.chat_id, update)
        replays.schedule(person.user.chat_id, update)

    people = [
        ScriptedPerson(api, api.user(7101 + i, f"报修人{i + 1}"), transport, after_exchange=once_more)
        for i in range(size.people)
    ]
    await converse_all(people, size, variant, time.monotonic() + size.seconds)
    rng.shuffle(replays.later)
    for chat, update in replays.later:
        await replay(chat, update)
    await houqin.stop()
    retried = sum(1 for posted in webhook.log if posted.statuses != [200])
    await final_checks(
        db,
        api,
        people,
        replays,
        [],
        report,
        "redelivery (webhook)",
        began,
        {"first_sends_failed": len(transport.failed), "posts_answered_500": retried},
    )
    assert set(statuses) == {200}, Counter(statuses)
    assert retried == len(transport.failed), webhook.log


async def test_a_question_sent_again_loses_its_buttons_once_answered(
    db: Database,
    observed_api: ObservedBotAPI,
    http: httpx.AsyncClient,
    launch: Launch,
    variant: Variant,
) -> None:
    api, rng = observed_api, variant.rng("prompt-ref")
    houqin = launch("houqin", webhook_env(db.url, api))
    await start_webhook(houqin, http)
    webhook = WebhookTransport(http, api, [houqin], rng)
    user = api.user(7301, "曹")
    plan = make_plan(rng, "曹", 1)
    try:
        if not await webhook.exchange(user.send_text("/repair")):
            raise HarnessError("/repair was not answered")
        for label in (plan.category_label, plan.building):
            if not await webhook.exchange(press_label(api, user, label)):
                raise HarnessError(f"pressing {label} was not answered")
        # The room is chosen; the first attempt to send the next question fails (502), so the webhook
        # answers 500 and the update comes again: the stored question is sent then.
        flaky = FailingFirstSend(webhook, api, rng, share=1.0)
        if not await flaky.exchange(press_label(api, user, plan.room)) or not flaky.failed:
            raise HarnessError("the room press was not retried after a failed send")
        [question] = [m for m in api.messages(user.chat_id) if m.text == ASK_DESCRIPTION]
        if not question.buttons:
            raise HarnessError("the re-sent question has no buttons to begin with")
        if not await webhook.exchange(user.send_text(plan.description)):
            raise HarnessError("the description was not answered")
    finally:
        await houqin.stop()
    assert question.buttons == [], f"the answered question still offers {[b['text'] for b in question.buttons]}"


def press_label(api: ObservedBotAPI, user: FakeUser, label: str) -> JSONDict:
    """Press the newest button labelled `label` in the user's chat."""
    for message in reversed(api.messages(user.chat_id)):
        for button in message.buttons:
            if button["text"] == label:
                return user.press(message.message_id, str(button["callback_data"]))
    raise HarnessError(f"no button {label!r} on screen")

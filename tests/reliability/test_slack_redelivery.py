"""Slack redelivered: every request 1-3 times, against one `houqin run`, then two on one database.

An office works in Slack: an admin links the plumber, a requester and her manager to their people;
reporters file repairs in modals (slash command, page by page, submit); the plumber accepts each job
from its card; the requester asks for batteries and the manager approves them from the card. Every
request reaches Houqin 1-3 times (slack_people.py: event retries with X-Slack-Retry-Num, payloads
sent again, second clicks), each repeat right after the first answer.

Asserted:
- one ticket per report, as chosen, that went new → assigned → accepted once; one requisition,
  approved once; every item's stock equals what its ledger adds up to;
- processed_deliveries: one row per request (a second click is a request of its own), all replied;
- every outbox row sent once (one attempt; a card posted once, then one chat.update per later
  version), and no DM message posted more often than the person's recorded replies and notices
  explain: a repeat shows nothing;
- no traceback in any process's log.

With two instances the requests alternate between them and a repeat goes to the other one; then
both are restarted with the weekly digest due a minute ago, so each fires it on start (the catch-up):
each Slack recipient gets it once.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from bot.channels.slack.blocks import fallback_text
from bot.settings import load_settings
from handlers.core.i18n import translate
from handlers.core.outbox import render_body
from handlers.digest.send import DIGEST
from storage.db import Database
from storage.models import JobRun, OutboxMessage, ProcessedDelivery, Requisition, Send, Ticket, utcnow
from tests.dialog.slack_person import SlackPerson
from tests.dialog.test_slack_repair import linked
from tests.fakes.slack_api import FakeSlackAPI
from tests.reliability.conftest import Variant
from tests.reliability.harness import Counts, Launch, start_webhook
from tests.reliability.people import NEW_ANYWAY, NUMBER, Plan, make_plan
from tests.reliability.slack_people import (
    SlackFront,
    check_shown,
    line_of,
    person,
    slack_env,
    slack_outbox_drained,
)
from tests.supplies import ledger_disagreements

pytestmark = pytest.mark.reliability

ZH = "zh_CN"
ACCEPT = translate(ZH, "ticket.button.accept")
APPROVE = translate(ZH, "requisition.button.approve")
REQUISITION = re.compile(r"S-\d{4}-\d{6}")
TEXT_INPUTS = ("plain_text_input", "number_input")


@dataclass(frozen=True)
class Size:
    reporters: int
    reports: int  # per reporter


SHORT = Size(reporters=2, reports=1)
LONG = Size(reporters=5, reports=3)


@dataclass
class Office:
    admin: SlackPerson
    plumber: SlackPerson
    requester: SlackPerson
    manager: SlackPerson
    reporters: list[SlackPerson]
    plans: list[Plan]
    numbers: list[str]
    requisition: str | None = None

    @property
    def everyone(self) -> list[SlackPerson]:
        return [self.admin, self.plumber, self.requester, self.manager, *self.reporters]


async def report(who: SlackPerson, plan: Plan) -> str | None:
    """/repair, then each page as it comes: the plan's choices, its words, nothing for the rest."""
    await who.slash("/repair")
    for _ in range(12):
        view = who.modal
        if view is None:
            break
        options = who.options()
        wanted = (plan.category_label, plan.building, plan.room, NEW_ANYWAY, plan.urgency_label)
        label = next((w for w in wanted if any(o.startswith(w) for o in options)), None)
        inputs = [b["element"]["type"] for b in view.view["blocks"] if b["type"] == "input"]
        if label is not None:
            await who.chooses(label)
        elif any(kind in TEXT_INPUTS for kind in inputs):
            await who.types(plan.description)
        else:
            await who.submits()  # no photos; the confirmation
    found = NUMBER.search(who.dm[-1].shown) if who.dm else None
    return found.group() if found else None


async def request_batteries(who: SlackPerson) -> str | None:
    await who.slash("/supply")
    await who.types("电池")  # words beside the categories search the catalog
    await who.chooses("5 号电池")
    await who.types("5")
    await who.chooses("✔ 选好了")
    await who.types("会议室遥控器")
    await who.submits()
    found = REQUISITION.search(who.dm[-1].shown) if who.dm else None
    return found.group() if found else None


def has_button(who: SlackPerson, label: str) -> bool:
    return any(str(b["text"]["text"]).startswith(label) for m in who.dm for b in m.buttons)


async def work_the_office(front: SlackFront, size: Size, variant: Variant) -> Office:
    admin = person(front, "UADMIN", "管理员")
    office = Office(
        admin,
        person(front, "USUN", "孙强"),
        person(front, "UWANG", "王芳"),
        person(front, "UHUANG", "黄丽"),
        [person(front, f"UREP{n}", f"报修人{n + 1}") for n in range(size.reporters)],
        [],
        [],
    )
    for who, account in ((office.plumber, "sun.qiang"), (office.requester, "wang.fang"), (office.manager, "huang.li")):
        await linked(admin, who, account)

    async def reports(who: SlackPerson) -> None:
        plans = variant.rng(f"plans-{who.user_id}")
        for n in range(1, size.reports + 1):
            plan = make_plan(plans, who.name, n, ("plumbing",))
            office.plans.append(plan)
            if (number := await report(who, plan)) is not None:
                office.numbers.append(number)

    async def requisition() -> None:
        office.requisition = await request_batteries(office.requester)
        if has_button(office.manager, APPROVE):
            await office.manager.presses(APPROVE)

    await asyncio.gather(*(reports(who) for who in office.reporters), requisition())
    # The plumber accepts each job from its card (the newest card still offering Accept first).
    for _ in range(len(office.plans) * 2):
        if not has_button(office.plumber, ACCEPT):
            break
        await office.plumber.presses(ACCEPT)
    await slack_outbox_drained(front.db)
    return office


async def check_office(db: Database, api: FakeSlackAPI, office: Office) -> tuple[dict[str, int], list[str]]:
    problems: list[str] = []
    async with db.unit_of_work() as session:
        tickets = list((await session.scalars(select(Ticket))).unique().all())
        requisitions = list((await session.scalars(select(Requisition))).unique().all())
        rows = (
            await session.execute(
                select(ProcessedDelivery.key, ProcessedDelivery.replied_at).where(ProcessedDelivery.channel == "slack")
            )
        ).all()
    by_description = Counter(ticket.description for ticket in tickets)
    for plan in office.plans:
        if by_description[plan.description] != 1:
            problems.append(f"«{plan.description}»: {by_description[plan.description]} tickets")
    if len(office.numbers) != len(office.plans):
        problems.append(f"{len(office.plans)} reports, {len(office.numbers)} ticket numbers seen")
    for ticket in tickets:
        steps = [event.to_status for event in ticket.history]
        if steps != ["new", "assigned", "accepted"]:
            problems.append(f"{ticket.number}: history {steps}")
    if len(requisitions) != 1 or office.requisition is None or requisitions[0].number != office.requisition:
        problems.append(f"requisitions {[r.number for r in requisitions]}, the requester saw {office.requisition}")
    elif requisitions[0].status == "pending_manager":
        problems.append(f"{office.requisition} still waits for its manager")
    if wrong := await ledger_disagreements(db):
        problems.append(f"stock differs from its ledger: {wrong}")

    keys = [key for who in office.everyone for key in line_of(who).keys]
    recorded = Counter(key for key, _ in rows)
    for key in set(keys):
        matching = [found for found in recorded if found == key or (key.endswith(":") and found.startswith(key))]
        if len(matching) != 1:
            problems.append(f"request {key}: recorded as {matching}")
    unreplied = [key for key, at in rows if at is None]
    if unreplied:
        problems.append(f"never marked replied: {unreplied}")
    shown = await check_shown(db, api, office.everyone)
    problems += shown.problems
    counts = {
        "tickets": len(tickets),
        "delivery_rows": len(rows),
        "notices": shown.notices,
        "cards": shown.cards,
        "card_edits": shown.card_edits,
    }
    return counts, problems


def slack_counts(front: SlackFront) -> dict[str, int]:
    return {
        "requests": len(front.log),
        "repeats": front.repeats,
        "event_retries": sum(len(d.targets) - 1 for d in front.log if d.kind == "event"),
        "second_clicks": sum(d.clicks - 1 for d in front.log if d.kind == "press"),
        "non_200": sum(1 for d in front.log for status in d.statuses if status != 200),
    }


async def test_every_slack_request_delivered_again_changes_nothing(
    db: Database, http: httpx.AsyncClient, launch: Launch, variant: Variant, report: list[Counts]
) -> None:
    size, began = LONG if variant.long else SHORT, time.monotonic()
    async with FakeSlackAPI() as api:
        houqin = launch("houqin-slack", slack_env(db.url, api))
        await start_webhook(houqin, http)
        front = SlackFront(http, api, db, [houqin], variant.rng("slack-redelivery"))
        try:
            office = await work_the_office(front, size, variant)
        finally:
            await houqin.stop()
        counts, problems = await check_office(db, api, office)
    report.append(
        Counts("slack redelivery", {**slack_counts(front), **counts, "seconds": round(time.monotonic() - began, 1)})
    )
    assert not problems, "\n".join(problems)
    assert not slack_counts(front)["non_200"], front.log
    assert not houqin.tracebacks(), "\n".join(houqin.tracebacks())


def digest_slot(db_url: str, minutes_ago: int) -> dict[str, str]:
    """DIGEST_WEEKDAY and DIGEST_TIME for a weekly slot that many minutes ago (negative: ahead)."""
    zone = load_settings(database_url=db_url).schedule.zone
    slot = (utcnow() - timedelta(minutes=minutes_ago)).astimezone(zone)
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[slot.weekday()]
    return {"DIGEST_WEEKDAY": weekday, "DIGEST_TIME": slot.strftime("%H:%M")}


async def test_two_instances_take_turns_and_send_the_digest_once(
    db: Database, http: httpx.AsyncClient, launch: Launch, variant: Variant, report: list[Counts]
) -> None:
    size, began = LONG if variant.long else SHORT, time.monotonic()
    async with FakeSlackAPI() as api:
        # While the office works the digest's slot is an hour ahead (last week's was missed, and stays so).
        # The suite turns jobs off for services it starts (tests/conftest.py); this scenario is about them.
        due = digest_slot(db.url, 2) | {"CATCH_UP_HOURS": "1", "JOBS_ENABLED": "true"}
        env = slack_env(db.url, api, **digest_slot(db.url, -60), JOBS_ENABLED="true")
        a, b = launch("a", env), launch("b", env)
        await asyncio.gather(start_webhook(a, http), start_webhook(b, http))
        front = SlackFront(http, api, db, [a, b], variant.rng("slack-two-instances"))
        try:
            office = await work_the_office(front, size, variant)
        finally:
            await asyncio.gather(a.stop(), b.stop())
        counts, problems = await check_office(db, api, office)

        # Both restarted with the digest a minute late: each catches it up on start, at the same time.
        before, restarted = len(api.calls), utcnow()
        again = [launch("a2", slack_env(db.url, api, **due)), launch("b2", slack_env(db.url, api, **due))]
        await asyncio.gather(*(start_webhook(houqin, http) for houqin in again))
        try:
            await digest_sent(db)
            await slack_outbox_drained(db)
            await asyncio.sleep(1)  # anything sent twice would be on its way by now
        finally:
            await asyncio.gather(*(houqin.stop() for houqin in again))
        digests, digest_problems = await check_digest(db, api, before, restarted)
    report.append(
        Counts(
            "slack two instances",
            {
                **slack_counts(front),
                **counts,
                "digests": digests,
                "seconds": round(time.monotonic() - began, 1),
            },
        )
    )
    assert not problems, "\n".join(problems)
    assert not digest_problems, "\n".join(digest_problems)
    assert digests >= 2, "the admin and the linked manager get a digest in Slack"
    for houqin in (a, b, *again):
        assert not houqin.tracebacks(), "\n".join(houqin.tracebacks())


async def digest_sent(db: Database, timeout: float = 60.0) -> None:  # noqa: ASYNC109
    """Until a process recorded this week's digest as done (every recipient served)."""
    deadline = time.monotonic() + timeout
    while True:
        async with db.unit_of_work() as session:
            runs = await session.scalar(
                select(func.count())
                .select_from(JobRun)
                # Not an earlier week's, skipped or never due on this database (not run: …).
                .where(JobRun.job == DIGEST, JobRun.outcome.not_like("skipped%"), JobRun.outcome.not_like("not run%"))
            )
        if runs:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no digest run recorded within {timeout:.0f} s")
        await asyncio.sleep(0.1)


async def check_digest(db: Database, api: FakeSlackAPI, since: int, restarted: datetime) -> tuple[int, list[str]]:
    """Each digest send: one sends row; each Slack notice queued since the restart (the digests), one
    outbox row per person and one message in their DM."""
    problems: list[str] = []
    async with db.unit_of_work() as session:
        sends = Counter(
            (await session.execute(select(Send.person_id, Send.subject).where(Send.kind == "digest"))).all()
        )
        queued = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.created_at >= restarted, OutboxMessage.card_key.is_(None))
        )
        rows = list(
            (
                await session.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.channel == "slack",
                        OutboxMessage.created_at >= restarted,
                        OutboxMessage.card_key.is_(None),
                    )
                )
            ).all()
        )
    problems += [f"person {who}: {n} digests of {subject}" for (who, subject), n in sends.items() if n != 1]
    if queued != len(sends):
        problems.append(f"{len(sends)} digests recorded as sent, {queued} notices queued (every channel)")
    posted = Counter(
        (str(params["channel"]), str(params.get("text")))
        for name, params in api.calls[since:]
        if name == "chat.postMessage"
    )
    for row in rows:
        text = fallback_text(render_body(row.body, ZH))
        if posted[row.address, text] != 1 or row.attempts != 1:
            problems.append(
                f"digest to {row.address}: posted {posted[row.address, text]} times, {row.attempts} attempts"
            )
    return len(rows), problems

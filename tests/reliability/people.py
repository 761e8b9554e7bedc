"""Simulated Telegram people who report repairs by looking at their chat, as a person would.

A person does not follow a fixed list of updates: each time they look at the newest message that has
buttons (or the confirmation) and do what it asks, with the answers of their plan. When Houqin does not
answer (it was killed, the update was lost) they act again on whatever is on screen, so after a restart
the conversation goes on from the latest prompt. A conversation ends when they have seen their ticket
number: in the confirmation, or, if that never came, in /my.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from random import Random

from handlers.core.i18n import catalog, translate
from handlers.core.rules import URGENCIES
from handlers.repairs.intake import CATEGORIES
from storage.demo import BUILDINGS
from tests.fakes.telegram_api import FakeBotAPI, FakeMessage, FakeUser, JSONDict
from tests.reliability.harness import Transport

ZH = "zh_CN"
NUMBER = re.compile(r"R-\d{4}-\d{6}")
STEP = re.compile(r"s\d+:")
CONFIRMED = catalog(ZH)["repair.submitted"].split("{number}")[0]  # "✅ 报修已提交，单号 "
ASK_DESCRIPTION = translate(ZH, "repair.ask_description")
SKIP = translate(ZH, "dialog.button.skip")
SUBMIT = translate(ZH, "dialog.button.submit")
NEW_ANYWAY = translate(ZH, "repair.duplicate.new_anyway")
# A technician's card buttons, and how the channel marks a pressed message: its text, then the choice.
ACCEPT = translate(ZH, "ticket.button.accept")
START = translate(ZH, "ticket.button.start")
RETIRED = "\n\n→ "
# One line of /my: "R-2026-000123 · 电气照明 · 已分派 · 提交于 …"
MY_LINE = re.compile(r"(R-\d{4}-\d{6}) · ([^·\n]+?) · ")


@dataclass(frozen=True)
class Plan:
    """What one repair report says, as the labels the person will press."""

    category: str  # catalog value, e.g. "electrical"
    building: str  # as the button shows it, e.g. "行政楼"
    room: str  # e.g. "305 财务处办公室"
    description: str
    urgency: str  # e.g. "high"

    @property
    def category_label(self) -> str:
        return translate(ZH, f"repair.category.{self.category}")

    @property
    def urgency_label(self) -> str:
        return translate(ZH, f"repair.urgency.{self.urgency}")


def room_labels() -> list[tuple[str, str]]:
    """(building, room) as the buttons show them (the demo organisation's rooms)."""
    found = []
    for _code, building, _en, rooms in BUILDINGS:
        for code, name, _name_en in rooms:
            found.append((building, name if code in name else f"{code} {name}"))
    return found


def make_plan(rng: Random, who: str, n: int, categories: Sequence[str] = CATEGORIES) -> Plan:
    building, room = rng.choice(room_labels())
    category = rng.choice(list(categories))
    description = f"{who}第{n}次报修：{translate(ZH, f'repair.category.{category}')}坏了 #{rng.randrange(10**6):06d}"
    return Plan(category, building, room, description, rng.choice(URGENCIES))


@dataclass
class Conversation:
    user_id: int
    plan: Plan
    number: str | None = None
    seen_in: str | None = None  # "confirmation" or "my"
    actions: int = 0
    unanswered: int = 0  # actions the person stopped waiting for
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def done(self) -> bool:
        return self.number is not None


Step = tuple[str, Callable[[], JSONDict]]  # what the person does, and how (it returns the update)
AfterExchange = Callable[["ScriptedPerson", JSONDict], Awaitable[None]]


class ScriptedPerson:
    def __init__(
        self,
        api: FakeBotAPI,
        user: FakeUser,
        transport: Transport,
        *,
        after_exchange: AfterExchange | None = None,
    ) -> None:
        self.api, self.user, self.transport = api, user, transport
        self.after_exchange = after_exchange
        self.updates: list[JSONDict] = []  # every update this person caused, in order
        self.known: set[str] = set()  # ticket numbers of their earlier conversations
        self.conversations: list[Conversation] = []

    @property
    def chat(self) -> list[FakeMessage]:
        return [m for m in self.api.messages(self.user.chat_id) if not m.deleted]

    def _last_id(self) -> int:
        messages = self.api.messages(self.user.chat_id)
        return messages[-1].message_id if messages else 0

    async def act(self, make: Callable[[], JSONDict]) -> bool:
        update = make()
        self.updates.append(update)
        answered = await self.transport.exchange(update)
        if self.after_exchange is not None:
            await self.after_exchange(self, update)
        return answered

    async def converse(self, plan: Plan, deadline: float) -> Conversation:
        """Report `plan` until its ticket number is seen or `deadline` (time.monotonic()) passes."""
        conversation = Conversation(self.user.user_id, plan)
        self.conversations.append(conversation)
        watermark = self._last_id()
        submitted = False  # pressed Submit at least once
        asked_my: int | None = None  # the newest message id when /my was last sent
        while time.monotonic() < deadline:
            screen = [m for m in self.chat if m.message_id > watermark]
            if (number := self._confirmation(screen)) is not None:
                conversation.seen_in = "confirmation"
            elif asked_my is not None and (number := self._listed(screen, asked_my, plan)) is not None:
                conversation.seen_in = "my"
            if number is not None:
                conversation.number, conversation.finished = number, time.monotonic()
                self.known.add(number)
                return conversation
            step = self._decide(screen, plan)
            if step is None and submitted and asked_my is None:
                # Submitted, but no confirmation and no question on screen: is the ticket there?
                asked_my = self._last_id()
                step = ("/my", functools.partial(self.user.send_text, "/my"))
            elif step is None:
                asked_my = None
                step = ("/repair", functools.partial(self.user.send_text, "/repair"))
            submitted = submitted or step[0] == SUBMIT
            conversation.actions += 1
            if not await self.act(step[1]):
                conversation.unanswered += 1
        return conversation

    def _confirmation(self, screen: Sequence[FakeMessage]) -> str | None:
        for message in reversed(screen):
            text = message.text or ""
            found = NUMBER.search(text.split(CONFIRMED, 1)[1]) if CONFIRMED in text else None
            if found is not None and found.group() not in self.known:
                return found.group()
        return None

    def _listed(self, screen: Sequence[FakeMessage], after: int, plan: Plan) -> str | None:
        for message in screen:
            if message.message_id <= after:
                continue
            for number, category in MY_LINE.findall(message.text or ""):
                if number not in self.known and category.strip() == plan.category_label:
                    return str(number)
        return None

    def _decide(self, screen: Sequence[FakeMessage], plan: Plan) -> Step | None:
        """The answer the newest question on screen asks for, as (what, how); None without a question."""
        # A question of a flow has step buttons (s<version>:<value>); the menu (go:) and notices about
        # tickets (tk:, e.g. a Comment button under a status update) are not questions of this report.
        prompt = next(
            (m for m in reversed(screen) if any(STEP.match(str(b["callback_data"])) for b in m.buttons)), None
        )
        if prompt is None:
            return None
        buttons = {str(b["text"]): str(b["callback_data"]) for b in prompt.buttons}
        wanted = (plan.category_label, plan.building, plan.room, NEW_ANYWAY, plan.urgency_label, SUBMIT, SKIP)
        for label in wanted:
            if label in buttons:
                return label, functools.partial(self.user.press, prompt.message_id, buttons[label])
        if ASK_DESCRIPTION in (prompt.text or ""):
            return "description", functools.partial(self.user.send_text, plan.description)
        return None

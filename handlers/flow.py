"""Flows as data: a flow is a list of typed steps plus a submit function.

Steps know how to ask and how to judge an answer; they know nothing of Telegram or Slack. The
engine (handlers/engine.py) walks them, and each channel renders the resulting replies.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.conversation import DocumentIn, FileOut, PhotoIn
from handlers.files import Later
from handlers.i18n import Msg, Renderable, msg
from handlers.rules import RepairRules, SupplyRules
from handlers.text import visible_length
from handlers.uploads import Parser
from storage.models import Person

Data = dict[str, Any]


@dataclass(frozen=True)
class Option:
    value: str
    label: Renderable


@dataclass
class StepContext:
    session: AsyncSession
    person: Person
    locale: str
    channel: str
    now: datetime
    zone: ZoneInfo
    data: Data
    rules: RepairRules = field(default_factory=RepairRules)
    supply: SupplyRules = field(default_factory=SupplyRules)


class Invalid(Exception):
    """An answer the step cannot take; the message tells the person why, in their language."""

    def __init__(self, reason: Msg) -> None:
        super().__init__(reason.key)
        self.reason = reason


class Goto(Exception):
    """Carry on at step `key` (an earlier one, this one, or a later one), saying `say` first.

    Raised by a step's hook (``typed``, ``check``, ``then``) or by a flow's submit. Changes the hook
    made to ``ctx.data`` are kept; the answers of `key` and of every step after it are forgotten, so
    they are asked again. Raised by a submit, everything the submit wrote is undone first (it runs in
    a savepoint): e.g. "only 3 left" sends the person back to their cart with the cart intact.
    """

    def __init__(self, key: str, say: Msg | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.say = say


@dataclass(frozen=True)
class Step:
    key: str
    prompt: Msg
    # Asked only when this says so (e.g. the room is asked only after a building was chosen).
    when: Callable[[Data], bool] | None = None
    # Asked with a prompt built from the answers so far (e.g. naming the ticket it found).
    dynamic_prompt: Callable[[StepContext], Awaitable[Msg]] | None = None
    # After the step is answered: the key of the step to ask next, or None for the next in order. An
    # earlier key makes a loop (pick an item, its quantity, "add another?" and round again); the hook
    # may change ctx.data on the way (put the item into the cart).
    then: Callable[[StepContext], Awaitable[str | None]] | None = None

    def applies(self, data: Data) -> bool:
        return self.when is None or self.when(data)


@dataclass(frozen=True)
class ChoiceStep(Step):
    options: Callable[[StepContext], Awaitable[Sequence[Option]]] | Sequence[Option] = ()
    columns: int = 2
    # A choice that settles the whole flow (e.g. "follow the open ticket instead"): when this returns
    # something, the flow ends there with that answer.
    on_choose: Callable[[StepContext, str], Awaitable[Submitted | None]] | None = None
    # Skipped when it has no options (e.g. no duplicate found).
    skip_without_options: bool = False
    # Long lists are shown this many options at a time, with ◀ ▶ to turn the page.
    page_size: int | None = None
    # What typed words mean here instead of a press (e.g. a search): returns the value they choose, or
    # raises Goto/Invalid. Without it, typing an option's label is as good as pressing it.
    typed: Callable[[StepContext, str], Awaitable[str]] | None = None

    async def choices(self, ctx: StepContext) -> Sequence[Option]:
        return await self.options(ctx) if callable(self.options) else self.options

    async def choose(self, ctx: StepContext, value: str) -> str:
        if value not in {option.value for option in await self.choices(ctx)}:
            raise Invalid(msg("dialog.error.not_an_option"))
        return value

    async def choose_by_label(self, ctx: StepContext, typed: str) -> str:
        """A typed answer that matches an option's label is as good as pressing it."""
        wanted = typed.strip().casefold()
        for option in await self.choices(ctx):
            if option.label.render(ctx.locale).casefold() == wanted or option.value == wanted:
                return option.value
        raise Invalid(msg("dialog.error.use_buttons"))


@dataclass(frozen=True)
class TextStep(Step):
    min_length: int = 1
    max_length: int = 500
    validate: Callable[[str], Msg | None] | None = None
    # Offers Skip; a skipped answer is "".
    optional: bool = False

    def accept(self, text: str) -> str:
        text = text.strip()
        # What a reader sees counts: spaces and combining marks do not make an answer long enough.
        if visible_length(text) < self.min_length:
            raise Invalid(msg("dialog.error.too_short", min=self.min_length))
        if len(text) > self.max_length:
            raise Invalid(msg("dialog.error.too_long", max=self.max_length, got=len(text)))
        if self.validate and (problem := self.validate(text)):
            raise Invalid(problem)
        return text


@dataclass(frozen=True)
class NumberStep(Step):
    """A whole number (typed, or one of the `quick` buttons) between min_value and max_value.

    `check` judges it against the world (what is in stock, what is left of a monthly limit) and
    returns the reason it cannot be taken, or None.
    """

    min_value: int = 1
    max_value: int = 9999
    check: Callable[[StepContext, int], Awaitable[Msg | None]] | None = None
    quick: tuple[int, ...] = ()

    def parse(self, text: str) -> int:
        # Full-width digits (３) and a trailing unit (3包, 3 packs) are how people type numbers.
        typed = unicodedata.normalize("NFKC", text).strip()
        found = NUMBER.fullmatch(typed)
        if found is None:
            raise Invalid(msg("dialog.error.not_a_number", min=self.min_value, max=self.max_value))
        sign, digits = found.group(1), found.group(2).lstrip("0") or "0"
        if sign == "-":
            raise Invalid(msg("dialog.error.number_too_small", min=self.min_value))
        if len(digits) > len(str(self.max_value)) or int(digits) > self.max_value:
            raise Invalid(msg("dialog.error.number_too_big", max=self.max_value))
        if int(digits) < self.min_value:
            raise Invalid(msg("dialog.error.number_too_small", min=self.min_value))
        return int(digits)


# A whole number, perhaps signed, perhaps followed by a short unit word ("3", "+3", "3 包", "12 packs").
NUMBER = re.compile(r"([+-]?)\s*(\d+)(?:\s*[^\d\s.,/]{1,8})?")


@dataclass(frozen=True)
class FileStep(Step):
    """A file (a CSV, a spreadsheet), read as soon as it arrives: `read` turns it into the answer kept
    (plain data for the dialog state, never the bytes) or raises Invalid saying what is wrong with it."""

    read: Callable[[StepContext, DocumentIn], Awaitable[Any]] | None = None
    max_bytes: int = 2 * 1024 * 1024
    # What parses the file, off the event loop and before the transaction (handlers/uploads.py);
    # `read` takes the result with uploads.read.
    parser: Parser | None = None


@dataclass(frozen=True)
class PhotoStep(Step):
    """Zero or more photos; the person presses Done (or Skip before the first one)."""

    max_photos: int = 3
    max_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class LocationStep(Step):
    """A place from the rooms table: the building, then one of its rooms, or words when it is not listed.

    Kept as one step type so each channel can render it in its idiom (two dependent selects in a
    Slack modal, two rounds of buttons in Telegram); its answer is {building, room} or {text}.
    """

    buildings: Callable[[StepContext], Awaitable[Sequence[Option]]] | None = None
    rooms: Callable[[StepContext, str], Awaitable[Sequence[Option]]] | None = None
    max_length: int = 200


@dataclass(frozen=True)
class ConfirmStep(Step):
    summary: Callable[[StepContext], Awaitable[Msg]] | None = None


@dataclass(frozen=True)
class Submitted:
    """What a flow's submit tells the person, and the record it created."""

    message: Renderable
    record: str


@dataclass(frozen=True)
class Flow:
    name: str
    title: Msg
    description: Msg
    steps: tuple[Step, ...]
    submit: Callable[[StepContext], Awaitable[Submitted]]
    # Listed flows are in the menu, /help and the command list; the others start from a button.
    listed: bool = True
    # The words after the flow's command (/supply 打印纸) as answers given in advance.
    preset: Callable[[StepContext, str], Awaitable[Data]] | None = None
    # Its answers are nobody's business but the person's (an anonymous survey): the record kept of
    # each delivery for redelivery holds no echo of what was chosen.
    discreet: bool = False

    def step(self, key: str) -> Step:
        for step in self.steps:
            if step.key == key:
                return step
        raise KeyError(key)

    def next_step(self, after: str | None, data: Data) -> Step | None:
        """The next step still to ask: one that applies and was not answered in advance."""
        keys = [step.key for step in self.steps]
        start = 0 if after is None else keys.index(after) + 1
        for step in self.steps[start:]:
            if step.applies(data) and step.key not in data:
                return step
        return None


Rows = tuple[tuple[tuple[Renderable, str], ...], ...]


@dataclass(frozen=True)
class Action:
    """What an area's button or command handler wants: things said, and perhaps a flow started."""

    say: tuple[tuple[Renderable, Rows], ...] = ()
    toast: Msg | None = None
    chosen: Renderable | None = None
    start: tuple[str, Data] | None = None
    # The flow to start is an optional follow-up (a comment after a rating): skipped, without a
    # word, when the person is busy in another flow.
    follow_up: bool = False
    # The button sat on a card that redraws itself through the outbox: the channel must not edit it.
    on_card: bool = False
    # What is said is nobody's business but the person's (see Flow.discreet): not kept once sent.
    discreet: bool = False
    # Files sent with the last thing said (an export, a chart); see handlers/files.py.
    files: tuple[FileOut, ...] = ()
    # Files sent after those, made once the transaction has committed (CPU-bound: charts, big exports).
    later: tuple[Later, ...] = ()


def said(text: Renderable, rows: Rows = ()) -> Action:
    """The commonest answer: one thing said, perhaps with buttons."""
    return Action(say=((text, rows),))


Handler = Callable[[StepContext, str], Awaitable[Action]]
# A command that came with a file: a document captioned "/stock import".
UploadHandler = Callable[[StepContext, str, DocumentIn], Awaitable[Action]]


@dataclass(frozen=True)
class Upload:
    """A command that takes a file as its caption (/stock import): who may send one (an authz action:
    only their files are parsed ahead), the parser, and the handler, which takes the result with
    uploads.read."""

    handle: UploadHandler
    parser: Parser
    action: str


# What an area lists under /my for this person (their requests, what waits for them).
MineHandler = Callable[[StepContext], Awaitable[Sequence[Renderable]]]


def photo_problem(photo: PhotoIn, step: PhotoStep) -> Msg | None:
    if photo.content is not None:
        if len(photo.content) > step.max_bytes:
            return msg("dialog.error.photo_too_big", mb=step.max_bytes // (1024 * 1024))
        if photo.content_type not in IMAGE_TYPES:
            return msg("dialog.error.not_a_photo")
    return None


IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif")


def sniff_image_type(content: bytes) -> str | None:
    """The image type from the bytes themselves: a browser's declared type is not evidence."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None

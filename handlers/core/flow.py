"""Flows as data: a flow is a list of typed steps plus a submit function.

Each step type knows how it is asked (words and buttons), how it takes an answer and how it is
described whole (a StepView, for pages); it knows nothing of Telegram or Slack. The engine
(handlers/core/engine.py) walks the steps, and each channel renders the replies or the views.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.conversation import (
    Choice,
    ChoiceView,
    ConfirmView,
    DocumentIn,
    FileOut,
    FileView,
    NumberView,
    PhotoIn,
    PhotoView,
    StepView,
    TextView,
)
from handlers.core.files import Later
from handlers.core.i18n import Label, Msg, Renderable, msg
from handlers.core.rules import RepairRules, SupplyRules
from handlers.core.schedule import Schedule
from handlers.core.text import visible_length
from handlers.core.uploads import Parser
from storage.models import Person, Photo

if TYPE_CHECKING:
    from handlers.core.area import Area

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
    # The running areas (Houqin's), for a handler that lists what each declares: /admin's entries.
    areas: tuple[Area, ...] = ()
    # The office calendar the environment gives (WORKING_DAYS, HOLIDAYS, MAKEUP_DAYS, the zone), for
    # org_settings.office to lay /settings over: what a round's or a booking's day keeps to.
    calendar: Schedule | None = None


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
class Answer:
    """What the person gave the step they are on: words, a button's value, a photo or a file."""

    text: str | None = None
    choice: str | None = None
    photo: PhotoIn | None = None
    document: DocumentIn | None = None


@dataclass(frozen=True)
class Taken:
    """What a step made of an answer (kept in ctx.data): whether it is complete, and what the message
    the pressed button sat on shows as chosen."""

    # False: the step moved on inside itself (another photo, the room after the building, a page turned).
    done: bool = True
    chosen: Renderable | None = None


@dataclass(frozen=True)
class Question:
    """A step asked in words and buttons, as every chat shows it: what is said first (a summary), the
    prompt, rows of the step's buttons, and controls that start the last row (before Back and Cancel,
    which the engine adds)."""

    prompt: Renderable
    rows: tuple[tuple[Option, ...], ...] = ()
    controls: tuple[Option, ...] = ()
    before: tuple[Renderable, ...] = ()


# Values of the buttons steps add themselves (never option values). Back and Cancel are the engine's.
DONE, SUBMIT, OTHER = "_done", "_submit", "_other"
PREVIOUS, NEXT = "_prev", "_next"
# Where a paged step keeps the page being shown, per step, inside the dialog data.
PAGES = "_pages"


@dataclass(frozen=True)
class Step(ABC):
    """One question of a flow. A step type is one subclass that knows how it is asked (`ask`), how it
    takes an answer (`take`) and how it is described to channels that draw whole pages (`view`).
    The engine keeps what all share: the dialog state and its versions, Back, Cancel, Goto, submit."""

    key: str
    prompt: Renderable
    # Asked only when this says so (e.g. the room is asked only after a building was chosen).
    when: Callable[[Data], bool] | None = None
    # Asked with a prompt built from the answers so far (e.g. naming the ticket it found).
    dynamic_prompt: Callable[[StepContext], Awaitable[Msg]] | None = None
    # After the step is answered: the key of the step to ask next, or None for the next in order. An
    # earlier key makes a loop (pick an item, its quantity, "add another?" and round again); the hook
    # may change ctx.data on the way (put the item into the cart).
    then: Callable[[StepContext], Awaitable[str | None]] | None = None

    # A file sent while this step is asked is its answer, not a command's upload.
    takes_files: ClassVar[bool] = False
    # Answered in rounds kept under its key (photos, building then room): Back first undoes those.
    has_rounds: ClassVar[bool] = False
    # Answering it submits the flow (a confirmation): nothing after it is asked.
    submits: ClassVar[bool] = False

    def applies(self, data: Data) -> bool:
        return self.when is None or self.when(data)

    async def prompt_in(self, ctx: StepContext) -> Renderable:
        return await self.dynamic_prompt(ctx) if self.dynamic_prompt is not None else self.prompt

    async def ask(self, ctx: StepContext) -> Question:
        """The question in words and buttons (by default its prompt alone: answered by typing)."""
        return Question(await self.prompt_in(ctx))

    @abstractmethod
    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        """Put the answer into ctx.data[self.key], or raise Invalid saying why it cannot be taken."""

    def back_into(self, answer: Any) -> Any:
        """Its answer when Back returns to it from a later step: None asks it afresh; a step in
        rounds may resume at its last round (the room, not the building again)."""
        return None

    async def view(self, ctx: StepContext) -> StepView:
        """The question whole, for a page: by default its prompt and buttons, which every channel draws."""
        question = await self.ask(ctx)
        presses = [option for row in question.rows for option in row] + list(question.controls)
        return StepView(prompt=question.prompt.render(ctx.locale), buttons=choices_in(presses, ctx.locale))

    async def skipped(self, ctx: StepContext) -> bool:
        """Left out although it applies (a choice with nothing to choose)."""
        return False

    async def settle(self, ctx: StepContext) -> Submitted | None:
        """Once answered: the flow's end, when the answer settles the whole flow."""
        return None

    def file_parser(self) -> Parser | None:
        """What parses a file sent to this step, before the delivery's transaction (handlers/core/uploads.py)."""
        return None

    def photo_ids(self, answer: Any) -> list[int]:
        """The photos this step's answer keeps (deleted when a discreet flow lets them go)."""
        return []


def choices_in(options: Sequence[Option], locale: str) -> tuple[Choice, ...]:
    return tuple(Choice(option.value, option.label.render(locale)) for option in options)


def in_rows(options: Sequence[Option], columns: int) -> tuple[tuple[Option, ...], ...]:
    return tuple(tuple(options[i : i + columns]) for i in range(0, len(options), columns))


def page_of(data: Data, key: str) -> int:
    return int((data.get(PAGES) or {}).get(key, 0))


def turn_page(data: Data, key: str, by: int) -> Taken:
    """A paged step shows its page before or after: a round of the step that answers nothing."""
    data[PAGES] = {**(data.get(PAGES) or {}), key: max(0, page_of(data, key) + by)}
    return Taken(done=False, chosen=msg("dialog.button.previous" if by < 0 else "dialog.button.next"))


def as_is(text: str) -> Label:
    """Words that read the same in every language (a number)."""
    return Label(text, text)


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

    async def ask(self, ctx: StepContext) -> Question:
        prompt = await self.prompt_in(ctx)
        options = list(await self.choices(ctx))
        paging: tuple[Option, ...] = ()
        if self.page_size and len(options) > self.page_size:
            pages = -(-len(options) // self.page_size)
            page = min(page_of(ctx.data, self.key), pages - 1)
            options = options[page * self.page_size : (page + 1) * self.page_size]
            prompt = msg("dialog.page", prompt=prompt, page=page + 1, pages=pages)
            paging = tuple(
                Option(value, msg(key))
                for value, key, shown in (
                    (PREVIOUS, "dialog.button.previous", page > 0),
                    (NEXT, "dialog.button.next", page < pages - 1),
                )
                if shown
            )
        return Question(prompt, in_rows(options, self.columns) + ((paging,) if paging else ()))

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        if answer.choice in (PREVIOUS, NEXT) and self.page_size:
            return turn_page(ctx.data, self.key, -1 if answer.choice == PREVIOUS else 1)
        if answer.photo is not None:
            raise Invalid(msg("dialog.error.use_buttons"))
        if answer.choice is not None:
            value = await self.choose(ctx, answer.choice)
        elif self.typed is not None:
            value = await self.typed(ctx, answer.text or "")
        else:
            value = await self.choose_by_label(ctx, answer.text or "")
        ctx.data[self.key] = value
        labels = {option.value: option.label for option in await self.choices(ctx)}
        return Taken(chosen=labels.get(value, as_is(value)))

    async def view(self, ctx: StepContext) -> StepView:
        prompt = (await self.prompt_in(ctx)).render(ctx.locale)
        options = choices_in(await self.choices(ctx), ctx.locale)
        return ChoiceView(prompt=prompt, buttons=options, typed=self.typed is not None)

    async def skipped(self, ctx: StepContext) -> bool:
        return self.skip_without_options and not await self.choices(ctx)

    async def settle(self, ctx: StepContext) -> Submitted | None:
        return await self.on_choose(ctx, ctx.data[self.key]) if self.on_choose is not None else None


@dataclass(frozen=True)
class TextStep(Step):
    min_length: int = 1
    max_length: int = 500
    validate: Callable[[str], Msg | None] | None = None
    # Offers Skip; a skipped answer is "".
    optional: bool = False
    # Buttons offered beside the box for words (a survey's "previous question"): a press is kept as
    # {"pressed": value}, never mistaken for words someone typed.
    controls: Callable[[StepContext], Awaitable[Sequence[Option]]] | None = None

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

    def _skip(self) -> tuple[Option, ...]:
        return (Option(DONE, msg("dialog.button.skip")),) if self.optional else ()

    async def _controls(self, ctx: StepContext) -> tuple[Option, ...]:
        extra = tuple(await self.controls(ctx)) if self.controls is not None else ()
        return (*self._skip(), *extra)

    async def ask(self, ctx: StepContext) -> Question:
        return Question(await self.prompt_in(ctx), controls=await self._controls(ctx))

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        if answer.choice == DONE and self.optional:
            ctx.data[self.key] = ""
            return Taken(chosen=msg("dialog.button.skip"))
        if answer.choice is not None and self.controls is not None:
            offered = {option.value: option.label for option in await self.controls(ctx)}
            if answer.choice not in offered:
                raise Invalid(msg("dialog.error.not_an_option"))
            ctx.data[self.key] = {"pressed": answer.choice}
            return Taken(chosen=offered[answer.choice])
        if answer.text is None:
            raise Invalid(msg("dialog.error.expected_text"))
        ctx.data[self.key] = self.accept(answer.text)
        return Taken()

    async def view(self, ctx: StepContext) -> StepView:
        return TextView(
            prompt=(await self.prompt_in(ctx)).render(ctx.locale),
            buttons=choices_in(await self._controls(ctx), ctx.locale),
            skip=DONE if self.optional else None,
            optional=self.optional,
            min_length=self.min_length,
            max_length=self.max_length,
        )


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
    # The most that can be taken now (what is left in stock, of a monthly limit): quick buttons above
    # it are not offered. None: only max_value bounds them.
    ceiling: Callable[[StepContext], Awaitable[int | None]] | None = None

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

    async def _quick(self, ctx: StepContext) -> tuple[Option, ...]:
        top = self.max_value
        if self.ceiling is not None and (ceiling := await self.ceiling(ctx)) is not None:
            top = min(top, ceiling)
        return tuple(Option(str(n), as_is(str(n))) for n in self.quick if self.min_value <= n <= top)

    async def ask(self, ctx: StepContext) -> Question:
        quick = await self._quick(ctx)
        return Question(await self.prompt_in(ctx), (quick,) if quick else ())

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        choice = answer.choice
        if choice is not None and not (choice.isascii() and choice.isdigit()):
            raise Invalid(msg("dialog.error.not_an_option"))
        if choice is None and answer.text is None:
            raise Invalid(msg("dialog.error.not_a_number", min=self.min_value, max=self.max_value))
        number = self.parse(choice if choice is not None else answer.text or "")
        if self.check is not None and (problem := await self.check(ctx, number)):
            raise Invalid(problem)
        ctx.data[self.key] = number
        return Taken(chosen=as_is(str(number)) if choice is not None else None)

    async def view(self, ctx: StepContext) -> StepView:
        return NumberView(
            prompt=(await self.prompt_in(ctx)).render(ctx.locale),
            buttons=choices_in(await self._quick(ctx), ctx.locale),
            min_value=self.min_value,
            max_value=self.max_value,
        )


# A whole number, perhaps signed, perhaps followed by a short unit word ("3", "+3", "3 包", "12 packs").
NUMBER = re.compile(r"([+-]?)\s*(\d+)(?:\s*[^\d\s.,/]{1,8})?")


@dataclass(frozen=True)
class FileStep(Step):
    """A file (a CSV, a spreadsheet), read as soon as it arrives: `read` turns it into the answer kept
    (plain data for the dialog state, never the bytes) or raises Invalid saying what is wrong with it."""

    read: Callable[[StepContext, DocumentIn], Awaitable[Any]] | None = None
    max_bytes: int = 2 * 1024 * 1024
    # What parses the file, off the event loop and before the transaction (handlers/core/uploads.py);
    # `read` takes the result with uploads.read.
    parser: Parser | None = None

    takes_files: ClassVar[bool] = True

    def file_parser(self) -> Parser | None:
        return self.parser

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        document = answer.document
        if document is None:
            raise Invalid(msg("dialog.error.expected_file"))
        too_big = msg("dialog.error.file_too_big", mb=self.max_bytes // (1024 * 1024))
        if document.content is None:
            big = document.size is not None and document.size > self.max_bytes
            raise Invalid(too_big if big else msg("dialog.error.file_unavailable"))
        if len(document.content) > self.max_bytes:
            raise Invalid(too_big)
        assert self.read is not None, f"file step {self.key} reads nothing"
        ctx.data[self.key] = await self.read(ctx, document)
        return Taken()

    async def view(self, ctx: StepContext) -> StepView:
        return FileView(prompt=(await self.prompt_in(ctx)).render(ctx.locale))


@dataclass(frozen=True)
class PhotoStep(Step):
    """Zero or more photos; the person presses Done (or Skip before the first one)."""

    max_photos: int = 3
    max_bytes: int = 10 * 1024 * 1024

    has_rounds: ClassVar[bool] = True

    def problem(self, photo: PhotoIn) -> Msg | None:
        if photo.content is not None:
            if len(photo.content) > self.max_bytes:
                return msg("dialog.error.photo_too_big", mb=self.max_bytes // (1024 * 1024))
            if photo.content_type not in IMAGE_TYPES:
                return msg("dialog.error.not_a_photo")
        return None

    def photo_ids(self, answer: Any) -> list[int]:
        return [int(i) for i in answer or ()]

    async def _asking(self, ctx: StepContext) -> tuple[Renderable, Option, int]:
        """The prompt, Done (Skip before the first photo), and how many photos it has. The area's prompt
        says what a photo is for; how to go on without one is said here, where the button is named."""
        have = len(ctx.data.get(self.key, []))
        if have:
            prompt: Renderable = msg("dialog.photo.more", count=have, max=self.max_photos)
        else:
            prompt = msg("dialog.photo.ask", prompt=await self.prompt_in(ctx), button=msg("dialog.button.skip"))
        return prompt, Option(DONE, msg("dialog.button.done" if have else "dialog.button.skip")), have

    async def ask(self, ctx: StepContext) -> Question:
        prompt, done, _ = await self._asking(ctx)
        return Question(prompt, controls=(done,))

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        photos: list[int] = list(ctx.data.get(self.key, []))
        if answer.choice == DONE:
            ctx.data[self.key] = photos
            return Taken(chosen=msg("dialog.button.done" if photos else "dialog.button.skip"))
        photo = answer.photo
        if photo is None:
            # Name the one button shown: Skip before any photo, Done after.
            shown = msg("dialog.button.done" if photos else "dialog.button.skip")
            raise Invalid(msg("dialog.error.expected_photo", button=shown))
        if problem := self.problem(photo):
            raise Invalid(problem)
        stored = await keep_photo(ctx, photo)
        photos.append(stored.id)
        ctx.data[self.key] = photos
        return Taken(done=len(photos) >= self.max_photos)

    async def view(self, ctx: StepContext) -> StepView:
        asked, done, have = await self._asking(ctx)
        # A page with an optional attachment field: no Skip button there to name (Slack's modal).
        prompt = asked if have else await self.prompt_in(ctx)
        return PhotoView(
            prompt=prompt.render(ctx.locale),
            asked=asked.render(ctx.locale),
            buttons=choices_in((done,), ctx.locale),
            skip=DONE,
            max_files=self.max_photos - have,
        )


async def keep_photo(ctx: StepContext, photo: PhotoIn) -> Photo:
    """A photo the person sent, kept in their name (attached to a ticket or a round later)."""
    stored = Photo(
        person_id=ctx.person.id,
        channel=ctx.channel,
        file_id=photo.file_id,
        content=photo.content,
        content_type=photo.content_type,
        size=len(photo.content) if photo.content is not None else None,
        created_at=ctx.now,
    )
    ctx.session.add(stored)
    await ctx.session.flush()
    return stored


@dataclass(frozen=True)
class LocationStep(Step):
    """A place from the rooms table: the building, then one of its rooms, or words when it is not listed.

    Kept as one step type so each channel can render it in its idiom (a choice page, then another, in
    a Slack modal; two rounds of buttons in Telegram); its answer is {building, room} or {text}.
    """

    buildings: Callable[[StepContext], Awaitable[Sequence[Option]]] | None = None
    rooms: Callable[[StepContext, str], Awaitable[Sequence[Option]]] | None = None
    max_length: int = 200

    has_rounds: ClassVar[bool] = True

    async def _options(self, ctx: StepContext, answer: dict[str, Any]) -> list[Option]:
        assert self.buildings is not None and self.rooms is not None
        if answer.get("stage", "building") == "building":
            found = list(await self.buildings(ctx))
        else:
            found = list(await self.rooms(ctx, str(answer["building"])))
        return [*found, Option(OTHER, msg("location.not_listed"))]

    async def _asking(self, ctx: StepContext) -> tuple[Renderable, list[Option] | None]:
        """The prompt of the stage it is at, and its options (None: the place in words)."""
        answer: dict[str, Any] = ctx.data.get(self.key) or {}
        stage = answer.get("stage", "building")
        if stage == "text":
            return msg("location.ask_text"), None
        prompt = msg("location.ask_room") if stage == "room" else await self.prompt_in(ctx)
        return prompt, await self._options(ctx, answer)

    async def ask(self, ctx: StepContext) -> Question:
        prompt, options = await self._asking(ctx)
        return Question(prompt, in_rows(options or [], 2))

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        so_far: dict[str, Any] = dict(ctx.data.get(self.key) or {})
        stage = so_far.get("stage", "building")
        choice, text = answer.choice, answer.text
        if stage == "text":
            if text is None:
                raise Invalid(msg("dialog.error.expected_text"))
            typed = TextStep(self.key, self.prompt, min_length=2, max_length=self.max_length).accept(text)
            ctx.data[self.key] = {"text": typed}
            return Taken()
        options = await self._options(ctx, so_far)
        if choice is None:
            if text is None:
                raise Invalid(msg("dialog.error.use_buttons"))
            choice = await ChoiceStep(self.key, self.prompt, options=options).choose_by_label(ctx, text)
        labels = {option.value: option.label for option in options}
        if choice not in labels:
            raise Invalid(msg("dialog.error.not_an_option"))
        chosen = labels[choice]
        if choice == OTHER:
            ctx.data[self.key] = {"stage": "text"}
            return Taken(done=False, chosen=chosen)
        if stage == "building":
            ctx.data[self.key] = {"stage": "room", "building": int(choice)}
            return Taken(done=False, chosen=chosen)
        ctx.data[self.key] = {"building": so_far["building"], "room": int(choice)}
        return Taken(chosen=chosen)

    def back_into(self, answer: Any) -> Any:
        # Back from the next step asks the room again in the building chosen, or the words again.
        if isinstance(answer, dict) and "room" in answer and "building" in answer:
            return {"stage": "room", "building": answer["building"]}
        if isinstance(answer, dict) and "text" in answer:
            return {"stage": "text"}
        return None

    async def view(self, ctx: StepContext) -> StepView:
        prompt, options = await self._asking(ctx)
        if options is None:
            return TextView(prompt=prompt.render(ctx.locale), min_length=2, max_length=self.max_length)
        return ChoiceView(prompt=prompt.render(ctx.locale), buttons=choices_in(options, ctx.locale))


@dataclass(frozen=True)
class ConfirmStep(Step):
    summary: Callable[[StepContext], Awaitable[Msg]] | None = None

    submits: ClassVar[bool] = True

    async def _summary(self, ctx: StepContext) -> Msg:
        assert self.summary is not None, f"confirm step {self.key} has no summary"
        return await self.summary(ctx)

    async def ask(self, ctx: StepContext) -> Question:
        submit = Option(SUBMIT, msg("dialog.button.submit"))
        return Question(await self.prompt_in(ctx), controls=(submit,), before=(await self._summary(ctx),))

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        if answer.choice != SUBMIT:
            raise Invalid(msg("dialog.error.confirm_with_button"))
        return Taken(chosen=msg("dialog.button.submit"))

    async def view(self, ctx: StepContext) -> StepView:
        return ConfirmView(
            prompt=(await self.prompt_in(ctx)).render(ctx.locale),
            buttons=choices_in((Option(SUBMIT, msg("dialog.button.submit")),), ctx.locale),
            summary=(await self._summary(ctx)).render(ctx.locale),
            skip=SUBMIT,
        )


@dataclass(frozen=True)
class Submitted:
    """What a flow's submit tells the person, and the record it created."""

    message: Renderable
    record: str
    # Files sent with the message (a booking's .ics), kept with handlers/core/files.keep.
    files: tuple[FileOut, ...] = ()


@dataclass(frozen=True)
class Flow:
    name: str
    title: Renderable
    description: Renderable
    steps: tuple[Step, ...]
    submit: Callable[[StepContext], Awaitable[Submitted]]
    # Listed flows are in the menu, /help and the command list; the others start from a button.
    listed: bool = True
    # The words after the flow's command (/supply 打印纸) as answers given in advance.
    preset: Callable[[StepContext, str], Awaitable[Data]] | None = None
    # Its answers are nobody's business but the person's (an anonymous survey): the record kept of
    # each delivery for redelivery holds no echo of what was chosen.
    discreet: bool = False
    # An unlisted flow that ends a conversation of the person's own (a rating's comment) ends with
    # the main menu, like a listed one; one on a card (a technician's note) ends quietly.
    menu_after: bool = False
    # What /cancel says when it is not "nothing was saved" (a survey keeps the answers so far).
    on_cancel: Callable[[StepContext], Awaitable[Msg | None]] | None = None

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
    # Files sent with the last thing said (an export, a chart); see handlers/core/files.py.
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

"""The step types a booking is asked with: a day (today, tomorrow or a typed date, on the
organisation's calendar), a start time from the free ones (paged, or typed as 14:30) and a duration.

Each is a `flow.Step` (ARCHITECTURE: "Adding a step type"); what is free and what the calendar says
come from the callables it is given, so the steps know nothing of rooms.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta

from handlers.core.conversation import ChoiceView, StepView
from handlers.core.flow import (
    Answer,
    ChoiceStep,
    Invalid,
    Option,
    Question,
    Step,
    StepContext,
    Taken,
    as_is,
    choices_in,
    in_rows,
)
from handlers.core.i18n import Msg, msg
from handlers.core.schedule import Schedule

TODAY, TOMORROW = "today", "tomorrow"
# 2026-11-30, 2026/11/30, or 11-30 and 11月30日 for this year (next year once it has passed).
FULL_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", re.ASCII)
SHORT_DATE = re.compile(r"(\d{1,2})[-/.月](\d{1,2})日?", re.ASCII)
CLOCK = re.compile(r"([01]?\d|2[0-3])[:：.点]([0-5]\d)?分?", re.ASCII)
# "90", "90 min", "90分钟", "1.5h", "2 小时", "1h30".
MINUTES = re.compile(r"(\d{1,3})\s*(?:m|min|mins|minutes|分钟|分)?", re.ASCII)
HOURS = re.compile(
    r"(\d{1,2}(?:\.\d)?)\s*(?:h|hr|hrs|hour|hours|小时|个小时)\s*(?:(\d{1,2})\s*(?:m|min|分钟|分)?)?", re.ASCII
)

# Whether a day may be booked at all (None) or why not.
DayCheck = Callable[[StepContext, date], Awaitable[Msg | None]]
Calendar = Callable[[StepContext], Awaitable[Schedule]]
# Whether a start time or a length in minutes may be taken (None) or why not.
Judge = Callable[[StepContext, int], Awaitable[Msg | None]]


def read_date(text: str, today: date) -> date | None:
    words = text.strip()
    try:
        if found := FULL_DATE.fullmatch(words):
            return date(int(found[1]), int(found[2]), int(found[3]))
        if found := SHORT_DATE.fullmatch(words):
            day = date(today.year, int(found[1]), int(found[2]))
            return day if day >= today else date(today.year + 1, day.month, day.day)
    except ValueError:
        return None
    return None


def read_clock(text: str) -> time | None:
    found = CLOCK.fullmatch(text.strip())
    return None if found is None else time(int(found[1]), int(found[2] or 0))


def read_minutes(text: str) -> int | None:
    words = text.strip().lower()
    if found := HOURS.fullmatch(words):
        return round(float(found[1]) * 60) + int(found[2] or 0)
    if found := MINUTES.fullmatch(words):
        return int(found[1])
    return None


@dataclass(frozen=True)
class DayStep(Step):
    """A day: Today, Tomorrow, or a date typed; not past, not too far ahead, a working day of the
    organisation's calendar (holidays closed, make-up days open), and whatever `check` adds."""

    calendar: Calendar | None = None
    check: DayCheck | None = None
    horizon_days: int = 60

    def _buttons(self) -> tuple[Option, ...]:
        return (Option(TODAY, msg("booking.day.today")), Option(TOMORROW, msg("booking.day.tomorrow")))

    async def ask(self, ctx: StepContext) -> Question:
        return Question(await self.prompt_in(ctx), (self._buttons(),))

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        today = ctx.now.astimezone(ctx.zone).date()
        if answer.choice is not None:
            if answer.choice not in (TODAY, TOMORROW):
                raise Invalid(msg("dialog.error.not_an_option"))
            day: date | None = today + timedelta(days=0 if answer.choice == TODAY else 1)
        else:
            typed = (answer.text or "").strip()
            labels = {option.label.render(ctx.locale).casefold(): option.value for option in self._buttons()}
            if typed.casefold() in labels:
                day = today + timedelta(days=0 if labels[typed.casefold()] == TODAY else 1)
            else:
                day = read_date(typed, today)
        if day is None:
            raise Invalid(msg("booking.error.not_a_date", example=(today + timedelta(days=1)).isoformat()))
        if day < today:
            raise Invalid(msg("booking.error.past_day", day=day.isoformat()))
        if day > today + timedelta(days=self.horizon_days):
            raise Invalid(msg("booking.error.too_far", max=self.horizon_days))
        if self.calendar is not None:
            calendar = await self.calendar(ctx)
            if not calendar.works_on(day):
                closed = "booking.error.holiday" if day in calendar.holidays else "booking.error.day_off"
                raise Invalid(msg(closed, day=day.isoformat()))
        if self.check is not None and (problem := await self.check(ctx, day)):
            raise Invalid(problem)
        ctx.data[self.key] = day.isoformat()
        return Taken(chosen=as_is(day.isoformat()))

    async def view(self, ctx: StepContext) -> StepView:
        prompt = (await self.prompt_in(ctx)).render(ctx.locale)
        return ChoiceView(prompt=prompt, buttons=choices_in(self._buttons(), ctx.locale), typed=True)


@dataclass(frozen=True)
class TimeSlotStep(ChoiceStep):
    """A start time from the free ones (options "HH:MM", paged), or typed (14:30, 14点): `judge` says
    why a typed time cannot be taken (minutes after midnight). A slot pressed that is no longer
    offered was taken meanwhile: the slots are shown again with that word."""

    judge: Judge | None = None

    async def choose(self, ctx: StepContext, value: str) -> str:
        if value not in {option.value for option in await self.choices(ctx)}:
            raise Invalid(msg("booking.error.slot_taken", start=value[:5]))
        return value

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        if answer.choice is not None or answer.text is None or answer.photo is not None:
            return await super().take(ctx, answer)
        at = read_clock(answer.text)
        if at is None:
            raise Invalid(msg("booking.error.not_a_time"))
        if self.judge is not None and (problem := await self.judge(ctx, at.hour * 60 + at.minute)):
            raise Invalid(problem)
        value = await self.choose(ctx, at.strftime("%H:%M"))
        ctx.data[self.key] = value
        return Taken(chosen=as_is(value))

    async def view(self, ctx: StepContext) -> StepView:
        prompt = (await self.prompt_in(ctx)).render(ctx.locale)
        return ChoiceView(prompt=prompt, buttons=choices_in(await self.choices(ctx), ctx.locale), typed=True)


@dataclass(frozen=True)
class DurationStep(Step):
    """How long, in minutes: the lengths `lengths` offers (those that fit), or one typed (90, 1.5h,
    2小时) that `judge` accepts."""

    lengths: Callable[[StepContext], Awaitable[Sequence[int]]] | None = None
    judge: Judge | None = None

    async def _options(self, ctx: StepContext) -> list[Option]:
        assert self.lengths is not None
        return [Option(str(minutes), duration_label(minutes)) for minutes in await self.lengths(ctx)]

    async def ask(self, ctx: StepContext) -> Question:
        return Question(await self.prompt_in(ctx), in_rows(await self._options(ctx), 3))

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        options = {option.value: option.label for option in await self._options(ctx)}
        if answer.choice is not None:
            if answer.choice not in options:
                raise Invalid(msg("booking.error.length_gone"))
            minutes = int(answer.choice)
        else:
            found = read_minutes(answer.text or "")
            if found is None or found <= 0:
                raise Invalid(msg("booking.error.not_a_length"))
            minutes = found
            if self.judge is not None and (problem := await self.judge(ctx, minutes)):
                raise Invalid(problem)
        ctx.data[self.key] = minutes
        return Taken(chosen=duration_label(minutes))

    async def view(self, ctx: StepContext) -> StepView:
        prompt = (await self.prompt_in(ctx)).render(ctx.locale)
        return ChoiceView(prompt=prompt, buttons=choices_in(await self._options(ctx), ctx.locale), typed=True)


def duration_label(minutes: int) -> Msg:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return msg("booking.length.minutes", count=rest)
    if not rest:
        return msg("booking.length.hours", count=hours)
    return msg("booking.length.hours_minutes", hours=hours, minutes=rest)

"""Walking a round in chat: each checklist item asked in turn (buttons, a number, a photo, words),
each answer kept at once (leaving halfway and coming back resumes where it stopped); a failed item or
a reading out of range asks what is wrong and opens a repair ticket through the fault desk, unless a
ticket from an earlier round of that checkpoint is still open; the end gets a summary and a number.
A checkpoint's door code (/start ck_<id>) jumps to it and records that the inspector was there."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from sqlalchemy import select, update

from handlers.core import audit, faults, ids, meters
from handlers.core.conversation import ChoiceView, PhotoView, StepView, TextView
from handlers.core.flow import (
    DONE,
    Action,
    Answer,
    ChoiceStep,
    ConfirmStep,
    Flow,
    Goto,
    Invalid,
    Option,
    PhotoStep,
    Question,
    Step,
    StepContext,
    Submitted,
    Taken,
    TextStep,
    as_is,
    choices_in,
    keep_photo,
    said,
)
from handlers.core.i18n import Label, Msg, Renderable, msg
from handlers.inspections import rounds
from handlers.inspections.routes import check_name, checkpoint_name, route_name
from storage.models import InspectionCheckpoint, InspectionResult, InspectionRound, InspectionRoute

OK, FAIL = "ok", "fail"
KEEP, AGAIN = "keep", "again"
MAX_VALUE = Decimal("1e9")


@dataclass(frozen=True)
class Where:
    """The round being walked and the item asked now."""

    round: InspectionRound
    route: InspectionRoute
    checkpoints: list[dict[str, Any]]
    answered: set[tuple[str, int]]
    place: rounds.Place | None

    @property
    def checkpoint(self) -> dict[str, Any]:
        assert self.place is not None
        return self.checkpoints[self.place.checkpoint]

    @property
    def item(self) -> dict[str, Any]:
        assert self.place is not None
        return dict(self.checkpoint["items"][self.place.item])


async def where(ctx: StepContext) -> Where:
    round_ = await ctx.session.get(InspectionRound, int(ctx.data["round"]))
    if round_ is None or round_.inspector_id != ctx.person.id or round_.status != "in_progress":
        raise Invalid(msg("inspect.error.not_walking"))
    route = await ctx.session.get(InspectionRoute, round_.route_id)
    assert route is not None
    checkpoints = await rounds.checkpoints_of(ctx.session, round_)
    answered = {key for key, result in (await rounds.results_of(ctx.session, round_.id)).items() if key[1] >= 0}
    at = ctx.data.get("at")
    return Where(round_, route, checkpoints, answered, rounds.next_item(checkpoints, answered, at))


def reading_range(item: dict[str, Any]) -> Renderable:
    low, high, unit = item.get("min"), item.get("max"), item.get("unit") or ""
    if low is not None and high is not None:
        return as_is(f"{low}–{high} {unit}".strip())
    if low is not None:
        return as_is(f"≥ {low} {unit}".strip())
    if high is not None:
        return as_is(f"≤ {high} {unit}".strip())
    return msg("inspect.range.any")


def parse_reading(text: str, unit: str | None) -> Decimal:
    """Typed words → a number in the item's unit: full-width digits and the unit itself are how
    people type it ("１.０５", "1.05 MPa"); another unit, a negative or an absurd number is refused."""
    typed = unicodedata.normalize("NFKC", text).strip().replace(",", "")
    if unit:
        folded = unicodedata.normalize("NFKC", unit).strip()
        if typed.casefold().endswith(folded.casefold()):
            typed = typed[: -len(folded)].strip()
    try:
        value = Decimal(typed)
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        tail = typed.lstrip("+-0123456789. ")
        if tail and typed[: len(typed) - len(tail)].strip():
            raise Invalid(msg("inspect.error.wrong_unit", unit=unit or "—", typed=tail[:12])) from None
        raise Invalid(msg("inspect.error.not_a_reading", unit=unit or "")) from None
    if value < 0:
        raise Invalid(msg("inspect.error.negative"))
    if value >= MAX_VALUE:
        raise Invalid(msg("inspect.error.absurd"))
    return value


def in_range(item: dict[str, Any], value: Decimal) -> bool:
    low, high = item.get("min"), item.get("max")
    return (low is None or value >= Decimal(low)) and (high is None or value <= Decimal(high))


async def keep_result(ctx: StepContext, round_id: int, checkpoint: str, item: int, **values: Any) -> InspectionResult:
    """The item's answer, written now: answered again (a scan, a re-walk after Back) it is replaced."""
    found = await ctx.session.scalar(
        select(InspectionResult).where(
            InspectionResult.round_id == round_id,
            InspectionResult.checkpoint == checkpoint,
            InspectionResult.item == item,
        )
    )
    if found is None:
        found = InspectionResult(round_id=round_id, checkpoint=checkpoint, item=item, person_id=ctx.person.id)
        ctx.session.add(found)
    for key, value in {"at": ctx.now, **values}.items():
        setattr(found, key, value)
    await ctx.session.flush()
    return found


def place_label(checkpoint: dict[str, Any], index: int, of: int) -> Msg:
    return msg("inspect.checkpoint", number=index + 1, of=of, name=checkpoint_name(checkpoint))


@dataclass(frozen=True)
class CheckStep(Step):
    """The round's next checklist item, asked as its kind asks: ✓/✗ buttons, a number in its unit, a
    photo, or words (optional). Kept at once; a failure is noted for the steps that follow."""

    takes_files: ClassVar[bool] = False

    async def _asked(self, ctx: StepContext) -> tuple[Where, Msg, tuple[Option, ...], tuple[Option, ...]]:
        found = await where(ctx)
        if found.place is None:
            raise Invalid(msg("inspect.error.nothing_left"))
        item, checkpoint = found.item, found.checkpoint
        done, total = rounds.counts(found.checkpoints, found.answered)
        kind = item["kind"]
        buttons: tuple[Option, ...] = ()
        controls: tuple[Option, ...] = ()
        if kind == "pass_fail":
            buttons = (Option(OK, msg("inspect.button.ok")), Option(FAIL, msg("inspect.button.fail")))
            how: Renderable = msg("inspect.how.pass_fail")
        elif kind == "reading" and item.get("meter"):
            unit = await unit_of(ctx, item)
            how = msg("inspect.how.meter", meter=item["meter"], unit=unit, range=reading_range({**item, "unit": unit}))
        elif kind == "reading":
            how = msg("inspect.how.reading", unit=item.get("unit") or "", range=reading_range(item))
        elif kind == "photo":
            how = msg("inspect.how.photo")
        else:
            how = msg("inspect.how.note", button=msg("dialog.button.skip"))
            controls = (Option(DONE, msg("dialog.button.skip")),)
        prompt = msg(
            "inspect.item",
            route=route_name(found.route),
            place=place_label(checkpoint, found.place.checkpoint, len(found.checkpoints)),
            check=check_name(item),
            how=how,
            done=done,
            total=total,
        )
        return found, prompt, buttons, controls

    async def ask(self, ctx: StepContext) -> Question:
        try:
            _, prompt, buttons, controls = await self._asked(ctx)
        except Invalid as problem:
            return Question(problem.reason)
        return Question(prompt, (buttons,) if buttons else (), controls)

    async def skipped(self, ctx: StepContext) -> bool:
        found = await where(ctx)
        return found.place is None

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        found, _, buttons, controls = await self._asked(ctx)
        assert found.place is not None
        item, checkpoint = found.item, found.checkpoint
        kind = item["kind"]
        values: dict[str, Any] = {}
        chosen: Renderable | None = None
        failed = False
        if kind == "pass_fail":
            choice = answer.choice
            if choice is None and answer.text is not None:
                typed = answer.text.strip().casefold()
                choice = next((o.value for o in buttons if o.label.render(ctx.locale).casefold() == typed), None)
            if choice not in (OK, FAIL):
                raise Invalid(msg("dialog.error.use_buttons"))
            failed = choice == FAIL
            values.update(outcome=choice)
            chosen = next(o.label for o in buttons if o.value == choice)
        elif kind == "reading":
            if answer.photo is not None or answer.text is None:
                raise Invalid(msg("inspect.error.not_a_reading", unit=item.get("unit") or ""))
            value = parse_reading(answer.text, await unit_of(ctx, item))
            desk = await meter_desk(ctx, item)
            if desk is not None and await desk.doubt(ctx, item["meter"], value) is not None:
                # Questioned before it is kept: nothing is written until the inspector says keep.
                place = found.place
                ctx.data["doubt"] = {"checkpoint": place.checkpoint, "item": place.item, "value": str(value)}
                ctx.data[self.key] = True
                return Taken()
            await record_reading(ctx, found, found.place, value)
            ctx.data[self.key] = True
            return Taken()
        elif kind == "photo":
            if answer.photo is None:
                raise Invalid(msg("inspect.error.photo_needed"))
            photos = PhotoStep(self.key, self.prompt, max_photos=1)
            if problem := photos.problem(answer.photo):
                raise Invalid(problem)
            photo = await keep_photo(ctx, answer.photo)
            values.update(outcome=OK, photo_id=photo.id)
        else:
            if answer.choice == DONE and controls:
                values.update(outcome=OK)
                chosen = msg("dialog.button.skip")
            elif answer.text is None:
                raise Invalid(msg("dialog.error.expected_text"))
            else:
                values.update(outcome=OK, note=TextStep(self.key, self.prompt, max_length=500).accept(answer.text))
        await keep_result(ctx, found.round.id, checkpoint["code"], found.place.item, **values)
        ctx.data[self.key] = True
        if failed:
            ctx.data["fault"] = {
                "checkpoint": found.place.checkpoint,
                "item": found.place.item,
                "value": values.get("value"),
            }
        return Taken(chosen=chosen)

    async def view(self, ctx: StepContext) -> StepView:
        """A page of the item as its kind is answered: a choice, words or a number typed, a photo."""
        found, prompt, buttons, controls = await self._asked(ctx)
        shown = prompt.render(ctx.locale)
        kind = found.item["kind"]
        assert found.place is not None
        part = f"{found.place.checkpoint}.{found.place.item}"
        if kind == "pass_fail":
            return ChoiceView(prompt=shown, part=part, buttons=choices_in(buttons, ctx.locale))
        if kind == "photo":
            return PhotoView(prompt=shown, part=part, asked=shown, buttons=(), skip=None, max_files=1)
        return TextView(
            prompt=shown,
            part=part,
            buttons=choices_in(controls, ctx.locale),
            skip=DONE if controls else None,
            optional=bool(controls),
            min_length=1,
            max_length=500 if kind == "note" else 40,
        )


async def unit_of(ctx: StepContext, item: dict[str, Any]) -> str | None:
    """A reading's unit: the item's, else its meter's (the energy area knows it)."""
    if item.get("unit") or not item.get("meter"):
        return item.get("unit")
    desk = meters.desk_among(ctx.areas)
    shown = await desk.find(ctx, item["meter"]) if desk is not None else None
    return shown.unit if shown is not None else None


async def meter_desk(ctx: StepContext, item: dict[str, Any]) -> meters.MeterDesk | None:
    """The desk that keeps this item's meter readings: None for a plain reading, or when the meter
    is not (or no longer) known, when the value stays on the round alone."""
    desk = meters.desk_among(ctx.areas) if item.get("meter") else None
    if desk is None or await desk.find(ctx, item["meter"]) is None:
        return None
    return desk


async def record_reading(ctx: StepContext, found: Where, place: rounds.Place, value: Decimal) -> None:
    """The reading kept on the round (a fault when out of range) and, for a meter, as its reading."""
    checkpoint = found.checkpoints[place.checkpoint]
    item = checkpoint["items"][place.item]
    failed = not in_range(item, value)
    await keep_result(
        ctx, found.round.id, checkpoint["code"], place.item, outcome=FAIL if failed else OK, value=str(value)
    )
    desk = await meter_desk(ctx, item)
    if desk is not None:
        await desk.keep(ctx, item["meter"], value, round_id=found.round.id)
    if failed:
        ctx.data["fault"] = {"checkpoint": place.checkpoint, "item": place.item, "value": str(value)}


async def doubt_prompt(ctx: StepContext) -> Msg:
    found = await where(ctx)
    pending = ctx.data["doubt"]
    item = found.checkpoints[pending["checkpoint"]]["items"][pending["item"]]
    desk = await meter_desk(ctx, item)
    doubt = await desk.doubt(ctx, item["meter"], Decimal(pending["value"])) if desk is not None else None
    return msg("inspect.meter.doubt", doubt=doubt or as_is(pending["value"]))


async def after_doubt(ctx: StepContext) -> str | None:
    """A questioned meter reading: kept as typed (the energy area marks a lower one as a new
    baseline), or asked again."""
    pending = ctx.data.pop("doubt")
    if ctx.data.pop("doubtful") != KEEP:
        ctx.data.pop("check", None)
        ctx.data["_trail"] = []
        raise Goto("check", msg("inspect.meter.again"))
    found = await where(ctx)
    await record_reading(ctx, found, rounds.Place(pending["checkpoint"], pending["item"]), Decimal(pending["value"]))
    return await after_check(ctx)


async def after_check(ctx: StepContext) -> str | None:
    """After an item: a failure asks what is wrong (unless an earlier round's ticket for the
    checkpoint is still open); else the next item, or the end."""
    if "doubt" in ctx.data:
        return "doubtful"
    found = await where(ctx)
    fault = ctx.data.get("fault")
    if fault is not None:
        checkpoint = found.checkpoints[fault["checkpoint"]]
        already = await open_ticket_for(ctx, found.round, checkpoint["code"])
        if already is None:
            return "what"
        ticket_id, number = already
        await link_ticket(
            ctx, found.round.id, checkpoint["code"], fault["item"], ticket_id=ticket_id, opened_ticket=False
        )
        ctx.data.pop("fault")
        raise onward(ctx, found, msg("inspect.fault.already_open", number=number, place=checkpoint_name(checkpoint)))
    raise onward(ctx, found)


async def link_ticket(ctx: StepContext, round_id: int, checkpoint: str, item: int, **values: Any) -> None:
    """The failed item's result names the ticket it opened, or the open one it found."""
    await ctx.session.execute(
        update(InspectionResult)
        .where(
            InspectionResult.round_id == round_id,
            InspectionResult.checkpoint == checkpoint,
            InspectionResult.item == item,
        )
        .values(**values)
    )


def onward(ctx: StepContext, found: Where, say: Msg | None = None) -> Goto:
    """On to the next item, or to the end: with nothing to go Back to (each answer is kept already)."""
    for key in ("what", "evidence", "doubtful"):
        ctx.data.pop(key, None)
    ctx.data["_trail"] = []
    left = rounds.next_item(found.checkpoints, found.answered, ctx.data.get("at"))
    if left is not None:
        return Goto("check", say)
    ctx.data.pop("check", None)
    ctx.data["complete"] = True
    return Goto("finish", say)


async def open_ticket_for(ctx: StepContext, round_: InspectionRound, checkpoint: str) -> tuple[int, str] | None:
    """A ticket opened from an earlier round at this checkpoint of the route, still open."""
    desk = faults.desk(ctx.areas)
    if desk is None:
        return None
    earlier = await ctx.session.scalars(
        select(InspectionResult.ticket_id)
        .join(InspectionRound, InspectionRound.id == InspectionResult.round_id)
        .where(
            InspectionRound.route_id == round_.route_id,
            InspectionResult.checkpoint == checkpoint,
            InspectionResult.ticket_id.is_not(None),
        )
    )
    still = await desk.still_open(ctx.session, [i for i in earlier.all() if i is not None])
    return next(iter(sorted(still.items())), None)


async def what_prompt(ctx: StepContext) -> Msg:
    found = await where(ctx)
    fault = ctx.data["fault"]
    checkpoint = found.checkpoints[fault["checkpoint"]]
    item = checkpoint["items"][fault["item"]]
    seen: Renderable = (
        msg("inspect.fault.reading", value=fault["value"], unit=item.get("unit") or "", range=reading_range(item))
        if fault.get("value") is not None
        else msg("inspect.fault.failed")
    )
    return msg("inspect.fault.what", check=check_name(item), place=checkpoint_name(checkpoint), seen=seen)


async def report_fault(ctx: StepContext) -> str | None:
    """What is wrong and its photos → a repair ticket for the checkpoint's room and category, linked
    to the item's result; the inspector hears its number and walks on."""
    found = await where(ctx)
    fault = ctx.data["fault"]
    checkpoint = found.checkpoints[fault["checkpoint"]]
    item = checkpoint["items"][fault["item"]]
    desk = faults.desk(ctx.areas)
    if desk is None:
        ctx.data.pop("fault")
        raise onward(ctx, found, msg("inspect.fault.no_repairs"))
    name = checkpoint_name(checkpoint).render(ctx.locale)
    route, check = route_name(found.route).render(ctx.locale), check_name(item).render(ctx.locale)
    description = f"{route} · {name} · {check}: {ctx.data['what']}"
    if fault.get("value") is not None:
        description += f" ({fault['value']} {item.get('unit') or ''})".rstrip()
    reported = await desk.report(
        ctx,
        faults.Fault(
            category=checkpoint.get("category", "other"),
            room_id=checkpoint.get("room_id"),
            description=description[:1000],
            photo_ids=tuple(int(i) for i in ctx.data.get("evidence") or ()),
            location=name,
        ),
    )
    await link_ticket(
        ctx,
        found.round.id,
        checkpoint["code"],
        fault["item"],
        ticket_id=reported.ticket_id,
        opened_ticket=True,
        note=str(ctx.data["what"]),
    )
    ctx.data.pop("fault")
    raise onward(ctx, found, msg("inspect.fault.reported", ticket=reported.said))


@dataclass(frozen=True)
class Tally:
    items: int
    failed: int
    tickets: tuple[str, ...]


async def tally(ctx: StepContext, round_: InspectionRound) -> Tally:
    results = [r for r in (await rounds.results_of(ctx.session, round_.id)).values() if r.item >= 0]
    ticket_ids = sorted({r.ticket_id for r in results if r.ticket_id is not None})
    desk = faults.desk(ctx.areas)
    numbers: dict[int, str] = {}
    if ticket_ids and desk is not None:
        numbers = await desk.still_open(ctx.session, ticket_ids)
    return Tally(
        len(results), sum(1 for r in results if r.outcome == FAIL), tuple(numbers.get(i, f"#{i}") for i in ticket_ids)
    )


async def summary(ctx: StepContext) -> Msg:
    found = await where(ctx)
    counted = await tally(ctx, found.round)
    tickets: Renderable = as_is(", ".join(counted.tickets)) if counted.tickets else msg("inspect.summary.no_tickets")
    return msg(
        "inspect.summary",
        route=route_name(found.route),
        checkpoints=len(found.checkpoints),
        items=counted.items,
        failed=counted.failed,
        tickets=tickets,
    )


async def finish(ctx: StepContext) -> Submitted:
    """The round is done: once (a conditional UPDATE), with its number, audited."""
    found = await where(ctx)
    left = rounds.next_item(found.checkpoints, found.answered)
    if left is not None:
        ctx.data.pop("complete", None)
        raise Goto("check", msg("inspect.error.items_left"))
    number = rounds.round_number(found.round.id, ctx.now.astimezone(ctx.zone).year)
    ended = await ctx.session.execute(
        update(InspectionRound)
        .where(InspectionRound.id == found.round.id, InspectionRound.status == "in_progress")
        .values(status="done", finished_at=ctx.now, number=number)
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount != 1:  # type: ignore[attr-defined]
        raise Invalid(msg("inspect.error.not_walking"))
    audit.done(ctx, action="inspect.round", record=number)
    counted = await tally(ctx, found.round)
    late = ctx.now > found.round.due_at
    return Submitted(
        msg(
            "inspect.done",
            number=number,
            route=route_name(found.route),
            failed=counted.failed,
            late=msg("inspect.done.late") if late else "",
        ),
        number,
    )


async def on_cancel(ctx: StepContext) -> Msg | None:
    try:
        found = await where(ctx)
    except Invalid:
        return None
    done, total = rounds.counts(found.checkpoints, found.answered)
    return msg("inspect.paused", route=route_name(found.route), done=done, total=total)


ROUND = Flow(
    name="inspect_round",
    title=msg("inspect.round.title"),
    description=msg("inspect.round.title"),
    steps=(
        CheckStep("check", msg("inspect.round.title"), then=after_check),
        ChoiceStep(
            "doubtful",
            msg("inspect.meter.doubt_plain"),
            options=(Option(KEEP, msg("inspect.button.keep")), Option(AGAIN, msg("inspect.button.again"))),
            when=lambda d: "doubt" in d,
            dynamic_prompt=doubt_prompt,
            then=after_doubt,
        ),
        TextStep(
            "what",
            msg("inspect.fault.what_plain"),
            min_length=2,
            max_length=500,
            when=lambda d: "fault" in d,
            dynamic_prompt=what_prompt,
        ),
        PhotoStep(
            "evidence", msg("inspect.fault.photos"), max_photos=3, when=lambda d: "fault" in d, then=report_fault
        ),
        ConfirmStep(
            "finish", msg("inspect.ask_finish"), summary=summary, when=lambda d: "fault" not in d and "doubt" not in d
        ),
    ),
    submit=finish,
    listed=False,
    menu_after=True,
    on_cancel=on_cancel,
)


# --- the door code ------------------------------------------------------------------------------------


async def scanned(ctx: StepContext, value: str) -> Action:
    """/start ck_<id>: a checkpoint's door code. Recorded on the round the person is walking (or
    today's round of that route that waits for them, started now), which then goes on there."""
    checkpoint_id = ids.parse_id(value)
    checkpoint = await ctx.session.get(InspectionCheckpoint, checkpoint_id) if checkpoint_id is not None else None
    if checkpoint is None:
        return said(msg("inspect.error.unknown_code"))
    route = await ctx.session.get(InspectionRoute, checkpoint.route_id)
    assert route is not None
    here = Label(checkpoint.name_zh, checkpoint.name_en)
    walking = await ctx.session.scalar(
        select(InspectionRound)
        .where(InspectionRound.inspector_id == ctx.person.id, InspectionRound.status == "in_progress")
        .order_by(InspectionRound.started_at.desc())
    )
    if walking is not None and walking.route_id != route.id:
        other = await ctx.session.get(InspectionRoute, walking.route_id)
        assert other is not None
        return Action(
            say=((msg("inspect.error.other_route", place=here, route=route_name(route), yours=route_name(other)), ()),),
            start=(ROUND.name, {"round": walking.id}),
        )
    if walking is None:
        today = ctx.now.astimezone(ctx.zone).date().isoformat()
        waiting = [
            round_
            for round_, _ in await rounds.waiting_for(ctx.session, ctx.person, today)
            if round_.route_id == route.id and round_.status == "due"
        ]
        if not waiting:
            return said(msg("inspect.error.no_round_here", place=here, route=route_name(route)))
        claimed = await rounds.claim(ctx.session, waiting[0], ctx.person, ctx.now)
        if claimed.taken_by is not None:
            return said(msg("inspect.error.taken", route=route_name(route), who=claimed.taken_by.display_name))
        walking = claimed.round
    checkpoints = await rounds.checkpoints_of(ctx.session, walking)
    index = next((i for i, c in enumerate(checkpoints) if c["code"] == checkpoint.code), None)
    if index is None:
        return Action(
            say=((msg("inspect.error.not_on_version", place=here), ()),), start=(ROUND.name, {"round": walking.id})
        )
    await keep_result(ctx, walking.id, checkpoint.code, rounds.SEEN, outcome="seen")
    return Action(
        say=((msg("inspect.scanned", place=here, at=ctx.now.astimezone(ctx.zone).strftime("%H:%M")), ()),),
        start=(ROUND.name, {"round": walking.id, "at": index}),
    )

"""/meter (抄表): readings typed in chat, and the logistics admins' meters.

- `/meter E-A-01 12345.6`: judged at once by the desk (handlers/energy/readings.py); a fine reading
  is kept there and then, a doubtful one starts the reading flow with the meter and the value
  preset, at its question "keep it or re-enter?"; one that cannot be a reading changes nothing.
- `/meter E-A-01` asks the value, bare `/meter` the meter and then the value.
- `/meter list`, `/meter add CODE KIND BUILDING[:FLOOR] [xMULTIPLIER] NAME`, `/meter headcount
  BUILDING N` (head count for energy per head; 0 forgets it), and a CSV/XLSX captioned
  `/meter import` (columns code, kind, building, floor, multiplier, name; every bad line named,
  nothing imported if one is wrong).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import authz, uploads
from handlers.core.adminkit import paged
from handlers.core.area import Area
from handlers.core.audit import done
from handlers.core.conversation import DocumentIn, StepView, TextView
from handlers.core.flow import (
    Action,
    Answer,
    ChoiceStep,
    Flow,
    Goto,
    Invalid,
    Option,
    Rows,
    Step,
    StepContext,
    Submitted,
    Taken,
    Upload,
    said,
)
from handlers.core.i18n import Label, Lines, Msg, Renderable, freeze, msg, thaw
from handlers.core.refusals import Refused
from handlers.energy import demo
from handlers.energy.digest import SECTION
from handlers.energy.export import READINGS
from handlers.energy.readings import UNIT_OF, Desk, find_meter, keep_reading, last_reading, shown
from handlers.energy.report import energy_command
from storage.models import Building, Meter, MeterReading

DESK = Desk()
CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
KIND_WORDS = {
    "electricity": ("electricity", "power", "电", "电表", "用电"),
    "water": ("water", "水", "水表", "用水"),
    "gas": ("gas", "气", "燃气", "气表", "天然气"),
}
MAX_MULTIPLIER = 100_000
MAX_HEADCOUNT = 1_000_000
MAX_ROWS = 2000
MAX_SHOWN = 30
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "meter", "编号", "表号", "编码"),
    "kind": ("kind", "type", "类型", "种类"),
    "building": ("building", "楼栋", "楼宇"),
    "floor": ("floor", "楼层"),
    "multiplier": ("multiplier", "ratio", "倍率"),
    "name": ("name", "名称"),
}
REQUIRED = ("code", "kind", "building", "name")
# What can be wrong with a meter given, each said as meter.error.<problem> (/meter add) or
# meter.import.row.<problem> (a line of an import).
PROBLEMS = ("bad_code", "bad_kind", "no_such_building", "bad_floor", "bad_multiplier", "bad_name")


def kind_named(word: str) -> str | None:
    folded = word.strip().casefold()
    return next((kind for kind, words in KIND_WORDS.items() if folded in words), None)


def kind_label(kind: str) -> Msg:
    return msg(f"meter.kind.{kind}")


def building_label(building: Building) -> Label:
    return Label(building.name_zh, building.name_en)


# --- reading ------------------------------------------------------------------------------------


async def meter_options(ctx: StepContext) -> list[Option]:
    meters = await ctx.session.scalars(select(Meter).order_by(Meter.code))
    return [Option(meter.code, Label(f"{meter.code} {meter.name}", f"{meter.code} {meter.name}")) for meter in meters]


async def typed_meter(ctx: StepContext, text: str) -> str:
    meter = await find_meter(ctx.session, text)
    if meter is None:
        raise Invalid(msg("meter.error.no_such_meter", code=text.strip()[:32]))
    return meter.code


async def value_prompt(ctx: StepContext) -> Msg:
    meter = await find_meter(ctx.session, ctx.data["meter"])
    assert meter is not None
    last = await last_reading(ctx.session, meter.id)
    if last is None:
        return msg("meter.ask_value_first", code=meter.code, name=meter.name, unit=meter.unit)
    return msg(
        "meter.ask_value",
        code=meter.code,
        name=meter.name,
        unit=meter.unit,
        last=shown(last.thousandths),
        day=last.read_at.astimezone(ctx.zone).date().isoformat(),
    )


DOUBT = "doubt"  # where the reading flow keeps what the desk found doubtful (frozen), if anything
KEEP, REENTER = "keep", "reenter"


@dataclass(frozen=True)
class ReadingStep(Step):
    """The value of the meter chosen before: words judged by the desk (a photo or a button is not a
    reading). What the desk doubts is kept beside it for the next question."""

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        if answer.text is None:
            raise Invalid(msg("meter.error.type_the_number"))
        meter = await find_meter(ctx.session, ctx.data["meter"])
        if meter is None:
            raise Invalid(msg("meter.error.no_such_meter", code=str(ctx.data["meter"])[:32]))
        value = DESK.parse(answer.text, meter.unit)
        doubt = await DESK.doubt(ctx, meter.code, value)
        ctx.data[self.key] = str(value)
        if doubt is None:
            ctx.data.pop(DOUBT, None)
        else:
            ctx.data[DOUBT] = freeze(doubt)
        return Taken()

    async def view(self, ctx: StepContext) -> StepView:
        return TextView(prompt=(await self.prompt_in(ctx)).render(ctx.locale), min_length=1, max_length=40)


async def doubt_prompt(ctx: StepContext) -> Msg:
    return msg("meter.ask_keep", doubt=thaw(ctx.data[DOUBT]))


async def keep_or_reenter(ctx: StepContext) -> str | None:
    if ctx.data.get(KEEP) == REENTER:
        raise Goto("value", msg("meter.reenter"))
    return None


async def submit_reading(ctx: StepContext) -> Submitted:
    try:
        authz.require(ctx, "meter.read")
    except Refused as refused:
        return Submitted(refused.reason, "")
    kept = await keep_reading(ctx, ctx.data["meter"], Decimal(ctx.data["value"]), round_id=None)
    return Submitted(kept.said(ctx), f"meter:{kept.meter.code}")


READING = Flow(
    "meter_reading",
    msg("meter.title"),
    msg("meter.description"),
    (
        ChoiceStep("meter", msg("meter.ask_meter"), options=meter_options, page_size=8, typed=typed_meter),
        ReadingStep("value", msg("meter.ask_value_first"), dynamic_prompt=value_prompt),
        ChoiceStep(
            KEEP,
            msg("meter.ask_keep"),
            when=lambda data: DOUBT in data,
            dynamic_prompt=doubt_prompt,
            options=(Option(KEEP, msg("meter.button.keep")), Option(REENTER, msg("meter.button.reenter"))),
            then=keep_or_reenter,
        ),
    ),
    submit_reading,
    listed=False,
)


async def read_now(ctx: StepContext, code: str, typed: str) -> Action:
    """/meter CODE VALUE: kept at once when fine; doubtful, asked about in the flow; else why not."""
    meter = await find_meter(ctx.session, code)
    if meter is None:
        return said(msg("meter.error.no_such_meter", code=code[:32]))
    try:
        value = DESK.parse(typed, meter.unit)
        doubt = await DESK.doubt(ctx, meter.code, value)
    except Invalid as invalid:
        return said(msg("dialog.error.prefix", problem=invalid.reason))
    if doubt is not None:
        return Action(start=(READING.name, {"meter": meter.code, "value": str(value), DOUBT: freeze(doubt)}))
    kept = await keep_reading(ctx, meter.code, value, round_id=None)
    return said(kept.said(ctx))


# --- /meter ---------------------------------------------------------------------------------------


async def meter_command(ctx: StepContext, args: str) -> Action:
    words = args.split()
    first = words[0].lower() if words else ""
    try:
        if first in ADMIN:
            authz.require(ctx, "meter.manage", first)
            return await ADMIN[first](ctx, words[1:])
        authz.require(ctx, "meter.read")
    except Refused as refused:
        return said(refused.reason)
    if not words:
        if await ctx.session.scalar(select(func.count()).select_from(Meter)) == 0:
            return said(msg("meter.none"))
        return Action(start=(READING.name, {}))
    if len(words) == 1:
        meter = await find_meter(ctx.session, words[0])
        if meter is None:
            usage: Rows = (((msg("meter.usage_button"), "mt:usage"),),)
            return said(msg("meter.error.no_such_meter", code=words[0][:32]), usage)
        return Action(start=(READING.name, {"meter": meter.code}))
    return await read_now(ctx, words[0], " ".join(words[1:]))


async def on_button(ctx: StepContext, value: str) -> Action:
    """mt:usage (how /meter is typed), mt:list:<page> (another page of the meters, checked again)."""
    if value == "usage":
        return said(msg("meter.usage"))
    page_text = value.removeprefix("list:")
    try:
        authz.require(ctx, "meter.manage", "list")
    except Refused as refused:
        return Action(say=((refused.reason, ()),), toast=refused.reason)
    if not (value.startswith("list:") and page_text.isascii() and page_text.isdigit() and len(page_text) < 6):
        return said(msg("dialog.error.forged_button"))
    return said(*(await meter_list(ctx, int(page_text))))


async def meter_list(ctx: StepContext, page: int) -> tuple[Msg, Any]:
    last_at = (
        select(MeterReading.meter_id, func.max(MeterReading.read_at).label("at"))
        .group_by(MeterReading.meter_id)
        .subquery()
    )
    rows = await ctx.session.execute(
        select(Meter, last_at.c.at)
        .outerjoin(last_at, last_at.c.meter_id == Meter.id)
        .order_by(Meter.building_id, Meter.code)
    )
    lines: list[Renderable] = []
    for meter, at in rows.all():
        lines.append(
            msg(
                "meter.list_line",
                code=meter.code,
                name=meter.name,
                kind=kind_label(meter.kind),
                building=building_label(meter.building),
                floor=meter.floor or "—",
                unit=meter.unit,
                multiplier=meter.multiplier,
                last=at.astimezone(ctx.zone).date().isoformat() if at is not None else "—",
            )
        )
    return paged(msg("meter.list_title"), lines, page, lambda target: f"mt:list:{target}")


async def list_meters(ctx: StepContext, words: Sequence[str]) -> Action:
    return said(*(await meter_list(ctx, 0)))


async def buildings_by_code(session: AsyncSession) -> dict[str, Building]:
    return {building.code: building for building in await session.scalars(select(Building))}


def meter_problems(row: dict[str, str], buildings: dict[str, Building], line: int | None) -> list[Msg]:
    """What is wrong with a meter as given (by /meter add, or a line of an import); [] when nothing."""
    where: dict[str, Any] = {"line": line} if line is not None else {}
    prefix = "meter.import.row." if line is not None else "meter.error."
    problems: list[Msg] = []
    if not CODE.match(row["code"]):
        problems.append(msg(prefix + "bad_code", code=row["code"][:40], **where))
    if kind_named(row["kind"]) is None:
        problems.append(msg(prefix + "bad_kind", kind=row["kind"][:20], **where))
    if row["building"] not in buildings:
        problems.append(msg(prefix + "no_such_building", building=row["building"][:40], **where))
    if len(row.get("floor", "")) > 16:
        problems.append(msg(prefix + "bad_floor", **where))
    multiplier = row.get("multiplier", "") or "1"
    if not (multiplier.isascii() and multiplier.isdigit() and 0 < int(multiplier) <= MAX_MULTIPLIER):
        problems.append(msg(prefix + "bad_multiplier", multiplier=multiplier[:20], max=MAX_MULTIPLIER, **where))
    if not row["name"] or len(row["name"]) > 100:
        problems.append(msg(prefix + "bad_name", **where))
    return problems


async def put_meter(session: AsyncSession, now: datetime, row: dict[str, str], buildings: dict[str, Building]) -> bool:
    """Add the meter, or change the one with its code; True when it is new."""
    kind = kind_named(row["kind"])
    assert kind is not None
    meter = await session.scalar(select(Meter).where(Meter.code == row["code"]))
    new = meter is None
    if meter is None:
        meter = Meter(code=row["code"], created_at=now)
        session.add(meter)
    meter.name = row["name"]
    meter.kind = kind
    meter.unit = UNIT_OF[kind]
    meter.multiplier = int(row.get("multiplier") or 1)
    meter.building_id = buildings[row["building"]].id
    meter.floor = row.get("floor") or None
    await session.flush()
    return new


async def add_meter(ctx: StepContext, words: Sequence[str]) -> Action:
    if len(words) < 4:
        return said(msg("meter.usage"))
    building, _, floor = words[2].upper().partition(":")
    # x40 (or ×40, *40) before the name: the multiplier; without it, 1.
    marked = re.fullmatch(r"[xX×*](\S+)", words[3])
    row = {
        "code": words[0].upper(),
        "kind": words[1],
        "building": building,
        "floor": floor,
        "multiplier": marked.group(1) if marked else "1",
        "name": " ".join(words[4:] if marked else words[3:]),
    }
    buildings = await buildings_by_code(ctx.session)
    if problems := meter_problems(row, buildings, None):
        return said(Lines(tuple(problems)))
    if await find_meter(ctx.session, row["code"]) is not None:
        return said(msg("meter.error.exists", code=row["code"]))
    await put_meter(ctx.session, ctx.now, row, buildings)
    done(
        ctx,
        action="meter.add",
        record=f"meter:{row['code']}",
        kind=row["kind"],
        building=building,
        multiplier=row["multiplier"],
    )
    kind = kind_named(row["kind"]) or ""
    return said(
        msg(
            "meter.added",
            code=row["code"],
            name=row["name"],
            kind=kind_label(kind),
            building=building_label(buildings[building]),
            unit=UNIT_OF[kind],
            multiplier=row["multiplier"],
        )
    )


async def set_headcount(ctx: StepContext, words: Sequence[str]) -> Action:
    if len(words) != 2:
        return said(msg("meter.usage"))
    buildings = await buildings_by_code(ctx.session)
    building = buildings.get(words[0].upper())
    if building is None:
        return said(msg("meter.error.no_such_building", building=words[0][:40]))
    count = words[1]
    if not (count.isascii() and count.isdigit() and len(count) <= 7 and int(count) <= MAX_HEADCOUNT):
        return said(msg("meter.error.bad_headcount", max=MAX_HEADCOUNT))
    before = building.headcount
    building.headcount = int(count) or None
    await ctx.session.flush()
    done(ctx, action="meter.headcount", record=f"building:{building.code}", before=before, after=building.headcount)
    if building.headcount is None:
        return said(msg("meter.headcount_forgotten", building=building_label(building)))
    return said(msg("meter.headcount_set", building=building_label(building), count=building.headcount))


async def import_hint(ctx: StepContext, words: Sequence[str]) -> Action:
    return said(msg("meter.import.hint"))


ADMIN = {"list": list_meters, "add": add_meter, "headcount": set_headcount, "import": import_hint}


# --- importing ------------------------------------------------------------------------------------


def rows_of(table: Sequence[Sequence[str]]) -> tuple[list[dict[str, Any]], list[Msg]]:
    """The file's meters as rows, and what is wrong with its shape (no header, too many rows)."""
    if len(table) < 2:
        return [], [msg("meter.import.error.empty")]
    if len(table) > MAX_ROWS + 1:
        return [], [msg("meter.import.error.too_many_rows", max=MAX_ROWS)]
    names = [cell.strip().casefold() for cell in table[0]]
    where = {
        column: next(i for i, name in enumerate(names) if name in {a.casefold() for a in aliases})
        for column, aliases in COLUMNS.items()
        if any(name in {a.casefold() for a in aliases} for name in names)
    }
    if not all(column in where for column in REQUIRED):
        return [], [msg("meter.import.error.columns")]
    rows = []
    for line, cells in enumerate(table[1:], start=2):
        row: dict[str, Any] = {column: cells[i].strip() if i < len(cells) else "" for column, i in where.items()}
        row["code"], row["building"] = row["code"].upper(), row["building"].upper()
        row["line"] = line
        rows.append(row)
    return rows, []


class MeterProblems(Exception):
    """A file of meters with something wrong: nothing of it is kept; `said` names every bad line."""

    def __init__(self, said: Msg) -> None:
        super().__init__(said.key)
        self.said = said


async def import_meters(session: AsyncSession, table: Sequence[Sequence[str]], now: datetime) -> tuple[int, int]:
    """Every line checked first (MeterProblems naming each bad one), then every meter added or
    changed: (added, updated). The chat's upload and `houqin meter import` both come here."""
    rows, problems = rows_of(table)
    buildings = await buildings_by_code(session)
    seen: set[str] = set()
    for row in rows:
        problems += meter_problems(row, buildings, row["line"])
        if row["code"] in seen:
            problems.append(msg("meter.import.row.duplicate", line=row["line"], code=row["code"][:40]))
        seen.add(row["code"])
    if problems:
        shown_problems = problems[:MAX_SHOWN]
        more = len(problems) - len(shown_problems)
        listed = (*shown_problems, msg("meter.import.more", count=more)) if more else tuple(shown_problems)
        raise MeterProblems(msg("meter.import.problems", count=len(problems), lines=Lines(listed)))
    added = 0
    for row in rows:
        added += await put_meter(session, now, row, buildings)
    return added, len(rows) - added


async def import_upload(ctx: StepContext, args: str, document: DocumentIn) -> Action:
    """A file captioned /meter import: every line checked, then all of it kept (or none)."""
    if args.strip().lower() != "import":
        return said(msg("meter.import.hint"))
    try:
        authz.require(ctx, "meter.manage", "import")
    except Refused as refused:
        return said(refused.reason)
    try:
        # Past the parser's limits, or not fetched at all: said as a FileProblem.
        added, updated = await import_meters(ctx.session, await uploads.read(document, uploads.TABLE), ctx.now)
    except uploads.FileProblem as problem:
        return said(problem.message())
    except MeterProblems as problems:
        return said(problems.said)
    done(ctx, action="meter.import", record=None, added=added, updated=updated)
    return said(msg("meter.import.done", added=added, updated=updated))


AREA = Area(
    "energy",
    flows=(READING,),
    commands={"meter": meter_command, "energy": energy_command},
    buttons={"mt": on_button},
    uploads={"meter": Upload(import_upload, uploads.TABLE, "meter.manage")},
    privileged={"meter": "meter.read", "energy": "energy.view"},
    actions={
        # Reading meters is the logistics staff's round (and the technicians'); keeping the list of
        # meters and head counts is the logistics admins'.
        "meter.read": authz.rule("technician", "logistics_staff", "logistics_admin", "admin"),
        "meter.manage": authz.rule("logistics_admin", "admin"),
        # Energy is the whole organisation's (by building): its managers see it too.
        "energy.view": authz.rule("manager", "logistics_admin", "admin"),
        "export.readings": authz.rule("logistics_admin", "admin"),
    },
    exports={"readings": READINGS},
    digest=(SECTION,),
    demo=(demo.write,),
    meters=DESK,
)

"""Routes (行政楼消防巡检, 配电房日检): written by admins in YAML or JSON, read with the line of every
problem, kept as versions (a round keeps the version it started with), listed and shown.

A route, as admins write it (handlers/inspections/templates/ has two to start from):

    code: FIRE-A
    name: {zh: 行政楼消防巡检, en: Administration building fire round}
    category: other                    # the repair category of a fault found (a technician specialty)
    checkpoints:
      - code: A-101-EXT                # what its door code names; unique in the route
        name: {zh: 大厅灭火器, en: Hall extinguishers}
        room: A/101                    # building code / room code (optional: a piece of equipment)
        category: other                # optional: this checkpoint's faults' category
        items:
          - check: {zh: 灭火器在位、铅封完好, en: Extinguishers in place, seals intact}
            kind: pass_fail            # pass_fail (the default), reading, photo, note
          - check: {zh: 压力表读数, en: Pressure gauge}
            kind: reading
            unit: MPa
            min: 0.8
            max: 1.2
    schedules:
      - every: weekly                  # daily (working days), weekly, monthly
        weekdays: [mon, thu]           # weekly
        day: 1                         # monthly: on the first working day from this day of the month
        due: "10:00"
        inspector: zhou.jun            # a person's handle, or
        specialty: electrical          # anyone of a technician specialty

A reading item may name a meter (`meter: E-A-01`): its value is then also kept as that meter's reading.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import marked, uploads
from handlers.core.i18n import Label, Msg, msg
from handlers.core.people import find_person
from handlers.core.specialties import SPECIALTIES
from storage.models import (
    Building,
    InspectionCheckpoint,
    InspectionRoute,
    InspectionRouteVersion,
    InspectionSchedule,
    Room,
)

PREFIX = "inspect.import.error."
KINDS = ("pass_fail", "reading", "photo", "note")
EVERY = ("daily", "weekly", "monthly")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
MAX_CHECKPOINTS = 60
MAX_ITEMS = 30
MAX_SCHEDULES = 10
MAX_NAME = 100
MAX_UNIT = 12
TEMPLATES = Path(__file__).parent / "templates"
# Every problem a route file can have: inspect.import.error.<problem> in the catalogs.
PROBLEMS = (
    "encoding",
    "syntax",
    "not_mapping",
    "missing",
    "not_list",
    "empty_list",
    "too_many",
    "unknown_field",
    "repeated_field",
    "not_text",
    "too_long",
    "needs_both_languages",
    "not_boolean",
    "not_mapping_entry",
    "bad_code",
    "duplicate_code",
    "bad_choice",
    "not_number",
    "bad_range",
    "only_for_readings",
    "bad_room",
    "bad_day",
    "bad_time",
    "one_of",
    "no_room",
    "no_person",
    "no_meter",
)
TOP = ("code", "name", "category", "checkpoints", "schedules")
CHECKPOINT = ("code", "name", "room", "category", "items")
ITEM = ("check", "kind", "unit", "min", "max", "meter")
SCHEDULE = ("every", "weekdays", "day", "due", "inspector", "specialty")

FILE = uploads.Parser(
    "handlers.inspections.routes:parse", uploads.Limits(max_bytes=uploads.MB, max_nodes=20000, max_depth=12)
)


class RouteProblems(marked.Problems):
    def __init__(self, problems: list[Msg], key: str = "inspect.import.problems") -> None:
        super().__init__(problems, key)


def parse(name: str, content: bytes) -> dict[str, Any]:
    """The route in a .yml/.yaml/.json file, as plain data with the lines of what must still be
    checked against the database (rooms, people); or RouteProblems naming every line."""
    try:
        root = marked.compose(name, content, FILE.limits, PREFIX, "inspect.import.problems")
    except marked.Problems as problems:
        raise RouteProblems(problems.problems) from None
    return RouteReader().route(root)


class RouteReader(marked.Reader):
    def __init__(self) -> None:
        super().__init__(PREFIX)

    def route(self, root: yaml.Node | None) -> dict[str, Any]:
        if not isinstance(root, yaml.MappingNode):
            raise RouteProblems([msg(f"{PREFIX}not_mapping", line=marked.line_of(root) if root else 1)])
        fields = self.fields(root, TOP)
        code = self.code(fields.get("code"), root, "code")
        name = self.label(fields.get("name"), root, "name", MAX_NAME)
        category = self.category(fields.get("category"), "other")
        checkpoints: list[dict[str, Any]] = []
        listed = self.listed(fields.get("checkpoints"), root, "checkpoints")
        if listed is not None and len(listed) > MAX_CHECKPOINTS:
            self.problem(fields["checkpoints"], "too_many", field="checkpoints", max=MAX_CHECKPOINTS)
        elif listed is not None:
            seen: set[str] = set()
            for node in listed:
                checkpoint = self.checkpoint(node, category, seen)
                if checkpoint is not None:
                    checkpoints.append(checkpoint)
        schedules: list[dict[str, Any]] = []
        if "schedules" in fields:
            entries = self.listed(fields["schedules"], root, "schedules") or []
            if len(entries) > MAX_SCHEDULES:
                self.problem(fields["schedules"], "too_many", field="schedules", max=MAX_SCHEDULES)
            else:
                schedules = [s for s in (self.schedule(node) for node in entries) if s is not None]
        if self.problems or code is None or name is None:
            raise RouteProblems(self.in_order())
        return {
            "code": code,
            "name": {"zh": name.zh, "en": name.en},
            "checkpoints": checkpoints,
            "schedules": schedules,
        }

    def code(self, node: yaml.Node | None, parent: yaml.Node, field: str) -> str | None:
        if node is None:
            self.problem(parent, "missing", field=field)
            return None
        value = self.text(node, field, 32)
        if value is not None and not CODE.fullmatch(value):
            self.problem(node, "bad_code", field=field, code=value[:32])
            return None
        return value

    def category(self, node: yaml.Node | None, default: str) -> str:
        if node is None:
            return default
        value = self.text(node, "category", 20)
        if value is not None and value not in SPECIALTIES:
            self.problem(node, "bad_choice", field="category", value=value, allowed=", ".join(SPECIALTIES))
            return default
        return value or default

    def number(self, node: yaml.Node | None, field: str) -> str | None:
        if node is None:
            return None
        try:
            if not isinstance(node, yaml.ScalarNode):
                raise InvalidOperation
            value = Decimal(str(node.value).strip())
            if not value.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            self.problem(node, "not_number", field=field)
            return None
        return str(value)

    def checkpoint(self, node: yaml.Node, category: str, seen: set[str]) -> dict[str, Any] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, "not_mapping_entry", field="checkpoints")
            return None
        before = len(self.problems)
        fields = self.fields(node, CHECKPOINT)
        code = self.code(fields.get("code"), node, "code")
        if code is not None and code in seen:
            self.problem(fields["code"], "duplicate_code", code=code)
        if code is not None:
            seen.add(code)
        name = self.label(fields.get("name"), node, "name", MAX_NAME)
        room = self.text(fields.get("room"), "room", 70)
        if room is not None and room.count("/") != 1:
            self.problem(fields["room"], "bad_room", room=room)
        own_category = self.category(fields.get("category"), category)
        items: list[dict[str, Any]] = []
        listed = self.listed(fields.get("items"), node, "items")
        if listed is not None and len(listed) > MAX_ITEMS:
            self.problem(fields["items"], "too_many", field="items", max=MAX_ITEMS)
        elif listed is not None:
            items = [item for item in (self.item(entry) for entry in listed) if item is not None]
        if len(self.problems) > before or code is None or name is None:
            return None
        checkpoint: dict[str, Any] = {
            "code": code,
            "name": {"zh": name.zh, "en": name.en},
            "category": own_category,
            "items": items,
        }
        if room is not None:
            checkpoint["room"] = room
            checkpoint["line"] = marked.line_of(fields["room"])
        return checkpoint

    def item(self, node: yaml.Node) -> dict[str, Any] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, "not_mapping_entry", field="items")
            return None
        before = len(self.problems)
        fields = self.fields(node, ITEM)
        check = self.label(fields.get("check"), node, "check", MAX_NAME)
        kind = self.text(fields.get("kind"), "kind", 20) or "pass_fail"
        if kind not in KINDS:
            self.problem(fields["kind"], "bad_choice", field="kind", value=kind, allowed=", ".join(KINDS))
        item: dict[str, Any] = {"kind": kind}
        if kind == "reading":
            unit = self.text(fields.get("unit"), "unit", MAX_UNIT)
            if unit is None and "unit" not in fields and "meter" not in fields:
                # A meter's reading is in the meter's unit; any other reading names its own.
                self.problem(node, "missing", field="unit")
            low, high = self.number(fields.get("min"), "min"), self.number(fields.get("max"), "max")
            if low is not None and high is not None and Decimal(low) >= Decimal(high):
                self.problem(fields["min"], "bad_range", min=low, max=high)
            item.update(unit=unit, min=low, max=high)
            if "meter" in fields:
                item["meter"] = self.code(fields["meter"], node, "meter")
                item["line"] = marked.line_of(fields["meter"])
        else:
            for field in ("unit", "min", "max", "meter"):
                if field in fields:
                    self.problem(fields[field], "only_for_readings", field=field)
        if len(self.problems) > before or check is None:
            return None
        item["check"] = {"zh": check.zh, "en": check.en}
        return item

    def schedule(self, node: yaml.Node) -> dict[str, Any] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, "not_mapping_entry", field="schedules")
            return None
        before = len(self.problems)
        fields = self.fields(node, SCHEDULE)
        every = self.text(fields.get("every"), "every", 10)
        if every is None and "every" not in fields:
            self.problem(node, "missing", field="every")
        elif every is not None and every not in EVERY:
            self.problem(fields["every"], "bad_choice", field="every", value=every, allowed=", ".join(EVERY))
        weekdays: list[int] = []
        if every == "weekly":
            days = fields.get("weekdays")
            if not isinstance(days, yaml.SequenceNode) or not days.value:
                self.problem(days or node, "missing" if days is None else "not_list", field="weekdays")
            else:
                for day in days.value:
                    name = str(day.value).strip().lower()[:3] if isinstance(day, yaml.ScalarNode) else "?"
                    if name not in WEEKDAYS:
                        self.problem(day, "bad_choice", field="weekdays", value=name, allowed=", ".join(WEEKDAYS))
                    else:
                        weekdays.append(WEEKDAYS.index(name))
        monthday: int | None = None
        if every == "monthly":
            day_node = fields.get("day")
            value = str(day_node.value).strip() if isinstance(day_node, yaml.ScalarNode) else ""
            if day_node is None:
                self.problem(node, "missing", field="day")
            elif not value.isdigit() or not 1 <= int(value) <= 31:
                self.problem(day_node, "bad_day", day=value[:10])
            else:
                monthday = int(value)
        due = self.text(fields.get("due"), "due", 5)
        if due is None and "due" not in fields:
            self.problem(node, "missing", field="due")
        elif due is not None and not TIME.fullmatch(due):
            self.problem(fields["due"], "bad_time", time=due)
        inspector = self.text(fields.get("inspector"), "inspector", 64)
        specialty = self.text(fields.get("specialty"), "specialty", 20)
        if (inspector is None) == (specialty is None) and not self.problems_about(node):
            self.problem(node, "one_of", fields="inspector, specialty")
        if specialty is not None and specialty not in SPECIALTIES:
            self.problem(
                fields["specialty"], "bad_choice", field="specialty", value=specialty, allowed=", ".join(SPECIALTIES)
            )
        if len(self.problems) > before or every is None or due is None:
            return None
        hour, minute = (int(part) for part in due.split(":"))
        schedule: dict[str, Any] = {"every": every, "due": f"{hour:02d}:{minute:02d}"}
        if weekdays:
            schedule["weekdays"] = sorted(set(weekdays))
        if monthday is not None:
            schedule["day"] = monthday
        if inspector is not None:
            schedule["inspector"] = inspector
            schedule["line"] = marked.line_of(fields["inspector"])
        else:
            schedule["specialty"] = specialty
        return schedule


# --- checked against the organisation, and kept ---------------------------------------------------


async def resolve(
    session: AsyncSession, route: dict[str, Any], meter_known: Callable[[str], Awaitable[bool]] | None = None
) -> dict[str, Any]:
    """The parsed route with its rooms and inspectors found (ids), or RouteProblems naming each line
    whose room or person the organisation does not have (or, given `meter_known`, meter)."""
    problems: list[Msg] = []
    checkpoints = []
    for checkpoint in route["checkpoints"]:
        kept = {key: value for key, value in checkpoint.items() if key != "line"}
        items = []
        for item in checkpoint["items"]:
            if item.get("meter") and meter_known is not None and not await meter_known(item["meter"]):
                problems.append(msg(f"{PREFIX}no_meter", line=item["line"], meter=item["meter"]))
            items.append({key: value for key, value in item.items() if key != "line"})
        kept["items"] = items
        if "room" in checkpoint:
            building_code, _, room_code = str(checkpoint["room"]).partition("/")
            room_id = await session.scalar(
                select(Room.id)
                .join(Building)
                .where(Building.code == building_code.strip(), Room.code == room_code.strip())
            )
            if room_id is None:
                problems.append(msg(f"{PREFIX}no_room", line=checkpoint["line"], room=checkpoint["room"]))
            kept["room_id"] = room_id
        checkpoints.append(kept)
    schedules = []
    for schedule in route["schedules"]:
        kept = {key: value for key, value in schedule.items() if key != "line"}
        if "inspector" in schedule:
            person = await find_person(session, str(schedule["inspector"]))
            if person is None or person.left_at is not None:
                problems.append(msg(f"{PREFIX}no_person", line=schedule["line"], who=schedule["inspector"]))
            else:
                kept["person_id"] = person.id
        schedules.append(kept)
    if problems:
        raise RouteProblems(sorted(problems, key=lambda problem: int(problem.params["line"])))
    return {**route, "checkpoints": checkpoints, "schedules": schedules}


@dataclass(frozen=True)
class Kept:
    route: InspectionRoute
    # True when it changed: a new version was written (or the route is new).
    changed: bool


async def keep(session: AsyncSession, route: dict[str, Any], person_id: int | None) -> Kept:
    """Write a resolved route: new, or a new version when its checkpoints changed (rounds under way
    keep theirs); its checkpoints' identities kept by code; its schedules as the file says."""
    found = await session.scalar(select(InspectionRoute).where(InspectionRoute.code == route["code"]))
    definition = {"checkpoints": route["checkpoints"]}
    if found is None:
        found = InspectionRoute(code=route["code"], name_zh=route["name"]["zh"], name_en=route["name"]["en"], version=1)
        session.add(found)
        await session.flush()
        changed = True
    else:
        current = await version_of(session, found.id, found.version)
        changed = current is None or current.definition != definition
        found.name_zh, found.name_en, found.active = route["name"]["zh"], route["name"]["en"], True
        if changed:
            found.version += 1
    if changed:
        session.add(
            InspectionRouteVersion(
                route_id=found.id, version=found.version, definition=definition, created_by=person_id
            )
        )
    for checkpoint in route["checkpoints"]:
        known = await session.scalar(
            select(InspectionCheckpoint).where(
                InspectionCheckpoint.route_id == found.id, InspectionCheckpoint.code == checkpoint["code"]
            )
        )
        if known is None:
            known = InspectionCheckpoint(route_id=found.id, code=checkpoint["code"])
            session.add(known)
        known.room_id = checkpoint.get("room_id")
        known.name_zh, known.name_en = checkpoint["name"]["zh"], checkpoint["name"]["en"]
    await keep_schedules(session, found.id, route["schedules"])
    await session.flush()
    return Kept(found, changed)


def schedule_key(
    every: str, weekdays: str | None, monthday: int | None, due: str, person_id: int | None, specialty: str | None
) -> tuple[Any, ...]:
    return (every, weekdays or None, monthday, due, person_id, specialty)


async def keep_schedules(session: AsyncSession, route_id: int, wanted: list[dict[str, Any]]) -> None:
    """The route's schedules become the file's: an unchanged one is the same row (today's round of it
    is not made twice), a dropped one is stopped, a new one added."""
    rows = (await session.scalars(select(InspectionSchedule).where(InspectionSchedule.route_id == route_id))).all()
    by_key = {
        schedule_key(row.every, row.weekdays, row.monthday, row.due, row.person_id, row.specialty): row for row in rows
    }
    keep_ids: set[int] = set()
    for entry in wanted:
        weekdays = ",".join(str(day) for day in entry.get("weekdays", [])) or None
        key = schedule_key(
            entry["every"], weekdays, entry.get("day"), entry["due"], entry.get("person_id"), entry.get("specialty")
        )
        row = by_key.get(key)
        if row is None:
            row = InspectionSchedule(
                route_id=route_id,
                every=entry["every"],
                weekdays=weekdays,
                monthday=entry.get("day"),
                due=entry["due"],
                person_id=entry.get("person_id"),
                specialty=entry.get("specialty"),
            )
            session.add(row)
            await session.flush()
        row.active = True
        keep_ids.add(row.id)
    stopped = [row.id for row in rows if row.id not in keep_ids]
    if stopped:
        await session.execute(update(InspectionSchedule).where(InspectionSchedule.id.in_(stopped)).values(active=False))


async def version_of(session: AsyncSession, route_id: int, version: int) -> InspectionRouteVersion | None:
    return await session.scalar(
        select(InspectionRouteVersion).where(
            InspectionRouteVersion.route_id == route_id, InspectionRouteVersion.version == version
        )
    )


def route_name(route: InspectionRoute) -> Label:
    return Label(route.name_zh, route.name_en)


def checkpoint_name(checkpoint: dict[str, Any]) -> Label:
    return Label(checkpoint["name"]["zh"], checkpoint["name"]["en"])


def check_name(item: dict[str, Any]) -> Label:
    return Label(item["check"]["zh"], item["check"]["en"])


def template_names() -> list[str]:
    return sorted(path.stem for path in TEMPLATES.glob("*.yml"))


@dataclass(frozen=True)
class DoorCheckpoint:
    """What a checkpoint's printed code shows (`houqin qr`): its id is what the code carries."""

    id: int
    code: str
    name_zh: str
    name_en: str
    route_code: str
    route_zh: str
    route_en: str


async def door_checkpoints(session: AsyncSession) -> list[DoorCheckpoint]:
    """The checkpoints of the active routes, as they stand in each route's current version."""
    found = await session.execute(
        select(InspectionCheckpoint, InspectionRoute)
        .join(InspectionRoute, InspectionRoute.id == InspectionCheckpoint.route_id)
        .where(InspectionRoute.active.is_(True))
        .order_by(InspectionRoute.code, InspectionCheckpoint.id)
    )
    signs = []
    for checkpoint, route in found.all():
        version = await version_of(session, route.id, route.version)
        current = {c["code"] for c in version.definition["checkpoints"]} if version else set()
        if checkpoint.code in current:
            signs.append(
                DoorCheckpoint(
                    checkpoint.id,
                    checkpoint.code,
                    checkpoint.name_zh,
                    checkpoint.name_en,
                    route.code,
                    route.name_zh,
                    route.name_en,
                )
            )
    return signs

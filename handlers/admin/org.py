"""The organisation from chat: departments, buildings and rooms, and importing people, departments
or rooms from a CSV/XLSX file (a document captioned `/org import`).

An import reads the file with the shared table reader (handlers/core/uploads.read_table: in a child
process, within limits, before the transaction), checks every line before changing anything, and
names every bad line by its number; a file with a bad line changes nothing. The admin confirms what
it will do; the submit checks again, since the organisation may have changed while they read the
summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.admin import members
from handlers.core import authz, ids, membership, menus, uploads
from handlers.core.adminkit import HANDLE, paged
from handlers.core.audit import done
from handlers.core.authz import ROLES
from handlers.core.conversation import DocumentIn, Sender
from handlers.core.flow import Action, ConfirmStep, FileStep, Flow, Invalid, StepContext, Submitted, said
from handlers.core.i18n import LOCALES, Label, Lines, Msg, Renderable, msg
from handlers.core.people import find_person
from handlers.core.refusals import Refused
from handlers.core.specialties import SPECIALTIES
from storage.models import Building, ChannelAccount, Department, Invitation, Person, PersonRole, Room

DEPARTMENT_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
PLACE_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
MAX_ROWS = 2000
# Only the shape (one @, a dot in the domain, no spaces): whether it is delivered is the provider's business.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 254
MAX_SHOWN = 50
FILE_MB = 2

# What each kind of file has, by header (English or Chinese); the kind is told by its columns.
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "people": {
        "handle": ("handle", "username", "用户名", "账号"),
        "name": ("name", "display_name", "姓名"),
        "department": ("department", "部门"),
        "roles": ("roles", "role", "角色"),
        "locale": ("locale", "language", "语言"),
        "email": ("email", "e-mail", "mail", "邮箱", "电子邮件", "电子邮箱"),
    },
    "rooms": {
        "building": ("building", "楼栋", "楼宇"),
        "room": ("room", "房间", "房间号"),
        "name_zh": ("name_zh", "中文名称", "名称"),
        "name_en": ("name_en", "英文名称", "english name"),
        "building_zh": ("building_zh", "楼栋名称"),
        "building_en": ("building_en", "楼栋英文名称"),
    },
    "departments": {
        "code": ("code", "编码", "部门编码"),
        "name_zh": ("name_zh", "中文名称", "名称"),
        "name_en": ("name_en", "英文名称", "english name"),
    },
}
REQUIRED = {
    "people": ("handle", "name", "department"),
    "rooms": ("building", "room", "name_zh", "name_en"),
    "departments": ("code", "name_zh", "name_en"),
}


# /org leave, rejoin and approve: who is a member (handlers/admin/members.py); each asks authz itself.
MEMBERS = {
    "leave": members.leave_command,
    "rejoin": members.rejoin_command,
    "approve": members.approve_command,
}


# --- /org -----------------------------------------------------------------------------------------


async def org_command(ctx: StepContext, args: str) -> Action:
    """/org, /org dept add|rename CODE 中文名 English name, /org building add, /org room add, /org import."""
    words = args.split()
    what = " ".join(w.lower() for w in words[:2])
    try:
        if not words:
            authz.require(ctx, "org.view")
            return said(*(await overview(ctx, 0)))
        if words[0].lower() == "import":
            authz.require(ctx, "org.import")
            return Action(start=(IMPORT.name, {}))
        if words[0].lower() == "invite":
            authz.require(ctx, "org.invite", words[1][:40] if len(words) > 1 else None)
            if len(words) == 1 or words[1].lower() == "dept":
                return await members.open_invitation(ctx, words[1:])
            return await invite(ctx, words[1])
        if words[0].lower() in MEMBERS:
            return await MEMBERS[words[0].lower()](ctx, words[1:])
        authz.require(ctx, "org.change", what[:32])
    except Refused as refused:
        return said(refused.reason)
    if what == "dept add" and len(words) >= 4:
        return await add_unit(ctx, DEPARTMENT, words[2], words[3], " ".join(words[4:]) or words[3])
    if what == "dept rename" and len(words) >= 4:
        return await rename_department(ctx, words[2], words[3], " ".join(words[4:]) or None)
    if what == "building add" and len(words) >= 4:
        return await add_unit(ctx, BUILDING, words[2], words[3], " ".join(words[4:]) or words[3])
    if what == "room add" and len(words) >= 5:
        return await add_room(ctx, words[2], words[3], words[4], " ".join(words[5:]) or words[4])
    return said(msg("org.usage"))


async def overview(ctx: StepContext, page: int) -> tuple[Msg, Any]:
    counts = dict(
        (
            await ctx.session.execute(
                select(Person.department_id, func.count())
                .where(Person.left_at.is_(None))  # members: someone who left is counted nowhere
                .group_by(Person.department_id)
            )
        ).all()
    )
    lines: list[Renderable] = []
    for department in await ctx.session.scalars(select(Department).order_by(Department.code)):
        lines.append(
            msg(
                "org.department_line",
                code=department.code,
                name=Label(department.name_zh, department.name_en),
                people=counts.get(department.id, 0),
            )
        )
    buildings = (await ctx.session.scalars(select(Building).order_by(Building.code))).all()
    rooms = (await ctx.session.scalars(select(Room).order_by(Room.building_id, Room.code))).all()
    for building in buildings:
        mine = [room for room in rooms if room.building_id == building.id]
        lines.append(
            msg(
                "org.building_line",
                code=building.code,
                name=Label(building.name_zh, building.name_en),
                rooms=", ".join(room.code for room in mine) or "—",
            )
        )
    return paged(msg("org.title"), lines, page, lambda target: f"org:{target}")


async def on_button(ctx: StepContext, value: str) -> Action:
    """org:<page>: another page of the organisation, checked again."""
    try:
        authz.require(ctx, "org.view")
    except Refused as refused:
        return Action(say=((refused.reason, ()),), toast=refused.reason)
    page = ids.whole_number(value, 999_999)
    if page is None:
        return said(msg("dialog.error.forged_button"))
    return said(*(await overview(ctx, page)))


def names_problem(zh: str, en: str) -> Msg | None:
    if len(zh) > 100 or len(en) > 100:
        return msg("org.error.name_too_long", max=100)
    return None


@dataclass(frozen=True)
class Unit:
    """What /org adds by code and two names: a department or a building."""

    kind: str  # as audit records name it
    model: type[Department] | type[Building]
    code: re.Pattern[str]
    normal: Callable[[str], str]  # the case its codes are kept in
    exists: str
    added: str
    action: str  # the audit action


DEPARTMENT = Unit(
    "department",
    Department,
    DEPARTMENT_CODE,
    str.lower,
    "org.error.department_exists",
    "org.done.department_add",
    action="org.department_add",
)
BUILDING = Unit(
    "building",
    Building,
    PLACE_CODE,
    str.upper,
    "org.error.building_exists",
    "org.done.building_add",
    action="org.building_add",
)


async def add_unit(ctx: StepContext, unit: Unit, code: str, zh: str, en: str) -> Action:
    code = unit.normal(code)
    if not unit.code.match(code):
        return said(msg("org.error.bad_code", code=code[:40]))
    if problem := names_problem(zh, en):
        return said(problem)
    if await ctx.session.scalar(select(unit.model.id).where(unit.model.code == code)) is not None:
        return said(msg(unit.exists, code=code))
    ctx.session.add(unit.model(code=code, name_zh=zh, name_en=en))
    await ctx.session.flush()
    done(ctx, action=unit.action, record=f"{unit.kind}:{code}", name_zh=zh, name_en=en)
    return said(msg(unit.added, code=code, name=Label(zh, en)))


async def rename_department(ctx: StepContext, code: str, zh: str, en: str | None) -> Action:
    department = await ctx.session.scalar(select(Department).where(Department.code == code.lower()))
    if department is None:
        return said(msg("org.error.no_such_department", code=code[:40]))
    if problem := names_problem(zh, en or ""):
        return said(problem)
    before = {"name_zh": department.name_zh, "name_en": department.name_en}
    department.name_zh = zh
    department.name_en = en or department.name_en
    await ctx.session.flush()
    done(
        ctx,
        action="org.department_rename",
        record=f"department:{department.code}",
        before=before,
        name_zh=zh,
        name_en=en,
    )
    return said(
        msg("org.done.department_rename", code=department.code, name=Label(department.name_zh, department.name_en))
    )


async def add_room(ctx: StepContext, building_code: str, code: str, zh: str, en: str) -> Action:
    building = await ctx.session.scalar(select(Building).where(Building.code == building_code.upper()))
    if building is None:
        return said(msg("org.error.no_such_building", code=building_code[:40]))
    if not PLACE_CODE.match(code):
        return said(msg("org.error.bad_code", code=code[:40]))
    if problem := names_problem(zh, en):
        return said(problem)
    taken = await ctx.session.scalar(select(Room.id).where(Room.building_id == building.id, Room.code == code))
    if taken is not None:
        return said(msg("org.error.room_exists", building=building.code, code=code))
    ctx.session.add(Room(building_id=building.id, code=code, name_zh=zh, name_en=en))
    await ctx.session.flush()
    done(ctx, action="org.room_add", record=f"room:{building.code}-{code}", name_zh=zh, name_en=en)
    return said(
        msg("org.done.room_add", building=Label(building.name_zh, building.name_en), code=code, name=Label(zh, en))
    )


# --- invitations: joining a chat account to a person an admin added -----------------------------


async def invite(ctx: StepContext, ref: str) -> Action:
    """/org invite @handle: a one-time code the person sends from their own chat account."""
    person = await find_person(ctx.session, ref) if ref else None
    if person is None:
        return said(msg("admin.error.no_such_person", ref=ref[:40]) if ref else msg("org.usage"))
    code = members.new_code()
    ctx.session.add(
        Invitation(
            code=code,
            person_id=person.id,
            created_by=ctx.person.id,
            created_at=ctx.now,
            expires_at=ctx.now + members.INVITE_FOR,
        )
    )
    done(ctx, action="org.invite", record=f"person:{person.id}")
    return said(
        msg("org.invite.done", person=person.display_name, command=f"/start join_{code}", days=members.INVITE_FOR.days)
    )


async def join(ctx: StepContext, code: str) -> Action:
    """/start join_<code> from a member's account: a code for a person joins this account to them
    (once per code); a non-member's is the core's (handlers/core/membership.py), by the same rules."""
    account = await ctx.session.scalar(
        select(ChannelAccount).where(ChannelAccount.person_id == ctx.person.id, ChannelAccount.channel == ctx.channel)
    )
    if account is None:
        return said(msg("org.invite.already"))
    sender = Sender(
        account.channel, account.external_id, account.address or "", ctx.person.display_name, account.platform_locale
    )
    return said(await membership.redeem(ctx.session, sender, account, code, ctx.now))


# --- importing ------------------------------------------------------------------------------------


class Problems(Exception):
    def __init__(self, problems: Sequence[Msg]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = list(problems)

    def message(self) -> Msg:
        shown = self.problems[:MAX_SHOWN]
        more = len(self.problems) - len(shown)
        lines: tuple[Renderable, ...] = (*shown, msg("org.import.more", count=more)) if more else tuple(shown)
        return msg("org.import.problems", count=len(self.problems), lines=Lines(lines))


def kind_of(header: Sequence[str]) -> tuple[str, dict[str, int]] | None:
    """Which kind of file this is (people, rooms or departments), and where each column is."""
    names = [cell.strip().casefold() for cell in header]
    for kind, columns in COLUMNS.items():
        where: dict[str, int] = {}
        for column, aliases in columns.items():
            for index, name in enumerate(names):
                if name in {alias.casefold() for alias in aliases}:
                    where[column] = index
                    break
        if all(column in where for column in REQUIRED[kind]):
            return kind, where
    return None


async def parse(session: AsyncSession, table: Sequence[Sequence[str]]) -> dict[str, Any]:
    """The file's rows (uploads.read_table) checked against themselves and the organisation:
    {kind, rows} or Problems."""
    if len(table) < 2:
        raise Problems([msg("org.import.error.empty")])
    if len(table) > MAX_ROWS + 1:
        raise Problems([msg("org.import.error.too_many_rows", max=MAX_ROWS)])
    found = kind_of(table[0])
    if found is None:
        raise Problems([msg("org.import.error.columns")])
    kind, where = found
    problems: list[Msg] = []
    rows: list[dict[str, Any]] = []
    departments = set((await session.scalars(select(Department.code))).all())
    buildings = set((await session.scalars(select(Building.code))).all())
    seen: set[str] = set()
    # An address may be held by one person only: the one already holding it, or nobody in the file twice.
    emails: set[str] = set()
    emails_held: dict[str, str] = {}
    if kind == "people":
        held = await session.execute(select(Person.email, Person.handle).where(Person.email.is_not(None)))
        emails_held = {email: handle or "" for email, handle in held.all() if email}
    for line, cells in enumerate(table[1:], start=2):
        row: dict[str, Any] = {"line": line}
        for column, index in where.items():
            row[column] = cells[index].strip() if index < len(cells) else ""
        for column in REQUIRED[kind]:
            if not row.get(column):
                problems.append(msg("org.import.row.missing", line=line, column=column))
        for column in ("name", "name_zh", "name_en", "building_zh", "building_en"):
            if len(row.get(column, "")) > 100:
                problems.append(msg("org.import.row.too_long", line=line, column=column, max=100))
        if kind == "departments":
            row["code"] = row["code"].lower()
            key = row["code"]
            if key and not DEPARTMENT_CODE.match(key):
                problems.append(msg("org.import.row.bad_code", line=line, value=key[:40]))
        elif kind == "rooms":
            row["building"] = row["building"].upper()
            key = f"{row['building']}-{row['room']}"
            for column in ("building", "room"):
                if row[column] and not PLACE_CODE.match(row[column]):
                    problems.append(msg("org.import.row.bad_code", line=line, value=row[column][:40]))
            if row["building"] and row["building"] not in buildings and not row.get("building_zh"):
                problems.append(msg("org.import.row.no_such_building", line=line, value=row["building"][:40]))
        else:
            row["handle"] = row["handle"].lstrip("@").lower()
            key = row["handle"]
            if key and not HANDLE.match(key):
                problems.append(msg("org.import.row.bad_handle", line=line, value=key[:40]))
            row["department"] = row["department"].lower()
            if row["department"] and row["department"] not in departments:
                problems.append(msg("org.import.row.no_such_department", line=line, value=row["department"][:40]))
            row["email"] = row.get("email", "").lower()
            if row["email"]:
                if len(row["email"]) > MAX_EMAIL or not EMAIL.match(row["email"]):
                    problems.append(msg("org.import.row.bad_email", line=line, value=row["email"][:60]))
                elif row["email"] in emails:
                    problems.append(msg("org.import.row.duplicate", line=line, value=row["email"][:60]))
                elif (holder := emails_held.get(row["email"], key)) != key:
                    problems.append(msg("org.import.row.email_taken", line=line, value=row["email"], handle=holder))
                emails.add(row["email"])
            locale = row.get("locale", "")
            if locale and locale not in LOCALES:
                problems.append(msg("org.import.row.bad_locale", line=line, value=locale[:20]))
            typed_roles, row["roles"] = row.get("roles", ""), []
            for typed in filter(None, re.split(r"[;；,，\s]+", typed_roles)):
                role, _, scope = typed.strip().lower().partition(":")
                known = role in ROLES and (
                    (role == "technician" and scope in SPECIALTIES)
                    or (role == "manager" and scope in departments)
                    or (role not in ("technician", "manager") and not scope)
                )
                if not known:
                    problems.append(msg("org.import.row.bad_role", line=line, value=typed[:40]))
                row["roles"].append([role, scope])
        if key and key in seen:
            problems.append(msg("org.import.row.duplicate", line=line, value=key[:40]))
        seen.add(key)
        rows.append(row)
    if problems:
        raise Problems(problems)
    return {"kind": kind, "rows": rows}


async def apply(ctx: StepContext, kind: str, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Add what is new and update what is known; (added, updated). People keep roles they had."""
    added = updated = 0
    session = ctx.session
    if kind == "departments":
        for row in rows:
            department = await session.scalar(select(Department).where(Department.code == row["code"]))
            if department is None:
                session.add(Department(code=row["code"], name_zh=row["name_zh"], name_en=row["name_en"]))
                added += 1
            else:
                department.name_zh, department.name_en = row["name_zh"], row["name_en"]
                updated += 1
    elif kind == "rooms":
        for row in rows:
            building = await session.scalar(select(Building).where(Building.code == row["building"]))
            if building is None:
                building = Building(
                    code=row["building"],
                    name_zh=row["building_zh"],
                    name_en=row.get("building_en") or row["building_zh"],
                )
                session.add(building)
                await session.flush()
            room = await session.scalar(select(Room).where(Room.building_id == building.id, Room.code == row["room"]))
            if room is None:
                session.add(
                    Room(building_id=building.id, code=row["room"], name_zh=row["name_zh"], name_en=row["name_en"])
                )
                added += 1
            else:
                room.name_zh, room.name_en = row["name_zh"], row["name_en"]
                updated += 1
    else:
        departments = {d.code: d.id for d in await session.scalars(select(Department))}
        people: list[Person] = []
        for row in rows:
            person = await session.scalar(select(Person).where(Person.handle == row["handle"]))
            if person is None:
                person = Person(display_name=row["name"], handle=row["handle"], created_at=ctx.now)
                person.roles.append(PersonRole(role="staff", scope=""))
                session.add(person)
                added += 1
            else:
                updated += 1
            person.display_name = row["name"]
            person.department_id = departments[row["department"]]
            if row.get("locale"):
                person.locale = row["locale"]
            if row.get("email"):
                person.email = row["email"]
            for role, scope in row["roles"]:
                if not any(r.role == role and r.scope == scope for r in person.roles):
                    person.roles.append(PersonRole(role=role, scope=scope))
            people.append(person)
        # Roles granted or a language set: menus follow (only those already on a menu channel).
        await menus.changed(session, people, ctx.now)
    await session.flush()
    return added, updated


async def read_upload(ctx: StepContext, document: DocumentIn) -> dict[str, Any]:
    try:
        authz.require(ctx, "org.import")
    except Refused as refused:
        raise Invalid(refused.reason) from None
    try:
        return await parse(ctx.session, await uploads.read(document, uploads.TABLE))
    except (Problems, uploads.FileProblem) as problems:
        raise Invalid(problems.message()) from None


async def import_summary(ctx: StepContext) -> Msg:
    found = ctx.data["file"]
    sample = tuple(
        msg(
            "org.import.sample_line",
            line=row["line"],
            what=" · ".join(str(v) for k, v in row.items() if k not in ("line", "roles") and v),
        )
        for row in found["rows"][:5]
    )
    return msg(
        "org.import.summary",
        count=len(found["rows"]),
        kind=msg(f"org.import.kind.{found['kind']}"),
        sample=Lines(sample),
    )


async def submit_import(ctx: StepContext) -> Submitted:
    try:
        authz.require(ctx, "org.import")
    except Refused as refused:
        return Submitted(refused.reason, "")
    found = ctx.data["file"]
    added, updated = await apply(ctx, found["kind"], found["rows"])
    done(ctx, action="org.import", record=None, kind=found["kind"], added=added, updated=updated)
    return Submitted(
        msg("org.import.done", kind=msg(f"org.import.kind.{found['kind']}"), added=added, updated=updated), ""
    )


async def import_upload(ctx: StepContext, args: str, document: DocumentIn) -> Action:
    """A file captioned /org import: checked whole, then confirmed in the import flow."""
    if args.strip().lower() != "import":
        return said(msg("org.import.caption_hint"))
    try:
        authz.require(ctx, "org.import")
    except Refused as refused:
        return said(refused.reason)
    if document.content is None or len(document.content) > FILE_MB * 1024 * 1024:
        too_big = document.content is not None or (document.size or 0) > FILE_MB * 1024 * 1024
        return said(msg("dialog.error.file_too_big", mb=FILE_MB) if too_big else msg("dialog.error.file_unavailable"))
    try:
        found = await parse(ctx.session, await uploads.read(document, uploads.TABLE))
    except (Problems, uploads.FileProblem) as problems:
        return said(problems.message())
    return Action(start=(IMPORT.name, {"file": found}))


IMPORT = Flow(
    "org_import",
    msg("org.import.title"),
    msg("org.import.title"),
    (
        FileStep(
            "file", msg("org.import.ask_file"), read=read_upload, max_bytes=FILE_MB * 1024 * 1024, parser=uploads.TABLE
        ),
        ConfirmStep("confirm", msg("org.import.ask_confirm"), summary=import_summary),
    ),
    submit_import,
    listed=False,
)

"""Stock (库存): what is on the shelf, what submitted requisitions have claimed, and every change.

Each change is one UPDATE whose WHERE says when it may happen (``reserved + n`` only while
``on_hand - reserved >= n``), judged by its rowcount, plus its row in the stock ledger, in the
caller's transaction. Nothing reads a figure and writes it back: with SQLite's defaults a naive
read-then-write lost 199 of 200 concurrent decrements when we measured it. The one place that must
know the old figure (a count that sets on-hand) compares-and-sets, and tries again if it moved.

Also here: the low-stock alert (once per crossing of the reorder threshold), the admins' /stock
command, and the catalog import from CSV or XLSX (a file sent with /stock import, or `houqin supply
import FILE`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Update, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import audit, authz, uploads
from handlers.core.adminkit import Period
from handlers.core.area import AdminEntry, Area, Export
from handlers.core.audit import Acting
from handlers.core.conversation import DocumentIn
from handlers.core.flow import Action, ConfirmStep, FileStep, Flow, Invalid, StepContext, Submitted, Upload, said
from handlers.core.i18n import Label, Lines, Msg, Renderable, msg, translate
from handlers.core.outbox import Notice, notify
from handlers.core.people import people_with_role
from handlers.core.refusals import refused
from handlers.core.sheets import Cell
from storage.models import Person, Requisition, StockMovement, SupplyItem

CATEGORIES = ("paper", "toner", "stationery", "cleaning", "batteries", "equipment")
UNITS = ("pack", "box", "piece", "stick", "book", "bottle", "roll", "set", "pair", "cell", "unit", "bag")
KINDS = ("receipt", "reservation", "release", "handout", "adjustment")
# Nobody receives or counts more than this of one thing at once; a bigger number is a typo.
MAX_STOCK = 1_000_000
CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")


class StockError(Exception):
    """The stored figures disagree with what a change expected: a bug, never a person's mistake."""


def item_label(item: SupplyItem) -> Label:
    return Label(item.name_zh, item.name_en)


def unit_of(item: SupplyItem, count: int | None = None) -> Msg:
    """The item's unit, for the number said just before it (1 pack, 2 packs); without one, the
    general form (how many packs?)."""
    return msg(f"supply.unit.{item.unit}", count=count)


def yuan(fen: int | None) -> str:
    return "—" if fen is None else f"¥{fen / 100:,.2f}"


# --- changing stock -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """Who changes stock, when, and for which requisition (if any): what the ledger row records."""

    session: AsyncSession
    actor_id: int | None
    now: datetime
    requisition_id: int | None = None
    note: str | None = None


def _ledger(change: Change, item_id: int, kind: str, on_hand: int, reserved: int, note: str | None = None) -> None:
    change.session.add(
        StockMovement(
            item_id=item_id,
            kind=kind,
            on_hand_delta=on_hand,
            reserved_delta=reserved,
            requisition_id=change.requisition_id,
            actor_id=change.actor_id,
            note=note or change.note,
            at=change.now,
        )
    )


async def _changed(change: Change, statement: Update) -> bool:
    """Run a conditional UPDATE of one item; True when its WHERE held (one row changed)."""
    result = await change.session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def reserve(change: Change, item_id: int, quantity: int) -> bool:
    """Claim `quantity` for a requisition; False (and nothing changed) when not that many are available."""
    assert quantity > 0
    claimed = await _changed(
        change,
        update(SupplyItem)
        .where(
            SupplyItem.id == item_id,
            SupplyItem.active.is_(True),
            SupplyItem.on_hand - SupplyItem.reserved >= quantity,
        )
        .values(reserved=SupplyItem.reserved + quantity),
    )
    if claimed:
        _ledger(change, item_id, "reservation", 0, quantity)
        await alert_if_low(change, item_id)
    return claimed


async def release(change: Change, item_id: int, quantity: int) -> None:
    """Give back what a requisition had claimed (rejected, cancelled, or not all handed out)."""
    assert quantity > 0
    if not await _changed(
        change,
        update(SupplyItem)
        .where(SupplyItem.id == item_id, SupplyItem.reserved >= quantity)
        .values(reserved=SupplyItem.reserved - quantity),
    ):
        raise StockError(f"item {item_id} has fewer than {quantity} reserved to release")
    _ledger(change, item_id, "release", 0, -quantity)
    await alert_if_low(change, item_id)


async def hand_out(change: Change, item_id: int, given: int, claimed: int) -> None:
    """`given` of the `claimed` leave the shelf; whatever was claimed and not given is released."""
    assert 0 <= given <= claimed and claimed > 0
    if not await _changed(
        change,
        update(SupplyItem)
        .where(SupplyItem.id == item_id, SupplyItem.reserved >= claimed, SupplyItem.on_hand >= given)
        .values(on_hand=SupplyItem.on_hand - given, reserved=SupplyItem.reserved - claimed),
    ):
        raise StockError(f"item {item_id} cannot hand out {given} of {claimed} reserved")
    if given:
        _ledger(change, item_id, "handout", -given, -given)
    if claimed > given:
        _ledger(change, item_id, "release", 0, given - claimed)
    await alert_if_low(change, item_id)


async def receive(change: Change, item_id: int, quantity: int) -> None:
    """A delivery arrived (入库)."""
    assert 0 < quantity <= MAX_STOCK
    if not await _changed(
        change, update(SupplyItem).where(SupplyItem.id == item_id).values(on_hand=SupplyItem.on_hand + quantity)
    ):
        raise StockError(f"no item {item_id}")
    _ledger(change, item_id, "receipt", quantity, 0)
    await alert_if_low(change, item_id)


class BelowReserved(Exception):
    def __init__(self, reserved: int) -> None:
        super().__init__(reserved)
        self.reserved = reserved


async def count(change: Change, item_id: int, counted: int) -> int:
    """After a stock-take: on-hand becomes `counted`, recorded as an adjustment by the difference.

    Compare-and-set against the figure just read, again if another change got in between; a count
    below what approved requisitions have reserved is refused (BelowReserved). Returns the old figure.
    """
    assert 0 <= counted <= MAX_STOCK
    for _ in range(10):
        row = (
            await change.session.execute(
                select(SupplyItem.on_hand, SupplyItem.reserved).where(SupplyItem.id == item_id)
            )
        ).one()
        seen, reserved = int(row.on_hand), int(row.reserved)
        if counted < reserved:
            raise BelowReserved(reserved)
        if await _changed(
            change,
            update(SupplyItem)
            .where(SupplyItem.id == item_id, SupplyItem.on_hand == seen, SupplyItem.reserved <= counted)
            .values(on_hand=counted),
        ):
            if counted != seen:
                _ledger(change, item_id, "adjustment", counted - seen, 0)
            await alert_if_low(change, item_id)
            return seen
    raise StockError(f"item {item_id} kept changing while it was being counted")


async def alert_if_low(change: Change, item_id: int) -> None:
    """Tell the logistics admins when what is available falls to the reorder threshold: once per
    crossing. The flag follows the stock in one conditional UPDATE, changed only when it no longer
    says where the stock is: of many requisitions crossing at once only the one that flips it to low
    sends the alert, and it re-arms when stock is back above the threshold."""
    low = SupplyItem.on_hand - SupplyItem.reserved <= SupplyItem.reorder_at
    flipped = await change.session.execute(
        update(SupplyItem)
        .where(SupplyItem.id == item_id, SupplyItem.low_alerted != low)
        .values(low_alerted=low)
        .returning(SupplyItem.low_alerted)
        .execution_options(synchronize_session=False)
    )
    if flipped.scalar() is not True:
        return  # unchanged, or back above the threshold
    item = await fresh(change.session, item_id)
    alert = msg(
        "stock.alert.low",
        name=item_label(item),
        code=item.code,
        available=item.available,
        unit=unit_of(item),
        threshold=item.reorder_at,
    )
    audit.write(
        change.session,
        action="stock.low_alert",
        record=item.code,
        actor_id=change.actor_id,
        at=change.now,
        detail={"available": item.available, "threshold": item.reorder_at},
    )
    for admin in await people_with_role(change.session, "logistics_admin"):
        await notify(change.session, Notice(admin.id, alert), change.now)


async def fresh(session: AsyncSession, item_id: int) -> SupplyItem:
    """The item as the database has it now (conditional UPDATEs bypass the session's copy)."""
    item = await session.get(SupplyItem, item_id, populate_existing=True)
    if item is None:
        raise StockError(f"no item {item_id}")
    return item


async def find_item(session: AsyncSession, ref: str) -> SupplyItem | None:
    """An item by its code (any case) or its exact name in either language."""
    wanted = ref.strip()
    if not wanted:
        return None
    found: SupplyItem | None = await session.scalar(select(SupplyItem).where(SupplyItem.code == wanted.upper()))
    if found is not None:
        return found
    for item in await session.scalars(select(SupplyItem).order_by(SupplyItem.id)):
        if wanted.casefold() in (item.name_zh.casefold(), item.name_en.casefold()):
            return item
    return None


# --- /stock: the logistics admins' command --------------------------------------------------------


def may_keep_stock(person: Person) -> bool:
    return authz.allowed(person, "stock.manage")


def refusal(ctx: StepContext, action: str, record: str | None = None) -> Msg:
    """Audit a refused stock action; the message to answer with."""
    return refused(ctx, f"stock.{action}", record, msg("stock.error.not_allowed"))


def whole(text: str, low: int = 0, high: int = MAX_STOCK) -> int | None:
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


async def stock_command(ctx: StepContext, args: str) -> Action:
    """/stock, /stock CODE, /stock add|set|threshold|limit CODE N [note], /stock import."""
    words = args.split(maxsplit=3)
    sub = words[0].lower() if words else ""
    if not may_keep_stock(ctx.person):
        return said(refusal(ctx, sub if sub in (*SUBCOMMANDS, "import") else "view"))
    if not words:
        return said(await stock_list(ctx.session))
    if sub == "import":
        return Action(start=(IMPORT.name, {}))
    if sub not in SUBCOMMANDS:
        item = await find_item(ctx.session, args)
        if item is None:
            return said(msg("stock.usage"))
        return said(await item_history(ctx, item))
    if len(words) < 3:
        return said(msg(f"stock.usage.{sub}"))
    item = await find_item(ctx.session, words[1])
    if item is None:
        return said(msg("stock.error.no_such_item", ref=words[1][:32]))
    note = words[3].strip()[:200] if len(words) > 3 else None
    if sub == "limit" and words[2].lower() in ("none", "off", "无", "不限"):
        number: int | None = None
    else:
        number = whole(words[2], 1 if sub in ("add", "limit") else 0)
        if number is None:
            return said(msg("stock.error.bad_number", value=words[2][:20], max=MAX_STOCK))
    return said(await change_stock(ctx, sub, item, number, note))


async def change_stock(actor: Acting, sub: str, item: SupplyItem, number: int | None, note: str | None) -> Msg:
    """/stock add|set|threshold|limit as `actor` (who may keep stock: the caller asked), audited; what
    to tell them. The web console's stock page records deliveries and counts through it too."""
    change = Change(actor.session, actor.person.id, actor.now, note=note)
    if sub == "add":
        assert number is not None
        await receive(change, item.id, number)
    elif sub == "set":
        if note is None:
            return msg("stock.usage.set")
        assert number is not None
        try:
            before = await count(change, item.id, number)
        except BelowReserved as below:
            return msg("stock.error.below_reserved", reserved=below.reserved, unit=unit_of(item))
        note = f"{before}→{number}: {note}"
    elif sub == "threshold":
        assert number is not None
        await actor.session.execute(
            update(SupplyItem)
            .where(SupplyItem.id == item.id)
            .values(reorder_at=number)
            .execution_options(synchronize_session=False)
        )
        await alert_if_low(change, item.id)
    else:
        await actor.session.execute(
            update(SupplyItem)
            .where(SupplyItem.id == item.id)
            .values(monthly_limit=number)
            .execution_options(synchronize_session=False)
        )
    audit.done(actor, f"stock.{sub}", item.code, value=number, note=note)
    item = await fresh(actor.session, item.id)
    return msg(f"stock.done.{sub}", **figures(item))


SUBCOMMANDS = ("add", "set", "threshold", "limit")


def figures(item: SupplyItem) -> dict[str, Any]:
    limit: Renderable | int = msg("stock.no_limit") if item.monthly_limit is None else item.monthly_limit
    return {
        "name": item_label(item),
        "code": item.code,
        "on_hand": item.on_hand,
        "reserved": item.reserved,
        "available": item.available,
        "threshold": item.reorder_at,
        "limit": limit,
        "unit": unit_of(item),
    }


async def stock_list(session: AsyncSession) -> Renderable:
    items = (await session.scalars(select(SupplyItem).order_by(SupplyItem.category, SupplyItem.code))).all()
    lines: list[Renderable] = []
    for category in CATEGORIES:
        mine = [item for item in items if item.category == category]
        if not mine:
            continue
        lines.append(msg("stock.list.category", category=msg(f"supply.category.{category}")))
        for item in mine:
            key = "stock.list.line_low" if item.available <= item.reorder_at else "stock.list.line"
            lines.append(msg(key, **figures(item)))
    return msg("stock.list", lines=Lines(tuple(lines)))


# Notes Houqin itself writes on the ledger, said in the reader's language; an admin's own note
# (/stock set … 盘点) is shown as they typed it.
SYSTEM_NOTES = {"opening stock": "stock.note.opening", "import": "stock.note.import"}


def note_of(note: str | None) -> Renderable | str:
    if note in SYSTEM_NOTES:
        return msg(SYSTEM_NOTES[note])
    return note or ""


async def item_history(ctx: StepContext, item: SupplyItem, limit: int = 10) -> Renderable:
    moves = (
        await ctx.session.execute(
            select(StockMovement, Person.display_name, Requisition.number)
            .outerjoin(Person, Person.id == StockMovement.actor_id)
            .outerjoin(Requisition, Requisition.id == StockMovement.requisition_id)
            .where(StockMovement.item_id == item.id)
            .order_by(StockMovement.id.desc())
            .limit(limit)
        )
    ).all()
    lines = tuple(
        msg(
            "stock.history_line",
            at=move.at.astimezone(ctx.zone).strftime("%m-%d %H:%M"),
            kind=msg(f"stock.kind.{move.kind}"),
            on_hand=f"{move.on_hand_delta:+d}",
            reserved=f"{move.reserved_delta:+d}",
            who=name or "Houqin",
            about=number or note_of(move.note),
        )
        for move, name, number in reversed(moves)
    )
    return msg("stock.item", **figures(item), history=Lines(lines) if lines else msg("stock.history_none"))


# --- importing the catalog ------------------------------------------------------------------------

COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "编码", "物品编码"),
    "name_zh": ("name_zh", "中文名称", "名称"),
    "name_en": ("name_en", "英文名称", "english name"),
    "category": ("category", "类别", "分类"),
    "unit": ("unit", "单位"),
    "stock": ("stock", "库存", "on_hand"),
    "reorder_at": ("reorder_at", "补货线", "threshold"),
    "monthly_limit": ("monthly_limit", "每月限领", "limit"),
    "price": ("price", "单价"),
}
REQUIRED = ("code", "name_zh", "name_en", "category", "unit")
MAX_ROWS = 1000
FILE_MB = 2
# Read in a child process within these limits (blank rows count toward max_rows).
CATALOG = uploads.Parser("handlers.supplies.stock:parse_catalog", uploads.Limits(max_bytes=FILE_MB * uploads.MB))
MAX_PROBLEMS = 10


class ImportProblems(uploads.FileProblem):
    """What is wrong with a file: its lines' problems, or one about the whole file."""

    def __init__(self, problems: Sequence[Msg], whole_file: bool = False) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = list(problems)
        self.whole_file = whole_file

    def __reduce__(self) -> tuple[type[ImportProblems], tuple[list[Msg], bool]]:
        return (ImportProblems, (self.problems, self.whole_file))

    def message(self) -> Msg:
        if self.whole_file:
            return self.problems[0]
        shown = tuple(self.problems[:MAX_PROBLEMS])
        return msg("stock.import.problems", count=len(self.problems), lines=Lines(shown))


def parse_catalog(name: str, content: bytes) -> list[dict[str, Any]]:
    """The file's rows as catalog entries, or ImportProblems naming every line that is wrong (or
    uploads.FileRefused, over a limit). Run in a child process by uploads (CATALOG)."""
    table = uploads.read_table(name, content, CATALOG.limits)
    if len(table) < 2:
        raise ImportProblems([msg("stock.import.error.empty")], whole_file=True)
    if len(table) > MAX_ROWS + 1:
        raise ImportProblems([msg("stock.import.error.too_many_rows", max=MAX_ROWS)], whole_file=True)
    header = [text.strip().casefold() for text in table[0]]
    where: dict[str, int] = {}
    for column, names in COLUMNS.items():
        for index, name_ in enumerate(header):
            if name_ in {n.casefold() for n in names}:
                where[column] = index
                break
    missing = [column for column in REQUIRED if column not in where]
    if missing:
        raise ImportProblems([msg("stock.import.error.missing_columns", columns=", ".join(missing))], whole_file=True)
    problems: list[Msg] = []
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    categories, units = _vocabulary("category", CATEGORIES), _vocabulary("unit", UNITS)
    for line, row in enumerate(table[1:], start=2):

        def value_of(column: str, row: list[str] = row) -> str:
            index = where.get(column)
            return row[index].strip() if index is not None and index < len(row) else ""

        entry: dict[str, Any] = {"line": line}
        for column in REQUIRED:
            if not value_of(column):
                problems.append(msg("stock.import.row.missing", line=line, column=column))
        code = value_of("code").upper()
        if code and not CODE.match(code):
            problems.append(msg("stock.import.row.bad_code", line=line, value=code[:40]))
        elif code in seen:
            problems.append(msg("stock.import.row.duplicate", line=line, code=code))
        seen.add(code)
        entry["code"] = code
        for column in ("name_zh", "name_en"):
            if len(value_of(column)) > 100:
                problems.append(msg("stock.import.row.too_long", line=line, column=column, max=100))
            entry[column] = value_of(column)[:100]
        for column, vocabulary, known in (("category", categories, CATEGORIES), ("unit", units, UNITS)):
            value = value_of(column)
            entry[column] = vocabulary.get(value.casefold())
            if value and entry[column] is None:
                problems.append(
                    msg(f"stock.import.row.bad_{column}", line=line, value=value[:20], known=", ".join(known))
                )
        for column, default in (("stock", 0), ("reorder_at", 0), ("monthly_limit", None)):
            value = value_of(column)
            number = whole(value, 1 if column == "monthly_limit" else 0) if value else default
            if value and number is None:
                problems.append(msg("stock.import.row.bad_number", line=line, column=column, value=value[:20]))
            entry[column] = number
        entry["price"] = None
        if price := value_of("price").lstrip("¥￥"):
            try:
                fen = Decimal(price) * 100
            except InvalidOperation:
                fen = Decimal(-1)
            if fen < 0 or fen != fen.to_integral_value() or fen > 100_000_000:
                problems.append(msg("stock.import.row.bad_number", line=line, column="price", value=price[:20]))
            else:
                entry["price"] = int(fen)
        entries.append(entry)
    if problems:
        raise ImportProblems(problems)
    return entries


def _vocabulary(family: str, codes: Sequence[str]) -> dict[str, str]:
    """Each code, and its name in both catalogs (each form of a unit), to the code: a file may say
    包, pack, packs or pcs."""
    known: dict[str, str] = {}
    for code in codes:
        known[code.casefold()] = code
        for locale in ("zh_CN", "en"):
            for count in (1, 2):
                known[translate(locale, f"supply.{family}.{code}", count=count).casefold()] = code
    return known


@dataclass(frozen=True)
class Imported:
    added: int
    updated: int
    received: int


async def apply_import(
    session: AsyncSession, entries: Sequence[dict[str, Any]], actor_id: int | None, now: datetime, channel: str = "cli"
) -> Imported:
    """Add new items (their stock as an opening receipt) and update the names, units, prices,
    thresholds and limits of known ones. Stock of known items is not touched: that is /stock set."""
    added = updated = received = 0
    change = Change(session, actor_id, now, note="import")
    for entry in entries:
        item = await session.scalar(select(SupplyItem).where(SupplyItem.code == entry["code"]))
        fields = {
            "name_zh": entry["name_zh"],
            "name_en": entry["name_en"],
            "category": entry["category"],
            "unit": entry["unit"],
            "unit_price": entry["price"],
            "reorder_at": entry["reorder_at"],
            "monthly_limit": entry["monthly_limit"],
            "active": True,
        }
        if item is None:
            item = SupplyItem(code=entry["code"], on_hand=0, reserved=0, created_at=now, **fields)
            session.add(item)
            await session.flush()
            added += 1
            if entry["stock"]:
                await receive(change, item.id, entry["stock"])
                received += 1
            else:
                await alert_if_low(change, item.id)
        else:
            await session.execute(
                update(SupplyItem)
                .where(SupplyItem.id == item.id)
                .values(**fields)
                .execution_options(synchronize_session=False)
            )
            await alert_if_low(change, item.id)
            updated += 1
    audit.write(
        session,
        action="stock.import",
        actor_id=actor_id,
        channel=channel,
        at=now,
        detail={"added": added, "updated": updated},
    )
    return Imported(added, updated, received)


async def read_upload(ctx: StepContext, document: DocumentIn) -> list[dict[str, Any]]:
    if not may_keep_stock(ctx.person):
        raise Invalid(msg("stock.error.not_allowed"))
    try:
        entries: list[dict[str, Any]] = await uploads.read(document, CATALOG)
    except uploads.FileProblem as problems:
        raise Invalid(problems.message()) from None
    return entries


async def import_summary(ctx: StepContext) -> Msg:
    entries = ctx.data["file"]
    codes = [entry["code"] for entry in entries]
    known = set((await ctx.session.scalars(select(SupplyItem.code).where(SupplyItem.code.in_(codes)))).all())
    sample = tuple(
        msg("stock.import.sample_line", code=e["code"], name=Label(e["name_zh"], e["name_en"]), stock=e["stock"])
        for e in entries[:5]
    )
    return msg(
        "stock.import.summary",
        count=len(entries),
        new=len([c for c in codes if c not in known]),
        known=len(known),
        sample=Lines(sample),
    )


async def submit_import(ctx: StepContext) -> Submitted:
    if not may_keep_stock(ctx.person):
        return Submitted(refusal(ctx, "import"), "")
    done = await apply_import(ctx.session, ctx.data["file"], ctx.person.id, ctx.now, ctx.channel)
    return Submitted(msg("stock.import.done", added=done.added, updated=done.updated), "")


async def import_upload(ctx: StepContext, args: str, document: DocumentIn) -> Action:
    """A file captioned /stock import: read it and ask to confirm, as the flow would."""
    if args.strip().lower() != "import":
        return said(msg("stock.import.caption_hint"))
    if not may_keep_stock(ctx.person):
        return said(refusal(ctx, "import"))
    if document.content is None or len(document.content) > FILE_MB * 1024 * 1024:
        too_big = document.content is not None or (document.size or 0) > FILE_MB * 1024 * 1024
        return said(msg("dialog.error.file_too_big", mb=FILE_MB) if too_big else msg("dialog.error.file_unavailable"))
    try:
        entries = await uploads.read(document, CATALOG)
    except uploads.FileProblem as problems:
        return said(problems.message())
    return Action(start=(IMPORT.name, {"file": entries}))


IMPORT = Flow(
    "stock_import",
    msg("stock.import.title"),
    msg("stock.import.title"),
    (
        FileStep(
            "file", msg("stock.import.ask_file"), read=read_upload, max_bytes=FILE_MB * 1024 * 1024, parser=CATALOG
        ),
        ConfirmStep("confirm", msg("stock.import.ask_confirm"), summary=import_summary),
    ),
    submit_import,
    listed=False,
)


# What /export stock writes (handlers/admin/exports.py lists the areas' exports).
async def stock_rows(session: AsyncSession, locale: str) -> list[list[Cell]]:
    items = await session.scalars(select(SupplyItem).order_by(SupplyItem.category, SupplyItem.code))
    return [
        [
            i.code,
            i.name_zh,
            i.name_en,
            translate(locale, f"supply.category.{i.category}"),
            translate(locale, f"supply.unit.{i.unit}"),
            i.on_hand,
            i.reserved,
            i.available,
            i.reorder_at,
            i.monthly_limit,
            i.unit_price / 100 if i.unit_price is not None else None,
        ]
        for i in items.all()
    ]


async def all_stock(session: AsyncSession, period: Period | None, zone: ZoneInfo, locale: str) -> list[list[Cell]]:
    """The stores as they are now: a period does not apply."""
    return await stock_rows(session, locale)


STOCK = Export(
    (
        "code",
        "name_zh",
        "name_en",
        "category",
        "unit",
        "on_hand",
        "reserved",
        "available",
        "reorder_at",
        "monthly_limit",
        "price",
    ),
    all_stock,
)


AREA = Area(
    "stock",
    flows=(IMPORT,),
    commands={"stock": stock_command},
    uploads={"stock": Upload(import_upload, CATALOG, "stock.manage")},
    privileged={"stock": "stock.manage"},
    actions={"stock.manage": authz.rule(*authz.STORES), "export.stock": authz.rule(*authz.STORES)},
    admin=(AdminEntry("stock", "stock.manage", stock_command, True, place=90),),
    exports={"stock": STOCK},
)

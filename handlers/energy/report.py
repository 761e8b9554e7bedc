"""/energy [YYYY-MM] (能耗): a month's consumption per building and kind, per head, against the
month before and the same month a year before, the buildings whose use rose most flagged, and a
chart of the thirteen months up to it. The month's figures follow the rule of consumption in
handlers/energy/readings.py (one query for all thirteen months); months are the organisation's.
Without a month: the last complete one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import authz, files
from handlers.core.adminkit import parse_month
from handlers.core.charts import Chart, Series, render
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Label, Lines, Msg, Renderable, msg, translate
from handlers.core.refusals import Refused
from handlers.energy.readings import KINDS, consumed_in, thresholds
from storage.models import Building, Meter

MONTHS_SHOWN = 13
FLAGGED_AT_MOST = 3


def month_start(first: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(first, time(), zone).astimezone(UTC)


def months_before(first: date, count: int) -> date:
    month = first.year * 12 + first.month - 1 - count
    return date(month // 12, month % 12 + 1, 1)


def last_complete_month(now: datetime, zone: ZoneInfo) -> date:
    return months_before(now.astimezone(zone).date().replace(day=1), 1)


@dataclass(frozen=True)
class Use:
    """A building's use of one kind: the month's, the month before's and the year before's, in
    thousandths of the unit (None: nothing counted then)."""

    building: Building
    kind: str
    unit: str
    now: int | None
    before: int | None
    year_ago: int | None

    def per_head(self) -> Decimal | None:
        if self.now is None or not self.building.headcount:
            return None
        return Decimal(self.now) / 1000 / self.building.headcount

    @property
    def rise(self) -> Decimal | None:
        return change(self.now, self.before)


def change(now: int | None, before: int | None) -> Decimal | None:
    """Percent change from `before` to `now`; None when either is unknown or `before` is nothing."""
    if now is None or not before:
        return None
    return (Decimal(now) - before) * 100 / before


@dataclass(frozen=True)
class Total:
    kind: str
    unit: str
    now: int | None
    before: int | None
    year_ago: int | None
    people: int | None  # the head count of the buildings measured, when every one of them has one


@dataclass
class Figures:
    month: date
    uses: list[Use] = field(default_factory=list)
    totals: list[Total] = field(default_factory=list)
    # Each month's use (thousandths) per building of the chart's kind, oldest month first.
    history: dict[int, list[int | None]] = field(default_factory=dict)
    chart_kind: str | None = None
    meters: int = 0

    @property
    def flagged(self) -> list[Use]:
        """The buildings whose use rose most against the month before, beyond ENERGY_FLAG_RISE_PERCENT."""
        limit = thresholds().rise_percent
        risen = [use for use in self.uses if use.rise is not None and use.rise > limit]
        return sorted(risen, key=lambda use: use.rise or 0, reverse=True)[:FLAGGED_AT_MOST]

    @property
    def months(self) -> list[date]:
        return [months_before(self.month, MONTHS_SHOWN - 1 - i) for i in range(MONTHS_SHOWN)]


async def figures(session: AsyncSession, month: date, zone: ZoneInfo) -> Figures:
    """The month's figures, the month before's and the year before's, and thirteen months of the
    first kind measured, from one query of the differences that count."""
    found = Figures(month)
    meters = list(await session.scalars(select(Meter).order_by(Meter.building_id, Meter.code)))
    found.meters = len(meters)
    if not meters:
        return found
    months = found.months
    bounds = [month_start(m, zone) for m in (*months, months_before(month, -1))]
    moved = await consumed_in(session, bounds)
    # (building, kind, month index) → what its meters consumed, times their multipliers.
    used: dict[tuple[int, str, int], int] = {}
    for meter in meters:
        for at in range(MONTHS_SHOWN):
            if (meter.id, at) in moved:
                key = (meter.building_id, meter.kind, at)
                used[key] = used.get(key, 0) + moved[meter.id, at] * meter.multiplier

    def of(building_ids: Iterable[int], kind: str, at: int) -> int | None:
        found_then = [used[(b, kind, at)] for b in building_ids if (b, kind, at) in used]
        return sum(found_then) if found_then else None

    now, before, year_ago = MONTHS_SHOWN - 1, MONTHS_SHOWN - 2, 0
    buildings: dict[int, Building] = {meter.building_id: meter.building for meter in meters}
    kinds = [kind for kind in KINDS if any(meter.kind == kind for meter in meters)]
    units = {meter.kind: meter.unit for meter in meters}
    measured = {(meter.building_id, meter.kind) for meter in meters}
    for building in buildings.values():
        for kind in kinds:
            if (building.id, kind) in measured:
                one = (building.id,)
                found.uses.append(
                    Use(building, kind, units[kind], of(one, kind, now), of(one, kind, before), of(one, kind, year_ago))
                )
    for kind in kinds:
        those = [b for b in buildings if (b, kind) in measured]
        heads = [buildings[b].headcount for b in those]
        people = sum(h for h in heads if h) if all(heads) else None
        found.totals.append(
            Total(kind, units[kind], of(those, kind, now), of(those, kind, before), of(those, kind, year_ago), people)
        )
    found.chart_kind = kinds[0]
    for building in buildings.values():
        if (building.id, found.chart_kind) in measured:
            found.history[building.id] = [of((building.id,), found.chart_kind, at) for at in range(MONTHS_SHOWN)]
    return found


# --- what it says -----------------------------------------------------------------------------------


def amount(thousandths: int | None) -> str:
    if thousandths is None:
        return "—"
    return f"{Decimal(thousandths) / 1000:,.1f}"


def each(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:+.0f}%"


def building_name(building: Building) -> Label:
    return Label(building.name_zh, building.name_en)


def kind_name(kind: str) -> Msg:
    return msg(f"meter.kind.{kind}")


def use_line(use: Use) -> Msg:
    return msg(
        "energy.use_line",
        kind=kind_name(use.kind),
        amount=amount(use.now),
        unit=use.unit,
        per_head=each(use.per_head()),
        month_on_month=percent(use.rise),
        year_on_year=percent(change(use.now, use.year_ago)),
    )


def total_line(total: Total) -> Msg:
    per_head = Decimal(total.now) / 1000 / total.people if total.now is not None and total.people else None
    return msg(
        "energy.total_line",
        kind=kind_name(total.kind),
        amount=amount(total.now),
        unit=total.unit,
        per_head=each(per_head),
        month_on_month=percent(change(total.now, total.before)),
        year_on_year=percent(change(total.now, total.year_ago)),
    )


def flag_lines(found: Figures) -> list[Renderable]:
    limit = f"{thresholds().rise_percent:.0f}%"
    flagged = found.flagged
    if not flagged:
        return [msg("energy.no_flags", limit=limit)]
    return [
        msg("energy.flags", limit=limit),
        *(
            msg(
                "energy.flag_line",
                building=building_name(use.building),
                kind=kind_name(use.kind),
                rise=percent(use.rise),
                amount=amount(use.now),
                before=amount(use.before),
                unit=use.unit,
            )
            for use in flagged
        ),
    ]


def report_text(found: Figures) -> Lines:
    label = f"{found.month:%Y-%m}"
    if not found.meters:
        return Lines((msg("energy.title", month=label), msg("energy.no_meters")))
    parts: list[Renderable] = [msg("energy.title", month=label)]
    if not any(use.now is not None for use in found.uses):
        parts.append(msg("energy.nothing_counted"))
    shown_buildings: list[int] = []
    for use in found.uses:
        if use.building.id not in shown_buildings:
            shown_buildings.append(use.building.id)
            heads = use.building.headcount
            parts.append(
                msg("energy.building", building=building_name(use.building), count=heads)
                if heads
                else msg("energy.building_no_headcount", building=building_name(use.building))
            )
        parts.append(use_line(use))
    parts.append(msg("energy.totals"))
    parts.extend(total_line(total) for total in found.totals)
    parts.extend(flag_lines(found))
    return Lines(tuple(parts))


def chart_of(found: Figures, locale: str) -> Chart:
    """Thirteen months of the first kind measured (electricity), one line per building."""
    kind = found.chart_kind or KINDS[0]
    unit = next((use.unit for use in found.uses if use.kind == kind), "")
    buildings = {use.building.id: use.building for use in found.uses}
    return Chart(
        title=translate(
            locale, "energy.chart.title", kind=kind_name(kind).render(locale), month=f"{found.month:%Y-%m}"
        ),
        categories=[f"{month:%Y-%m}" for month in found.months],
        series=[
            Series(
                building_name(buildings[building]).render(locale),
                [None if value is None else float(Decimal(value) / 1000) for value in values],
            )
            for building, values in found.history.items()
        ],
        kind="line",
        y_label=unit,
        nothing=translate(locale, "chart.nothing"),
    )


async def energy_command(ctx: StepContext, args: str) -> Action:
    try:
        authz.require(ctx, "energy.view")
    except Refused as refused:
        return said(refused.reason)
    typed = args.strip()
    if typed:
        period = parse_month(typed)
        if period is None:
            return said(msg("energy.usage"))
        month = period.first
    else:
        month = last_complete_month(ctx.now, ctx.zone)
    found = await figures(ctx.session, month, ctx.zone)
    text = report_text(found)
    if not found.meters:
        return said(text)
    chart = chart_of(found, ctx.locale)
    picture = files.Later(f"energy-{found.month:%Y%m}.png", files.PNG, partial(render, chart))
    return Action(say=((text, ()),), later=(picture,))

"""The energy part of the weekly digest: the first digest of a month (its week ends on day 1–7 of
that month, in the organisation's zone) carries the month before — each kind's total against the
month before and the year before, and the buildings flagged for a rise (report.py's figures).
Other weeks, and the departments' digests (energy is measured by building, not by department),
carry nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.charts import Chart
from handlers.core.digest import Said, Scope, Section, Week
from handlers.core.i18n import Renderable, msg
from handlers.energy.readings import thresholds
from handlers.energy.report import Figures, figures, flag_lines, months_before, total_line

FIRST_WEEK_DAYS = 7
# After the repairs' trend (50): the month's energy closes the digest.
PLACE = 65


@dataclass(frozen=True)
class MonthOfEnergy:
    """The month before's figures, said in the first digest of a month."""

    found: Figures

    def lines(self, zone: ZoneInfo) -> list[Renderable]:
        if not any(total.now is not None for total in self.found.totals):
            return []
        return [
            msg("energy.digest.title", month=f"{self.found.month:%Y-%m}"),
            *(total_line(total) for total in self.found.totals),
            *flag_lines(self.found),
        ]

    def chart(self, scope: Scope, locale: str, zone: ZoneInfo) -> Chart | None:
        return None


def month_told(week: Week, zone: ZoneInfo) -> date | None:
    """The first day of the month before, when this is the first week of a month (its end, local,
    falls on day 1-7: one week of seven does); else None."""
    ends = week.end.astimezone(zone).date()
    if ends.day > FIRST_WEEK_DAYS:
        return None
    return months_before(ends.replace(day=1), 1)


async def month_in_digest(session: AsyncSession, scope: Scope, week: Week) -> MonthOfEnergy | Said:
    zone = thresholds().zone
    month = month_told(week, zone)
    if month is None or scope.department is not None:
        return Said()
    return MonthOfEnergy(await figures(session, month, zone))


SECTION = Section(PLACE, month_in_digest)

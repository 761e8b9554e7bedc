"""Route files the inspection tests import, as admins write them."""

from __future__ import annotations

from sqlalchemy import delete

from storage.db import Database
from storage.models import OrgSetting

# The fire round of the demo's administration building: a pass/fail item, a pressure reading with
# its normal range, a photo item, a note; by the electricians every day at 23:59 (so a test never
# finds it late, whatever the hour it runs).
FIRE_ROUND = """\
code: FIRE-A
name: {zh: 行政楼消防巡检, en: Admin building fire round}
category: other
checkpoints:
  - code: A-101-FIRE
    name: {zh: 一楼大厅消防点, en: Hall fire point}
    room: A/101
    items:
      - check: {zh: 灭火器在位, en: Extinguishers in place}
      - check: {zh: 压力表读数, en: Pressure gauge}
        kind: reading
        unit: MPa
        min: 0.8
        max: 1.2
  - code: A-201-FIRE
    name: {zh: 会议室消防点, en: Meeting room fire point}
    room: A/201
    items:
      - check: {zh: 消火栓箱照片, en: Photo of the hydrant cabinet}
        kind: photo
      - check: {zh: 其他情况, en: Anything else}
        kind: note
schedules:
  - every: daily
    due: "23:59"
    specialty: electrical
"""


async def every_day_a_working_day(db: Database) -> None:
    """The office works every day, no holidays: a round is due today whatever day the test runs."""
    async with db.unit_of_work() as session:
        await session.execute(delete(OrgSetting).where(OrgSetting.key.in_(("working_days", "holidays", "makeup_days"))))
        session.add(OrgSetting(key="working_days", value="mon,tue,wed,thu,fri,sat,sun"))

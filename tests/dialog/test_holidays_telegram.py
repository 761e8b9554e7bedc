"""Public holidays and make-up working days set from Telegram (/settings holidays, /settings
makeup_days), through python-telegram-bot's Application against the fake Bot API: an admin sets
National Day, people who are not admins are refused (and audited), bad dates are answered in the
person's language with nothing changed, and the overview lists the upcoming holidays first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.core.schedule import format_range
from storage.db import Database
from tests.dialog.admin_people import link_telegram, person_id, refusals_of, snapshot
from tests.dialog.telegram_person import TelegramPerson

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the service's default TIMEZONE


async def test_an_admin_sets_national_day_and_the_make_up_saturday(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    admin = await link_telegram(db, telegram_user, 7401, "admin")
    assert await admin.says("/settings holidays 2026-10-01..2026-10-07") == [
        "✅ 已修改法定节假日（holidays）：2026-10-01..2026-10-07"
    ]
    # Written as people write them (至, full-width commas, 2027-1-1), kept in one compact form.
    assert await admin.says("/settings holidays 2026-10-01 至 2026-10-07，2027-1-1") == [
        "✅ 已修改法定节假日（holidays）：2026-10-01..2026-10-07,2027-01-01"
    ]
    assert await admin.says("/settings holidays 2026-10-01 - 2026-10-07") == [
        "✅ 已修改法定节假日（holidays）：2026-10-01..2026-10-07"
    ]
    assert await admin.says("/settings makeup_days 2026-10-10、2026-09-27") == [
        "✅ 已修改调休上班日（makeup_days）：2026-09-27,2026-10-10"
    ]


async def test_people_who_are_not_admins_may_not_change_holidays_and_are_audited(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    lin = await link_telegram(db, telegram_user, 7402, "lin.hua")  # logistics admin: may look, not change
    emma = await link_telegram(db, telegram_user, 7403, "emma.clark")  # staff, reads English
    before = await snapshot(db)
    assert await lin.says("/settings holidays 2026-10-01..2026-10-07") == [
        "⛔ 你没有权限修改系统设置。只有系统管理员可以这样做。"
    ]
    assert await emma.says("/settings makeup_days 2026-10-10") == [
        "⛔ You may not change the settings: only Admin may do that."
    ]
    after = await snapshot(db)
    assert after == before, "nothing changed"
    [refused] = await refusals_of(db, await person_id(db, "lin.hua"))
    assert (refused.action, refused.record) == ("settings.change", "holidays")
    [refused] = await refusals_of(db, await person_id(db, "emma.clark"))
    assert (refused.action, refused.record) == ("settings.change", "makeup_days")


async def test_bad_dates_are_answered_in_the_persons_language_and_change_nothing(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    admin = await link_telegram(db, telegram_user, 7404, "admin")
    assert "✅" in await admin.says("/role grant @tom.baker admin")
    tom = await link_telegram(db, telegram_user, 7405, "tom.baker")  # an admin who reads English
    await admin.says("/settings holidays 2026-10-01..2026-10-07")
    before = await snapshot(db)

    assert await admin.says("/settings holidays 2026-10-01..2026-10-07,2026-10-32") == [
        "⚠️ holidays 未修改：“2026-10-32”不是日期：日期写作 2026-10-01，区间写作 2026-10-01..2026-10-07，"
        "用逗号分隔（或 none）。"
    ]
    assert await admin.says("/settings holidays 国庆节") == [
        "⚠️ holidays 未修改：“国庆节”不是日期：日期写作 2026-10-01，区间写作 2026-10-01..2026-10-07，"
        "用逗号分隔（或 none）。"
    ]
    assert await tom.says("/settings makeup_days 2026-10-10..2026-09-27") == [
        "⚠️ makeup_days was not changed: “2026-10-10..2026-09-27” ends before it starts: "
        "write the earlier date first, e.g. 2026-10-01..2026-10-07."
    ]
    assert await tom.says("/settings holidays 2026-10-01..2036-10-07") == [
        "⚠️ holidays was not changed: “2026-10-01..2036-10-07” is longer than a year: check the years."
    ]
    assert await snapshot(db) == before


async def test_the_overview_shows_the_next_holidays_first(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    admin = await link_telegram(db, telegram_user, 7406, "admin")
    today = datetime.now(SHANGHAI).date()

    def days(first: int, last: int | None = None) -> str:
        return format_range(today + timedelta(days=first), today + timedelta(days=last if last else first))

    ahead = [days(10, 12), days(20), days(30), days(40)]
    typed = ",".join([days(-40, -38), *ahead, days(50)])
    await admin.says(f"/settings holidays {typed}")
    overview = await admin.says("/settings")
    shown = ", ".join(ahead)
    assert f"法定节假日（holidays）：近期：{shown} 等，另有 1 段（已过 1 段） · 系统管理员 Admin 于" in overview
    assert "调休上班日（makeup_days）：按环境配置 · 默认" in overview

    await admin.says("/settings makeup_days none")
    assert "调休上班日（makeup_days）：无 · 系统管理员 Admin 于" in await admin.says("/settings")

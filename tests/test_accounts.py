"""Linking accounts is channel-neutral: a code asked for in the browser chat joins a Telegram account,
it expires after ten minutes, and is spent once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.service import AREAS
from handlers.core.conversation import Inbound, Kind, Sender
from handlers.core.engine import Houqin
from storage.db import Database
from storage.models import ChannelAccount, LinkCode

CODE = re.compile(r"[A-Z2-9]{8}")
WEB = Sender("web", "wang.fang", "wang.fang", "王芳")
TELEGRAM = Sender("telegram", "7001", "7001", "Fang W", "zh-hans")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def houqin(db: Database, clock: Clock) -> Houqin:
    return Houqin(db, AREAS, "zh_CN", ZoneInfo("Asia/Shanghai"), clock=clock)


async def say(core: Houqin, sender: Sender, key: str, args: str = "") -> str:
    outcome = await core.handle(Inbound(sender, Kind.COMMAND, key, text=args, command="link"))
    return "\n".join(reply.text for reply in outcome.replies)


async def owner(db: Database, channel: str, external_id: str) -> str:
    async with db.unit_of_work() as session:
        account = await session.scalar(
            select(ChannelAccount).where(ChannelAccount.channel == channel, ChannelAccount.external_id == external_id)
        )
        assert account is not None
        return account.person.display_name


async def test_a_code_from_the_browser_joins_a_telegram_account(db: Database) -> None:
    clock = Clock()
    core = houqin(db, clock)
    asked = await say(core, WEB, "w1")
    code = CODE.search(asked)
    assert code is not None and "10 分钟" in asked
    assert "已关联" in await say(core, TELEGRAM, "t1", code.group())
    assert await owner(db, "telegram", "7001") == "王芳"
    # Only its hash was kept.
    async with db.unit_of_work() as session:
        kept = (await session.scalars(select(LinkCode.code_hash))).all()
    assert code.group() not in kept and len(kept[0]) == 64


async def test_a_code_expires_and_a_new_one_replaces_the_old(db: Database) -> None:
    clock = Clock()
    core = houqin(db, clock)
    first = CODE.search(await say(core, WEB, "w1"))
    second = CODE.search(await say(core, WEB, "w2"))
    assert first is not None and second is not None
    assert "不正确或已过期" in await say(core, TELEGRAM, "t1", first.group())  # replaced by the second
    clock.now += timedelta(minutes=11)
    assert "不正确或已过期" in await say(core, TELEGRAM, "t2", second.group())
    assert await owner(db, "telegram", "7001") == "Fang W"


async def test_guessing_codes_is_stopped_after_five_wrong_ones(db: Database) -> None:
    clock = Clock()
    core = houqin(db, clock)
    code = CODE.search(await say(core, WEB, "w1"))
    assert code is not None
    for attempt in range(5):
        assert "不正确或已过期" in await say(core, TELEGRAM, f"t{attempt}", "AAAAAAAA")
    assert "太多" in await say(core, TELEGRAM, "t9", code.group())  # even the right one, for an hour
    assert await owner(db, "telegram", "7001") == "Fang W"

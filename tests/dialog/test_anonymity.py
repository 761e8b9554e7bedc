"""Anonymous means untraceable, in the database too.

Two anonymous suggestions with their threads, and an anonymous survey answered by eight people one
after another, in Telegram and in the browser chat; then every row of every table is searched, as
someone holding a copy of the database (but not the server key) would, for what ties a person to
what they said anonymously:

- by value: their ids, names, accounts or addresses in a row beside the anonymous words, or the
  anonymous record naming them;
- by time: a row that names them carrying a time within minutes of one of the anonymous acts (the
  office's cards and replies carry the real moment of each, so any such time is a join);
- by transaction: on PostgreSQL every row carries the id of the transaction that last wrote it
  (xmin), and a row of theirs written with the anonymous one would share it;
- by order: the responses and the records of the discreet deliveries, sorted by any column (and by
  SQLite's rowid, PostgreSQL's physical order), must not come out in the order people answered in.

The promises that held before still hold: a repeated delivery creates nothing twice, answering
again replaces, and the suggester hears back through Houqin. Through python-telegram-bot against
the fake Bot API and the browser chat's HTTP API, on SQLite and PostgreSQL, with a clock the test
moves on between the acts (so "near in time" means something).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, literal_column, select
from sqlalchemy.exc import OperationalError

from bot.app import create_app
from bot.service import Service, build_service
from bot.settings import load_settings
from handlers.core import keys
from handlers.core.discreet import sealed_key
from storage.db import Database
from storage.models import Base, ChannelAccount, DialogState, Person, Suggestion, SurveyResponse, utcnow
from tests.channels import telegram_of, unpaced_telegram
from tests.dialog.telegram_person import WAIT, TelegramPerson, notices_delivered
from tests.dialog.test_surveys_telegram import YAML_MIME
from tests.dialog.test_ticket_life_telegram import make_staff
from tests.dialog.web_person import PNG_1X1, Said, WebPerson
from tests.fakes.telegram_api import FakeBotAPI, FakeMessage
from tests.identifiers import names_anyone

# A time in a row that names someone this close to one of their anonymous acts ties them to it.
NEAR = timedelta(minutes=10)


class Clock:
    """Real time, moved on by the test between acts. It starts tomorrow at 02:00 UTC (10:00 in
    Shanghai): far from any midnight, so a time kept to the day is never near an act."""

    def __init__(self) -> None:
        start = datetime.combine(utcnow().date() + timedelta(days=1), time(2, 0), tzinfo=utcnow().tzinfo)
        self.offset = start - utcnow()

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def moves_on(self, by: timedelta = timedelta(hours=1)) -> None:
        self.offset += by


@dataclass
class Acts:
    """When the anonymous acts happened (by Houqin's clock), and which deliveries were whose."""

    clock: Clock
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)

    @contextmanager
    def anonymous(self) -> Iterator[None]:
        start = self.clock()
        yield
        self.windows.append((start, self.clock()))

    def near_one(self, moment: datetime) -> bool:
        return any(start - NEAR <= moment <= end + NEAR for start, end in self.windows)


class TelegramOne(TelegramPerson):
    """A Telegram person whose updates are remembered (to be delivered again, to be found by key)."""

    def __init__(self, api: FakeBotAPI, db: Database, user_id: int, name: str) -> None:
        super().__init__(api, db, api.user(user_id, name))
        self.updates: list[dict[str, Any]] = []

    async def _does(self, act: Any, wait: float = WAIT) -> Any:
        def remembered() -> Any:
            update = act()
            self.updates.append(update)
            return update

        return await super()._does(remembered, wait)

    @property
    def delivery_keys(self) -> list[str]:
        return [str(update["update_id"]) for update in self.updates]


@dataclass
class BrowserOne(WebPerson):
    """Someone in the browser chat whose messages' client ids are remembered."""

    client_ids: list[str] = field(default_factory=list)

    async def _post(self, body: dict[str, Any], client_id: str | None = None) -> Said:
        client_id = client_id or uuid.uuid4().hex
        self.client_ids.append(client_id)
        return await super()._post(body, client_id)

    @property
    def delivery_keys(self) -> list[str]:
        return [f"{self.key}:{client_id}" for client_id in self.client_ids]

    async def notice(self, fragment: str) -> dict[str, Any]:
        """The newest notice in the page's inbox containing `fragment`; the page then acknowledges it."""
        for notice in reversed(await self.inbox()):
            if fragment in notice["text"]:
                await self.inbox(ack=[notice["id"]])
                return dict(notice)
        raise AssertionError(f"{self.key} has no notice with {fragment!r}")


@dataclass
class World:
    service: Service
    http: httpx.AsyncClient
    clock: Clock
    acts: Acts


@pytest.fixture
async def world(db: Database, bot_api: FakeBotAPI) -> AsyncIterator[World]:
    """Houqin with Telegram and the browser chat (demo mode), on a clock the test moves."""
    settings = load_settings(
        database_url=db.url,
        telegram_bot_token=bot_api.token,
        telegram_api_base_url=bot_api.base_url.removesuffix("/bot"),
        web_enabled=True,
        demo_mode=True,
    )
    service = build_service(settings)
    clock = Clock()
    service.houqin.clock = telegram_of(service).outbox.clock = clock
    unpaced_telegram(service)
    await service.start()
    await telegram_of(service).menus_queued()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(service)), base_url="http://h.test"
    ) as http:
        yield World(service, http, clock, Acts(clock))
    await service.stop()


# --- what the database holds ---------------------------------------------------------------------


@dataclass
class Row:
    table: str
    values: dict[str, Any]
    position: int  # where a plain SELECT lists it (PostgreSQL: its place on disk, ctid)
    rowid: int | None = None  # SQLite's hidden row number, if the table has one
    xmin: str | None = None  # PostgreSQL: the transaction that last wrote it


async def every_row(db: Database) -> list[Row]:
    rows: list[Row] = []
    async with db.unit_of_work() as session:
        for table in Base.metadata.sorted_tables:
            if db.dialect == "postgresql":
                hidden: list[Any] = [
                    literal_column("xmin::text").label("_xmin"),
                    literal_column("ctid::text").label("_ctid"),
                ]
                found = (await session.execute(select(*table.c, *hidden))).mappings().all()
                for row in sorted(found, key=lambda r: tuple(int(n) for n in r["_ctid"].strip("()").split(","))):
                    values = {k: v for k, v in row.items() if not k.startswith("_")}
                    rows.append(Row(table.name, values, len(rows), xmin=row["_xmin"]))
                continue
            try:
                async with session.begin_nested():
                    found = (
                        (await session.execute(select(*table.c, literal_column("rowid").label("_rowid"))))
                        .mappings()
                        .all()
                    )
            except OperationalError:  # a table WITHOUT ROWID
                found = (await session.execute(select(*table.c))).mappings().all()
            for row in found:
                values = {k: v for k, v in row.items() if k != "_rowid"}
                rows.append(Row(table.name, values, len(rows), rowid=row.get("_rowid")))
    return rows


PERSON_COLUMNS = {
    table.name: {c.name for c in table.c if any(fk.column.table.name == "people" for fk in c.foreign_keys)}
    for table in Base.metadata.sorted_tables
}


@dataclass
class Someone:
    """Everything that names one person in the database."""

    label: str
    person_id: int
    dialogs: set[int]
    identifiers: set[str]
    delivery_keys: list[str]
    channel: str

    def named_in(self, row: Row) -> bool:
        if row.table == "people" and row.values["id"] == self.person_id:
            return True
        if any(row.values.get(column) == self.person_id for column in PERSON_COLUMNS[row.table]):
            return True
        outcome = row.values.get("outcome")
        if isinstance(outcome, dict) and outcome.get("dialog_id") in self.dialogs:
            return True
        words = json.dumps([v for v in row.values.values() if isinstance(v, str | dict | list)], ensure_ascii=False)
        return names_anyone(words, self.identifiers)


async def someone(db: Database, who: TelegramOne | BrowserOne) -> Someone:
    channel, external = ("telegram", str(who.user.user_id)) if isinstance(who, TelegramOne) else ("web", who.key)
    async with db.unit_of_work() as session:
        account = await session.scalar(
            select(ChannelAccount).where(ChannelAccount.channel == channel, ChannelAccount.external_id == external)
        )
        assert account is not None
        person = await session.get(Person, account.person_id)
        assert person is not None
        dialogs = set((await session.scalars(select(DialogState.id).where(DialogState.person_id == person.id))).all())
        identifiers = {person.display_name, external, str(account.address)} | (
            {person.handle} if person.handle else set()
        )
    return Someone(person.display_name, person.id, dialogs, identifiers, who.delivery_keys, channel)


def text_of(message: FakeMessage) -> str:
    return message.text or ""


def words_of(row: Row) -> str:
    return json.dumps([v for v in row.values.values() if isinstance(v, str | dict | list)], ensure_ascii=False)


def times_of(row: Row) -> list[datetime]:
    return [v for v in row.values.values() if isinstance(v, datetime)]


def to_the_day(moment: datetime | date) -> bool:
    return not isinstance(moment, datetime) or moment.time() == time()


def traces(rows: Sequence[Row], people: Sequence[Someone], acts: Acts, said: Sequence[str]) -> list[str]:
    """Every row that names one of `people` and also carries what they said anonymously, or a time
    near one of the anonymous acts."""
    found = []
    for row in rows:
        for person in people:
            if not person.named_in(row):
                continue
            if any(words in words_of(row) for words in said):
                found.append(f"{row.table} names {person.label} beside anonymous words: {words_of(row)[:200]}")
            found += [
                f"{row.table} names {person.label} at {moment:%H:%M:%S}, minutes from an anonymous act: {row.values}"
                for moment in times_of(row)
                if acts.near_one(moment)
            ]
    return found


def shared_transactions(rows: Sequence[Row], people: Sequence[Someone], anonymous: Sequence[Row]) -> list[str]:
    """PostgreSQL: rows that name someone, written by the transaction that wrote an anonymous row."""
    written = {row.xmin for row in anonymous if row.xmin is not None}
    return [
        f"{row.table} names {person.label} and was written with an anonymous row (xmin {row.xmin}): {row.values}"
        for row in rows
        for person in people
        if row.xmin in written and person.named_in(row)
    ]


def reveals_order(ranked: Sequence[tuple[Any, int]]) -> bool:
    """(value, place in the answering order) of some rows: True when sorting them by the value sorts
    the people in the order they answered in (or its reverse), no two people sharing a value."""
    by_value: dict[Any, set[int]] = {}
    for value, place in ranked:
        by_value.setdefault(value, set()).add(place)
    if len(by_value) < 2 or any(len(places) > 1 for places in by_value.values()):
        return False
    places = [next(iter(by_value[value])) for value in sorted(by_value)]
    return places == sorted(places) or places == sorted(places, reverse=True)


def orders(rows: Sequence[Row], place_of: Callable[[Row], int | None], *, on_disk: bool = True) -> list[str]:
    """The columns (and hidden row numbers; `on_disk`: where PostgreSQL keeps the rows, and which
    transaction wrote them) that list these rows in answering order."""
    placed = [(row, place) for row in rows if (place := place_of(row)) is not None]
    assert len({place for _, place in placed}) >= 2, "too few people to tell an order"
    columns: dict[str, list[tuple[Any, int]]] = {}
    if on_disk or all(row.rowid is not None for row, _ in placed):
        columns["listed order"] = [(row.position, place) for row, place in placed]
    if all(row.rowid is not None for row, _ in placed):
        columns["rowid"] = [(row.rowid, place) for row, place in placed]
    if on_disk and all(row.xmin is not None for row, _ in placed):
        columns["xmin"] = [(int(str(row.xmin)), place) for row, place in placed]
    # The channel a delivery came by is no order (two people on two channels differ in it anyway).
    for name in set(placed[0][0].values) - {"channel"}:
        values = [(row.values[name], place) for row, place in placed]
        if all(isinstance(value, int | str | datetime | date) for value, _ in values):
            columns[name] = values
    return [f"{placed[0][0].table}.{name}" for name, ranked in columns.items() if reveals_order(ranked)]


async def stored_keys(db: Database, person: Someone) -> tuple[set[str], set[str]]:
    """The keys their deliveries would be kept under: as given, and sealed with the server key."""
    async with db.unit_of_work() as session:
        server_key = await keys.server_key(session)
    raw = set(person.delivery_keys)
    return raw, {sealed_key(server_key, person.channel, key) for key in raw}


async def count(db: Database, model: type[Any]) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# --- the suggestion box ------------------------------------------------------------------------------


async def test_an_anonymous_suggester_is_found_by_no_row_time_or_order(
    db: Database, bot_api: FakeBotAPI, world: World
) -> None:
    clock, acts = world.clock, world.acts
    office = TelegramOne(bot_api, db, 7300000101, "林主任")
    wang = TelegramOne(bot_api, db, 7300000111, "小王")
    fang = BrowserOne(world.http, "wang.fang")
    await make_staff(db, office, "logistics_admin", department="logistics")
    await make_staff(db, wang, department="finance")
    wang.updates.clear()  # their /start names them, and is nothing anonymous

    said = {
        "小王": "希望食堂每周增加一次川菜窗口",
        "王芳": "三楼茶水间的保洁可以再勤一些",
        "小王 answers": "水煮鱼和回锅肉最好",
        "王芳 answers": "下午三点左右最需要",
        "office to 小王": "谢谢建议，下周试行川菜",
        "office to 王芳": "已安排保洁每天多巡查两次",
        "outcome": "每周三午餐增加川菜窗口",
    }

    # 小王 writes one in Telegram, with a photo; he takes the first photo back and sends another.
    clock.moves_on()
    with acts.anonymous():
        await wang.says("/suggest")
        await wang.presses("食堂")
        await wang.says(said["小王"])
        await wang.sends_photo()
        assert "照片" in await wang.presses("← 上一步")
        await wang.sends_photo()
        await wang.presses("🔒 匿名")
        await wang.presses("📢 公开")
        assert "谢谢！你的建议 #1 已提交。" in await wang.presses("✔ 提交")
    submitted = wang.updates[-1]
    assert text_of(office.latest("💡 建议 #1")).endswith(said["小王"])
    # Not even for a moment does a row of his share the transaction that wrote the suggestion.
    rows = await every_row(db)
    suggestion = [r for r in rows if r.table == "suggestions"]
    assert shared_transactions(rows, [await someone(db, wang)], suggestion) == []

    # 王芳 writes one in the browser, with a photo, for the office only.
    clock.moves_on()
    with acts.anonymous():
        await fang.says("/suggest")
        await fang.presses("保洁")
        await fang.says(said["王芳"])
        await fang.sends_photo(PNG_1X1)
        await fang.presses("🔒 匿名")
        await fang.presses("🔐 只给后勤")
        assert "谢谢！你的建议 #2 已提交。" in await fang.presses("✔ 提交")
    fang_submitted = fang.client_ids[-1]

    # The office replies to both; each reply reaches its writer through Houqin.
    clock.moves_on()
    with acts.anonymous():
        assert "回复已转给建议 #1 的提出人。" in await office.says(f"/suggest reply 1 {said['office to 小王']}")
    assert text_of(wang.latest("后勤回复了你的建议 #1")).endswith(said["office to 小王"])
    clock.moves_on()
    with acts.anonymous():
        assert "回复已转给建议 #2 的提出人。" in await office.says(f"/suggest reply 2 {said['office to 王芳']}")
    reply = await fang.notice("后勤回复了你的建议 #2")
    assert reply["text"].endswith(said["office to 王芳"])

    # Both answer back; 小王 reads his thread.
    clock.moves_on()
    with acts.anonymous():
        await wang.presses("💬 回复后勤")
        assert "你的回复已转给后勤（建议 #1）。" in await wang.says(said["小王 answers"])
        assert said["office to 小王"] in await wang.says("/suggest 1")
    clock.moves_on()
    with acts.anonymous():
        await fang.presses_payload(reply["buttons"][0][0]["payload"])
        assert "你的回复已转给后勤（建议 #2）。" in await fang.says(said["王芳 answers"])
    await notices_delivered(db)
    assert text_of(office.latest("建议 #2 的提出人（匿名）回复")).endswith(said["王芳 answers"])

    # The office adopts the first and declines the second; both hear it.
    clock.moves_on()
    with acts.anonymous():
        await office.says("/suggest 1")
        await office.presses("✅ 采纳")
        assert "建议 #1 已标记为：已采纳。" in await office.says(said["outcome"])
    assert said["outcome"] in text_of(wang.latest("现在是：已采纳"))
    clock.moves_on()
    with acts.anonymous():
        assert "建议 #2 已标记为：未采纳。" in await office.says("/suggest status 2 declined")
    await fang.notice("现在是：未采纳")

    # Delivered again (Telegram re-sends an update; the page retries a POST): recognised, nothing twice.
    clock.moves_on()
    with acts.anonymous():
        before, pressed = len(wang.chat), len(bot_api.calls_to("answerCallbackQuery"))
        bot_api.redeliver(submitted)
        await bot_api.wait_for(lambda: len(bot_api.calls_to("answerCallbackQuery")) > pressed)
        again = await fang._post({"button": "s0:_submit"}, client_id=fang_submitted)
    assert len(wang.chat) == before and again.duplicate and again.texts == []
    assert await count(db, Suggestion) == 2

    rows = await every_row(db)
    suggesters = [await someone(db, wang), await someone(db, fang)]
    assert traces(rows, suggesters, acts, list(said.values())) == []
    anonymous = [
        r
        for r in rows
        if r.table == "suggestions" or (r.table == "suggestion_messages" and not r.values["from_office"])
    ]
    assert len(anonymous) == 4
    for row in anonymous:
        assert not any(person.named_in(row) for person in suggesters), row.values
        assert to_the_day(row.values.get("created_at") or row.values["at"]), row.values
    assert shared_transactions(rows, suggesters, anonymous) == []

    # Their discreet deliveries are kept under sealed keys, with the day only, naming no dialog; and
    # no column lists 小王's before 王芳's, as they came.
    deliveries = [r for r in rows if r.table == "processed_deliveries"]
    whose: dict[str, int] = {}
    for place, person in enumerate(suggesters):
        raw, sealed = await stored_keys(db, person)
        assert not raw & {r.values["key"] for r in deliveries}
        assert sealed <= {r.values["key"] for r in deliveries}
        whose |= dict.fromkeys(sealed, place)
    theirs = [r for r in deliveries if r.values["key"] in whose]
    assert all(r.values["outcome"] == {"replies": [], "discreet": True} for r in theirs)
    assert all(to_the_day(moment) for r in theirs for moment in times_of(r))
    # (Where PostgreSQL keeps these rows, and which transaction last wrote them, follows when they
    # were handled; they hold nothing to join that to: no person, no dialog, no key, no time.)
    assert orders(theirs, lambda r: whose.get(r.values["key"]), on_disk=False) == []


# --- an anonymous survey -----------------------------------------------------------------------------

SURVEY = """\
title: {zh: 食堂回访, en: Canteen follow-up}
anonymous: true
questions:
  - id: overall
    type: rating
    text: {zh: 满意吗？, en: "Satisfied?"}
  - id: words
    type: text
    required: false
    text: {zh: 还想说什么？, en: "Anything else?"}
""".encode()


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_anonymous_answers_are_tied_to_nobody_by_value_time_transaction_or_order(
    db: Database, bot_api: FakeBotAPI, world: World
) -> None:
    clock, acts = world.clock, world.acts
    admin = TelegramOne(bot_api, db, 7300000201, "林主任")
    await make_staff(db, admin, "admin", department="logistics")
    in_telegram = [
        TelegramOne(bot_api, db, 7300000211 + n, name)
        for n, name in enumerate(("小王", "小李", "小赵", "小孙", "小周"))
    ]
    for one in in_telegram:
        await make_staff(db, one, department="finance")
        one.updates.clear()
    in_browser = [BrowserOne(world.http, key) for key in ("wang.fang", "li.na", "huang.li")]

    clock.moves_on()
    assert "已导入问卷 #1「食堂回访」（匿名" in await admin.sends_file(
        "s.yml", YAML_MIME, SURVEY, caption="/survey import"
    )
    assert "共 8 人，其中 8 人现在能收到邀请" in await admin.says("/survey launch 1 dept:finance 7")

    # Eight people answer, one after another, in a known order, each saying something of their own.
    answering: list[TelegramOne | BrowserOne] = [in_telegram[0], in_browser[0], in_telegram[1], in_browser[1]]
    answering += [in_telegram[2], in_browser[2], *in_telegram[3:]]
    said = [f"第{n}位的心里话：菜{'咸淡甜辣苦酸香鲜'[n]}了" for n in range(len(answering))]
    for n, who in enumerate(answering):
        clock.moves_on(timedelta(minutes=40))
        with acts.anonymous():
            if isinstance(who, TelegramOne):
                await who.presses("📝 填写问卷")
            else:
                invitation = await who.notice("📋 新问卷")
                await who.presses_payload(invitation["buttons"][0][0]["payload"])
            await who.presses("▶ 开始")
            await who.presses(str(1 + n % 5))
            if n == 1:
                # Half answered, kept as a draft under her token: no row of hers was written with it.
                rows = await every_row(db)
                draft = [r for r in rows if r.table == "survey_drafts"]
                assert draft and shared_transactions(rows, [await someone(db, who)], draft) == []
            await who.says(said[n])
            assert "匿名答案已收到" in await who.presses("✔ 提交")
    # While the survey is open too, no row of theirs shares the transaction that wrote their answer.
    rows = await every_row(db)
    answers = [r for r in rows if r.table == "survey_responses"]
    assert shared_transactions(rows, [await someone(db, who) for who in answering], answers) == []

    # The first answers again (it replaces), then the survey closes; copies of two deliveries arrive.
    clock.moves_on()
    with acts.anonymous():
        first = in_telegram[0]
        await first.presses("📝 填写问卷")
        await first.presses("▶ 开始")
        await first.presses("5")
        # Half answered, kept as a draft under his token: no row of his was written with it.
        rows = await every_row(db)
        draft = [r for r in rows if r.table == "survey_drafts"]
        assert draft and shared_transactions(rows, [await someone(db, first)], draft) == []
        await first.says(said[0])
        assert "替换了你之前的答案" in await first.presses("✔ 提交")
    clock.moves_on()
    assert "已结束" in await admin.says("/survey close 1")
    with acts.anonymous():
        pressed = len(bot_api.calls_to("answerCallbackQuery"))
        bot_api.redeliver(first.updates[-1])
        await bot_api.wait_for(lambda: len(bot_api.calls_to("answerCallbackQuery")) > pressed)
        browser = in_browser[0]
        again = await browser._post({"button": "s0:_submit"}, client_id=browser.client_ids[-1])
    assert again.duplicate and again.texts == []
    assert await count(db, SurveyResponse) == 8

    rows = await every_row(db)
    respondents = [await someone(db, who) for who in answering]
    responses = [r for r in rows if r.table == "survey_responses"]
    assert traces(rows, respondents, acts, said) == []
    assert shared_transactions(rows, respondents, responses) == []
    for row in responses:
        assert row.values["person_id"] is None and not any(p.named_in(row) for p in respondents), row.values

    def answered_once_by(row: Row) -> int | None:
        """Whose answer it is, by what they said; not the first's, which moved by answering again."""
        return next((n for n, words in enumerate(said) if words in words_of(row) and n > 0), None)

    assert orders(responses, answered_once_by) == []

    # Every discreet delivery of theirs is kept sealed, with the day only, in no telling order.
    deliveries = [r for r in rows if r.table == "processed_deliveries"]
    whose: dict[str, int] = {}
    for place, person in enumerate(respondents):
        raw, sealed = await stored_keys(db, person)
        assert not raw & {r.values["key"] for r in deliveries}
        assert sealed <= {r.values["key"] for r in deliveries}
        whose |= dict.fromkeys(sealed, place)
    theirs = [r for r in deliveries if r.values["key"] in whose]
    assert all(to_the_day(moment) for r in theirs for moment in times_of(r))
    # (Where PostgreSQL keeps these rows, and which transaction last wrote them, follows when they
    # were handled; they hold nothing to join that to: no person, no dialog, no key, no time.)
    assert orders(theirs, lambda r: whose.get(r.values["key"]), on_disk=False) == []

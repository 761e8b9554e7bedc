"""What each person sees on tapping "/" in Telegram: everyone's menu has no command that would only
refuse them; those who may run more get a menu of their own for their chat, in their language, kept
current as their roles and language change, through python-telegram-bot against the fake Bot API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy import func, select, update

from bot.app import create_app
from bot.service import Service, build_service
from bot.settings import load_settings
from storage.db import Database
from storage.models import ChannelAccount, Department, OutboxMessage, Person, PersonRole, utcnow
from tests.channels import unpaced_telegram
from tests.dialog.admin_people import link_telegram
from tests.dialog.conftest import telegram_settings
from tests.dialog.telegram_person import TelegramPerson, notices_delivered
from tests.dialog.web_person import WebPerson
from tests.fakes.telegram_api import FakeBotAPI

EVERYONE = [
    "start", "repair", "supply", "my", "ticket", "requisition", "requisitions", "survey", "suggest", "link",
    "web", "book", "lang", "help", "cancel",
]  # fmt: skip
ADMIN = [
    "start", "repair", "supply", "my", "ticket", "assign", "requisition", "requisitions", "stock", "survey",
    "suggest", "admin", "role", "org", "audit", "export", "stats", "broadcast", "settings", "scorecard", "link",
    "web", "inspect", "meter", "energy", "book", "lang", "help", "cancel",
]  # fmt: skip
MANAGER = [
    "start", "repair", "supply", "my", "ticket", "assign", "requisition", "requisitions", "delegate", "survey",
    "suggest", "admin", "stats", "broadcast", "scorecard", "link", "web", "inspect", "energy", "book", "lang", "help",
    "cancel",
]  # fmt: skip

TECHNICIAN = [
    "start", "repair", "supply", "my", "ticket", "requisition", "requisitions", "survey", "suggest", "scorecard",
    "link", "web", "inspect", "meter", "book", "lang", "help", "cancel",
]  # fmt: skip


def menu_seen(api: FakeBotAPI, chat_id: int, app_language: str = "zh") -> list[tuple[str, str]]:
    """The menu a person's app shows in their chat, chosen as Telegram chooses: the chat's own (for
    the app's language, then any), else the default one for the app's language, else the default."""
    chat = json.dumps({"chat_id": chat_id, "type": "chat"}, sort_keys=True)
    for key in ((chat, app_language), (chat, None), ("default", app_language), ("default", None)):
        if key in api.commands_by_scope:
            return [(c["command"], c["description"]) for c in api.commands_by_scope[key]]
    return []


def names(menu: list[tuple[str, str]]) -> list[str]:
    return [name for name, _ in menu]


def has_own_menu(api: FakeBotAPI, chat_id: int) -> bool:
    return any(
        scope == json.dumps({"chat_id": chat_id, "type": "chat"}, sort_keys=True) for scope, _ in api.commands_by_scope
    )


def chat_menu_calls(api: FakeBotAPI) -> list[tuple[str, int]]:
    return [
        (name, int(params["scope"]["chat_id"]))
        for name, params in api.calls
        if name in ("setMyCommands", "deleteMyCommands") and (params.get("scope") or {}).get("type") == "chat"
    ]


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Start-up work runs in the background: wait (a bounded while) for what it should end in."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


async def start_houqin(db: Database, api: FakeBotAPI) -> Service:
    service = unpaced_telegram(build_service(telegram_settings(db, api)))
    await service.start()
    return service


@pytest.fixture
def on_telegram(db: Database, bot_api: FakeBotAPI) -> Callable[[int, str], Awaitable[TelegramPerson]]:
    """The demo person `handle` with a Telegram account (made before or after Houqin starts)."""

    def chat_of(user_id: int, name: str) -> TelegramPerson:
        return TelegramPerson(bot_api, db, bot_api.user(user_id, name))

    return lambda user_id, handle: link_telegram(db, chat_of, user_id, handle)


@pytest.fixture
async def houqin(db: Database, bot_api: FakeBotAPI) -> AsyncIterator[Callable[[], Awaitable[Service]]]:
    """Houqin on Telegram, started when the test says (after the accounts it should find exist)."""
    started: list[Service] = []

    async def start() -> Service:
        started.append(await start_houqin(db, bot_api))
        return started[-1]

    yield start
    for service in started:
        await service.stop()


async def test_a_staff_members_chat_shows_no_admin_command_and_an_admins_shows_them(
    bot_api: FakeBotAPI, houqin: Callable[[], Awaitable[Service]], on_telegram: Callable[..., Awaitable[TelegramPerson]]
) -> None:
    admin = await on_telegram(8101, "admin")
    wang = await on_telegram(8102, "wang.fang")  # staff in finance
    await houqin()
    await eventually(lambda: has_own_menu(bot_api, admin.user.chat_id))

    assert names(menu_seen(bot_api, wang.user.chat_id)) == EVERYONE
    assert names(menu_seen(bot_api, wang.user.chat_id, "en")) == EVERYONE
    assert not has_own_menu(bot_api, wang.user.chat_id)
    # Her app's language picks everyone's menu in her words.
    assert menu_seen(bot_api, wang.user.chat_id, "en")[0] == ("start", "Start and show what I can do")

    shown = menu_seen(bot_api, admin.user.chat_id)
    assert names(shown) == ADMIN
    assert ("admin", "管理菜单") in shown and ("stats", "统计与图表") in shown
    # Their own menu, whatever language their app is in: it follows the language Houqin speaks to them.
    assert menu_seen(bot_api, admin.user.chat_id, "en") == shown


async def test_lang_switches_an_admins_chat_menu_to_english(
    bot_api: FakeBotAPI, houqin: Callable[[], Awaitable[Service]], on_telegram: Callable[..., Awaitable[TelegramPerson]]
) -> None:
    await houqin()
    admin = await on_telegram(8111, "admin")
    await admin.says("/role @admin")  # their first words on Telegram: nothing about the menu yet
    await admin.says("/lang")
    assert "speak English" in await admin.presses("English")
    shown = menu_seen(bot_api, admin.user.chat_id, "zh")
    assert names(shown) == ADMIN
    assert ("admin", "Admin menu") in shown and ("start", "Start and show what I can do") in shown

    await admin.says("/lang")
    await admin.presses("中文")
    assert ("admin", "管理菜单") in menu_seen(bot_api, admin.user.chat_id, "en")


async def test_granting_manager_adds_the_managers_commands_and_revoking_restores_the_default(
    bot_api: FakeBotAPI, houqin: Callable[[], Awaitable[Service]], on_telegram: Callable[..., Awaitable[TelegramPerson]]
) -> None:
    await houqin()
    admin = await on_telegram(8121, "admin")
    wang = await on_telegram(8122, "wang.fang")
    assert names(menu_seen(bot_api, wang.user.chat_id)) == EVERYONE

    assert "✅" in await admin.says("/role grant @wang.fang manager finance")
    assert names(menu_seen(bot_api, wang.user.chat_id)) == MANAGER
    assert ("broadcast", "群发通知") in menu_seen(bot_api, wang.user.chat_id)

    # A second department changes nothing she can run: her menu is not sent again.
    calls = len(chat_menu_calls(bot_api))
    await admin.says("/role grant @wang.fang manager hr")
    assert len(chat_menu_calls(bot_api)) == calls

    await admin.says("/role revoke @wang.fang manager")
    assert not has_own_menu(bot_api, wang.user.chat_id)
    assert names(menu_seen(bot_api, wang.user.chat_id)) == EVERYONE
    assert chat_menu_calls(bot_api)[-1] == ("deleteMyCommands", wang.user.chat_id)

    # A technician's menu adds only their own scorecard; a second specialty changes nothing, costs no call.
    await admin.says("/role grant @wang.fang technician electrical")
    assert names(menu_seen(bot_api, wang.user.chat_id)) == TECHNICIAN
    calls = len(chat_menu_calls(bot_api))
    await admin.says("/role grant @wang.fang technician plumbing")
    assert len(chat_menu_calls(bot_api)) == calls


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_an_org_import_that_makes_someone_a_manager_gives_them_its_menu_in_their_language(
    bot_api: FakeBotAPI, houqin: Callable[[], Awaitable[Service]], on_telegram: Callable[..., Awaitable[TelegramPerson]]
) -> None:
    await houqin()
    admin = await on_telegram(8131, "admin")
    wang = await on_telegram(8132, "wang.fang")
    people = "handle,name,department,roles,locale\nwang.fang,王芳,finance,staff;manager:finance,en\n"
    assert "全部检查通过" in await admin.sends_file("people.csv", "text/csv", people.encode(), caption="/org import")
    assert "已导入人员" in await admin.presses("✔")
    shown = menu_seen(bot_api, wang.user.chat_id)
    assert names(shown) == MANAGER
    assert ("stats", "Statistics and a chart") in shown


async def test_a_new_default_language_rewords_the_menus_of_those_who_chose_none(
    db: Database, bot_api: FakeBotAPI, houqin: Callable[[], Awaitable[Service]],
    on_telegram: Callable[..., Awaitable[TelegramPerson]],
) -> None:  # fmt: skip
    huang = await on_telegram(8151, "huang.li")  # finance's manager, who never picked a language
    async with db.unit_of_work() as session:
        await session.execute(update(Person).where(Person.handle == "huang.li").values(locale=None))
    await houqin()
    await eventually(lambda: ("admin", "管理菜单") in menu_seen(bot_api, huang.user.chat_id))
    admin = await on_telegram(8152, "admin")
    assert "✅" in await admin.says("/settings default_language en")
    await notices_delivered(db)
    shown = menu_seen(bot_api, huang.user.chat_id)
    assert names(shown) == MANAGER and ("admin", "Admin menu") in shown


async def test_a_role_granted_in_the_browser_reaches_the_telegram_process(
    db: Database, bot_api: FakeBotAPI, houqin: Callable[[], Awaitable[Service]],
    on_telegram: Callable[..., Awaitable[TelegramPerson]],
) -> None:  # fmt: skip
    """Two processes: one serves the browser chat only, the other Telegram; the grant made in the
    first reaches the second through the database, not through memory."""
    await houqin()
    wang = await on_telegram(8141, "wang.fang")
    browser = build_service(load_settings(database_url=db.url, demo_mode=True, web_enabled=True, telegram_bot_token=""))
    assert browser.channel("telegram") is None
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(browser)), base_url="http://houqin.test"
    ) as http:
        assert "✅" in (await WebPerson(http, "admin").says("/role grant @wang.fang manager finance")).text
    await browser.db.dispose()
    await notices_delivered(db)
    assert names(menu_seen(bot_api, wang.user.chat_id)) == MANAGER


async def menu_refreshes(db: Database) -> int:
    async with db.unit_of_work() as session:
        found = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.card_key == "menu")
        )
    return int(found or 0)


async def test_at_start_every_managers_menu_is_set_once_and_a_restart_sends_none_again(
    db: Database, bot_api: FakeBotAPI
) -> None:
    managers = 40
    async with db.unit_of_work() as session:
        finance = await session.scalar(select(Department).where(Department.code == "finance"))
        assert finance is not None
        for n in range(managers):
            person = Person(display_name=f"经理{n}", handle=f"manager.{n}", department_id=finance.id)
            person.roles.extend([PersonRole(role="staff"), PersonRole(role="manager", scope="finance")])
            session.add(person)
            session.add(
                ChannelAccount(
                    person=person, channel="telegram", external_id=str(9000 + n), address=str(9000 + n),
                    last_seen_at=utcnow(),
                )
            )  # fmt: skip
            bot_api.user(9000 + n, f"经理{n}")
    loop = asyncio.get_running_loop()
    began = loop.time()
    first = await start_houqin(db, bot_api)
    try:
        assert loop.time() - began < 5, "start-up does not wait for the menus"
        await eventually(lambda: len(chat_menu_calls(bot_api)) == managers, timeout=30)
        took = loop.time() - began
        await notices_delivered(db)  # each marked done, so the restart's checks are not held back
    finally:
        await first.stop()
    assert sorted(chat for _, chat in chat_menu_calls(bot_api)) == [9000 + n for n in range(managers)]
    assert all(names(menu_seen(bot_api, 9000 + n)) == MANAGER for n in range(managers))
    print(f"{managers} managers' menus set {took:.2f} s after start")

    second = await start_houqin(db, bot_api)
    try:
        async with asyncio.timeout(10):
            while True:
                if await menu_refreshes(db) == 2 * managers:  # each is checked again after the restart...
                    break
                await asyncio.sleep(0.02)
        await notices_delivered(db)
    finally:
        await second.stop()
    assert len(chat_menu_calls(bot_api)) == managers  # ...and none of them needed sending again

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bot.app import create_app
from bot.channels.pacing import Pacer
from bot.service import Service, build_service
from bot.settings import Settings, load_settings
from storage.db import Database
from tests.channels import dingtalk_of, feishu_of, slack_of, telegram_of, unpaced_telegram, wecom_of
from tests.dialog.dingtalk_person import DingTalkPerson, DingTalkWorld
from tests.dialog.feishu_person import FeishuPerson, FeishuWorld
from tests.dialog.slack_person import SIGNING_SECRET, SlackPerson, SlackWorld
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.web_person import WebPerson
from tests.dialog.wecom_person import WeComPerson, WeComWorld
from tests.fakes.dingtalk_api import FakeDingTalk
from tests.fakes.feishu_api import ENCRYPT_KEY, VERIFICATION_TOKEN, FakeFeishu
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.wecom_api import ENCODING_AES_KEY, TOKEN, FakeWeCom

# How long Slack, Feishu and DingTalk worlds wait for the core before answering "loading" (their
# platforms give 3 s, so the channels wait 2.5). A conversation here is about what is said, and on a
# busy machine a step that parses a file in a child process can pass 2.5 s: the late path has tests
# of its own (ack_within = 0).
UNHURRIED = 30.0


@pytest.fixture
async def web_service(db: Database) -> AsyncIterator[Service]:
    settings = load_settings(database_url=db.url, demo_mode=True, web_enabled=True, telegram_bot_token="")
    service = build_service(settings)
    yield service
    await service.db.dispose()


@pytest.fixture
async def web_client(web_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(web_service))
    async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as client:
        yield client


@pytest.fixture
def person(web_client: httpx.AsyncClient) -> Callable[[str], WebPerson]:
    """Someone from the demo organisation, chatting in the browser."""
    return lambda key: WebPerson(web_client, key)


def telegram_settings(db: Database, api: FakeBotAPI, **overrides: object) -> Settings:
    return load_settings(
        database_url=db.url,
        telegram_bot_token=api.token,
        telegram_api_base_url=api.base_url.removesuffix("/bot"),
        web_enabled=False,
        # Unknown accounts write first and become staff, as these conversations always assumed; the
        # membership tests (test_membership_*.py) say invite or directory themselves.
        **({"access_policy": "open"} | overrides),
    )


async def telegram_running(service: Service) -> AsyncIterator[Service]:
    """The service started, polling the fake Bot API with its command menus set, until the test ends.
    Notices go out unpaced: a conversation here is about what is said (pacing has its own tests, and
    the Slack worlds below do the same)."""
    unpaced_telegram(service)
    await service.start()
    await telegram_of(service).menus_queued()
    yield service
    await service.stop()


@pytest.fixture
async def telegram(db: Database, bot_api: FakeBotAPI) -> AsyncIterator[Service]:
    """Houqin polling the fake Bot API, as `houqin run` does with a token set."""
    async for service in telegram_running(build_service(telegram_settings(db, bot_api))):
        yield service


@pytest.fixture
def telegram_user(db: Database, bot_api: FakeBotAPI, telegram: Service) -> Callable[..., TelegramPerson]:
    def make(user_id: int, first_name: str, language_code: str | None = "zh-hans") -> TelegramPerson:
        return TelegramPerson(bot_api, db, bot_api.user(user_id, first_name, language_code))

    return make


# --- Slack: Bolt's request handling in Houqin's ASGI app, its Web API client on a fake Slack ----


def slack_settings(db: Database, api: FakeSlackAPI, **overrides: object) -> Settings:
    given: dict[str, object] = {
        "database_url": db.url,
        "slack_bot_token": api.token,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_base_url": api.base_url,
        "web_enabled": False,
        "admins": "slack:UADMIN",
        "access_policy": "open",  # as telegram_settings
    }
    return load_settings(**(given | overrides))


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackAPI]:
    async with FakeSlackAPI() as api:
        yield api


async def slack_world_for(service: Service, api: FakeSlackAPI, db: Database) -> AsyncIterator[SlackWorld]:
    slack = slack_of(service)
    slack.outbound.pacer = Pacer(1000, chat_interval=0)  # pacing has its own tests
    slack.ack_within = UNHURRIED
    if service.channel("telegram") is not None:
        unpaced_telegram(service)
    await service.start()
    if service.channel("telegram") is not None:
        await telegram_of(service).menus_queued()
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as http:
        channels = ("slack", "telegram") if service.channel("telegram") is not None else ("slack",)
        yield SlackWorld(http, api, slack, db, channels)
    await service.stop()


@pytest.fixture
async def slack_world(db: Database, slack_api: FakeSlackAPI) -> AsyncIterator[SlackWorld]:
    """Houqin with Slack on (HTTP mode), as `houqin run` does with Slack's tokens set."""
    async for world in slack_world_for(build_service(slack_settings(db, slack_api)), slack_api, db):
        yield world


@pytest.fixture
def slack_user(slack_world: SlackWorld) -> Callable[..., SlackPerson]:
    def make(user_id: str, name: str, locale: str = "zh-CN") -> SlackPerson:
        return SlackPerson.of(slack_world, user_id, name, locale)

    return make


@pytest.fixture
async def both_worlds(db: Database, slack_api: FakeSlackAPI, bot_api: FakeBotAPI) -> AsyncIterator[SlackWorld]:
    """Slack and Telegram on at once, as one Houqin."""
    settings = slack_settings(
        db, slack_api, telegram_bot_token=bot_api.token, telegram_api_base_url=bot_api.base_url.removesuffix("/bot")
    )
    async for world in slack_world_for(build_service(settings), slack_api, db):
        yield world


@pytest.fixture
async def slack_office(db: Database, slack_api: FakeSlackAPI) -> AsyncIterator[SlackWorld]:
    """Slack with the browser chat beside it (demo mode): the demo organisation's people have a
    browser account, and join their Slack account to it with a link code as they would."""
    settings = slack_settings(db, slack_api, web_enabled=True, demo_mode=True)
    async for world in slack_world_for(build_service(settings), slack_api, db):
        yield world


@pytest.fixture
async def slack_office_and_telegram(
    db: Database, slack_api: FakeSlackAPI, bot_api: FakeBotAPI
) -> AsyncIterator[SlackWorld]:
    """As slack_office, with Telegram on too: one Houqin, three channels."""
    async for world in slack_world_for(office_with(db, slack_api, bot_api, "open"), slack_api, db):
        yield world


def office_with(db: Database, slack_api: FakeSlackAPI, bot_api: FakeBotAPI, policy: str) -> Service:
    """The demo organisation (its people in the browser chat) with Slack and Telegram beside it."""
    settings = slack_settings(
        db,
        slack_api,
        web_enabled=True,
        demo_mode=True,
        telegram_bot_token=bot_api.token,
        telegram_api_base_url=bot_api.base_url.removesuffix("/bot"),
        access_policy=policy,
    )
    return build_service(settings)


@pytest.fixture
async def members_only(db: Database, slack_api: FakeSlackAPI, bot_api: FakeBotAPI) -> AsyncIterator[SlackWorld]:
    """office_with ACCESS_POLICY=invite: an account nobody added is turned away (test_membership_*.py)."""
    async for world in slack_world_for(office_with(db, slack_api, bot_api, "invite"), slack_api, db):
        yield world


@pytest.fixture
async def directory_world(db: Database, slack_api: FakeSlackAPI, bot_api: FakeBotAPI) -> AsyncIterator[SlackWorld]:
    """office_with ACCESS_POLICY=directory: the Slack workspace decides; Telegram invites."""
    async for world in slack_world_for(office_with(db, slack_api, bot_api, "directory"), slack_api, db):
        yield world


# --- Feishu: events encrypted and signed into Houqin's ASGI app, its SDK on a fake Open Platform ----


def feishu_settings(db: Database, api: FakeFeishu, **overrides: object) -> Settings:
    given: dict[str, object] = {
        "database_url": db.url,
        "feishu_app_id": api.app_id,
        "feishu_app_secret": api.app_secret,
        "feishu_mode": "webhook",
        "feishu_encrypt_key": ENCRYPT_KEY,
        "feishu_verification_token": VERIFICATION_TOKEN,
        "feishu_api_base_url": api.base_url,
        "web_enabled": False,
        "admins": "feishu:ou_admin",
        "feishu_directory_sync": False,  # the directory tests say when (test_feishu_directory.py)
        "access_policy": "open",  # as telegram_settings
    }
    return load_settings(**(given | overrides))


@pytest.fixture
async def feishu_api() -> AsyncIterator[FakeFeishu]:
    async with FakeFeishu() as api:
        yield api


async def feishu_world_for(service: Service, api: FakeFeishu, db: Database) -> AsyncIterator[FeishuWorld]:
    feishu = feishu_of(service)
    feishu.pacer = Pacer(1000, chat_interval=0)  # pacing has its own tests
    feishu.ack_within = UNHURRIED
    await service.start()
    if service.settings.feishu_webhook:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as http:
            yield FeishuWorld(api, feishu, db, http)
    else:
        await asyncio.wait_for(api.connected.wait(), timeout=20)
        yield FeishuWorld(api, feishu, db)
    await service.stop()


@pytest.fixture
async def feishu_world(db: Database, feishu_api: FakeFeishu) -> AsyncIterator[FeishuWorld]:
    """Houqin with Feishu on in webhook mode, as `houqin run` does with FEISHU_* set."""
    async for world in feishu_world_for(build_service(feishu_settings(db, feishu_api)), feishu_api, db):
        yield world


@pytest.fixture
def feishu_user(feishu_world: FeishuWorld) -> Callable[..., FeishuPerson]:
    return lambda open_id, name: FeishuPerson.of(feishu_world, open_id, name)


# --- DingTalk: the robot's messages signed into Houqin's ASGI app (or over the Stream), a fake platform ----


def dingtalk_settings(db: Database, api: FakeDingTalk, **overrides: object) -> Settings:
    given: dict[str, object] = {
        "database_url": db.url,
        "dingtalk_client_id": api.client_id,
        "dingtalk_client_secret": api.client_secret,
        "dingtalk_mode": "webhook",
        "dingtalk_api_base_url": api.base_url,
        "web_enabled": False,
        "admins": "dingtalk:admin01",
        "dingtalk_directory_sync": False,  # the directory tests say when (test_dingtalk_directory.py)
        "access_policy": "open",  # as telegram_settings
    }
    return load_settings(**(given | overrides))


@pytest.fixture
async def dingtalk_api() -> AsyncIterator[FakeDingTalk]:
    async with FakeDingTalk() as api:
        yield api


async def dingtalk_world_for(service: Service, api: FakeDingTalk, db: Database) -> AsyncIterator[DingTalkWorld]:
    dingtalk = dingtalk_of(service)
    dingtalk.pacer = Pacer(1000, chat_interval=0)  # pacing has its own tests
    dingtalk.ack_within = UNHURRIED
    await service.start()
    if service.settings.dingtalk_webhook:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as http:
            yield DingTalkWorld(api, dingtalk, db, http)
    else:
        await asyncio.wait_for(api.connected.wait(), timeout=20)
        yield DingTalkWorld(api, dingtalk, db)
    await service.stop()


@pytest.fixture
async def dingtalk_world(db: Database, dingtalk_api: FakeDingTalk) -> AsyncIterator[DingTalkWorld]:
    """Houqin with DingTalk on in webhook mode, as `houqin run` does with DINGTALK_MODE=webhook."""
    async for world in dingtalk_world_for(build_service(dingtalk_settings(db, dingtalk_api)), dingtalk_api, db):
        yield world


@pytest.fixture
def dingtalk_user(dingtalk_world: DingTalkWorld) -> Callable[..., DingTalkPerson]:
    return lambda user_id, name: DingTalkPerson.of(dingtalk_world, user_id, name)


# --- WeCom: callbacks encrypted and signed into Houqin's ASGI app, its API on a fake WeCom ----------


def wecom_settings(db: Database, api: FakeWeCom, **overrides: object) -> Settings:
    given: dict[str, object] = {
        "database_url": db.url,
        "wecom_corp_id": api.corp_id,
        "wecom_agent_id": api.agent_id,
        "wecom_secret": api.secret,
        "wecom_token": TOKEN,
        "wecom_encoding_aes_key": ENCODING_AES_KEY,
        "wecom_api_base_url": api.base_url,
        "web_enabled": False,
        "admins": "wecom:admin",
        "wecom_directory_sync": False,  # the directory tests say when (test_wecom_directory.py)
        "access_policy": "open",  # as telegram_settings
    }
    return load_settings(**(given | overrides))


@pytest.fixture
async def wecom_api() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom() as api:
        yield api


async def wecom_world_for(service: Service, api: FakeWeCom, db: Database) -> AsyncIterator[WeComWorld]:
    wecom = wecom_of(service)
    wecom.pacer = Pacer(1000, chat_interval=0)  # pacing has its own tests
    await service.start()
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as http:
        yield WeComWorld(api, wecom, db, http)
    await service.stop()


@pytest.fixture
async def wecom_world(db: Database, wecom_api: FakeWeCom) -> AsyncIterator[WeComWorld]:
    """Houqin with WeCom on, as `houqin run` does with WECOM_* set."""
    async for world in wecom_world_for(build_service(wecom_settings(db, wecom_api)), wecom_api, db):
        yield world


@pytest.fixture
def wecom_user(wecom_world: WeComWorld) -> Callable[..., WeComPerson]:
    return lambda userid, name: WeComPerson.of(wecom_world, userid, name)

"""`houqin doctor` on day one: green when the database, Telegram, Slack, PUBLIC_URL, fonts, clock, access
and disk are right — against the platforms' test doubles — and red, on the right line with what to do,
when one is not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from bot.app import create_app
from bot.cli import examine
from bot.service import build_service
from bot.settings import Settings, load_settings
from handlers.core import charts
from storage.db import Database
from tests.fakes.in_loop_server import InLoopServer
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeBotAPI


@pytest.fixture
async def public_houqin(db: Database) -> AsyncIterator[str]:
    """A Houqin answering on a real port, as PUBLIC_URL would reach it (its /healthz)."""
    service = build_service(load_settings(database_url=db.url, web_enabled=False, jobs_enabled=False))
    # Port 0: the system's choice, read back once it listens (no window for another to take it).
    server = InLoopServer(uvicorn.Config(create_app(service), host="127.0.0.1", port=0, log_level="warning"))
    port = await server.start("Houqin.serve")
    yield f"http://127.0.0.1:{port}"
    await server.stop()
    await service.db.dispose()


@pytest.fixture(autouse=True)
def a_machine_with_chinese_fonts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own fonts are test_charts' to check; here one is given, so each verdict depends only on
    what the test changes (make check runs on machines that have not installed fonts-noto-cjk)."""
    monkeypatch.setattr(charts, "font_families", lambda: (charts.CJK_FAMILIES[0], "DejaVu Sans"))


def configured(db: Database, bot_api: FakeBotAPI, slack_api: FakeSlackAPI, public: str, **changed: object) -> Settings:
    return load_settings(
        **{
            "database_url": db.url,
            "telegram_bot_token": bot_api.token,
            "telegram_api_base_url": bot_api.base_url.removesuffix("/bot"),
            "slack_bot_token": slack_api.token,
            "slack_signing_secret": "s",
            "slack_api_base_url": slack_api.base_url,
            "public_url": public,
            "admins": "telegram:1",
            "access_policy": "invite",
        }
        | changed
    )


async def test_all_green_against_the_platforms_doubles(
    db: Database, bot_api: FakeBotAPI, slack_api: FakeSlackAPI, public_houqin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await examine(configured(db, bot_api, slack_api, public_houqin)) == 0
    said = capsys.readouterr().out
    for line in (
        "✓ database",
        "reachable and migrated",
        "✓ telegram",
        "token answers: @houqin_test_bot",
        "✓ slack",
        "✓ PUBLIC_URL",
        "/healthz answered 200",
        "✓ chart fonts",
        "✓ time zone",
        "Asia/Shanghai",
        "✓ access",
        "ACCESS_POLICY=invite",
    ):
        assert line in said, said
    assert ("✓ disk (database)" in said) == db.url.startswith("sqlite")  # PostgreSQL's disk is its server's
    assert "✗" not in said and said.rstrip().endswith("checks pass.")


async def test_each_problem_is_red_on_its_own_line_with_what_to_do(
    db: Database,
    bot_api: FakeBotAPI,
    slack_api: FakeSlackAPI,
    public_houqin: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong_token = configured(db, bot_api, slack_api, public_houqin, telegram_bot_token="123456:WRONG")
    assert await examine(wrong_token) == 1
    said = capsys.readouterr().out
    assert "✗ telegram" in said and "getMe refused the token: Unauthorized" in said
    assert "→ check TELEGRAM_BOT_TOKEN (from @BotFather)" in said and "✓ slack" in said

    # A database nobody has migrated yet.
    unmigrated = configured(
        db, bot_api, slack_api, public_houqin, database_url=f"sqlite+aiosqlite:///{tmp_path}/new.db"
    )
    assert await examine(unmigrated) == 1
    said = capsys.readouterr().out
    assert "✗ database" in said and "→ run `houqin migrate`" in said

    # A machine without Chinese fonts: the charts would show boxes.
    monkeypatch.setattr(charts, "font_families", lambda: ("DejaVu Sans",))
    assert await examine(configured(db, bot_api, slack_api, public_houqin)) == 1
    said = capsys.readouterr().out
    assert "✗ chart fonts" in said and "→ apt-get install fonts-noto-cjk" in said
    assert [line.split()[1:3] for line in said.splitlines() if line.startswith("✗")] == [["chart", "fonts"]]


async def test_feishu_credentials_and_the_contact_scope_are_checked(
    db: Database, bot_api: FakeBotAPI, slack_api: FakeSlackAPI, public_houqin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.feishu_api import FakeFeishu

    async with FakeFeishu() as fake:
        feishu = {"feishu_app_id": fake.app_id, "feishu_app_secret": fake.app_secret}
        feishu["feishu_api_base_url"] = fake.base_url
        assert await examine(configured(db, bot_api, slack_api, public_houqin, **feishu)) == 0
        said = capsys.readouterr().out
        assert "✓ feishu" in said and f"app {fake.app_id} answers (long_connection)" in said
        assert "✓ feishu directory" in said

        wrong = feishu | {"feishu_app_secret": "not-the-secret"}
        assert await examine(configured(db, bot_api, slack_api, public_houqin, **wrong)) == 1
        said = capsys.readouterr().out
        assert "✗ feishu" in said and "the app's credentials were refused: 10014" in said
        assert "→ check FEISHU_APP_ID and FEISHU_APP_SECRET" in said


async def test_dingtalk_credentials_and_the_contacts_permission_are_checked(
    db: Database, bot_api: FakeBotAPI, slack_api: FakeSlackAPI, public_houqin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.dingtalk_api import FakeDingTalk

    async with FakeDingTalk() as fake:
        dingtalk = {"dingtalk_client_id": fake.client_id, "dingtalk_client_secret": fake.client_secret}
        dingtalk["dingtalk_api_base_url"] = fake.base_url
        assert await examine(configured(db, bot_api, slack_api, public_houqin, **dingtalk)) == 0
        said = capsys.readouterr().out
        assert "✓ dingtalk" in said and f"app {fake.client_id} answers (stream)" in said
        assert "✓ dingtalk directory" in said

        wrong = dingtalk | {"dingtalk_client_secret": "not-the-secret"}
        assert await examine(configured(db, bot_api, slack_api, public_houqin, **wrong)) == 1
        said = capsys.readouterr().out
        assert "✗ dingtalk" in said and "the app's credentials were refused: invalidClientIdOrSecret" in said
        assert "→ check DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET" in said


async def test_wecom_credentials_and_the_directory_are_checked(
    db: Database, bot_api: FakeBotAPI, slack_api: FakeSlackAPI, public_houqin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.wecom_api import ENCODING_AES_KEY, TOKEN, FakeWeCom

    async with FakeWeCom() as fake:
        wecom: dict[str, object] = {"wecom_corp_id": fake.corp_id, "wecom_agent_id": fake.agent_id}
        wecom |= {"wecom_secret": fake.secret, "wecom_token": TOKEN, "wecom_encoding_aes_key": ENCODING_AES_KEY}
        wecom["wecom_api_base_url"] = fake.base_url
        assert await examine(configured(db, bot_api, slack_api, public_houqin, **wecom)) == 0
        said = capsys.readouterr().out
        assert "✓ wecom" in said and f"app {fake.agent_id} of {fake.corp_id} answers" in said
        assert "✓ wecom directory" in said and "1 departments visible to the app" in said

        wrong = wecom | {"wecom_secret": "not-the-secret"}
        assert await examine(configured(db, bot_api, slack_api, public_houqin, **wrong)) == 1
        said = capsys.readouterr().out
        assert "✗ wecom" in said and "gettoken was refused: 40001" in said
        assert "→ check WECOM_CORP_ID and WECOM_SECRET" in said

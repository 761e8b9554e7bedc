"""Settings: a missing or malformed one stops start-up with one line that names it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.service import admission, build_service
from bot.settings import AccessPolicy, SettingsError, TelegramMode, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Neither the developer's .env nor their shell may leak into what these tests see.
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(
            ("TELEGRAM_", "DATABASE_", "WEB_", "DEMO_", "HTTP_", "DEFAULT_", "TIMEZONE", "ADMINS", "ACCESS_")
        ):
            monkeypatch.delenv(name)


def test_defaults_run_on_sqlite_with_telegram_off() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///./var/houqin.db"
    assert settings.telegram_enabled is False and settings.telegram_mode is TelegramMode.POLLING
    assert (settings.default_locale, settings.timezone, settings.http_port) == ("zh_CN", "Asia/Shanghai", 8080)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        (
            "DATABASE_URL",
            "mysql://root@localhost/houqin",
            "DATABASE_URL is invalid: must be a sqlite:/// or postgresql://",
        ),
        ("TIMEZONE", "Mars/Olympus", "TIMEZONE is invalid: is not an IANA time zone"),
        ("DEFAULT_LOCALE", "fr", "DEFAULT_LOCALE is invalid: must be one of zh_CN, en"),
        ("HTTP_PORT", "eighty", "HTTP_PORT is invalid"),
        ("HTTP_PORT", "70000", "HTTP_PORT is invalid"),
        ("TELEGRAM_MODE", "carrier-pigeon", "TELEGRAM_MODE is invalid"),
        ("TELEGRAM_API_BASE_URL", "api.telegram.org", "TELEGRAM_API_BASE_URL is invalid: must be an http"),
        ("ADMINS", "telegram:1,fax:2", "ADMINS is invalid: entry 'fax:2' should look like telegram:123"),
        ("WEB_ENABLED", "perhaps", "WEB_ENABLED is invalid"),
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces in it", "TELEGRAM_WEBHOOK_SECRET is invalid"),
        (
            "ACCESS_POLICY",
            "everyone",
            "ACCESS_POLICY is invalid: Input should be 'invite', 'open' or 'directory'",
        ),
    ],
)
def test_a_malformed_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(says)


def test_access_policy_is_invite_unless_demo_mode_or_said(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().access is AccessPolicy.INVITE
    assert load_settings(demo_mode=True).access is AccessPolicy.OPEN
    monkeypatch.setenv("ACCESS_POLICY", "")  # as .env.example leaves it: the default
    assert load_settings().access is AccessPolicy.INVITE
    monkeypatch.setenv("ACCESS_POLICY", "Directory")
    assert load_settings(demo_mode=True).access is AccessPolicy.DIRECTORY
    # Who becomes a member by writing: anyone, nobody, or Slack's workspace and Feishu's tenant
    # (Telegram has no directory).
    assert admission(AccessPolicy.OPEN).admits("telegram")
    assert not admission(AccessPolicy.INVITE).admits("slack")
    directory = admission(AccessPolicy.DIRECTORY)
    assert directory.admits("slack") and not directory.admits("telegram") and not directory.admits("web")
    assert directory.admits("feishu") and directory.admits("dingtalk") and directory.admits("wecom")
    assert directory.directories == frozenset({"slack", "feishu", "dingtalk", "wecom"})


def test_dingtalk_is_on_with_its_client_id_in_stream_mode_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not load_settings().dingtalk_enabled
    monkeypatch.setenv("DINGTALK_CLIENT_ID", "dingabc123")
    with pytest.raises(SettingsError, match="DINGTALK_CLIENT_SECRET"):
        load_settings()
    monkeypatch.setenv("DINGTALK_CLIENT_SECRET", "s3cret")
    settings = load_settings()
    assert settings.dingtalk_enabled and not settings.dingtalk_webhook
    # The robot code is the AppKey unless the console gave another; the legacy API beside the real one.
    assert settings.dingtalk_robot == "dingabc123" and settings.dingtalk_oapi == "https://oapi.dingtalk.com"
    monkeypatch.setenv("DINGTALK_MODE", "webhook")
    monkeypatch.setenv("DINGTALK_ROBOT_CODE", "dingrobot9")
    monkeypatch.setenv("DINGTALK_API_BASE_URL", "http://127.0.0.1:9/")
    settings = load_settings()
    assert settings.dingtalk_webhook and settings.dingtalk_robot == "dingrobot9"
    # A test double (or proxy) serves both APIs.
    assert settings.dingtalk_oapi == "http://127.0.0.1:9"
    monkeypatch.setenv("DINGTALK_API_BASE_URL", "https://api.dingtalk.com/v1.0")
    with pytest.raises(SettingsError, match="without a path"):
        load_settings()


def test_wecom_is_on_with_its_corp_id_and_needs_the_app_and_its_callback_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not load_settings().wecom_enabled
    monkeypatch.setenv("WECOM_CORP_ID", "ww0123456789abcdef")
    monkeypatch.setenv("WECOM_AGENT_ID", "")  # as .env.example leaves it
    with pytest.raises(SettingsError, match="WECOM_AGENT_ID, WECOM_SECRET, WECOM_TOKEN, WECOM_ENCODING_AES_KEY are"):
        load_settings()
    monkeypatch.setenv("WECOM_AGENT_ID", "1000002")
    monkeypatch.setenv("WECOM_SECRET", "s3cret")
    monkeypatch.setenv("WECOM_TOKEN", "t0ken")
    monkeypatch.setenv("WECOM_ENCODING_AES_KEY", "too-short")
    with pytest.raises(SettingsError, match="WECOM_ENCODING_AES_KEY is invalid: must be the 43 characters"):
        load_settings()
    monkeypatch.setenv("WECOM_ENCODING_AES_KEY", "a" * 43)
    settings = load_settings()
    assert settings.wecom_enabled and settings.wecom_agent_id == 1000002
    assert settings.wecom_api_base_url == "https://qyapi.weixin.qq.com"
    # A private deployment (政务微信) is another origin; a path is a mistake.
    monkeypatch.setenv("WECOM_API_BASE_URL", "https://wecom.gov.example/cgi-bin")
    with pytest.raises(SettingsError, match="WECOM_API_BASE_URL is invalid: must be an origin"):
        load_settings()
    monkeypatch.setenv("ADMINS", "wecom:ZhangSan")
    monkeypatch.setenv("WECOM_API_BASE_URL", "https://wecom.gov.example")
    assert load_settings().admin_accounts[0].channel == "wecom"


def test_feishu_is_on_with_its_app_and_webhook_mode_needs_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not load_settings().feishu_enabled
    monkeypatch.setenv("FEISHU_APP_ID", "cli_a1b2")
    with pytest.raises(SettingsError, match="FEISHU_APP_SECRET is required"):
        load_settings()
    monkeypatch.setenv("FEISHU_APP_SECRET", "s3cret")
    settings = load_settings()
    # The long connection by default: no public URL, nothing to verify.
    assert settings.feishu_enabled and not settings.feishu_webhook
    assert settings.feishu_api_base_url == "https://open.feishu.cn"
    monkeypatch.setenv("FEISHU_MODE", "webhook")
    with pytest.raises(SettingsError, match="FEISHU_ENCRYPT_KEY and FEISHU_VERIFICATION_TOKEN are required"):
        load_settings()
    monkeypatch.setenv("FEISHU_ENCRYPT_KEY", "k")
    monkeypatch.setenv("FEISHU_VERIFICATION_TOKEN", "t")
    assert load_settings().feishu_webhook
    monkeypatch.setenv("FEISHU_API_BASE_URL", "https://open.larksuite.com/open-apis")
    with pytest.raises(SettingsError, match="FEISHU_API_BASE_URL is invalid: must be an origin"):
        load_settings()


def test_webhook_mode_needs_its_url_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_MODE", "webhook")
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_SECRET is required"):
        load_settings()
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret")
    with pytest.raises(SettingsError, match="TELEGRAM_WEBHOOK_URL is required"):
        load_settings()


def test_urls_people_paste_are_taken_with_the_async_drivers() -> None:
    assert load_settings(database_url="postgresql://u@db/houqin").database_url == "postgresql+asyncpg://u@db/houqin"
    assert load_settings(database_url="sqlite:///./x.db").database_url == "sqlite+aiosqlite:///./x.db"


def test_settings_come_from_a_dot_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DEFAULT_LOCALE=en\nADMINS=telegram:42, slack:U1\n")
    settings = load_settings()
    assert settings.default_locale == "en"
    assert [(a.channel, a.external_id) for a in settings.admin_accounts] == [("telegram", "42"), ("slack", "U1")]


async def test_a_channel_without_its_token_is_off_and_the_log_says_so(caplog: pytest.LogCaptureFixture) -> None:
    service = build_service(load_settings(database_url="sqlite+aiosqlite:///:memory:", demo_mode=True))
    assert service.channel("telegram") is None and service.channel("web") is not None
    with caplog.at_level(logging.INFO, logger="houqin"):
        await service.start()
        await service.stop()
    assert "channels running: web" in caplog.text
    assert "channels off: telegram, slack" in caplog.text


def test_jobs_run_in_every_process_unless_jobs_enabled_says_not() -> None:
    memory = "sqlite+aiosqlite:///:memory:"
    assert build_service(load_settings(database_url=memory, jobs_enabled=True)).jobs is not None
    assert build_service(load_settings(database_url=memory, jobs_enabled=False)).jobs is None


def test_the_browser_chat_stays_off_outside_demo_mode() -> None:
    assert build_service(load_settings(database_url="sqlite+aiosqlite:///:memory:")).channel("web") is None


@pytest.mark.subprocess  # runs `houqin`
def test_houqin_run_with_a_bad_setting_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "TIMEZONE": "Atlantis/Capital"}
    houqin = Path(sys.executable).with_name("houqin")
    result = subprocess.run([str(houqin), "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["houqin: TIMEZONE is invalid: is not an IANA time zone such as Asia/Shanghai"]


@pytest.mark.subprocess  # runs `houqin`
def test_houqin_run_on_a_database_never_migrated_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}
    houqin = Path(sys.executable).with_name("houqin")
    result = subprocess.run([str(houqin), "demo"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["houqin: the database schema is not up to date: run `houqin migrate` first"]


@pytest.mark.subprocess  # runs `houqin`
def test_houqin_run_with_an_unreachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/houqin"}
    houqin = Path(sys.executable).with_name("houqin")
    result = subprocess.run([str(houqin), "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("houqin: cannot reach the database (")


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"slack_signing_secret": "s"}, "SLACK_BOT_TOKEN is required"),
        ({"slack_app_token": "xapp-1"}, "SLACK_BOT_TOKEN is required"),
        ({"slack_bot_token": "xoxb-1"}, "SLACK_SIGNING_SECRET is required"),
        ({"slack_bot_token": "xoxp-1", "slack_signing_secret": "s"}, "SLACK_BOT_TOKEN is invalid"),
        ({"slack_bot_token": "xoxb-1", "slack_app_token": "xoxb-2"}, "SLACK_APP_TOKEN is invalid"),
        ({"slack_api_base_url": "slack.com/api"}, "SLACK_API_BASE_URL is invalid"),
    ],
)
def test_half_configured_slack_is_named_in_one_line(given: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(**given)
    assert named in str(error.value) and "\n" not in str(error.value)


def test_slack_is_on_with_its_tokens_in_http_or_socket_mode() -> None:
    http = load_settings(slack_bot_token="xoxb-1", slack_signing_secret="s")
    assert http.slack_enabled and not http.slack_socket_mode
    socket = load_settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1")
    assert socket.slack_enabled and socket.slack_socket_mode
    assert http.slack_api_base_url == "https://slack.com/api/"
    assert not load_settings().slack_enabled


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "houqin.example.org", ""])
def test_the_demo_will_not_listen_beyond_this_machine_unless_told(host: str) -> None:
    """Demo mode's browser chat lets anyone act as anyone: on a reachable address it is refused in one
    line naming the settings, and DEMO_PUBLIC=true is the deliberate way to allow it."""
    with pytest.raises(SettingsError) as error:
        load_settings(demo_mode=True, http_host=host)
    said = str(error.value)
    assert "DEMO_MODE" in said and "HTTP_HOST" in said and "DEMO_PUBLIC=true" in said and "\n" not in said
    assert load_settings(demo_mode=True, http_host=host, demo_public=True).web_chat_enabled
    # Without demo mode (or without the browser chat) nothing is exposed, and nothing is refused.
    assert not load_settings(http_host=host).web_chat_enabled
    assert not load_settings(demo_mode=True, web_enabled=False, http_host=host).web_chat_enabled


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_the_demo_listens_on_this_machine_as_make_run_starts_it(host: str) -> None:
    assert load_settings(demo_mode=True, http_host=host).web_chat_enabled
    assert load_settings(demo_mode=True).http_host == "127.0.0.1"  # what `make run` gets


@pytest.mark.subprocess  # runs `houqin`
def test_houqin_run_demo_on_every_address_says_why_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "HTTP_HOST": "0.0.0.0", "DATABASE_URL": f"sqlite:///{tmp_path}/demo.db"}
    env.pop("DEMO_PUBLIC", None)
    houqin = Path(sys.executable).with_name("houqin")
    result = subprocess.run(
        [str(houqin), "run", "--demo"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("houqin: DEMO_MODE lets anyone act as anyone") and "DEMO_PUBLIC=true" in line

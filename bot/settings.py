"""Houqin's settings, read from the environment and `.env` (see .env.example for every one)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from handlers.core.i18n import LOCALES
from handlers.core.people import AdminAccount
from handlers.core.rules import RepairRules, SupplyRules, parse_sla
from handlers.core.schedule import (
    Schedule,
    parse_dates,
    parse_quiet_hours,
    parse_time,
    parse_weekday,
    parse_working_days,
)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/houqin.db"
ASYNC_DRIVERS = {
    "sqlite:///": "sqlite+aiosqlite:///",
    "postgresql://": "postgresql+asyncpg://",
    "postgres://": "postgresql+asyncpg://",
}


class TelegramMode(StrEnum):
    POLLING = "polling"
    WEBHOOK = "webhook"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class FeishuMode(StrEnum):
    LONG_CONNECTION = "long_connection"  # the SDK dials Feishu over a WebSocket: no public URL needed
    WEBHOOK = "webhook"  # Feishu posts events and card callbacks to /feishu/events


class DingTalkMode(StrEnum):
    STREAM = "stream"  # the dingtalk-stream SDK dials DingTalk over a WebSocket: no public URL needed
    WEBHOOK = "webhook"  # DingTalk posts the robot's messages to /dingtalk/events (HTTP mode)


class AccessPolicy(StrEnum):
    """Who may use Houqin (handlers/core/membership.py keeps the door)."""

    INVITE = "invite"  # members only: added by an admin, an invitation code, or an approved request
    OPEN = "open"  # anyone who writes becomes staff (the demo)
    DIRECTORY = "directory"  # a platform's own membership decides (Slack: the workspace); else invite


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    telegram_bot_token: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_mode: TelegramMode = TelegramMode.POLLING
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    # Slack: on when SLACK_BOT_TOKEN is set; HTTP mode (events at /slack/events) needs the signing
    # secret, Socket Mode (SLACK_APP_TOKEN) needs no public URL.
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    # Feishu / Lark: on when FEISHU_APP_ID is set (a 企业自建应用's credentials). The long connection
    # needs no public URL; webhook mode takes events at /feishu/events, signed and encrypted with the
    # encrypt key and carrying the verification token. The API base is https://open.larksuite.com for Lark.
    feishu_app_id: str | None = None
    feishu_app_secret: str | None = None
    feishu_mode: FeishuMode = FeishuMode.LONG_CONNECTION
    feishu_verification_token: str | None = None
    feishu_encrypt_key: str | None = None
    feishu_api_base_url: str = "https://open.feishu.cn"
    # Daily, Houqin reads the contact directory (the app's contact scope): departments, their leaders
    # as managers, people's departments; under ACCESS_POLICY=directory its people are members and
    # leavers leave. `houqin feishu sync` does it now.
    feishu_directory_sync: bool = True
    # Notices sent to Feishu per second by all processes together (Feishu allows an app about 50
    # messages a second, and 5 a second to one person).
    feishu_send_rate: float = Field(default=20.0, gt=0, le=50)
    # DingTalk (钉钉): on when DINGTALK_CLIENT_ID is set (an internal app's AppKey, with its robot).
    # Stream mode needs no public URL; webhook mode takes the robot's messages at /dingtalk/events,
    # signed with the client secret. The robot code is the AppKey unless the console says otherwise.
    dingtalk_client_id: str | None = None
    dingtalk_client_secret: str | None = None
    dingtalk_robot_code: str | None = None
    dingtalk_mode: DingTalkMode = DingTalkMode.STREAM
    dingtalk_api_base_url: str = "https://api.dingtalk.com"
    # The legacy API (contact directory, media upload): https://oapi.dingtalk.com beside the real API,
    # else DINGTALK_API_BASE_URL (a test double serves both).
    dingtalk_oapi_base_url: str | None = None
    # An interactive card template (made from docs/dingtalk-card-template.json): in stream mode steps
    # and tickets' cards are then cards updated in place; without one (and in webhook mode) they are
    # ActionCards whose buttons make the person send the answer.
    dingtalk_card_template_id: str | None = None
    # Daily, Houqin reads the contact directory; `houqin dingtalk sync` does it now.
    dingtalk_directory_sync: bool = True
    # Notices sent to DingTalk per second by all processes together (DingTalk allows an internal
    # app's robot about 20 calls a second to its send API).
    dingtalk_send_rate: float = Field(default=15.0, gt=0, le=40)
    # WeCom (企业微信): on when WECOM_CORP_ID is set (a self-built app, 自建应用). WeCom posts messages and
    # events to /wecom/callback, signed with the token and encrypted with the EncodingAESKey; the API
    # base is another host for a private deployment (政务微信).
    wecom_corp_id: str | None = None
    wecom_agent_id: int | None = None
    wecom_secret: str | None = None
    wecom_token: str | None = None
    wecom_encoding_aes_key: str | None = None
    wecom_api_base_url: str = "https://qyapi.weixin.qq.com"
    # Daily, Houqin reads the contact directory (departments, leaders as managers, members); under
    # ACCESS_POLICY=directory leavers leave. `houqin wecom sync` does it now.
    wecom_directory_sync: bool = True
    # Notices sent to WeCom per second by all processes together (WeCom allows an app thousands of
    # calls a minute, and one person 30 messages a minute, which the per-person pace keeps).
    wecom_send_rate: float = Field(default=20.0, gt=0, le=100)
    web_enabled: bool = True
    demo_mode: bool = False
    # Demo mode's browser chat lets anyone act as anyone: it listens only on a loopback HTTP_HOST
    # unless this says, deliberately, that others may reach it (a demo on a shared machine).
    demo_public: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    default_locale: str = "zh_CN"
    timezone: str = "Asia/Shanghai"
    admins: str = ""
    # invite, open or directory; unset: open in demo mode, invite otherwise (see access).
    access_policy: AccessPolicy | None = None
    log_level: str = "INFO"
    # text (the default) or json: one JSON object a line for a log collector (bot/logs.py).
    log_format: LogFormat = LogFormat.TEXT
    # GET /metrics in Prometheus' text format; with a token, only for requests bearing it.
    metrics_enabled: bool = False
    metrics_token: str | None = None
    # Daily backups (`houqin backup` on a schedule): into this folder, the newest BACKUP_KEEP kept.
    # Unset: no daily backup (`houqin backup` still writes one on demand).
    backup_dir: Path | None = None
    backup_keep: int = Field(default=7, ge=1)
    # Where people reach this Houqin in a browser (QR codes on doors link here). Outside demo mode the
    # browser chat runs only when it is set (sign-in links point here) and WEB_ENABLED is true.
    public_url: str | None = None
    # Optional single sign-on to the browser chat through the organisation's OpenID Connect provider.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    # The bot's @username for t.me deep links; asked from Telegram (getMe) when absent.
    telegram_bot_username: str | None = None
    # Repairs: hours to resolve by urgency, hours before a resolved ticket closes itself, and how far
    # back a report of the same problem in the same room counts as a duplicate.
    sla_hours: str = "urgent=4,high=24,normal=72,low=168"
    auto_close_hours: int = Field(default=72, ge=1)
    duplicate_window_hours: int = Field(default=72, ge=0)
    # Supplies: a requisition of more items than this in total, or worth more than this many yuan, goes
    # on from the department manager to a logistics admin for a second approval.
    supply_second_approval_quantity: int = Field(default=20, ge=0)
    supply_second_approval_value: int = Field(default=500, ge=0)
    # Surveys and suggestions: the key behind anonymous respondents' count-once tokens and the sealed
    # routes to anonymous suggesters. Unset: generated on first use and kept in the database.
    survey_secret: str | None = None
    # Scheduled jobs: the weekly digest's day and local time; hours when nobody is nudged (reminders
    # wait, they are not dropped); working days; hours past due before an overdue ticket goes to the
    # technician's manager; how old a missed run may be and still be made up on start.
    digest_weekday: str = "mon"
    digest_time: str = "08:00"
    quiet_hours: str = "21:00-08:00"
    working_days: str = "mon-fri"
    # Public holidays (closed on a working weekday) and make-up working days (调休, open on a day off):
    # dates and ranges such as 2026-10-01..2026-10-07,2027-01-01. /settings holidays overrides them.
    holidays: str = ""
    makeup_days: str = ""
    escalate_after_hours: int = Field(default=24, ge=0)
    # An inspection round not done this many hours after its due time goes to the inspector's manager.
    inspection_escalate_after_hours: int = Field(default=4, ge=0)
    # Energy (节能降耗): a reading whose use since the last is more than this many times the meter's
    # usual is questioned before it is kept; /energy flags buildings whose month rose by more than this.
    meter_jump_factor: float = Field(default=3.0, gt=1, le=1000)
    energy_flag_rise_percent: float = Field(default=15.0, ge=0, le=10000)
    catch_up_hours: int = Field(default=12, ge=0)
    # Whether this process runs the scheduled jobs. Every process may (the database keeps each
    # period's work to one); false leaves them to the others, e.g. a process that only serves webhooks.
    jobs_enabled: bool = True
    # Notices (reminders, digests, cards) sent to Telegram per second by all processes together;
    # Telegram allows about 30. Processes sending at the same time split it through the database.
    telegram_send_rate: float = Field(default=25.0, gt=0, le=30)

    @field_validator("access_policy", mode="before")
    @classmethod
    def _policy_or_default(cls, value: object) -> object:
        # ACCESS_POLICY= (as .env.example leaves it) means the default, not a bad value.
        return (value.strip().lower() or None) if isinstance(value, str) else value

    @field_validator("wecom_agent_id", mode="before")
    @classmethod
    def _blank_number_is_absent(cls, value: object) -> object:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        # Accept the URLs people paste from elsewhere and use the async drivers Houqin runs on.
        for plain, driver in ASYNC_DRIVERS.items():
            if value.startswith(plain):
                value = driver + value.removeprefix(plain)
        if not value.startswith(tuple(ASYNC_DRIVERS.values())):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator(
        "telegram_bot_token",
        "telegram_webhook_secret",
        "telegram_webhook_url",
        "telegram_bot_username",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "feishu_app_id",
        "feishu_app_secret",
        "feishu_verification_token",
        "feishu_encrypt_key",
        "dingtalk_client_id",
        "dingtalk_client_secret",
        "dingtalk_robot_code",
        "dingtalk_oapi_base_url",
        "dingtalk_card_template_id",
        "wecom_corp_id",
        "wecom_secret",
        "wecom_token",
        "wecom_encoding_aes_key",
        "survey_secret",
        "oidc_issuer",
        "oidc_client_id",
        "oidc_client_secret",
    )
    @classmethod
    def _blank_is_absent(cls, value: str | None) -> str | None:
        # Runs before the checks below: they see a stripped value or None.
        return value.strip() or None if value is not None else None

    @field_validator("slack_bot_token", "slack_app_token")
    @classmethod
    def _slack_token_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        prefix, what, where = SLACK_TOKENS[info.field_name or ""]
        if value is not None and not value.startswith(prefix):
            raise ValueError(f"must be {what} starting with {prefix} ({where})")
        return value

    @field_validator("slack_api_base_url")
    @classmethod
    def _slack_api(cls, value: str) -> str:
        # slack_sdk joins method names onto it, so it must end with a slash.
        return http_url(value) + "/"

    @field_validator("survey_secret")
    @classmethod
    def _long_enough_secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError(
                "must be at least 32 characters (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret_alphabet(cls, value: str | None) -> str | None:
        # Telegram refuses other characters in secret_token when the webhook is set.
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("feishu_api_base_url")
    @classmethod
    def _feishu_origin(cls, value: str) -> str:
        # The SDK takes an origin only (scheme, host and port): its paths begin with /open-apis.
        url = http_url(value)
        if urlsplit(url).path:
            raise ValueError("must be an origin such as https://open.feishu.cn, without a path")
        return url

    @field_validator("dingtalk_api_base_url", "dingtalk_oapi_base_url")
    @classmethod
    def _dingtalk_origin(cls, value: str | None) -> str | None:
        # Paths (/v1.0/..., /topapi/...) are joined onto it: an origin only.
        if value is None:
            return None
        url = http_url(value)
        if urlsplit(url).path:
            raise ValueError("must be an origin such as https://api.dingtalk.com, without a path")
        return url

    @field_validator("wecom_api_base_url")
    @classmethod
    def _wecom_origin(cls, value: str) -> str:
        # Paths begin with /cgi-bin, on WeCom's host or a private deployment's.
        url = http_url(value)
        if urlsplit(url).path:
            raise ValueError("must be an origin such as https://qyapi.weixin.qq.com, without a path")
        return url

    @field_validator("wecom_encoding_aes_key")
    @classmethod
    def _wecom_aes_key(cls, value: str | None) -> str | None:
        # WeCom's EncodingAESKey: 43 characters of base64, the AES-256 key without its "=".
        if value is not None and not re.fullmatch(r"[A-Za-z0-9+/]{43}", value):
            raise ValueError("must be the 43 characters WeCom shows as EncodingAESKey")
        return value

    @field_validator("default_locale")
    @classmethod
    def _supported_locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _real_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("is not an IANA time zone such as Asia/Shanghai") from exc
        return value

    @field_validator(
        "admins", "sla_hours", "digest_weekday", "digest_time", "quiet_hours", "working_days", "holidays", "makeup_days"
    )
    @classmethod
    def _parses(cls, value: str, info: ValidationInfo) -> str:
        # Kept as written and parsed where used; parsed here too so a typo stops the start, not a job.
        PARSERS[info.field_name or ""](value)
        return value

    @field_validator("public_url", "oidc_issuer")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return http_url(value) if value is not None and value.strip() else None

    @property
    def rules(self) -> RepairRules:
        return RepairRules(
            sla=parse_sla(self.sla_hours),
            auto_close_after=timedelta(hours=self.auto_close_hours),
            duplicate_window=timedelta(hours=self.duplicate_window_hours),
        )

    @property
    def supply_rules(self) -> SupplyRules:
        return SupplyRules(
            second_step_quantity=self.supply_second_approval_quantity,
            second_step_value=self.supply_second_approval_value * 100,
        )

    @property
    def schedule(self) -> Schedule:
        return Schedule(
            zone=self.zone,
            working_days=parse_working_days(self.working_days),
            holidays=parse_dates(self.holidays),
            makeup_days=parse_dates(self.makeup_days),
            quiet=parse_quiet_hours(self.quiet_hours),
            digest_weekday=parse_weekday(self.digest_weekday),
            digest_time=parse_time(self.digest_time),
            escalate_after=timedelta(hours=self.escalate_after_hours),
            inspection_escalate_after=timedelta(hours=self.inspection_escalate_after_hours),
            catch_up=timedelta(hours=self.catch_up_hours),
        )

    @property
    def browser_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"

    @property
    def admin_accounts(self) -> tuple[AdminAccount, ...]:
        return parse_admins(self.admins)

    @property
    def access(self) -> AccessPolicy:
        if self.access_policy is not None:
            return self.access_policy
        return AccessPolicy.OPEN if self.demo_mode else AccessPolicy.INVITE

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def slack_socket_mode(self) -> bool:
        return self.slack_enabled and self.slack_app_token is not None

    @property
    def feishu_enabled(self) -> bool:
        return self.feishu_app_id is not None

    @property
    def feishu_webhook(self) -> bool:
        return self.feishu_enabled and self.feishu_mode is FeishuMode.WEBHOOK

    @property
    def dingtalk_enabled(self) -> bool:
        return self.dingtalk_client_id is not None

    @property
    def dingtalk_webhook(self) -> bool:
        return self.dingtalk_enabled and self.dingtalk_mode is DingTalkMode.WEBHOOK

    @property
    def dingtalk_robot(self) -> str:
        """The robot's code (robotCode): the AppKey unless set apart."""
        return self.dingtalk_robot_code or self.dingtalk_client_id or ""

    @property
    def dingtalk_oapi(self) -> str:
        """The legacy API's origin: oapi.dingtalk.com beside the real API, else the one configured."""
        if self.dingtalk_oapi_base_url:
            return self.dingtalk_oapi_base_url
        if self.dingtalk_api_base_url == "https://api.dingtalk.com":
            return "https://oapi.dingtalk.com"
        return self.dingtalk_api_base_url

    @property
    def wecom_enabled(self) -> bool:
        return self.wecom_corp_id is not None

    @property
    def web_chat_enabled(self) -> bool:
        # Demo mode: anyone picks who they are. Otherwise people sign in through links to PUBLIC_URL.
        return self.web_enabled and (self.demo_mode or self.public_url is not None)

    @property
    def web_signin(self) -> bool:
        """The browser chat runs with real sign-in (links from /web, sessions), not the demo picker."""
        return self.web_chat_enabled and not self.demo_mode

    @property
    def oidc_enabled(self) -> bool:
        return self.web_signin and self.oidc_issuer is not None

    def sqlite_path(self) -> Path | None:
        prefix = "sqlite+aiosqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url.removeprefix(prefix)
        return None if path in ("", ":memory:") else Path(path)

    def check_consistency(self) -> None:
        """Rules that span settings; raises SettingsError naming the one to fix."""
        if self.telegram_enabled and self.telegram_mode is TelegramMode.WEBHOOK:
            if not self.telegram_webhook_secret:
                raise SettingsError("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_MODE=webhook")
            if not self.telegram_webhook_url:
                raise SettingsError("TELEGRAM_WEBHOOK_URL is required when TELEGRAM_MODE=webhook")
        if not self.slack_enabled and (self.slack_signing_secret or self.slack_app_token):
            raise SettingsError("SLACK_BOT_TOKEN is required when SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is set")
        if self.slack_enabled and not self.slack_signing_secret and not self.slack_app_token:
            raise SettingsError(
                "SLACK_SIGNING_SECRET is required with SLACK_BOT_TOKEN (or SLACK_APP_TOKEN for Socket Mode)"
            )
        if self.feishu_enabled and not self.feishu_app_secret:
            raise SettingsError("FEISHU_APP_SECRET is required with FEISHU_APP_ID")
        if self.feishu_webhook and not (self.feishu_encrypt_key and self.feishu_verification_token):
            raise SettingsError(
                "FEISHU_ENCRYPT_KEY and FEISHU_VERIFICATION_TOKEN are required when FEISHU_MODE=webhook "
                "(the app's Events and Callbacks page, Encryption Strategy)"
            )
        if self.dingtalk_enabled and not self.dingtalk_client_secret:
            raise SettingsError("DINGTALK_CLIENT_SECRET is required with DINGTALK_CLIENT_ID")
        if self.wecom_enabled:
            missing = [
                name
                for name, value in (
                    ("WECOM_AGENT_ID", self.wecom_agent_id),
                    ("WECOM_SECRET", self.wecom_secret),
                    ("WECOM_TOKEN", self.wecom_token),
                    ("WECOM_ENCODING_AES_KEY", self.wecom_encoding_aes_key),
                )
                if value is None
            ]
            if missing:
                raise SettingsError(
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required with WECOM_CORP_ID "
                    "(the app's page: AgentId and Secret; its API receiving settings: Token and EncodingAESKey)"
                )
        oidc = (self.oidc_issuer, self.oidc_client_id, self.oidc_client_secret)
        if any(oidc) and not all(oidc):
            raise SettingsError("OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are set together or not at all")
        if self.demo_mode and self.web_chat_enabled and not self.demo_public and not is_loopback(self.http_host):
            raise SettingsError(
                f"DEMO_MODE lets anyone act as anyone, so HTTP_HOST must be a loopback address such as 127.0.0.1, "
                f"not {self.http_host or 'every address'} (set DEMO_PUBLIC=true to let others reach the demo)"
            )


CHANNELS = ("telegram", "slack", "feishu", "dingtalk", "wecom", "web")


def parse_admins(value: str) -> tuple[AdminAccount, ...]:
    accounts = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        channel, sep, external_id = item.partition(":")
        if not sep or channel not in CHANNELS or not external_id:
            raise ValueError(
                f"entry {item!r} should look like telegram:123, slack:U456, feishu:ou_…, dingtalk:<userId> "
                "or wecom:<UserID>"
            )
        accounts.append(AdminAccount(channel, external_id))
    return tuple(accounts)


# The settings kept as text that must parse: the parser raises ValueError saying what is wrong.
PARSERS: dict[str, Callable[[str], object]] = {
    "admins": parse_admins,
    "sla_hours": parse_sla,
    "digest_weekday": parse_weekday,
    "digest_time": parse_time,
    "quiet_hours": parse_quiet_hours,
    "working_days": parse_working_days,
    "holidays": parse_dates,
    "makeup_days": parse_dates,
}
# Each Slack token's prefix, and what it is and where Slack shows it.
SLACK_TOKENS = {
    "slack_bot_token": ("xoxb-", "a bot token", "OAuth & Permissions"),
    "slack_app_token": ("xapp-", "an app-level token", "Basic Information"),
}


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach a server listening on `host`."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # another name, which may resolve anywhere


def http_url(value: str) -> str:
    """An http(s) URL without its trailing slash."""
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value.rstrip("/")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what is expected."""


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name} is invalid: {reason}") from None
    settings.check_consistency()
    return settings

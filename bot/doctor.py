"""`houqin doctor`: is this Houqin configured right? Each check says ✓ or ✗ and, when ✗, what to do.

What an IT person asks on day one: the database reachable and migrated; each configured channel's
credentials answer (and a webhook points where it should); PUBLIC_URL reaches this Houqin; charts
have their Chinese fonts; the time zone and the clock; who may get in and who administers; room on
disk for the database and backups. The platforms are asked through their HTTP APIs at the base URLs
the settings give, so a test double answers as the platform would.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from bot.settings import Settings, TelegramMode
from storage.db import Database
from storage.migrate import SchemaNotCurrent, check_current

TIMEOUT = httpx.Timeout(10.0)
LOW_DISK = 1024**3  # below 1 GiB free, photos and backups will soon have nowhere to go
CLOCK_SKEW = 60.0  # seconds between this machine and the database before times in reports drift


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""


Check = Callable[[Settings], Awaitable[list[Finding]]]


async def database(settings: Settings) -> list[Finding]:
    try:
        await asyncio.to_thread(check_current, settings.database_url)
    except SchemaNotCurrent as problem:
        fix = (
            "run `houqin migrate`"
            if "not up to date" in str(problem)
            else "check DATABASE_URL and that the server runs"
        )
        return [Finding("database", False, str(problem), fix)]
    return [Finding("database", True, "reachable and migrated")]


async def clock(settings: Settings) -> list[Finding]:
    found = [Finding("time zone", True, f"{settings.timezone}, now {datetime.now(settings.zone):%Y-%m-%d %H:%M %Z}")]
    db = Database(settings.database_url)
    try:
        async with db.engine.connect() as connection:
            if db.dialect == "postgresql":
                theirs = (await connection.execute(text("SELECT now()"))).scalar_one()
                skew = abs((datetime.now(UTC) - theirs).total_seconds())
                ok = skew < CLOCK_SKEW
                fix = "" if ok else "synchronise the clocks (chrony or systemd-timesyncd)"
                found.append(Finding("clock", ok, f"{skew:.1f} s from the database's", fix))
    except Exception:  # the database check says what is wrong with reaching it
        pass
    finally:
        await db.dispose()
    return found


async def access(settings: Settings) -> list[Finding]:
    from storage.models import PersonRole

    policy = settings.access.value
    admins = [a for a in settings.admins.split(",") if a.strip()]
    held = 0
    db = Database(settings.database_url)
    try:
        async with db.unit_of_work() as session:
            held = (
                await session.scalar(select(func.count()).select_from(PersonRole).where(PersonRole.role == "admin"))
                or 0
            )
    except Exception:
        pass
    finally:
        await db.dispose()
    ok = bool(admins) or held > 0
    detail = f"ACCESS_POLICY={policy}; admins: {len(admins)} in ADMINS, {held} holding the role"
    return [Finding("access", ok, detail, "" if ok else "set ADMINS=telegram:<id> (or slack:<id>) for the first admin")]


async def telegram(settings: Settings) -> list[Finding]:
    if not settings.telegram_enabled:
        return []
    base = f"{settings.telegram_api_base_url.rstrip('/')}/bot{settings.telegram_bot_token}"
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        try:
            me = (await client.get(f"{base}/getMe")).json()
        except httpx.HTTPError as exc:
            return [
                Finding(
                    "telegram",
                    False,
                    f"cannot reach {settings.telegram_api_base_url}: {type(exc).__name__}",
                    "check the network or TELEGRAM_API_BASE_URL",
                )
            ]
        if not me.get("ok"):
            return [
                Finding(
                    "telegram",
                    False,
                    f"getMe refused the token: {me.get('description', 'no reason')}",
                    "check TELEGRAM_BOT_TOKEN (from @BotFather)",
                )
            ]
        found = [Finding("telegram", True, f"token answers: @{me['result'].get('username')}")]
        if settings.telegram_mode is TelegramMode.WEBHOOK:
            info = (await client.get(f"{base}/getWebhookInfo")).json().get("result", {})
            ok = info.get("url") == settings.telegram_webhook_url
            shown = info.get("url") or "none"
            found.append(
                Finding(
                    "telegram webhook",
                    ok,
                    f"registered: {shown}",
                    "" if ok else "start `houqin run` once: it registers TELEGRAM_WEBHOOK_URL",
                )
            )
    return found


async def slack(settings: Settings) -> list[Finding]:
    if not settings.slack_enabled:
        return []
    url = f"{settings.slack_api_base_url.rstrip('/')}/auth.test"
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        try:
            said = (await client.post(url, headers={"Authorization": f"Bearer {settings.slack_bot_token}"})).json()
        except httpx.HTTPError as exc:
            return [
                Finding(
                    "slack",
                    False,
                    f"cannot reach {settings.slack_api_base_url}: {type(exc).__name__}",
                    "check the network or SLACK_API_BASE_URL",
                )
            ]
    if not said.get("ok"):
        return [
            Finding(
                "slack",
                False,
                f"auth.test refused the token: {said.get('error')}",
                "check SLACK_BOT_TOKEN (xoxb-…, from the app's OAuth page)",
            )
        ]
    return [Finding("slack", True, f"token answers: {said.get('team')} as {said.get('user')}")]


async def feishu(settings: Settings) -> list[Finding]:
    """The app's credentials answer (a tenant access token), and, when the directory is synced, the
    contact scope lets it read the organisation."""
    if not settings.feishu_enabled or not settings.feishu_app_id or not settings.feishu_app_secret:
        return []
    from bot.channels.feishu.api import FeishuAPI, FeishuError

    api = FeishuAPI(settings.feishu_app_id, settings.feishu_app_secret, settings.feishu_api_base_url)
    try:
        try:
            await api.tenant_token()
        except FeishuError as exc:
            fix = "check FEISHU_APP_ID and FEISHU_APP_SECRET (凭证与基础信息, Credentials & Basic Info)"
            return [Finding("feishu", False, f"the app's credentials were refused: {exc.code} {exc.msg}", fix)]
        except httpx.HTTPError as exc:
            unreachable = f"cannot reach {settings.feishu_api_base_url}: {type(exc).__name__}"
            return [Finding("feishu", False, unreachable, "check the network or FEISHU_API_BASE_URL")]
        found = [Finding("feishu", True, f"app {settings.feishu_app_id} answers ({settings.feishu_mode.value})")]
        if settings.feishu_directory_sync:
            try:
                await api.call("GET", "/open-apis/contact/v3/departments/0/children", queries=[("page_size", "1")])
                found.append(Finding("feishu directory", True, "the contact scope reads the organisation"))
            except FeishuError as exc:
                fix = (
                    "grant the contact scopes and their data range (README: Connecting Feishu / Lark), "
                    "or set FEISHU_DIRECTORY_SYNC=false"
                )
                found.append(Finding("feishu directory", False, f"refused: {exc.code} {exc.msg}", fix))
        return found
    finally:
        await api.close()


async def dingtalk(settings: Settings) -> list[Finding]:
    """The app's credentials answer (an access token), and, when the directory is synced, the app may
    read the organisation's contacts."""
    if not settings.dingtalk_enabled or not settings.dingtalk_client_id or not settings.dingtalk_client_secret:
        return []
    from bot.channels.dingtalk.api import DingTalkAPI, DingTalkError

    api = DingTalkAPI(
        settings.dingtalk_client_id,
        settings.dingtalk_client_secret,
        settings.dingtalk_robot,
        settings.dingtalk_api_base_url,
        settings.dingtalk_oapi,
    )
    try:
        try:
            await api.access_token()
        except DingTalkError as exc:
            fix = "check DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET (the app's Credentials page)"
            return [Finding("dingtalk", False, f"the app's credentials were refused: {exc.code} {exc.msg}", fix)]
        except httpx.HTTPError as exc:
            unreachable = f"cannot reach {settings.dingtalk_api_base_url}: {type(exc).__name__}"
            return [Finding("dingtalk", False, unreachable, "check the network or DINGTALK_API_BASE_URL")]
        mode = settings.dingtalk_mode.value
        found = [Finding("dingtalk", True, f"app {settings.dingtalk_client_id} answers ({mode})")]
        if settings.dingtalk_directory_sync:
            try:
                await api.legacy("/topapi/v2/department/listsub", {"dept_id": 1})
                found.append(Finding("dingtalk directory", True, "the app reads the organisation's contacts"))
            except (DingTalkError, httpx.HTTPError) as exc:
                fix = (
                    "grant the contacts read permission (README: Connecting DingTalk), or DINGTALK_DIRECTORY_SYNC=false"
                )
                found.append(Finding("dingtalk directory", False, f"refused: {exc}", fix))
        return found
    finally:
        await api.close()


async def wecom(settings: Settings) -> list[Finding]:
    """The app's secret answers (an access token, from this machine's address: WeCom refuses IPs the
    app does not trust), and, when the directory is synced, the app can read the departments."""
    if not settings.wecom_enabled or not settings.wecom_corp_id or not settings.wecom_secret:
        return []
    from bot.channels.wecom.api import WeComAPI, WeComError

    corp, agent = settings.wecom_corp_id, settings.wecom_agent_id or 0
    api = WeComAPI(corp, settings.wecom_secret, agent, settings.wecom_api_base_url)
    try:
        try:
            await api.access_token()
        except WeComError as exc:
            fix = (
                "add this machine's address to the app's trusted IPs (企业可信IP)"
                if exc.code == UNTRUSTED_IP
                else "check WECOM_CORP_ID and WECOM_SECRET (the app's page in the admin console)"
            )
            return [Finding("wecom", False, f"gettoken was refused: {exc.code} {exc.msg}", fix)]
        except httpx.HTTPError as exc:
            unreachable = f"cannot reach {settings.wecom_api_base_url}: {type(exc).__name__}"
            return [Finding("wecom", False, unreachable, "check the network or WECOM_API_BASE_URL")]
        found = [Finding("wecom", True, f"app {agent} of {corp} answers")]
        if settings.wecom_directory_sync:
            try:
                departments = await api.departments()
                found.append(Finding("wecom directory", True, f"{len(departments)} departments visible to the app"))
            except WeComError as exc:
                fix = "widen the app's visible range (可见范围) to the organisation, or set WECOM_DIRECTORY_SYNC=false"
                found.append(Finding("wecom directory", False, f"refused: {exc.code} {exc.msg}", fix))
        return found
    finally:
        await api.close()


# WeCom's answer to a call from an address the app does not trust.
UNTRUSTED_IP = 60020


async def public_url(settings: Settings) -> list[Finding]:
    if not settings.public_url:
        needed = "door signs and browser sign-in links need it" if settings.web_enabled else "door signs need it"
        return [Finding("PUBLIC_URL", False, f"not set: {needed}", "set PUBLIC_URL to where people reach Houqin")]
    health = f"{settings.public_url.rstrip('/')}/healthz"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            answered = await client.get(health)
    except httpx.HTTPError as exc:
        return [
            Finding(
                "PUBLIC_URL",
                False,
                f"{health} does not answer ({type(exc).__name__})",
                "start Houqin, and check the proxy and DNS in front of it",
            )
        ]
    ok = answered.status_code == 200
    return [
        Finding(
            "PUBLIC_URL",
            ok,
            f"{health} answered {answered.status_code}",
            "" if ok else "the URL reaches something that is not a healthy Houqin",
        )
    ]


async def fonts(settings: Settings) -> list[Finding]:
    from handlers.core.charts import CJK_FAMILIES, font_families

    found = [family for family in await asyncio.to_thread(font_families) if family in CJK_FAMILIES]
    if found:
        return [Finding("chart fonts", True, found[0])]
    return [
        Finding(
            "chart fonts",
            False,
            "no Chinese font: charts would show boxes for Chinese",
            "apt-get install fonts-noto-cjk",
        )
    ]


async def disk(settings: Settings) -> list[Finding]:
    database_file = settings.sqlite_path()
    places = {"database": database_file.parent if database_file else None, "backups": settings.backup_dir}
    found = []
    for name, folder in places.items():
        if folder is None:
            continue
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(existing).free
        ok = free >= LOW_DISK
        found.append(
            Finding(
                f"disk ({name})",
                ok,
                f"{free / 1024**3:.1f} GiB free at {existing}",
                "" if ok else "free some space, or lower BACKUP_KEEP",
            )
        )
    return found


CHECKS: tuple[Check, ...] = (database, clock, access, telegram, slack, feishu, dingtalk, wecom, public_url, fonts, disk)


async def examine(settings: Settings, checks: tuple[Check, ...] = CHECKS) -> list[Finding]:
    return [finding for check in checks for finding in await check(settings)]


def table(findings: list[Finding]) -> str:
    width = max((len(f.check) for f in findings), default=0)
    lines = []
    for finding in findings:
        mark = "✓" if finding.ok else "✗"
        line = f"{mark} {finding.check.ljust(width)}  {finding.detail}"
        lines.append(line if finding.ok or not finding.fix else f"{line}\n  {' ' * width}  → {finding.fix}")
    return "\n".join(lines)

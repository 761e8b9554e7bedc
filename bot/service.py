"""The composition root: the one place that builds the database, the core and the channels."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.areas import AREAS as AREAS  # re-exported: tests and tools take them from here
from bot.channels.telegram import TelegramChannel
from bot.channels.web import WebChat
from bot.settings import Settings
from handlers import keys, uploads
from handlers.area import Area
from handlers.engine import Houqin
from handlers.outbox import Outbox
from jobs.scheduler import Jobs
from storage.db import Database

log = logging.getLogger("houqin")

if TYPE_CHECKING:
    from bot.channels.slack import SlackChannel


@dataclass
class Service:
    settings: Settings
    db: Database
    houqin: Houqin
    jobs: Jobs | None = None
    telegram: TelegramChannel | None = None
    slack: SlackChannel | None = None
    web: WebChat | None = None

    async def start(self) -> None:
        uploads.warm_up()
        if self.jobs is not None:
            self.jobs.start()
        if self.telegram is not None:
            await self.telegram.start()
        if self.slack is not None:
            await self.slack.start()
        log.info("channels running: %s", ", ".join(self.channel_names()) or "none")
        running = {name.split()[0] for name in self.channel_names()}
        off = [name for name in ("telegram", "slack", "web") if name not in running]
        if off:
            log.info("channels off: %s", ", ".join(off))

    async def stop(self) -> None:
        if self.jobs is not None:
            self.jobs.stop()
        if self.telegram is not None:
            await self.telegram.stop()
        if self.slack is not None:
            await self.slack.stop()
        await self.db.dispose()

    def channel_names(self) -> list[str]:
        names = []
        if self.telegram is not None:
            names.append(f"telegram ({self.settings.telegram_mode.value})")
        if self.slack is not None:
            names.append(f"slack ({'socket mode' if self.settings.slack_socket_mode else 'http'})")
        if self.web is not None:
            names.append("web")
        return names


def build_service(settings: Settings, areas: tuple[Area, ...] = AREAS) -> Service:
    db = Database(settings.database_url)
    # The key behind anonymous survey tokens and sealed suggestion routes (handlers/keys.py).
    keys.configure(settings.survey_secret)
    houqin = Houqin(
        db,
        areas,
        default_locale=settings.default_locale,
        zone=settings.zone,
        admins=settings.admin_accounts,
        rules=settings.rules,
        supply_rules=settings.supply_rules,
    )
    outbox = Outbox(db, settings.default_locale, houqin.clock)
    jobs = Jobs(db, settings.schedule, settings.rules, default_locale=settings.default_locale, areas=areas)
    service = Service(settings, db, houqin, jobs=jobs if settings.jobs_enabled else None)
    if settings.telegram_enabled:
        service.telegram = TelegramChannel(settings, houqin, outbox)
    if settings.slack_enabled:
        # Imported only where Slack is used: Bolt and its SDK are a third of a cold start.
        from bot.channels.slack import SlackChannel

        service.slack = SlackChannel(settings, houqin, outbox)
    if settings.web_chat_enabled:
        service.web = WebChat(houqin, outbox, settings.default_locale)
    return service

"""The composition root: the one place that builds the database, the core and the channels."""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass, field

from bot.areas import AREAS as AREAS  # re-exported: tests and tools take them from here
from bot.channels.contract import Channel
from bot.channels.registry import CHANNELS
from bot.settings import AccessPolicy, Settings
from handlers.accounts import signin
from handlers.core import keys, uploads
from handlers.core.area import Area
from handlers.core.engine import Houqin
from handlers.core.jobs import Job
from handlers.core.membership import EVERYONE, Admission
from handlers.core.outbox import Outbox
from handlers.energy import readings as energy_readings
from jobs.backups import backup_job
from jobs.scheduler import JOBS, Jobs
from storage.db import Database

# How long after start the upload parsers' server is started (handlers/core/uploads.warm_up).
WARM_UP_AFTER_S = 2.0

log = logging.getLogger("houqin")


@dataclass
class Service:
    settings: Settings
    db: Database
    houqin: Houqin
    jobs: Jobs | None = None
    channels: list[Channel] = field(default_factory=list)
    # Set when a stop begins (SIGTERM): from then on the app answers requests 503, to be retried.
    stopping: bool = False
    _warming: asyncio.TimerHandle | None = field(default=None, init=False, repr=False)

    async def start(self) -> None:
        self.stopping = False
        # The server the parsing processes fork from loads the parsers in a process of its own: started
        # a moment after Houqin answers, not while it loads (on two cores they would share them).
        self._warming = asyncio.get_running_loop().call_later(WARM_UP_AFTER_S, uploads.warm_up)
        if self.jobs is not None:
            self.jobs.start()
        for channel in self.channels:
            await channel.start()
        log.info("channels running: %s", ", ".join(self.channel_names()) or "none")
        running = {channel.name for channel in self.channels}
        off = [kind.name for kind in CHANNELS if kind.name not in running]
        if off:
            log.info("channels off: %s", ", ".join(off))

    async def stop(self) -> None:
        """Each channel finishes what it has in hand, at the same time (bounded by their grace)."""
        self.stopping = True
        if self._warming is not None:
            self._warming.cancel()
        if self.jobs is not None:
            self.jobs.stop()
        await asyncio.gather(*(channel.stop() for channel in self.channels))
        await self.db.dispose()

    def channel_names(self) -> list[str]:
        return [channel.label for channel in self.channels]

    def channel(self, name: str) -> Channel | None:
        """The running channel of this name (registry.CHANNELS), if it is on."""
        return next((channel for channel in self.channels if channel.name == name), None)


def settle_memory() -> None:
    """Once started, what is loaded stays for the life of the process (modules, catalogs, the areas,
    compiled statements): frozen out of the garbage collector's sight, its full collections walk only
    what came later. Without it one took about 100 ms every few thousand updates, and every update
    arriving meanwhile waited that long (issue 17: handling-latency p99 39–55 → 8–15 ms on SQLite).
    For `houqin run` (and the benchmarks that stand for it), not for tests that build services by
    the hundred in one process: what is frozen is never freed."""
    gc.collect()
    gc.freeze()


def build_service(settings: Settings, areas: tuple[Area, ...] = AREAS) -> Service:
    db = Database(settings.database_url)
    # The key behind anonymous survey tokens and sealed suggestion routes (handlers/core/keys.py).
    keys.configure(settings.survey_secret)
    # Where /web's sign-in links point; none when the browser chat has no sign-in (off, or the demo).
    signin.configure(settings.public_url if settings.web_signin else None)
    configure_areas(settings)
    houqin = Houqin(
        db,
        areas,
        default_locale=settings.default_locale,
        zone=settings.zone,
        admins=settings.admin_accounts,
        rules=settings.rules,
        supply_rules=settings.supply_rules,
        admission=admission(settings.access),
        calendar=settings.schedule,
    )
    outbox = Outbox(db, settings.default_locale, houqin.clock)
    jobs = Jobs(
        db,
        settings.schedule,
        settings.rules,
        default_locale=settings.default_locale,
        table=core_jobs(settings),
        areas=areas,
    )
    service = Service(settings, db, houqin, jobs=jobs if settings.jobs_enabled else None)
    service.channels = [kind.build(settings, houqin, outbox) for kind in CHANNELS if kind.enabled(settings)]
    return service


def configure_areas(settings: Settings) -> None:
    """What areas read of the settings, given once (the service and the CLI's commands): the energy
    area's thresholds and the organisation's zone."""
    energy_readings.configure(settings.meter_jump_factor, settings.energy_flag_rise_percent, settings.zone)


def core_jobs(settings: Settings) -> list[Job]:
    """The core's jobs, and the daily backup where BACKUP_DIR says where to keep it."""
    backups = [backup_job(settings.backup_dir, settings.backup_keep)] if settings.backup_dir else []
    return [*JOBS, *backups]


def admission(policy: AccessPolicy) -> Admission:
    """Whose unknown accounts become members by writing: anyone's (open), nobody's (invite), or those
    of the channels whose platform keeps its own membership (directory; the others fall back to invite)."""
    if policy is AccessPolicy.OPEN:
        return EVERYONE
    if policy is AccessPolicy.DIRECTORY:
        directories = frozenset(kind.name for kind in CHANNELS if kind.directory)
        return Admission(directories, directories)
    return Admission(frozenset())

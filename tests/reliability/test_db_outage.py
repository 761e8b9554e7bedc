"""Database outage: PostgreSQL goes away mid-load and comes back.

A TCP proxy stands between the real `houqin run` and PostgreSQL. While several Telegram people report
repairs, the proxy cuts every connection and refuses new ones, as a restarting server does (without
restarting the server the rest of the suite is using), then lets them through again. Meanwhile
/healthz must say the service is unhealthy; afterwards it must be healthy again within 10 s without
anyone touching it, every conversation must finish, and every ticket number a person saw must exist
exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from handlers.core.i18n import translate
from storage.db import Database
from storage.demo import seed_database
from tests.conftest import _truncate
from tests.reliability.audit import audit_deliveries, audit_tickets
from tests.reliability.conftest import Variant
from tests.reliability.harness import (
    Counts,
    DeliveryLedger,
    Launch,
    ObservedBotAPI,
    PollingTransport,
    Uptime,
    polling_env,
    start_polling,
    wait_until,
)
from tests.reliability.people import ScriptedPerson, make_plan

pytestmark = pytest.mark.reliability

OUTAGE_SECONDS = 4.0
RECOVERY_LIMIT = 10.0  # seconds from the database's return to a healthy /healthz


class DatabaseOutage:
    """A TCP proxy to PostgreSQL that can drop every connection and refuse new ones, and recover."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.down = False
        self.cuts = 0
        self.refused = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> DatabaseOutage:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        self._abort_all()
        await self._server.wait_closed()

    @property
    def listening_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def cut(self) -> None:
        self.down, self.cuts = True, self.cuts + 1
        self._abort_all()

    def restore(self) -> None:
        self.down = False

    def _abort_all(self) -> None:
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.down:
            self.refused += 1
            client_writer.transport.abort()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            client_writer.transport.abort()
            return
        self._open |= {client_writer, server_writer}
        await asyncio.gather(
            self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer), return_exceptions=True
        )
        for writer in (client_writer, server_writer):
            self._open.discard(writer)
            writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


async def _seeded(url: str) -> None:
    await _truncate(url)
    await seed_database(url)


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """The demo organisation on PostgreSQL (an outage of a database server is a server's scenario)."""
    asyncio.run(_seeded(postgres_url))
    return postgres_url


@pytest.fixture
async def pg_db(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url)
    yield database
    await database.dispose()


async def health(client: httpx.AsyncClient, base_url: str) -> int:
    try:
        return (await client.get(f"{base_url}/healthz", timeout=2)).status_code
    except httpx.TransportError:
        return 0


async def test_a_database_outage_mid_load_heals_itself_and_loses_nothing(
    pg_db: Database,
    observed_api: ObservedBotAPI,
    launch: Launch,
    http: httpx.AsyncClient,
    variant: Variant,
    report: list[Counts],
) -> None:
    api = observed_api
    target = urlsplit(pg_db.url)
    assert target.hostname is not None and target.port is not None
    async with DatabaseOutage(target.hostname, target.port) as outage:
        proxied = pg_db.url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{outage.listening_port}")
        houqin = launch("houqin", polling_env(proxied, api))
        uptime = Uptime()
        await start_polling(houqin, api)
        uptime.mark_up()
        deadline = time.monotonic() + 120

        async with DeliveryLedger(pg_db.url) as ledger:
            transport = PollingTransport(ledger, uptime, patience=3.0)
            people = [ScriptedPerson(api, api.user(6101 + i, f"员工{i + 1}"), transport) for i in range(4)]

            async def report_repairs(person: ScriptedPerson) -> None:
                plans = variant.rng(f"outage-{person.user.user_id}")
                for n in range(1, 4):
                    await person.converse(make_plan(plans, person.user.first_name, n), deadline)

            reporting = asyncio.ensure_future(asyncio.gather(*(report_repairs(p) for p in people)))
            # Mid-load: some conversations under way, none finished by everyone.
            await wait_until(lambda: len(ledger.replied) >= 8, 60, "the load to get going")
            replied_before = len(ledger.replied)

            uptime.mark_down()  # people wait for an answer instead of giving up on it
            outage.cut()
            cut_at = time.monotonic()
            unhealthy_seen = False
            while time.monotonic() - cut_at < OUTAGE_SECONDS:
                unhealthy_seen = unhealthy_seen or await health(http, houqin.base_url) == 503
                await asyncio.sleep(0.2)
            handled_while_down = len(ledger.replied) - replied_before

            outage.restore()
            back_at = time.monotonic()
            while await health(http, houqin.base_url) != 200:
                assert time.monotonic() - back_at < RECOVERY_LIMIT, "not healthy again within 10 s"
                await asyncio.sleep(0.1)
            recovered_in = time.monotonic() - back_at
            uptime.mark_up()

            await reporting
            await wait_until(lambda: api.pending_updates == 0, 30, "every update to be fetched")
            probe = api.user(6199, "探针").send_text("/help")
            await wait_until(lambda: str(probe["update_id"]) in ledger.replied, 30, "the probe's answer")
        await houqin.stop()

    # Waiting out the outage is Houqin's job: nobody is told their message failed.
    apology = translate("zh_CN", "dialog.error.internal")
    apologised = [m.text for p in people for m in p.chat if apology in (m.text or "")]
    conversations = [c for person in people for c in person.conversations]
    sent = [int(u["update_id"]) for person in people for u in person.updates]
    tickets = await audit_tickets(pg_db, conversations)
    deliveries = await audit_deliveries(pg_db, [*sent, int(probe["update_id"])])
    report.append(
        Counts(
            "db-outage",
            {
                "outage_s": OUTAGE_SECONDS,
                "connections_refused": outage.refused,
                "unhealthy_seen": unhealthy_seen,
                "recovered_in_s": round(recovered_in, 2),
                "answered_while_down": handled_while_down,
                "apologies": len(apologised),
                "conversations": len(conversations),
                "finished": sum(c.done for c in conversations),
                "updates_sent": len(sent),
                "tickets_checked": tickets.checked,
                "lost": len(tickets.lost),
                "duplicated": len(tickets.duplicated),
                "partial": len(tickets.partial),
            },
        )
    )
    assert unhealthy_seen, "/healthz never said 503 while the database was unreachable"
    assert recovered_in <= RECOVERY_LIMIT
    assert apologised == []
    assert all(c.done for c in conversations), [c for c in conversations if not c.done]
    assert not tickets.problems, "\n".join(tickets.problems)
    assert not deliveries.unexpected and not deliveries.without_outcome, deliveries
    assert not deliveries.missing and not deliveries.unreplied, deliveries
    assert not houqin.tracebacks(), "\n".join(houqin.tracebacks())

"""What a channel is to the service, and the pieces every channel shares.

A channel translates one platform to the core and back, nothing more: its platform library
(python-telegram-bot, Bolt, Starlette for the browser) does the platform's work. It never touches
the database itself (tests/test_imports.py): what it must know it asks handlers for.

The conventions every channel keeps, so a new one need not rediscover them:
- every Inbound carries the platform's delivery key (an update id, a trigger id, a client id), and
  `Houqin.handle` answers a repeat with the first handling's outcome; the channel sends the replies,
  then `Houqin.mark_replied(outcome)`;
- a file's bytes are fetched before `handle` (never while its transaction is open), within the
  limits below (`fetch_document`);
- notices to other people are sent paced (pacing.Pacer) within the channel's share of its send
  budget (pacing.BudgetShare), a card edited in place where the platform can;
- what the core writes names commands as the channel types them (`command_syntax`);
- its transport library's loggers are named in its ChannelKind, so they stay quiet (registry.py).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from handlers.core.conversation import MAX_DOCUMENT, DocumentIn

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from bot.settings import Settings
    from handlers.core.engine import Houqin
    from handlers.core.outbox import Outbox, Pending

# A little over the photo step's own limit, so an oversized photo gets the step's own message.
MAX_PHOTO_BYTES = 11 * 1024 * 1024


class Channel(Protocol):
    """One platform, running inside the service."""

    @property
    def name(self) -> str:
        """The channel of its accounts (channel_accounts.channel, delivery keys, the outbox)."""
        ...

    @property
    def label(self) -> str:
        """How it runs, for the log and /healthz: "telegram (polling)"."""
        ...

    def routes(self) -> list[BaseRoute]:
        """What it serves on Houqin's ASGI app (none when it reaches its platform itself)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def command_syntax(self, command: str) -> str:
        """How a command the words tell people to type is typed here: /my, or Slack's /houqin my."""
        ...


class SendsNotices(Protocol):
    """A channel that pushes outbox notices (Telegram, Slack); the browser page fetches its own."""

    async def send_notice(self, pending: Pending) -> str | None:
        """One notice, paced: the card it replaces (pending.card_ref) edited in place where the platform
        can, else sent anew. Returns what now shows it (kept as its card ref); raises outbox.Unreachable
        or outbox.RetryLater as the platform answers."""
        ...


ChannelBuilder = Callable[["Settings", "Houqin", "Outbox"], Channel]


@dataclass(frozen=True)
class ChannelKind:
    """A channel the service can run: when it is on, how it is built, and which of its transport's
    loggers would write what people said (kept at INFO or above, registry.quieten_transport)."""

    name: str
    enabled: Callable[[Settings], bool]
    # "package.module:Builder", called with (settings, houqin, outbox); imported only when the channel
    # is on: Bolt and its SDK alone are a third of a cold start.
    builder: str
    transport_loggers: tuple[str, ...] = ()
    # Its platform keeps the organisation's membership (ACCESS_POLICY=directory lets its users in):
    # a Slack request is signed by the workspace, so whoever sends one is in the workspace.
    directory: bool = False

    def build(self, settings: Settings, houqin: Houqin, outbox: Outbox) -> Channel:
        module, _, attribute = self.builder.partition(":")
        make: ChannelBuilder = getattr(importlib.import_module(module), attribute)
        return make(settings, houqin, outbox)


# Below these levels they log every message's words and every SQL parameter next to the chat it came
# from, which would put an anonymous survey answer beside its author: whatever LOG_LEVEL says.
SHARED_TRANSPORT_LOGGERS: Mapping[str, int] = {
    # httpx logs every request URL at INFO, and a Telegram URL contains the bot token.
    "httpx": logging.WARNING,
    "httpcore": logging.INFO,
    "aiosqlite": logging.INFO,
    "asyncpg": logging.INFO,
    "sqlalchemy.engine": logging.WARNING,
}


async def fetch_document(document: DocumentIn, fetch: Callable[[], Awaitable[bytes | None]]) -> DocumentIn:
    """A shared file with its bytes, fetched (before the core's transaction) when the platform gives
    them within MAX_DOCUMENT; otherwise as it came, and the core says why it cannot be read."""
    if document.content is not None or (document.size is not None and document.size > MAX_DOCUMENT):
        return document
    content = await fetch()
    if content is None:
        return document
    return replace(document, content=content, size=len(content))

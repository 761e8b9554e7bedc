"""A person chatting with Houqin in Telegram: real python-telegram-bot, real HTTP, a fake Bot API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from handlers.core import keys
from handlers.core.discreet import sealed_key
from handlers.core.outbox import GIVE_UP_AFTER, due_by
from storage.db import Database
from storage.models import OutboxMessage, ProcessedDelivery, utcnow
from tests.fakes.telegram_api import FakeBotAPI, FakeMessage, FakeUser

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


# How long a person waits for Houqin to handle what they did and send its replies.
WAIT = 10.0
# A file to import is parsed in a child process that may take its parser's Limits.seconds (10 s) by
# itself before the handling starts: waiting no longer than that would fail a slow machine, not Houqin.
FILE_WAIT = 30.0


@dataclass(eq=False)
class Heard:
    """The messages Houqin sent in answer to one thing the person did."""

    messages: list[FakeMessage]

    def __eq__(self, other: object) -> bool:
        # Lets a test say `assert await person.says("...") == ["what Houqin says back"]`.
        return self.texts == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @property
    def texts(self) -> list[str]:
        return [m.text or "" for m in self.messages]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def __contains__(self, fragment: str) -> bool:
        return fragment in self.text


class TelegramPerson:
    def __init__(self, api: FakeBotAPI, db: Database, user: FakeUser) -> None:
        self.api, self.db, self.user = api, db, user

    @property
    def chat(self) -> list[FakeMessage]:
        return self.api.messages(self.user.chat_id)

    async def says(self, text: str) -> Heard:
        return await self._does(lambda: self.user.send_text(text))

    async def sends_photo(self, content: bytes = PNG_BYTES) -> Heard:
        return await self._does(lambda: self.user.send_photo(content))

    async def sends_sticker(self) -> Heard:
        return await self._does(self.user.send_sticker)

    async def sends_document(self, filename: str, mime: str) -> Heard:
        return await self._does(lambda: self.user.send_document(filename, mime))

    async def sends_file(self, filename: str, mime: str, content: bytes, caption: str | None = None) -> Heard:
        """A file sent as a document, perhaps with a caption (a spreadsheet captioned /stock import)."""
        return await self._does(lambda: self.user.send_document(filename, mime, content, caption), FILE_WAIT)

    async def presses(self, label: str) -> Heard:
        """Press the newest button whose label starts with `label`, as a person tapping the screen would."""
        for message in reversed(self.chat):
            for button in message.buttons:
                if str(button["text"]).startswith(label):
                    return await self.presses_data(message.message_id, str(button["callback_data"]))
        raise AssertionError(f"no button {label!r} on screen; buttons: {self.buttons_on_screen()}")

    async def presses_data(self, message_id: int, data: str, *, strict: bool = True) -> Heard:
        return await self._does(lambda: self.user.press(message_id, data, strict=strict))

    def buttons_on_screen(self) -> list[str]:
        return [str(b["text"]) for m in self.chat for b in m.buttons]

    def latest(self, fragment: str) -> FakeMessage:
        """The newest message in this chat containing `fragment` (cards are edited in place)."""
        for message in reversed(self.chat):
            if fragment in (message.text or ""):
                return message
        raise AssertionError(f"{self.user.first_name} never saw {fragment!r}; chat: {[m.text for m in self.chat]}")

    def card(self, number: str) -> FakeMessage:
        cards = [m for m in self.chat if (m.text or "").startswith(f"🔧 {number}")]
        assert len(cards) == 1, f"expected one card for {number}, found {len(cards)}"
        return cards[0]

    async def _does(self, act: Any, wait: float = WAIT) -> Heard:
        before = len(self.chat)
        update = act()
        await handled(self.db, update["update_id"], wait)
        await notices_delivered(self.db)
        return Heard(self.chat[before:])


async def handled(db: Database, update_id: int, timeout: float = WAIT) -> None:  # noqa: ASYNC109
    """Wait until Houqin has handled the update and sent its replies (it marks the delivery replied).
    A discreet one (an anonymous answer) is kept under its sealed key, which the server key makes."""
    async with asyncio.timeout(timeout):
        while True:
            async with db.unit_of_work(brief=True) as session:
                sealed = sealed_key(await keys.server_key(session), "telegram", str(update_id))
                replied = await session.scalar(
                    select(ProcessedDelivery.replied_at).where(
                        ProcessedDelivery.channel == "telegram", ProcessedDelivery.key.in_((str(update_id), sealed))
                    )
                )
            if replied is not None:
                return
            await asyncio.sleep(0.01)


async def notices_delivered(db: Database, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until every notice queued for Telegram has gone out (cards, status updates to others).

    Notices for people who use the browser chat wait for their page to ask; they don't count here.
    """
    async with asyncio.timeout(timeout):
        while True:
            async with db.unit_of_work(brief=True) as session:
                waiting = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.channel == "telegram", OutboxMessage.sent_at.is_(None))
                    # A notice held back until later (a low rating waiting for its comment) is not due yet.
                    .where(due_by(utcnow()))
                    .where(OutboxMessage.attempts < GIVE_UP_AFTER)
                )
            if not waiting:
                return
            await asyncio.sleep(0.01)

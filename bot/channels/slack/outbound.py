"""What Houqin sends to Slack: answers in a person's DM, and outbox notices (cards edited in place
with chat.update, files uploaded), paced per conversation.

Each conversation's claimed notices go to a sender of their own, in order, at about one a second;
the drain never waits for a slow one, and a 429 holds only its conversation for its Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.pacing import NOTICE_POLL_SECONDS, PATIENCE_SECONDS, BudgetShare, Pacer
from bot.channels.slack import blocks
from handlers.core.conversation import FileOut, Reply
from handlers.core.i18n import commands_typed
from handlers.core.outbox import (
    STOP_GRACE_SECONDS,
    Outbox,
    Pending,
    RetryLater,
    Unreachable,
    drain,
    finish,
    keep_draining,
)

log = logging.getLogger(__name__)
CHANNEL = "slack"
# Notices claimed for one conversation at a time: at ~1 a second, well inside a claim's 2 minutes.
MAX_QUEUED_PER_CONVERSATION = 30
# Slack's chat.postMessage allows about one message a second per conversation (short bursts above it);
# overall, this many a second from all Houqin processes together (split through handlers/core/budget.py).
SEND_RATE = 10.0
CONVERSATION_INTERVAL = 1.0
# Slack errors that mean this person cannot be written to any more.
UNREACHABLE = frozenset(
    {"channel_not_found", "is_archived", "account_inactive", "user_not_found", "cannot_dm_bot", "user_disabled"}
)
# chat.update errors after which the card is posted anew instead.
CARD_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


class Outbound:
    def __init__(self, client: AsyncWebClient, outbox: Outbox) -> None:
        self.client = client
        self.outbox = outbox
        self.pacer = Pacer(SEND_RATE, chat_interval=CONVERSATION_INTERVAL)
        self.budget = BudgetShare(self.pacer, CHANNEL, outbox)
        self._sender: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._chains: set[asyncio.Task[int]] = set()
        self._order: dict[str, asyncio.Lock] = {}
        self._queued: dict[str, int] = {}

    async def post_replies(self, conversation: str, replies: Sequence[Reply]) -> None:
        """Answers to the person's own action, in their DM."""
        # Not paced (as in Telegram): they are few, and must not queue behind a fan-out of notices.
        for reply in replies:
            if reply.text or reply.buttons:
                await self.post_own_reply(conversation, reply)
            await self.send_files(conversation, reply.files)

    async def post_own_reply(self, conversation: str, reply: Reply) -> None:
        """An answer to the person's own action: on a 429 it waits out Retry-After once (this
        conversation only, in its own task) rather than being lost."""
        text, shown = blocks.fallback_text(reply), blocks.message_blocks(reply)
        try:
            await self.client.chat_postMessage(channel=conversation, text=text, blocks=shown)
        except SlackApiError as exc:
            if exc.response.status_code != 429:
                raise
            wait = retry_after(exc)
            self.hold(conversation, wait)
            await asyncio.sleep(wait)
            await self.client.chat_postMessage(channel=conversation, text=text, blocks=shown)

    def hold(self, conversation: str, seconds: float) -> None:
        """Slack said 429: nothing more to this conversation for Retry-After, from anyone here."""
        self.pacer.hold(conversation, seconds)

    async def send_photos(self, conversation: str, photo_ids: Sequence[int]) -> None:
        """A new card comes with the ticket's photos above it, uploaded from the bytes Houqin keeps
        (a photo Telegram keeps by its own file id only cannot be shown here)."""
        for photo_id in photo_ids:
            photo = await self.outbox.photo(photo_id)
            if photo is None or not photo.content:
                continue
            name = f"photo-{photo_id}.{(photo.content_type or 'image/jpeg').rpartition('/')[2]}"
            await self.client.files_upload_v2(channel=conversation, content=photo.content, filename=name)

    async def send_files(self, conversation: str, files: Sequence[FileOut]) -> None:
        """Files made for this person (an export, a chart), uploaded into the conversation."""
        for file in files:
            kept = await self.outbox.file(file.id)
            if kept is None:
                log.warning("file %s is gone; not sent to %s", file.id, conversation)
                continue
            await self.client.files_upload_v2(
                channel=conversation, content=kept.content, filename=kept.name, title=kept.name
            )

    async def retire(self, channel: str, ts: str, message: dict[str, Any], chosen: str | None) -> None:
        """The pressed question keeps its text and shows the answer; its buttons go."""
        try:
            await self.client.chat_update(
                channel=channel,
                ts=ts,
                text=str(message.get("text") or " "),
                blocks=blocks.retired(message.get("blocks") or [], chosen),
            )
        except SlackApiError as exc:
            log.info("could not retire the buttons of %s (%s)", ts, exc.response.get("error"))

    # --- notices to other people (the outbox) ---------------------------------------------------

    def start(self) -> None:
        self._sender = asyncio.create_task(self._send_notices(), name="slack-outbox")

    async def stop(self) -> None:
        """Claim nothing new; let each conversation's notices in hand go out within the grace, then
        let go of the rest (their claims expire and they are sent later, once)."""
        await finish(self._sender, self._stopping, self._wake)
        if self._chains:
            await asyncio.wait(list(self._chains), timeout=STOP_GRACE_SECONDS)
        for chain in list(self._chains):
            chain.cancel()
        await asyncio.gather(*self._chains, return_exceptions=True)

    def wake(self) -> None:
        """Something was queued: send it now rather than at the next poll."""
        self._wake.set()

    async def _send_notices(self) -> None:
        """Claim what the core queued for Slack and hand each conversation's rows to its own sender,
        without waiting for them: a conversation held back by its pace (or a 429) waits alone.
        Notices are rendered as they are claimed, naming commands as Slack types them."""
        with commands_typed(blocks.typed_in_slack):
            await keep_draining(
                self.hand_out, self._wake, "draining the Slack outbox", NOTICE_POLL_SECONDS, self._stopping
            )

    async def hand_out(self) -> int:
        """Claim a batch and start a sender per conversation in it; returns how many rows were claimed."""
        batch = await self.outbox.claim(CHANNEL)
        for conversation, items in by_conversation(batch).items():
            # A conversation with a long queue already: the rest waits in the outbox (unclaimed, no
            # attempt spent) rather than outliving its claim in memory.
            room = max(0, MAX_QUEUED_PER_CONVERSATION - self._queued.get(conversation, 0))
            for later in items[room:]:
                await self.outbox.failed(later, "paced", timedelta(seconds=NOTICE_POLL_SECONDS), tried=False)
            if items[:room]:
                task = asyncio.create_task(self._send_in_order(conversation, items[:room]))
                self._chains.add(task)
                task.add_done_callback(self._chains.discard)
        return len(batch)

    def _send_in_order(self, conversation: str, items: list[Pending]) -> Coroutine[Any, Any, int]:
        # Counted now, as the work is handed out, not when it starts.
        self._queued[conversation] = self._queued.get(conversation, 0) + len(items)
        return self._sending(conversation, items)

    async def _sending(self, conversation: str, items: list[Pending]) -> int:
        lock = self._order.setdefault(conversation, asyncio.Lock())
        try:
            async with lock:  # FIFO: a conversation's notices go out in the order they were claimed
                return await drain(self.outbox, CHANNEL, self.send_notice, items)
        finally:
            self._queued[conversation] -= len(items)
            if not self._queued[conversation]:
                del self._queued[conversation]
                if not lock.locked():
                    self._order.pop(conversation, None)

    async def drain_once(self) -> int:
        """One claimed batch sent to the end (each conversation in order, all at once); for tests and
        tools that want to see it done."""
        with commands_typed(blocks.typed_in_slack):
            batch = await self.outbox.claim(CHANNEL)
        counts = await asyncio.gather(
            *(self._send_in_order(conversation, items) for conversation, items in by_conversation(batch).items())
        )
        return sum(counts)

    async def send_notice(self, pending: Pending) -> str | None:
        """One notice: chat.update of the card it replaces when there is one, else a new message (its ts)."""
        held = self.pacer.held_for(pending.address)
        if held > PATIENCE_SECONDS:
            raise RetryLater(f"held for {held:.0f}s", timedelta(seconds=held), tried=False)
        await self.budget.refresh()
        await self.pacer.wait(pending.address)
        text, shown = blocks.fallback_text(pending.reply), blocks.message_blocks(pending.reply)
        try:
            if pending.card_ref is not None:
                try:
                    await self.client.chat_update(channel=pending.address, ts=pending.card_ref, text=text, blocks=shown)
                    return pending.card_ref
                except SlackApiError as exc:
                    if exc.response.get("error") not in CARD_GONE:
                        raise
                    log.info("card %s could not be updated; posting it anew", pending.card_ref)
            await self.send_photos(pending.address, pending.photos)
            ref = None
            if pending.reply.text or pending.reply.buttons:
                sent = await self.client.chat_postMessage(channel=pending.address, text=text, blocks=shown)
                ref = str(sent["ts"])
            await self.send_files(pending.address, pending.reply.files)
            return ref
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if exc.response.status_code == 429:
                wait = retry_after(exc)
                self.hold(pending.address, wait)
                raise RetryLater(f"ratelimited for {wait:.0f}s", timedelta(seconds=wait)) from exc
            if error in UNREACHABLE:
                raise Unreachable(error) from exc
            raise


def by_conversation(batch: Sequence[Pending]) -> dict[str, list[Pending]]:
    grouped: dict[str, list[Pending]] = {}
    for item in batch:
        grouped.setdefault(item.address, []).append(item)
    return grouped


def retry_after(exc: SlackApiError) -> float:
    headers = {str(k).lower(): v for k, v in (exc.response.headers or {}).items()}
    try:
        return max(1.0, float(headers.get("retry-after") or 1))
    except ValueError:
        return 1.0

"""Marking deliveries replied, committed together when many arrive at once (a group commit).

Once a channel has sent an update's replies it marks the delivery replied (so a redelivery does not
send them again) and notes where the new buttons are shown. That is a transaction of its own per
update, as long as the update's handling. Under load, marks that arrive while one is being committed
wait for the next commit and share it: each caller still returns only once its mark is committed,
so nothing about what a redelivery sees changes, but a busy process pays for one transaction where
it paid for many. Alone, a mark commits at once, as before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.conversation import Outcome
from handlers.core.discreet import day_of
from storage.db import Database, is_outage
from storage.models import DialogState, ProcessedDelivery


@dataclass(frozen=True)
class Mark:
    outcome: Outcome
    prompt_ref: str | None
    at: datetime


# What a discreet delivery's record keeps once replied: that it was, and nothing said or whose.
FORGOTTEN: dict[str, Any] = {"replies": [], "discreet": True}


async def apply(session: AsyncSession, mark: Mark) -> None:
    outcome = mark.outcome
    replied: dict[str, Any] = {"replied_at": mark.at}
    if outcome.discreet:
        # Sent: the words of an anonymous answer's turn are not kept for a redelivery, nor its moment.
        replied = {"at": day_of(mark.at), "replied_at": day_of(mark.at), "outcome": FORGOTTEN}
    await session.execute(
        update(ProcessedDelivery)
        .where(ProcessedDelivery.id == outcome.delivery_id, ProcessedDelivery.replied_at.is_(None))
        .values(**replied)
    )
    if outcome.dialog_id is not None and (mark.prompt_ref is not None or outcome.discreet):
        # A bulk UPDATE: it must not bump the version the buttons just sent carry. And only if the
        # dialog has not moved on since (a redelivered question re-sent late). After a discreet turn
        # the row is written again even without new buttons: on PostgreSQL a row carries the id of
        # the transaction that last wrote it (xmin), and the person's dialog must not keep the one
        # their anonymous answer was written in.
        where = [DialogState.id == outcome.dialog_id]
        if outcome.dialog_version is not None:
            where.append(DialogState.version == outcome.dialog_version)
        prompt = mark.prompt_ref if mark.prompt_ref is not None else DialogState.prompt_ref
        await session.execute(
            update(DialogState).where(*where).values(prompt_ref=prompt).execution_options(synchronize_session=False)
        )


class ReplyMarks:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: list[tuple[Mark, asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def mark(self, mark: Mark) -> None:
        """Returns once `mark` is committed; raises what its commit raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((mark, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_all())
        # A caller cancelled meanwhile cancels only its own future; the commit goes on for the rest.
        await done

    async def _commit_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await self._commit_batch(batch)
            except BaseException:  # cancelled (the loop is closing): nobody waits for these any more
                for _, done in batch:
                    if not done.done():
                        done.cancel()
                raise

    async def _commit_batch(self, batch: list[tuple[Mark, asyncio.Future[None]]]) -> None:
        try:
            await self._commit(batch)
        except Exception as exc:
            if len(batch) > 1 and not is_outage(exc):
                # One mark the database refuses must not fail the others that shared its commit
                # (their channels would send those replies again): each is tried on its own.
                for one in batch:
                    await self._commit_alone(one)
                return
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
        else:
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _commit(self, batch: list[tuple[Mark, asyncio.Future[None]]]) -> None:
        async with self.db.unit_of_work(brief=True) as session:
            for mark, _ in batch:
                await apply(session, mark)

    async def _commit_alone(self, one: tuple[Mark, asyncio.Future[None]]) -> None:
        done = one[1]
        try:
            await self._commit([one])
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)

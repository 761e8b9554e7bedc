"""Twenty people answered at once: their channels mark the twenty deliveries replied together, in
one commit, and each hears back only once its own mark is committed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from handlers.core import replied
from handlers.core.conversation import Inbound, Kind, Outcome, Sender
from handlers.core.engine import Houqin
from storage.db import Database
from storage.models import DialogState, ProcessedDelivery
from tests.faults import database_refuses

PEOPLE = 20


async def everyone_says_repair(houqin: Houqin) -> list[Outcome]:
    return [
        await houqin.handle(
            Inbound(Sender("telegram", str(n), str(n), f"员工{n}", "zh-hans"), Kind.COMMAND, f"k{n}", command="repair")
        )
        for n in range(PEOPLE)
    ]


def counting_commits(houqin: Houqin) -> list[int]:
    commits: list[int] = []

    def committed(_connection: Any) -> None:
        commits.append(1)

    event.listen(houqin.db.engine.sync_engine, "commit", committed)
    return commits


async def test_marks_arriving_together_share_one_commit_and_each_returns_committed(
    db: Database, separate_process: Callable[..., Houqin]
) -> None:
    houqin = separate_process()
    asked = await everyone_says_repair(houqin)
    commits = counting_commits(houqin)

    async def reply_and_check(outcome: Outcome, n: int) -> None:
        await houqin.mark_replied(outcome, prompt_ref=f"message-{n}")
        async with db.unit_of_work() as session:  # another connection: committed, not merely flushed
            delivery = await session.get(ProcessedDelivery, outcome.delivery_id)
            assert delivery is not None and delivery.replied_at is not None
            assert (
                await session.scalar(select(DialogState.prompt_ref).where(DialogState.id == outcome.dialog_id))
                == f"message-{n}"
            )

    await asyncio.gather(*(reply_and_check(outcome, n) for n, outcome in enumerate(asked)))
    assert len(commits) <= 2, f"{PEOPLE} marks took {len(commits)} commits"

    # Alone, a mark commits at once, as it always did.
    again = await houqin.handle(
        Inbound(Sender("telegram", "0", "0", "员工0", "zh-hans"), Kind.COMMAND, "again", command="help")
    )
    await houqin.mark_replied(again)
    assert len(commits) <= 3


async def test_a_failed_commit_fails_every_mark_in_it_and_the_next_ones_still_go(
    db: Database, separate_process: Callable[..., Houqin], monkeypatch: pytest.MonkeyPatch
) -> None:
    houqin = separate_process()
    asked = await everyone_says_repair(houqin)
    real_apply = replied.apply

    async def broken(session: Any, mark: replied.Mark) -> None:
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(replied, "apply", broken)
    failed = await asyncio.gather(*(houqin.mark_replied(o) for o in asked[:5]), return_exceptions=True)
    assert all(isinstance(result, ConnectionResetError) for result in failed)

    monkeypatch.setattr(replied, "apply", real_apply)
    await asyncio.gather(*(houqin.mark_replied(o) for o in asked))
    async with db.unit_of_work() as session:
        unmarked = await session.scalars(select(ProcessedDelivery.id).where(ProcessedDelivery.replied_at.is_(None)))
        assert unmarked.all() == []


async def test_a_mark_the_database_refuses_fails_alone_and_the_others_in_its_commit_go(
    db: Database, separate_process: Callable[..., Houqin]
) -> None:
    houqin = separate_process()
    asked = await everyone_says_repair(houqin)
    bad = asked[0].delivery_id
    async with database_refuses(db, "processed_deliveries", on="UPDATE", when=f"NEW.id = {bad}"):
        results = await asyncio.gather(*(houqin.mark_replied(o) for o in asked[:5]), return_exceptions=True)
        assert isinstance(results[0], IntegrityError) and results[1:] == [None] * 4
        async with db.unit_of_work() as session:
            unmarked = await session.scalars(
                select(ProcessedDelivery.id).where(
                    ProcessedDelivery.id.in_([o.delivery_id for o in asked[:5]]), ProcessedDelivery.replied_at.is_(None)
                )
            )
            assert unmarked.all() == [bad]
        # Refused again alone, as often as it is tried; the others are not held back by it.
        assert isinstance((await asyncio.gather(houqin.mark_replied(asked[0]), return_exceptions=True))[0], Exception)
    await houqin.mark_replied(asked[0])  # the fault gone, it goes too
    async with db.unit_of_work() as session:
        delivery = await session.get(ProcessedDelivery, bad)
        assert delivery is not None and delivery.replied_at is not None

"""Two Houqin processes on one database, answering for the same person at the same moment."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from handlers.core.conversation import Inbound, Kind, Outcome, Sender
from handlers.core.engine import Houqin
from storage.db import Database
from storage.models import DialogState, ProcessedDelivery, Ticket

SENDER = Sender("telegram", "3001", "3001", "冯", "zh-hans")


@pytest.fixture
def two_processes(separate_process: Callable[..., Houqin]) -> tuple[Houqin, Houqin]:
    return separate_process(), separate_process()


def said(key: str, kind: Kind, text: str = "", command: str = "") -> Inbound:
    return Inbound(SENDER, kind, key, text=text, command=command)


def payload(outcome: Outcome, label: str) -> str:
    return next(b.payload for r in outcome.replies for row in r.buttons for b in row if b.label.startswith(label))


async def test_two_presses_at_once_move_the_dialog_once(db: Database, two_processes: tuple[Houqin, Houqin]) -> None:
    a, b = two_processes
    asked = await a.handle(said("1", Kind.COMMAND, command="repair"))
    electrical, plumbing = payload(asked, "电气"), payload(asked, "给排水")

    one, other = await asyncio.gather(
        a.handle(said("2", Kind.BUTTON, electrical)), b.handle(said("3", Kind.BUTTON, plumbing))
    )
    moved = [o for o in (one, other) if o.chosen is not None]
    refused = [o for o in (one, other) if o.chosen is None]
    assert len(moved) == 1 and len(refused) == 1
    assert refused[0].replies[0].text == "这个按钮已经过期了，请使用最新消息中的按钮。"
    async with db.unit_of_work() as session:
        state = await session.scalar(select(DialogState))
        assert state is not None and state.step == "location"
        assert state.data["category"] == ("electrical" if moved[0] is one else "plumbing")


async def test_the_same_delivery_racing_in_two_processes_makes_one_ticket(
    db: Database, two_processes: tuple[Houqin, Houqin]
) -> None:
    a, b = two_processes
    out = await a.handle(said("1", Kind.COMMAND, command="repair"))
    for key, label in [("2", "电气"), ("3", "行政楼"), ("4", "101")]:
        out = await a.handle(said(key, Kind.BUTTON, payload(out, label)))
    out = await a.handle(said("5", Kind.TEXT, "大厅的吊灯有一半不亮"))
    out = await a.handle(said("6", Kind.BUTTON, payload(out, "跳过")))
    out = await a.handle(said("7", Kind.BUTTON, payload(out, "紧急")))
    submit = said("8", Kind.BUTTON, payload(out, "✔"))

    first, second = await asyncio.gather(a.handle(submit), b.handle(submit))
    assert sorted([first.duplicate, second.duplicate]) == [False, True]
    assert first.replies[0].text == second.replies[0].text  # the duplicate hands back the same answer
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1
        assert await session.scalar(select(func.count()).select_from(ProcessedDelivery)) == 8


async def test_many_first_contacts_at_once_make_one_person(db: Database, two_processes: tuple[Houqin, Houqin]) -> None:
    a, b = two_processes
    outcomes = await asyncio.gather(
        *((a if i % 2 else b).handle(said(f"hello-{i}", Kind.COMMAND, command="start")) for i in range(6))
    )
    assert all(o.replies[0].text.startswith("你好，冯！") for o in outcomes)
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(DialogState)) == 1

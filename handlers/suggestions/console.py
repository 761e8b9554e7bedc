"""The suggestion box in the web console, for the logistics office (suggest.office): the inbox (status,
topic, search, a page at a time), a suggestion's thread, and the office's reply and status — the chat's
own box.office_reply and box.set_status, so the suggester hears of it the same way (through the sealed
route when anonymous: nobody here learns who wrote it, as nobody in chat does)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from handlers.core import console, ids
from handlers.core.console import Paged, Viewer
from handlers.core.i18n import Msg, Renderable, msg
from handlers.core.refusals import Refused
from handlers.suggestions import box
from storage.models import Suggestion, SuggestionMessage

ACTION = "suggest.office"
MOVES = ("review", "adopted", "declined")


def statuses() -> tuple[str, ...]:
    return box.STATUSES


def topics() -> tuple[str, ...]:
    return box.TOPICS


@dataclass(frozen=True)
class SuggestionFilters:
    status: str = ""
    topic: str = ""
    search: str = ""
    page: int = 1

    def query(self, **changed: Any) -> dict[str, str]:
        values = {"status": self.status, "topic": self.topic, "q": self.search, "page": str(self.page)}
        return console.query_string(values, changed)


def filters_from(params: Mapping[str, str]) -> SuggestionFilters:
    status, topic = params.get("status", ""), params.get("topic", "")
    return SuggestionFilters(
        status=status if status in (*statuses(), "waiting") else "",
        topic=topic if topic in topics() else "",
        search=params.get("q", "").strip()[:60],
        page=console.page_number(params),
    )


@dataclass(frozen=True)
class SuggestionRow:
    id: int
    number: str
    topic: str
    status: str
    named: bool
    votes: int
    excerpt: str
    updated_at: datetime


async def inbox(viewer: Viewer, filters: SuggestionFilters) -> Paged[SuggestionRow]:
    where: list[ColumnElement[bool]] = []
    if filters.status == "waiting":
        where.append(Suggestion.status.in_(("received", "review")))
    elif filters.status:
        where.append(Suggestion.status == filters.status)
    if filters.topic:
        where.append(Suggestion.topic == filters.topic)
    if filters.search:
        where.append(console.matching(filters.search, Suggestion.body))
    total = int(await viewer.session.scalar(select(func.count(Suggestion.id)).where(*where)) or 0)
    page = console.within(filters.page, total)
    found = await viewer.session.scalars(
        select(Suggestion)
        .where(*where)
        .order_by(Suggestion.updated_at.desc(), Suggestion.id.desc())
        .offset((page - 1) * console.PER_PAGE)
        .limit(console.PER_PAGE)
    )
    rows = [
        SuggestionRow(s.id, box.number(s), s.topic, s.status, s.named, s.upvotes, s.body[:80], s.updated_at)
        for s in found.all()
    ]
    return Paged(rows, page, console.PER_PAGE, total)


@dataclass(frozen=True)
class Said:
    who: Renderable
    body: str
    at: datetime


@dataclass(frozen=True)
class Thread:
    suggestion: Suggestion
    card: Msg
    messages: list[Said]
    moves: tuple[str, ...]


async def find(viewer: Viewer, ref: str) -> Suggestion:
    suggestion_id = ids.parse_id(ref.strip().lstrip("#"))
    found = await viewer.session.get(Suggestion, suggestion_id) if suggestion_id is not None else None
    if found is None:
        raise Refused(msg("suggest.error.not_found", number=ref[:12]), audit=False)
    return found


async def thread(viewer: Viewer, ref: str) -> Thread:
    """The suggestion as the office's card says it, and its thread: the office's people by name, the
    suggester only as "the suggester" (anonymous or not, as /suggest N shows it)."""
    suggestion = await find(viewer, ref)
    messages = (
        await viewer.session.scalars(
            select(SuggestionMessage)
            .where(SuggestionMessage.suggestion_id == suggestion.id)
            .order_by(SuggestionMessage.id)
        )
    ).all()
    names = {p.id: p.display_name for p in await box.office_people(viewer.session)}
    said = [
        Said(
            msg("suggest.by_office", name=names.get(m.author_id or 0, "—"))
            if m.from_office
            else msg("suggest.by_suggester"),
            m.body,
            m.at,
        )
        for m in messages
    ]
    moves = (
        tuple(s for s in MOVES if s != suggestion.status) if suggestion.status not in ("adopted", "declined") else ()
    )
    return Thread(suggestion, await box.card(viewer.session, suggestion), said, moves)


async def act(viewer: Viewer, ref: str, action: str, form: Mapping[str, str]) -> str:
    """The office's reply or a status, through the chat's functions; the catalog key to tell them."""
    ctx = console.step_context(viewer, ())
    suggestion = await find(viewer, ref)
    if action == "reply":
        body = form.get("body", "").strip()[:1000]
        if not body:
            raise Refused(msg("console.error.empty_comment"), audit=False)
        if not box.in_office(viewer.person):
            raise Refused(box.refusal(ctx, "reply", f"suggestion:{suggestion.id}"))
        said = await box.office_reply(ctx, suggestion, body)
        return (
            "console.suggestion.done.reply" if said.key == "suggest.done_reply" else "console.suggestion.done.unreached"
        )
    status = form.get("status", "")
    if action != "status" or status not in MOVES:
        raise Refused(msg("suggest.error.not_found", number=ref[:12]), audit=False)
    if not box.in_office(viewer.person):
        raise Refused(box.refusal(ctx, "status", f"suggestion:{suggestion.id}"))
    outcome = form.get("outcome", "").strip()[:500] or None
    if status == "adopted" and outcome is None:
        # What was done is what "You said, we did" shows: the chat asks for it too.
        raise Refused(msg("console.error.outcome_needed"), audit=False)
    await box.set_status(ctx, suggestion, status, outcome)
    return "console.suggestion.done.status"

"""The suggestion box (建言献策): /suggest, the office's replies and statuses, upvotes, "you said, we did".

A suggestion is named or anonymous. Either way the office answers it by its number and the
suggester hears back through Houqin, and may answer back: a thread. For an anonymous one the
office never learns who: the suggestion keeps only ``route``, the suggester's person id sealed
with the server's key (handlers/core/keys.py). We chose a sealed id over a keyed hash because a reply
must find the person (a hash can only recognise someone already suspected), and over a separate
plain mapping table because a plain table is one careless join or export away from naming them;
the seal opens only inside this module, to address a notice, and no view, list or export shows it.
Anonymous suggestions keep their day, not their time, and their photo moves onto the suggestion
(the dialog's photo row, which names its sender, is deleted).
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, undefer

from handlers.core import audit, authz, ids, keys
from handlers.core.adminkit import MAX_ROWS, Period, when
from handlers.core.area import Area, Export
from handlers.core.console import ConsolePage, Reach, Viewer
from handlers.core.discreet import day_of
from handlers.core.flow import (
    Action,
    ChoiceStep,
    ConfirmStep,
    Flow,
    Option,
    PhotoStep,
    StepContext,
    Submitted,
    TextStep,
    said,
)
from handlers.core.i18n import Lines, Msg, Renderable, msg, translate
from handlers.core.outbox import Notice, notify
from handlers.core.refusals import refused
from handlers.core.sheets import Cell
from handlers.suggestions import demo as suggestion_demo
from storage.models import Person, PersonRole, Photo, Suggestion, SuggestionMessage, SuggestionVote

TOPICS = ("facilities", "canteen", "cleaning", "supplies", "other")
STATUSES = ("received", "review", "adopted", "declined")
MAX_LISTED = 15


# The office that reads, answers and decides suggestions (declared below, judged by handlers/core/authz.py).
THE_OFFICE = authz.rule(*authz.STORES)
OFFICE = authz.holders(THE_OFFICE)


def in_office(person: Person) -> bool:
    return authz.allowed(person, "suggest.office")


def number(suggestion: Suggestion) -> str:
    return f"#{suggestion.id}"


def refusal(ctx: StepContext, action: str, record: str | None) -> Msg:
    return refused(ctx, f"suggest.{action}", record, msg("suggest.error.not_allowed"))


async def office_people(session: AsyncSession) -> list[Person]:
    query = select(Person).join(PersonRole, PersonRole.person_id == Person.id).where(PersonRole.role.in_(OFFICE))
    return list((await session.scalars(query.order_by(Person.id))).unique().all())


async def suggester_of(session: AsyncSession, suggestion: Suggestion) -> int | None:
    """Who wrote it, for addressing a notice only: never shown, listed or exported."""
    if suggestion.named:
        return suggestion.author_id
    if suggestion.route is None:
        return None
    return keys.unseal(await keys.server_key(session), suggestion.route)


def author_label(suggestion: Suggestion, author: Person | None) -> Renderable:
    if suggestion.named and author is not None:
        return msg("suggest.by_name", name=author.display_name)
    return msg("suggest.by_anonymous")


# --- the suggestion flow --------------------------------------------------------------------------


def topic_options() -> tuple[Option, ...]:
    return tuple(Option(topic, msg(f"suggest.topic.{topic}")) for topic in TOPICS)


async def summary(ctx: StepContext) -> Msg:
    return msg(
        "suggest.summary",
        topic=msg(f"suggest.topic.{ctx.data['topic']}"),
        body=ctx.data["body"],
        photo=msg("suggest.with_photo") if ctx.data.get("photo") else "",
        who=msg("suggest.who.named" if ctx.data["who"] == "named" else "suggest.who.anonymous"),
        share=msg("suggest.share.public" if ctx.data["share"] == "public" else "suggest.share.private"),
    )


async def submit_suggestion(ctx: StepContext) -> Submitted:
    named = ctx.data["who"] == "named"
    suggestion = Suggestion(
        topic=ctx.data["topic"] if ctx.data["topic"] in TOPICS else "other",
        body=ctx.data["body"],
        named=named,
        author_id=ctx.person.id if named else None,
        public=ctx.data["share"] == "public",
        status="received",
        upvotes=0,
        photo_channel=None,
        photo_file_id=None,
        photo_content=None,
        photo_content_type=None,
        created_at=ctx.now if named else day_of(ctx.now),
        updated_at=ctx.now if named else day_of(ctx.now),
    )
    if not named:
        suggestion.route = keys.seal(await keys.server_key(ctx.session), ctx.person.id)
    photo_ids = [int(i) for i in ctx.data.get("photo", [])][:1]
    if photo_ids:
        photo = await ctx.session.scalar(
            select(Photo)
            .where(Photo.id == photo_ids[0], Photo.person_id == ctx.person.id, Photo.ticket_id.is_(None))
            .options(undefer(Photo.content))
        )
        if photo is not None:
            suggestion.photo_channel = photo.channel
            suggestion.photo_file_id = photo.file_id
            suggestion.photo_content = photo.content
            suggestion.photo_content_type = photo.content_type
            # The dialog's photo row names its sender: the photo lives on with the suggestion instead.
            await ctx.session.execute(delete(Photo).where(Photo.id == photo.id))
    ctx.session.add(suggestion)
    await ctx.session.flush()
    if named:
        audit.done_at_write(ctx, action="suggest.new", record=f"suggestion:{suggestion.id}")
    await tell_office(ctx, suggestion, None)
    return Submitted(msg("suggest.done", number=number(suggestion)), f"suggestion:{suggestion.id}")


async def photo_for(ctx: StepContext, suggestion: Suggestion, person_id: int) -> tuple[int, ...]:
    """A copy of the suggestion's photo for one reader (photos are shown to whoever owns the row)."""
    if suggestion.photo_file_id is None and suggestion.photo_content is None:
        return ()
    copy = Photo(
        person_id=person_id,
        channel=suggestion.photo_channel or ctx.channel,
        file_id=suggestion.photo_file_id,
        content=suggestion.photo_content,
        content_type=suggestion.photo_content_type,
        size=len(suggestion.photo_content) if suggestion.photo_content else None,
        created_at=ctx.now,
    )
    ctx.session.add(copy)
    await ctx.session.flush()
    return (copy.id,)


def office_buttons(suggestion: Suggestion) -> tuple[tuple[tuple[Renderable, str], ...], ...]:
    ref = f"sg:{suggestion.id}"
    rows: list[tuple[tuple[Renderable, str], ...]] = [((msg("suggest.button.reply"), f"{ref}:reply"),)]
    moves = [status for status in ("review", "adopted", "declined") if status != suggestion.status]
    if suggestion.status not in ("adopted", "declined"):
        rows.append(tuple((msg(f"suggest.button.{status}"), f"{ref}:{status}") for status in moves))
    return tuple(rows)


async def card(session: AsyncSession, suggestion: Suggestion) -> Msg:
    author = await session.get(Person, suggestion.author_id) if suggestion.named and suggestion.author_id else None
    return msg(
        "suggest.card",
        number=number(suggestion),
        topic=msg(f"suggest.topic.{suggestion.topic}"),
        status=msg(f"suggest.status.{suggestion.status}"),
        who=author_label(suggestion, author),
        share=msg("suggest.share.public" if suggestion.public else "suggest.share.private"),
        votes=suggestion.upvotes,
        body=suggestion.body,
    )


async def tell_office(ctx: StepContext, suggestion: Suggestion, extra: Msg | None) -> None:
    """The suggestion's card to everyone in the office (edited in place as it moves), perhaps with news."""
    shown = await card(ctx.session, suggestion)
    text: Renderable = Lines((shown, extra)) if extra is not None else shown
    for person in await office_people(ctx.session):
        photos = await photo_for(ctx, suggestion, person.id) if extra is None else ()
        await notify(ctx.session, Notice(person.id, text, office_buttons(suggestion), photos=photos), ctx.now)


SUGGEST = Flow(
    "suggest",
    msg("suggest.title"),
    msg("suggest.description"),
    (
        ChoiceStep("topic", msg("suggest.ask.topic"), options=topic_options()),
        TextStep("body", msg("suggest.ask.body"), min_length=5, max_length=1000),
        PhotoStep("photo", msg("suggest.ask.photo"), max_photos=1),
        ChoiceStep(
            "who",
            msg("suggest.ask.who"),
            options=(
                Option("anonymous", msg("suggest.who.anonymous")),
                Option("named", msg("suggest.who.named")),
            ),
            columns=1,
        ),
        ChoiceStep(
            "share",
            msg("suggest.ask.share"),
            options=(
                Option("public", msg("suggest.share.public")),
                Option("private", msg("suggest.share.private")),
            ),
            columns=1,
        ),
        ConfirmStep("confirm", msg("suggest.ask.confirm"), summary=summary),
    ),
    submit_suggestion,
    listed=False,
    discreet=True,
)


# --- the thread -----------------------------------------------------------------------------------


async def found(ctx: StepContext, ref: str) -> Suggestion | None:
    suggestion_id = ids.parse_id(ref.strip().lstrip("#"))
    if suggestion_id is None:
        return None
    return await ctx.session.get(Suggestion, suggestion_id, populate_existing=True)


async def office_reply(ctx: StepContext, suggestion: Suggestion, body: str) -> Msg:
    ctx.session.add(
        SuggestionMessage(suggestion_id=suggestion.id, from_office=True, author_id=ctx.person.id, body=body, at=ctx.now)
    )
    suggestion.updated_at = ctx.now
    audit.done_at_write(ctx, action="suggest.reply", record=f"suggestion:{suggestion.id}")
    suggester = await suggester_of(ctx.session, suggestion)
    reached = False
    if suggester is not None:
        answer = ((msg("suggest.button.answer"), f"sg:{suggestion.id}:answer"),)
        notice = msg("suggest.notice.reply", number=number(suggestion), body=body)
        discreet = not suggestion.named
        reached = await notify(ctx.session, Notice(suggester, notice, (answer,), discreet=discreet), ctx.now)
    return msg("suggest.done_reply" if reached else "suggest.done_reply_unreached", number=number(suggestion))


async def submit_reply(ctx: StepContext) -> Submitted:
    suggestion = await found(ctx, str(ctx.data["suggestion"]))
    if suggestion is None or not in_office(ctx.person):
        return Submitted(refusal(ctx, "reply", f"suggestion:{ctx.data['suggestion']}"), "")
    return Submitted(await office_reply(ctx, suggestion, ctx.data["body"]), f"suggestion:{suggestion.id}")


async def submit_answer(ctx: StepContext) -> Submitted:
    """The suggester answers the office back; the office sees the words, not who."""
    suggestion = await found(ctx, str(ctx.data["suggestion"]))
    if suggestion is None or await suggester_of(ctx.session, suggestion) != ctx.person.id:
        return Submitted(refusal(ctx, "answer", f"suggestion:{ctx.data['suggestion']}"), "")
    ctx.session.add(
        SuggestionMessage(
            suggestion_id=suggestion.id,
            from_office=False,
            author_id=ctx.person.id if suggestion.named else None,
            body=ctx.data["body"],
            at=ctx.now if suggestion.named else day_of(ctx.now),
        )
    )
    author = ctx.person if suggestion.named else None
    notice = msg(
        "suggest.notice.answer",
        number=number(suggestion),
        who=author_label(suggestion, author),
        body=ctx.data["body"],
    )
    reply = ((msg("suggest.button.reply"), f"sg:{suggestion.id}:reply"),)
    for person in await office_people(ctx.session):
        await notify(ctx.session, Notice(person.id, notice, (reply,)), ctx.now)
    return Submitted(msg("suggest.done_answer", number=number(suggestion)), "")


async def set_status(ctx: StepContext, suggestion: Suggestion, status: str, outcome: str | None) -> Msg:
    suggestion.status = status
    suggestion.updated_at = ctx.now
    if outcome:
        suggestion.outcome = outcome
    audit.done_at_write(ctx, action="suggest.status", record=f"suggestion:{suggestion.id}", status=status)
    await ctx.session.flush()
    suggester = await suggester_of(ctx.session, suggestion)
    told = msg(
        "suggest.notice.status",
        number=number(suggestion),
        status=msg(f"suggest.status.{status}"),
        outcome=msg("suggest.notice.outcome", outcome=outcome) if outcome else "",
    )
    if suggester is not None:
        answer = ((msg("suggest.button.answer"), f"sg:{suggestion.id}:answer"),)
        await notify(ctx.session, Notice(suggester, told, (answer,), discreet=not suggestion.named), ctx.now)
    await tell_office(ctx, suggestion, msg("suggest.moved", status=msg(f"suggest.status.{status}")))
    return msg("suggest.done_status", number=number(suggestion), status=msg(f"suggest.status.{status}"))


async def submit_outcome(ctx: StepContext) -> Submitted:
    suggestion = await found(ctx, str(ctx.data["suggestion"]))
    if suggestion is None or not in_office(ctx.person):
        return Submitted(refusal(ctx, "status", f"suggestion:{ctx.data['suggestion']}"), "")
    return Submitted(await set_status(ctx, suggestion, "adopted", ctx.data["outcome"]), "")


def short_flow(name: str, submit: object, step: TextStep) -> Flow:
    return Flow(
        f"suggest_{name}",
        msg(f"suggest.flow.{name}"),
        msg(f"suggest.flow.{name}"),
        (step,),
        submit,  # type: ignore[arg-type]
        listed=False,
        discreet=name == "answer",
    )


REPLY = short_flow("reply", submit_reply, TextStep("body", msg("suggest.ask.reply"), min_length=1, max_length=1000))
ANSWER = short_flow("answer", submit_answer, TextStep("body", msg("suggest.ask.answer"), min_length=1, max_length=1000))
OUTCOME = short_flow(
    "outcome", submit_outcome, TextStep("outcome", msg("suggest.ask.outcome"), min_length=2, max_length=500)
)


# --- buttons: sg:<suggestion>:<action> --------------------------------------------------------------


async def on_button(ctx: StepContext, value: str) -> Action:
    ref, _, action = value.partition(":")
    suggestion = await found(ctx, ref)
    if suggestion is None:
        return said(msg("dialog.error.forged_button"))
    record = f"suggestion:{suggestion.id}"
    if action == "vote":
        return await upvote(ctx, suggestion)
    if action == "answer":
        if await suggester_of(ctx.session, suggestion) != ctx.person.id:
            return said(refusal(ctx, "answer", record))
        return Action(start=(ANSWER.name, {"suggestion": suggestion.id}), chosen=msg("suggest.button.answer"))
    if action not in ("reply", "review", "adopted", "declined"):
        return said(msg("dialog.error.forged_button"))
    if not in_office(ctx.person):
        return said(refusal(ctx, action, record))
    if action == "reply":
        # The card keeps its buttons: after replying, the office may still adopt or decline from it.
        return Action(start=(REPLY.name, {"suggestion": suggestion.id}), on_card=True)
    if action == "adopted":
        return Action(start=(OUTCOME.name, {"suggestion": suggestion.id}), chosen=msg("suggest.button.adopted"))
    if suggestion.status in ("adopted", "declined") or suggestion.status == action:
        return said(msg("suggest.error.already", number=number(suggestion), status=msg(f"suggest.status.{action}")))
    done = await set_status(ctx, suggestion, action, None)
    return Action(say=((done, ()),), chosen=msg(f"suggest.button.{action}"))


async def upvote(ctx: StepContext, suggestion: Suggestion) -> Action:
    if not suggestion.public:
        return said(refusal(ctx, "vote", f"suggestion:{suggestion.id}"))
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(SuggestionVote(suggestion_id=suggestion.id, person_id=ctx.person.id))
    except IntegrityError:
        return Action(toast=msg("suggest.voted_before"), say=((msg("suggest.voted_before"), ()),))
    await ctx.session.execute(
        update(Suggestion)
        .where(Suggestion.id == suggestion.id)
        .values(upvotes=Suggestion.upvotes + 1)
        .execution_options(synchronize_session=False)
    )
    voted = msg("suggest.voted", number=number(suggestion), count=suggestion.upvotes + 1)
    return Action(toast=voted, say=((voted, ()),), chosen=msg("suggest.button.vote"))


# --- /suggest -------------------------------------------------------------------------------------


async def suggest_command(ctx: StepContext, args: str) -> Action:
    """/suggest · /suggest list · office: /suggest inbox | N | reply N text | status N review|declined"""
    words = args.split(maxsplit=2)
    sub = words[0].lower() if words else ""
    if sub == "":
        return Action(start=(SUGGEST.name, {}))
    if sub == "list":
        return await you_said_we_did(ctx)
    if not in_office(ctx.person):
        if sub.lstrip("#").isdigit() and len(words) == 1:
            # The suggester may read their own thread (and answer from it); nobody else.
            mine = await found(ctx, sub)
            if mine is not None and await suggester_of(ctx.session, mine) == ctx.person.id:
                return await thread(ctx, sub, office=False)
        if sub in ("inbox", "reply", "status") or sub.lstrip("#").isdigit():
            return said(refusal(ctx, sub if sub in ("inbox", "reply", "status") else "view", None))
        return said(msg("suggest.usage"))
    if sub == "inbox":
        return await inbox(ctx)
    if sub.lstrip("#").isdigit() and len(words) == 1:
        return await thread(ctx, sub)
    if sub == "reply" and len(words) == 3:
        suggestion = await found(ctx, words[1])
        if suggestion is None:
            return said(msg("suggest.error.not_found", number=words[1][:12]))
        return said(await office_reply(ctx, suggestion, words[2].strip()[:1000]))
    if sub == "status" and len(words) >= 3:
        suggestion = await found(ctx, words[1])
        status, _, note = words[2].partition(" ")
        if suggestion is None:
            return said(msg("suggest.error.not_found", number=words[1][:12]))
        if status not in STATUSES:
            return said(msg("suggest.usage_office"))
        if status == "adopted" and not note.strip():
            # What was done is what "You said, we did" shows: asked, as the button asks it.
            return Action(start=(OUTCOME.name, {"suggestion": suggestion.id}))
        return said(await set_status(ctx, suggestion, status, note.strip()[:500] or None))
    return said(msg("suggest.usage_office"))


async def inbox(ctx: StepContext) -> Action:
    waiting = (
        await ctx.session.scalars(
            select(Suggestion)
            .where(Suggestion.status.in_(("received", "review")))
            .order_by(Suggestion.id)
            .limit(MAX_LISTED)
        )
    ).all()
    if not waiting:
        return said(msg("suggest.inbox_none"))
    lines = tuple(line(s) for s in waiting)
    rows = tuple(((msg("suggest.button.reply_to", number=number(s)), f"sg:{s.id}:reply"),) for s in waiting)
    return said(msg("suggest.inbox", count=len(waiting), lines=Lines(lines)), rows)


def line(suggestion: Suggestion) -> Msg:
    return msg(
        "suggest.line",
        number=number(suggestion),
        topic=msg(f"suggest.topic.{suggestion.topic}"),
        status=msg(f"suggest.status.{suggestion.status}"),
        votes=suggestion.upvotes,
        body=suggestion.body[:80],
    )


async def thread(ctx: StepContext, ref: str, office: bool = True) -> Action:
    suggestion = await found(ctx, ref)
    if suggestion is None:
        return said(msg("suggest.error.not_found", number=ref[:12]))
    messages = (
        await ctx.session.scalars(
            select(SuggestionMessage)
            .where(SuggestionMessage.suggestion_id == suggestion.id)
            .order_by(SuggestionMessage.id)
        )
    ).all()
    names = {p.id: p.display_name for p in await office_people(ctx.session)}
    parts: list[Renderable] = []
    for message in messages:
        if message.from_office:
            who: Renderable = msg("suggest.by_office", name=names.get(message.author_id or 0, "—"))
        else:
            who = msg("suggest.by_suggester")
        parts.append(msg("suggest.thread_line", who=who, body=message.body))
    shown = Lines((await card(ctx.session, suggestion), *parts))
    if not office:
        answer = (((msg("suggest.button.answer"), f"sg:{suggestion.id}:answer"),),)
        # Their own anonymous thread, shown to them: not kept beside them once sent.
        return Action(say=((shown, answer),), discreet=not suggestion.named)
    return said(shown, office_buttons(suggestion))


async def you_said_we_did(ctx: StepContext) -> Action:
    adopted = (
        await ctx.session.scalars(
            select(Suggestion)
            .where(Suggestion.status == "adopted", Suggestion.public.is_(True))
            .order_by(Suggestion.updated_at.desc())
            .limit(MAX_LISTED)
        )
    ).all()
    open_public: Sequence[Suggestion] = (
        await ctx.session.scalars(
            select(Suggestion)
            .where(Suggestion.public.is_(True), Suggestion.status.in_(("received", "review")))
            .order_by(Suggestion.upvotes.desc(), Suggestion.id)
            .limit(MAX_LISTED)
        )
    ).all()
    parts: list[Renderable] = []
    if adopted:
        done = tuple(
            msg("suggest.we_did_line", number=number(s), body=s.body[:80], outcome=s.outcome or "—") for s in adopted
        )
        parts.append(msg("suggest.we_did", lines=Lines(done)))
    if open_public:
        parts.append(msg("suggest.open_public", lines=Lines(tuple(line(s) for s in open_public))))
    if not parts:
        return said(msg("suggest.list_none"))
    rows = tuple(((msg("suggest.button.vote_for", number=number(s)), f"sg:{s.id}:vote"),) for s in open_public)
    return said(Lines(tuple(parts)), rows)


# What /export suggestions writes (handlers/admin/exports.py lists the areas' exports).
async def suggestion_rows(
    session: AsyncSession, period: Period | None, zone: ZoneInfo, locale: str
) -> list[list[Cell]]:
    """Who wrote an anonymous suggestion is never exported: not its route, not its time of day."""
    author = aliased(Person)
    query = (
        select(Suggestion, author.display_name)
        .outerjoin(author, (author.id == Suggestion.author_id) & Suggestion.named.is_(True))
        .order_by(Suggestion.id)
        .limit(MAX_ROWS)
    )
    if period is not None:
        start, end = period.bounds(zone)
        query = query.where(Suggestion.created_at >= start, Suggestion.created_at < end)
    anonymous = translate(locale, "suggest.by_anonymous")
    return [
        [
            number(s),
            translate(locale, f"suggest.status.{s.status}"),
            translate(locale, f"suggest.topic.{s.topic}"),
            s.body,
            name if s.named and name else anonymous,
            "✓" if s.public else "",
            s.upvotes,
            s.outcome or "",
            when(s.created_at, zone) if s.named else s.created_at.astimezone(zone).date().isoformat(),
        ]
        for s, name in (await session.execute(query)).all()
    ]


async def unsettled(viewer: Viewer, reach: Reach) -> int:
    """What waits for the office in the web console (handlers/suggestions/console.py): suggestions
    received or under review."""
    return int(
        await viewer.session.scalar(
            select(func.count(Suggestion.id)).where(Suggestion.status.in_(("received", "review")))
        )
        or 0
    )


# The box's page in the web console, for the office.
CONSOLE = (
    ConsolePage(
        "suggestions",
        "console.nav.suggestions",
        "suggest.office",
        place=40,
        waiting=unsettled,
        waiting_label="console.wait.suggestions",
    ),
)


AREA = Area(
    "suggestions",
    flows=(SUGGEST, REPLY, ANSWER, OUTCOME),
    buttons={"sg": on_button},
    commands={"suggest": suggest_command},
    slash_commands=("suggest",),
    actions={"suggest.office": THE_OFFICE, "export.suggestions": authz.rule(*authz.ADMINS)},
    exports={
        "suggestions": Export(
            (
                "number",
                "status",
                "topic",
                "body",
                "author",
                "public",
                "upvotes",
                "result",
                "created",
            ),
            suggestion_rows,
        )
    },
    demo=(suggestion_demo.write,),
    console=CONSOLE,
)

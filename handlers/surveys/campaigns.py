"""Satisfaction surveys: import a definition, launch it to an audience, answer it step by step.

The campaign: launching fixes who it is for (everyone, departments, roles) and when answering opens
and closes; everyone in the audience gets an invitation through the outbox, in their language, with
a button to start. Answering is a flow (``survey_answer``) whose questions come from the survey: the
answers live in the person's dialog state until they submit (so they can stop, even across a
restart, and carry on), then become one ``SurveyResponse``.

Counting once without naming: every response is keyed by ``keys.token(server key, survey, the
survey's own random key, person)``. The same person always lands on the same row (answering again
replaces it, until the survey closes); the token gives nobody back. An anonymous response stores no
person, only the day, and the answering flow is discreet (its choices are not echoed into the
delivery records). Closing a survey erases its own key, so after that even someone holding the
server secret and the database cannot recompute whose token is whose.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import audit, authz, keys, uploads
from handlers.core.adminkit import Joined, department_names
from handlers.core.area import AdminEntry, Area
from handlers.core.authz import ROLES
from handlers.core.conversation import DocumentIn
from handlers.core.flow import (
    Action,
    ChoiceStep,
    ConfirmStep,
    Data,
    FileStep,
    Flow,
    Invalid,
    Option,
    StepContext,
    Submitted,
    TextStep,
    Upload,
    said,
)
from handlers.core.i18n import Label, Lines, Msg, Renderable, msg
from handlers.core.menu import Offered
from handlers.core.outbox import Notice, notify_many
from handlers.core.refusals import Refused, refuse, refused
from handlers.core.reminders import SETTLE
from handlers.core.reminders import Context as ReminderContext
from handlers.core.schedule import LOOK_BACK_DAYS
from handlers.core.sends import Delivery, fixed
from handlers.surveys import builder as survey_builder
from handlers.surveys import console as survey_console
from handlers.surveys import definitions as survey_definitions
from handlers.surveys import demo as survey_demo
from handlers.surveys import results as survey_results
from handlers.surveys import satisfaction
from handlers.surveys.definitions import (
    CHOICE_TYPES,
    SCALES,
    Definition,
    option_label,
    question_text,
    questions_of,
    template,
    template_names,
    valid_answer,
)
from handlers.surveys.records import (
    close,
    close_expired,
    imported,
    kind_of,
    load,
    local,
    refusal,
    runs_surveys,
    settle,
    store_definition,
    title_of,
)
from storage.models import (
    Department,
    Person,
    PersonRole,
    Survey,
    SurveyDraft,
    SurveyInvitation,
    SurveyResponse,
)

DEFAULT_DAYS = 7
MAX_DAYS = 90
FILE_MB = 1
EVERYONE = ("everyone", "all", "全员")


# --- import -----------------------------------------------------------------------------------------


async def read_upload(ctx: StepContext, document: DocumentIn) -> dict[str, Any]:
    if not runs_surveys(ctx.person):
        raise Invalid(msg("survey.error.not_allowed"))
    try:
        definition: Definition = await uploads.read(document, survey_definitions.FILE)
    except uploads.FileProblem as problems:
        raise Invalid(problems.message()) from None
    return {
        "title": [definition.title.zh, definition.title.en],
        "anonymous": definition.anonymous,
        **definition.stored(),
    }


def definition_in(data: dict[str, Any]) -> Definition:
    return Definition(Label(*data["title"]), bool(data["anonymous"]), list(data["questions"]))


async def submit_import(ctx: StepContext) -> Submitted:
    if not runs_surveys(ctx.person):
        return Submitted(refusal(ctx, "import"), "")
    survey = await store_definition(ctx.session, definition_in(ctx.data["file"]), ctx.person.id, ctx.now, ctx.channel)
    return Submitted(imported(survey), f"survey:{survey.id}")


async def import_upload(ctx: StepContext, args: str, document: DocumentIn) -> Action:
    """A .yml/.json file captioned /survey import: imported as a draft at once (it launches nothing)."""
    if args.strip().lower() != "import":
        return said(msg("survey.import.caption_hint"))
    if not runs_surveys(ctx.person):
        return said(refusal(ctx, "import"))
    if document.content is None or len(document.content) > FILE_MB * 1024 * 1024:
        return said(msg("dialog.error.file_too_big", mb=FILE_MB))
    try:
        definition: Definition = await uploads.read(document, survey_definitions.FILE)
    except uploads.FileProblem as problems:
        return said(problems.message())
    return said(imported(await store_definition(ctx.session, definition, ctx.person.id, ctx.now, ctx.channel)))


IMPORT = Flow(
    "survey_import",
    msg("survey.import.title"),
    msg("survey.import.title"),
    (
        FileStep(
            "file",
            msg("survey.import.ask_file"),
            read=read_upload,
            max_bytes=FILE_MB * 1024 * 1024,
            parser=survey_definitions.FILE,
        ),
    ),
    submit_import,
    listed=False,
)


# --- campaigns ----------------------------------------------------------------------------------------


async def audience_of(session: AsyncSession, audience: dict[str, Any]) -> list[int]:
    query = select(Person.id).where(Person.left_at.is_(None))  # members only: a leaver is not asked
    codes = list(audience.get("codes", []))
    if audience["kind"] == "departments":
        query = query.join(Department, Department.id == Person.department_id).where(Department.code.in_(codes))
    elif audience["kind"] == "roles":
        query = query.where(Person.id.in_(select(PersonRole.person_id).where(PersonRole.role.in_(codes))))
    return list((await session.scalars(query.order_by(Person.id))).unique().all())


async def read_audience(session: AsyncSession, word: str) -> dict[str, Any] | Msg:
    if word.lower() in EVERYONE:
        return {"kind": "everyone", "codes": []}
    kind, sep, listed = word.partition(":")
    codes = sorted({code.strip() for code in listed.split(",") if code.strip()})
    if not sep or not codes:
        return msg("survey.usage.launch")
    if kind in ("dept", "department", "departments"):
        known = set((await session.scalars(select(Department.code).where(Department.code.in_(codes)))).all())
        unknown = [code for code in codes if code not in known]
        if unknown:
            every = ", ".join((await session.scalars(select(Department.code).order_by(Department.code))).all())
            return msg("survey.error.unknown_department", codes=", ".join(unknown)[:80], known=every)
        return {"kind": "departments", "codes": codes}
    if kind in ("role", "roles"):
        unknown = [code for code in codes if code not in ROLES]
        if unknown:
            return msg("survey.error.unknown_role", codes=", ".join(unknown)[:80], known=", ".join(ROLES))
        return {"kind": "roles", "codes": codes}
    return msg("survey.usage.launch")


def read_close(word: str, ctx: StepContext, opens: datetime) -> datetime | None:
    """ "7" (days from opening) or "2026-12-10" (the end of that local day)."""
    if word.isascii() and word.isdigit() and 1 <= int(word) <= MAX_DAYS:
        return opens + timedelta(days=int(word))
    try:
        day = datetime.strptime(word, "%Y-%m-%d").date()
    except ValueError:
        return None
    closes = datetime.combine(day + timedelta(days=1), time(), tzinfo=ctx.zone)
    return closes if opens < closes <= opens + timedelta(days=MAX_DAYS) else None


def read_open(word: str, ctx: StepContext) -> datetime | None:
    try:
        day = datetime.strptime(word.removeprefix("from:"), "%Y-%m-%d").date()
    except ValueError:
        return None
    opens = datetime.combine(day, time(), tzinfo=ctx.zone)
    return opens if opens > ctx.now else None


async def describe_audience(session: AsyncSession, audience: dict[str, Any]) -> Msg:
    """Whom a survey goes to, by name: departments as people call them (教学部, not teaching), roles
    from the catalogs."""
    kind, codes = audience.get("kind", "everyone"), list(audience.get("codes", []))
    names: tuple[Renderable, ...] = ()
    if kind == "departments":
        names = await department_names(session, codes)
    elif kind == "roles":
        names = tuple(msg(f"web.role.{role}") for role in codes)
    return msg(f"survey.audience.{kind}", names=Joined(names))


async def launch(ctx: StepContext, args: list[str]) -> Action:
    """/survey launch <id> <everyone | dept:a,b | role:a,b> [days | YYYY-MM-DD] [from:YYYY-MM-DD]"""
    if not runs_surveys(ctx.person):
        return said(refusal(ctx, "launch", f"survey:{args[0]}" if args else None))
    if len(args) < 2:
        return said(msg("survey.usage.launch"))
    survey = await load(ctx.session, args[0], ctx.now)
    if survey is None:
        return said(msg("survey.error.not_found", id=args[0][:12]))
    if survey.status != "draft":
        return said(msg("survey.error.already_launched", id=survey.id))
    audience = await read_audience(ctx.session, args[1])
    if isinstance(audience, Msg):
        return said(audience)
    opens, closes = ctx.now, None
    for word in args[2:]:
        if word.startswith("from:"):
            found = read_open(word, ctx)
            if found is None:
                return said(msg("survey.usage.launch"))
            opens = found
    for word in args[2:]:
        if not word.startswith("from:"):
            closes = read_close(word, ctx, opens)
            if closes is None:
                return said(msg("survey.error.bad_close", max=MAX_DAYS))
    closes = closes or opens + timedelta(days=DEFAULT_DAYS)
    people = await audience_of(ctx.session, audience)
    if not people:
        return said(msg("survey.error.nobody", audience=await describe_audience(ctx.session, audience)))
    survey.status, survey.audience = "open", audience
    survey.opens_at, survey.closes_at, survey.launched_at = opens, closes, ctx.now
    survey.token_key = secrets.token_hex(32)
    await ctx.session.execute(
        insert(SurveyInvitation), [{"survey_id": survey.id, "person_id": person_id} for person_id in people]
    )
    # Invitations are outbox rows written with the launch: each channel sends them at its own pace.
    invitation = msg(
        "survey.invite" if opens <= ctx.now else "survey.invite_later",
        title=title_of(survey),
        kind=kind_of(survey),
        count=len(questions_of(survey.definition)),
        opens=local(opens, ctx),
        closes=local(closes, ctx),
    )
    button = ((msg("survey.button.answer"), f"sv:{survey.id}:answer"),)
    reached = await notify_many(
        ctx.session, [Notice(person_id, invitation, (button,)) for person_id in people], ctx.now
    )
    audit.done(ctx, action="survey.launch", record=f"survey:{survey.id}", audience=audience, invited=len(people))
    return said(
        msg(
            "survey.launched",
            id=survey.id,
            title=title_of(survey),
            audience=await describe_audience(ctx.session, audience),
            invited=len(people),
            reached=reached,
            opens=local(opens, ctx),
            closes=local(closes, ctx),
        )
    )


async def close_command(ctx: StepContext, ref: str) -> Action:
    if not runs_surveys(ctx.person):
        return said(refusal(ctx, "close", f"survey:{ref[:12]}"))
    survey = await load(ctx.session, ref, ctx.now)
    if survey is None or survey.status == "draft":
        return said(msg("survey.error.not_found", id=ref[:12]))
    if survey.status == "closed":
        return said(msg("survey.error.closed", title=title_of(survey)))
    await close(ctx.session, survey, ctx.now)
    audit.done_at_write(ctx, action="survey.close", record=f"survey:{survey.id}")
    return said(msg("survey.closed", id=survey.id, title=title_of(survey)))


async def remind(session: AsyncSession, survey: Survey, now: datetime, zone: ZoneInfo) -> int:
    """A reminder with the answer button before the survey closes; how many were queued.

    Named: to those who have not answered. Anonymous: to everyone invited (thanking those who did),
    since picking out who has not answered would write down who has. The weekly jobs may call this.
    """
    if survey.status != "open" or (survey.closes_at is not None and survey.closes_at <= now):
        return 0
    invited = select(SurveyInvitation.person_id).where(SurveyInvitation.survey_id == survey.id)
    if not survey.anonymous:
        answered = select(SurveyResponse.person_id).where(
            SurveyResponse.survey_id == survey.id, SurveyResponse.person_id.is_not(None)
        )
        invited = invited.where(SurveyInvitation.person_id.not_in(answered))
    people = list((await session.scalars(invited.order_by(SurveyInvitation.person_id))).all())
    closes = survey.closes_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if survey.closes_at else "—"
    key = "survey.remind_anonymous" if survey.anonymous else "survey.remind_named"
    text = msg(key, title=title_of(survey), closes=closes)
    button = ((msg("survey.button.answer"), f"sv:{survey.id}:answer"),)
    return await notify_many(session, [Notice(person_id, text, (button,)) for person_id in people], now)


async def remind_command(ctx: StepContext, ref: str) -> Action:
    if not runs_surveys(ctx.person):
        return said(refusal(ctx, "remind", f"survey:{ref[:12]}"))
    survey = await load(ctx.session, ref, ctx.now)
    if survey is None or survey.status == "draft":
        return said(msg("survey.error.not_found", id=ref[:12]))
    if survey.status == "closed":
        return said(msg("survey.error.closed", title=title_of(survey)))
    return said(msg("survey.reminded", id=survey.id, count=await remind(ctx.session, survey, ctx.now, ctx.zone)))


async def show_command(ctx: StepContext, ref: str) -> Action:
    """/survey show N: the questions as people will see them, to check a draft before launching it."""
    if not runs_surveys(ctx.person):
        return said(refusal(ctx, "show", f"survey:{ref[:12]}"))
    survey = await load(ctx.session, ref, ctx.now)
    if survey is None:
        return said(msg("survey.error.not_found", id=ref[:12]))
    lines = []
    for number, question in enumerate(questions_of(survey.definition), start=1):
        options = [option_label(option) for option in question.get("options", [])]
        choices = (
            Label("\n   " + " / ".join(o.zh for o in options), "\n   " + " / ".join(o.en for o in options))
            if options
            else ""
        )
        kind = question["type"] if question.get("required", True) else "text_optional"
        lines.append(
            msg(
                "survey.show_line",
                number=number,
                text=question_text(question),
                kind=msg(f"survey.new.kind.{kind}"),
                choices=choices,
            )
        )
    return said(
        msg(
            "survey.show",
            id=survey.id,
            title=title_of(survey),
            kind=kind_of(survey),
            status=msg(f"survey.status.{survey.status}"),
            lines=Lines(tuple(lines)),
        )
    )


async def survey_list(ctx: StepContext) -> Action:
    if runs_surveys(ctx.person):
        surveys = (await ctx.session.scalars(select(Survey).order_by(Survey.id.desc()).limit(20))).all()
        counts = dict(
            (
                await ctx.session.execute(
                    select(SurveyResponse.survey_id, func.count()).group_by(SurveyResponse.survey_id)
                )
            ).all()
        )
        lines = []
        for survey in surveys:
            await settle(ctx.session, survey, ctx.now)
            lines.append(
                msg(
                    "survey.list_line",
                    id=survey.id,
                    title=title_of(survey),
                    status=msg(f"survey.status.{survey.status}"),
                    kind=kind_of(survey),
                    count=counts.get(survey.id, 0),
                )
            )
        listing = msg("survey.list", lines=Lines(tuple(lines))) if lines else msg("survey.list_none")
        return said(Lines((listing, msg("survey.usage.admin"))))
    mine = await open_for(ctx)
    if not mine:
        return said(msg("survey.mine_none"))
    rows = tuple(((title_of(survey), f"sv:{survey.id}:answer"),) for survey in mine)
    return said(msg("survey.mine", count=len(mine)), rows)


async def open_for(ctx: StepContext) -> Sequence[Survey]:
    found = await ctx.session.scalars(
        select(Survey)
        .join(SurveyInvitation, SurveyInvitation.survey_id == Survey.id)
        .where(SurveyInvitation.person_id == ctx.person.id, Survey.status == "open")
        .order_by(Survey.closes_at)
    )
    return [s for s in found if (s.closes_at is None or s.closes_at > ctx.now) and (s.opens_at or ctx.now) <= ctx.now]


async def survey_command(ctx: StepContext, args: str) -> Action:
    """/survey [list | templates | new | import [template] | launch … | close N | results N | export N [csv|xlsx]]"""
    words = args.split()
    sub = words[0].lower() if words else ""
    if sub in ("", "list"):
        return await survey_list(ctx)
    if sub == "templates":
        return said(msg("survey.templates", names=", ".join(template_names())))
    if sub == "import":
        if not runs_surveys(ctx.person):
            return said(refusal(ctx, "import"))
        if len(words) < 2:
            return Action(start=(IMPORT.name, {}))
        found = template(words[1].lower())
        if found is None:
            return said(msg("survey.error.no_template", name=words[1][:30], names=", ".join(template_names())))
        return said(imported(await store_definition(ctx.session, found, ctx.person.id, ctx.now, ctx.channel)))
    if sub == "new":
        if not runs_surveys(ctx.person):
            return said(refusal(ctx, "import"))
        return Action(start=(survey_builder.NEW.name, {}))
    if sub == "launch":
        return await launch(ctx, words[1:])
    if sub == "show" and len(words) == 2:
        return await show_command(ctx, words[1])
    if sub == "remind" and len(words) == 2:
        return await remind_command(ctx, words[1])
    if sub == "close" and len(words) == 2:
        return await close_command(ctx, words[1])
    if sub == "satisfaction":
        return await survey_results.satisfaction_command(ctx, " ".join(words[1:]))
    if sub == "results" and len(words) == 2:
        return await survey_results.results_command(ctx, words[1])
    if sub == "export" and len(words) in (2, 3):
        return await survey_results.export_command(ctx, words[1], words[2] if len(words) == 3 else "xlsx")
    return said(msg("survey.usage.admin" if runs_surveys(ctx.person) else "survey.usage.staff"))


# --- answering ------------------------------------------------------------------------------------


async def answer_refusal(ctx: StepContext, survey: Survey | None, ref: str) -> Msg | None:
    """Why this person may not answer this survey now; None when they may."""
    if survey is None or survey.status == "draft":
        return msg("survey.error.not_found", id=ref[:12])
    if survey.status == "closed":
        return msg("survey.error.closed", title=title_of(survey))
    if survey.opens_at is not None and survey.opens_at > ctx.now:
        return msg("survey.error.not_open_yet", title=title_of(survey), opens=local(survey.opens_at, ctx))
    invited = await ctx.session.scalar(
        select(SurveyInvitation.id).where(
            SurveyInvitation.survey_id == survey.id, SurveyInvitation.person_id == ctx.person.id
        )
    )
    if invited is None:
        return refused(
            ctx, action="survey.answer", record=f"survey:{survey.id}", reason=msg("survey.error.not_addressed")
        )
    return None


async def on_button(ctx: StepContext, value: str) -> Action:
    """sv:<survey>:answer on an invitation, or on /survey's list."""
    ref, _, action = value.partition(":")
    if action != "answer":
        return said(msg("dialog.error.forged_button"))
    survey = await load(ctx.session, ref, ctx.now)
    problem = await answer_refusal(ctx, survey, ref)
    # The invitation keeps its button (on_card: the channel leaves the message alone), so it can
    # start the survey again: to carry on after a /cancel, or to change the answers until it closes.
    if problem is not None:
        return Action(say=((problem, ()),), toast=problem, on_card=True)
    assert survey is not None
    # Carry on where they stopped, if they stopped midway before (even with /cancel).
    draft = await ctx.session.get(SurveyDraft, (survey.id, await my_token(ctx, survey)))
    answers, question = (dict(draft.answers), draft.question) if draft is not None else ({}, 0)
    start = {"survey": survey.id, "q": question, "kind": "intro", "answers": answers}
    return Action(start=(ANSWER.name, start), on_card=True)


async def my_token(ctx: StepContext, survey: Survey) -> str:
    token = token_of(await keys.server_key(ctx.session), survey, ctx.person.id)
    assert token is not None, "asked for the token of a closed survey"
    return token


def token_of(server_key: bytes, survey: Survey, person_id: int) -> str | None:
    """Whose answer is whose, while the survey is open: the server key alone does not make it (a copy
    of the key and the database must not), the survey's own key must be there too. None once closed."""
    if survey.token_key is None:
        return None
    return keys.token(server_key, "survey", survey.id, survey.token_key, person_id)


async def current_survey(ctx: StepContext) -> Survey:
    survey = await ctx.session.get(Survey, int(ctx.data["survey"]))
    assert survey is not None
    return survey


def step_for(kind: str) -> str:
    if kind in SCALES:
        return "scale"
    if kind in CHOICE_TYPES:
        return "choose"
    return {"text": "text", "text_optional": "text_optional", "end": "confirm"}.get(kind, "intro")


def kind_at(questions: list[dict[str, Any]], index: int) -> str:
    if index >= len(questions):
        return "end"
    question = questions[index]
    if question["type"] == "text" and not question.get("required", True):
        return "text_optional"
    return str(question["type"])


async def intro_prompt(ctx: StepContext) -> Msg:
    survey = await current_survey(ctx)
    # A survey closed meanwhile has no key left: the submit will say it is closed.
    token = await my_token(ctx, survey) if survey.token_key else None
    again = await ctx.session.get(SurveyResponse, (survey.id, token)) if token else None
    return msg(
        "survey.intro",
        title=title_of(survey),
        kind=msg("survey.intro_anonymous" if survey.anonymous else "survey.intro_named"),
        count=len(questions_of(survey.definition)),
        closes=local(survey.closes_at, ctx),
        again=msg("survey.intro_again") if again is not None else "",
        resume=msg("survey.intro_resume", done=int(ctx.data["q"])) if int(ctx.data["q"]) else "",
    )


async def question_prompt(ctx: StepContext) -> Msg:
    survey = await current_survey(ctx)
    questions = questions_of(survey.definition)
    index = int(ctx.data["q"])
    question = questions[index]
    hint = {"rating": "survey.hint.rating", "nps": "survey.hint.nps", "multiple": "survey.hint.multiple"}
    earlier = ctx.data["answers"].get(question["id"])
    # Come back to a question (◀ previous), the answer given is shown: keep it by answering the same.
    before = (
        msg("survey.answered_before", answer=answer_label(question, earlier)) if earlier not in (None, "", []) else ""
    )
    return msg(
        "survey.question",
        number=index + 1,
        count=len(questions),
        text=question_text(question),
        hint=msg(hint[question["type"]]) if question["type"] in hint else "",
        before=before,
    )


PREVIOUS_QUESTION, DONE_CHOOSING, START = "back1", "done", "go"


async def question_options(ctx: StepContext) -> Sequence[Option]:
    survey = await current_survey(ctx)
    index = int(ctx.data["q"])
    question = questions_of(survey.definition)[index]
    options: list[Option] = []
    earlier = ctx.data["answers"].get(question["id"])
    if question["type"] in SCALES:
        low, high = SCALES[question["type"]]
        options = [Option(str(n), Label(*(2 * (f"✓ {n}" if earlier == n else str(n),)))) for n in range(low, high + 1)]
    elif question["type"] in CHOICE_TYPES:
        chosen = earlier if isinstance(earlier, list) else [earlier] if earlier else []
        for option in question.get("options", []):
            label = option_label(option)
            if option["id"] in chosen:
                label = Label(f"✓ {label.zh}", f"✓ {label.en}")
            options.append(Option(option["id"], label))
        if question["type"] == "multiple" and chosen:
            options.append(Option(DONE_CHOOSING, msg("survey.button.done_choosing")))
    return [*options, *await previous_question(ctx)]


async def previous_question(ctx: StepContext) -> Sequence[Option]:
    """◀ previous question, on every question but the first (a question in words too)."""
    return [Option(PREVIOUS_QUESTION, msg("survey.button.previous"))] if int(ctx.data["q"]) > 0 else []


async def typed_scale(ctx: StepContext, typed: str) -> str:
    """A number typed instead of pressed: out of range is said plainly, not as "use the buttons"."""
    survey = await current_survey(ctx)
    question = questions_of(survey.definition)[int(ctx.data["q"])]
    low, high = SCALES[question["type"]]
    text = typed.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 4 or not low <= int(text) <= high:
        raise Invalid(msg("survey.error.out_of_range", min=low, max=high))
    return str(int(text))


async def answered(ctx: StepContext) -> str:
    """After each answer: keep it, then on to the next question (or back, or round again)."""
    survey = await current_survey(ctx)
    questions = questions_of(survey.definition)
    data = ctx.data
    index = int(data["q"])
    key = step_for(data["kind"])
    value = data.pop(key, None)
    # The answer lives in data["answers"]; the engine's own record of it would offer a Back that
    # does not know about questions (we offer "previous question" instead).
    data["_trail"] = []
    if key == "intro":
        index = min(int(data["q"]), len(questions))
    elif value == PREVIOUS_QUESTION or value == {"pressed": PREVIOUS_QUESTION}:
        index = max(0, index - 1)
    else:
        question = questions[index]
        answers = data["answers"]
        if question["type"] == "multiple" and value != DONE_CHOOSING:
            chosen = list(answers.get(question["id"]) or [])
            answers[question["id"]] = [c for c in chosen if c != value] if value in chosen else [*chosen, value]
            await keep_draft(ctx, survey)
            return "choose"
        if question["type"] in SCALES:
            answers[question["id"]] = int(str(value))
        elif question["type"] != "multiple":
            answers[question["id"]] = value
        index += 1
    data["q"], data["kind"] = index, kind_at(questions, index)
    if key != "intro":
        await keep_draft(ctx, survey)
    return step_for(data["kind"])


async def keep_draft(ctx: StepContext, survey: Survey) -> None:
    """The answers so far, keyed like the response: whoever stops here carries on from here."""
    if survey.token_key is None:
        return  # closed meanwhile: the submit will say so
    token = await my_token(ctx, survey)
    draft = await ctx.session.get(SurveyDraft, (survey.id, token))
    if draft is None:
        draft = SurveyDraft(survey_id=survey.id, token=token)
        ctx.session.add(draft)
    draft.answers, draft.question = dict(ctx.data["answers"]), int(ctx.data["q"])


async def answers_summary(ctx: StepContext) -> Msg:
    survey = await current_survey(ctx)
    questions = questions_of(survey.definition)
    if survey.anonymous:
        # Nothing of what they answered is repeated back: replies are kept with the delivery record.
        return msg("survey.confirm_anonymous", count=len(questions))
    lines = tuple(
        msg("survey.confirm_line", text=question_text(q), answer=answer_label(q, ctx.data["answers"].get(q["id"])))
        for q in questions
    )
    return msg("survey.confirm_named", lines=Lines(lines))


def answer_label(question: dict[str, Any], value: Any) -> Renderable:
    if value in (None, "", []):
        return msg("survey.no_answer")
    options = {option["id"]: option_label(option) for option in question.get("options", [])}
    if question["type"] == "single":
        return options.get(str(value), Label(str(value), str(value)))
    if question["type"] == "multiple":
        parts = [options[v] for v in value if v in options]
        return Label("、".join(p.zh for p in parts), ", ".join(p.en for p in parts))
    return Label(str(value), str(value))


async def submit_answers(ctx: StepContext) -> Submitted:
    survey = await ctx.session.get(Survey, int(ctx.data["survey"]), populate_existing=True)
    if survey is not None:
        await settle(ctx.session, survey, ctx.now)
    problem = await answer_refusal(ctx, survey, str(ctx.data["survey"]))
    if problem is not None:
        return Submitted(problem, "")
    assert survey is not None
    questions = questions_of(survey.definition)
    given: dict[str, Any] = ctx.data.get("answers") or {}
    answers = {q["id"]: given.get(q["id"]) for q in questions if given.get(q["id"]) not in (None, "", [])}
    if set(given) - {q["id"] for q in questions} or not all(valid_answer(q, given.get(q["id"])) for q in questions):
        # Only a doctored dialog gets here: the steps judged every answer already.
        refuse(ctx, action="survey.answer", record=f"survey:{survey.id}", reason=msg("survey.error.bad_answers"))
    token = await my_token(ctx, survey)
    await ctx.session.execute(delete(SurveyDraft).where(SurveyDraft.survey_id == survey.id, SurveyDraft.token == token))
    day = ctx.now.astimezone(ctx.zone).date()
    earlier = await ctx.session.get(SurveyResponse, (survey.id, token))
    if earlier is not None:
        earlier.answers, earlier.answered_on = answers, day
    else:
        ctx.session.add(
            SurveyResponse(
                survey_id=survey.id,
                token=token,
                person_id=None if survey.anonymous else ctx.person.id,
                answers=answers,
                answered_on=day,
            )
        )
    if not survey.anonymous:
        audit.done_at_write(ctx, action="survey.answer", record=f"survey:{survey.id}")
    done = "survey.done_anonymous" if survey.anonymous else "survey.done_named"
    return Submitted(
        msg(
            done,
            title=title_of(survey),
            closes=local(survey.closes_at, ctx),
            again=msg("survey.done_replaced") if earlier is not None else "",
        ),
        "",
    )


def asking(kind: str) -> Callable[[Data], bool]:
    """A step is asked only while the current question is of its kind (data["kind"])."""
    return lambda data: data.get("kind") == kind


def asking_any(kinds: Sequence[str]) -> Callable[[Data], bool]:
    return lambda data: data.get("kind") in kinds


async def submit_refusing(ctx: StepContext) -> Submitted:
    try:
        return await submit_answers(ctx)
    except Refused as no:
        return Submitted(no.reason, "")


async def stopped(ctx: StepContext) -> Msg | None:
    """/cancel while answering: the answers so far are kept (the draft), and said to be."""
    answered = sum(1 for value in (ctx.data.get("answers") or {}).values() if value not in (None, "", []))
    return msg("survey.cancel.kept", count=answered) if answered else None


ANSWER = Flow(
    "survey_answer",
    msg("survey.answer.title"),
    msg("survey.answer.title"),
    (
        ChoiceStep(
            "intro",
            msg("survey.answer.title"),
            when=asking("intro"),
            dynamic_prompt=intro_prompt,
            options=(Option(START, msg("survey.button.start")),),
            then=answered,
        ),
        ChoiceStep(
            "scale",
            msg("survey.answer.title"),
            when=asking_any(tuple(SCALES)),
            dynamic_prompt=question_prompt,
            options=question_options,
            columns=6,
            typed=typed_scale,
            then=answered,
        ),
        ChoiceStep(
            "choose",
            msg("survey.answer.title"),
            when=asking_any(CHOICE_TYPES),
            dynamic_prompt=question_prompt,
            options=question_options,
            columns=1,
            then=answered,
        ),
        *(
            TextStep(
                kind,
                msg("survey.answer.title"),
                when=asking(kind),
                dynamic_prompt=question_prompt,
                max_length=1000,
                optional=kind == "text_optional",  # offers Skip
                controls=previous_question,
                then=answered,
            )
            for kind in ("text", "text_optional")
        ),
        ConfirmStep("confirm", msg("survey.answer.confirm"), when=asking("end"), summary=answers_summary),
    ),
    submit_refusing,
    listed=False,
    discreet=True,
    on_cancel=stopped,
)


async def waiting_for_me(ctx: StepContext) -> Sequence[Renderable]:
    """Under /my: open surveys addressed to this person that they have not answered yet."""
    waiting: list[Survey] = []
    for survey in await open_for(ctx):
        if survey.token_key and await ctx.session.get(SurveyResponse, (survey.id, await my_token(ctx, survey))) is None:
            waiting.append(survey)
    if not waiting:
        return []
    lines = tuple(msg("survey.my_line", id=s.id, title=title_of(s), closes=local(s.closes_at, ctx)) for s in waiting)
    # Each with its button, as in the invitation: answered from here as well.
    buttons = tuple((msg("survey.button.answer_this", title=title_of(s)), f"sv:{s.id}:answer") for s in waiting)
    return [Offered(msg("survey.my", count=len(waiting), lines=Lines(lines)), buttons)]


# --- reminders (handlers/core/reminders.py runs them) ------------------------------------------------

# An invitee who has not answered hears this long before the survey closes (at most half its time).
NUDGE_BEFORE_SURVEY_CLOSES = timedelta(hours=24)


async def surveys_closing_soon(ctx: ReminderContext) -> list[Delivery]:
    """An open survey closing within a day (or half its time, if shorter): one nudge to each invitee
    who has not answered.

    Who answered an anonymous survey must stay unknown, also from who was nudged: there everyone
    invited gets the same nudge, worded for both ("if you have not answered yet"), and the send log
    holds them all. A named survey's answers carry the person, so only those without one hear."""
    closing = await ctx.session.scalars(
        select(Survey)
        .where(Survey.status == "open", Survey.closes_at > ctx.now)
        .where(Survey.closes_at <= ctx.now + NUDGE_BEFORE_SURVEY_CLOSES + timedelta(days=LOOK_BACK_DAYS))
        .order_by(Survey.id)
    )
    deliveries = []
    for survey in closing.all():
        assert survey.closes_at is not None
        opened = survey.opens_at or survey.launched_at or survey.created_at
        half = (survey.closes_at - opened) / 2
        lead = min(NUDGE_BEFORE_SURVEY_CLOSES, half)
        settled = opened + min(half, SETTLE)
        if opened > ctx.now or ctx.now < max(settled, ctx.schedule.nudge_from(survey.closes_at, lead)):
            continue  # not open yet, just opened, or not in its last day (or last working hours) yet
        invited = await ctx.session.scalars(
            select(SurveyInvitation.person_id).where(SurveyInvitation.survey_id == survey.id)
        )
        answered: set[int | None] = set()
        if not survey.anonymous:
            found = await ctx.session.scalars(
                select(SurveyResponse.person_id).where(SurveyResponse.survey_id == survey.id)
            )
            answered = set(found.all())
        text = msg(
            "reminder.survey.anonymous" if survey.anonymous else "reminder.survey",
            title=Label(survey.title_zh, survey.title_en),
            closes=ctx.when(survey.closes_at),
        )
        button = ((msg("reminder.button.survey"), f"sv:{survey.id}:answer"),)
        for person_id in invited.all():
            if person_id not in answered:
                notice = Notice(person_id, text, (button,))
                subject = f"survey:{survey.id}"
                deliveries.append(Delivery("reminder.survey", subject, person_id, "once", fixed(notice)))
    return deliveries


AREA = Area(
    "surveys",
    flows=(ANSWER, IMPORT, survey_builder.NEW),
    buttons={"sv": on_button},
    commands={"survey": survey_command},
    slash_commands=("survey",),
    uploads={"survey": Upload(import_upload, survey_definitions.FILE, "survey.run")},
    # import, launch, close, results, export
    actions={"survey.run": authz.rule(*authz.STORES)},
    admin=(AdminEntry("survey", "survey.run", survey_command, True, place=110),),
    mine=waiting_for_me,
    reminders=(surveys_closing_soon,),
    digest=(satisfaction.DIGEST,),
    # Surveys past their closing time lose their own key, looked at or not.
    tidy=(close_expired,),
    demo=(survey_demo.write,),
    console_charts=(survey_console.charts,),
    console=tuple(survey_console.PAGES),
)

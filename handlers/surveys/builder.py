"""A survey written in the chat (/survey new): a title, named or anonymous, then questions one by one.

Each piece of text is typed once in both languages, "中文 / English"; choices one per line. What it
builds is exactly what an imported file would give (handlers/surveys/definitions.py), stored as a
draft to launch like any other.
"""

from __future__ import annotations

import re
from typing import Any

from handlers.core.flow import ChoiceStep, ConfirmStep, Flow, Invalid, Option, StepContext, Submitted, TextStep
from handlers.core.i18n import Label, Lines, Msg, msg
from handlers.surveys.definitions import MAX_LABEL, MAX_OPTIONS, MAX_QUESTIONS, MAX_TEXT, MAX_TITLE, Definition
from handlers.surveys.records import imported, refusal, runs_surveys, store_definition

KINDS = ("rating", "nps", "single", "multiple", "text", "text_optional")
DONE = "done"
BOTH = re.compile(r"\s*[/／]\s*")


def both_languages(text: str, limit: int) -> tuple[str, str]:
    parts = BOTH.split(text.strip(), maxsplit=1)
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise Invalid(msg("survey.new.error.both"))
    zh, en = parts[0].strip(), parts[1].strip()
    if len(zh) > limit or len(en) > limit:
        raise Invalid(msg("survey.new.error.too_long", max=limit))
    return zh, en


def check_title(text: str) -> Msg | None:
    try:
        both_languages(text, MAX_TITLE)
    except Invalid as problem:
        return problem.reason
    return None


def check_text(text: str) -> Msg | None:
    try:
        both_languages(text, MAX_TEXT)
    except Invalid as problem:
        return problem.reason
    return None


def check_options(text: str) -> Msg | None:
    lines = [line for line in text.splitlines() if line.strip()]
    if not 2 <= len(lines) <= MAX_OPTIONS:
        return msg("survey.new.error.options", min=2, max=MAX_OPTIONS)
    try:
        for line in lines:
            both_languages(line, MAX_LABEL)
    except Invalid as problem:
        return problem.reason
    return None


async def kind_options(ctx: StepContext) -> list[Option]:
    count = len(ctx.data.get("questions") or [])
    options = [Option(kind, msg(f"survey.new.kind.{kind}")) for kind in KINDS] if count < MAX_QUESTIONS else []
    if count:
        options.append(Option(DONE, msg("survey.new.button.done")))
    return options


async def kind_prompt(ctx: StepContext) -> Msg:
    count = len(ctx.data.get("questions") or [])
    return msg("survey.new.ask.kind_next", count=count) if count else msg("survey.new.ask.kind")


def question_of(data: dict[str, Any]) -> dict[str, Any]:
    kind = data["kind"]
    zh, en = both_languages(data["text"], MAX_TEXT)
    number = len(data.get("questions") or []) + 1
    question: dict[str, Any] = {
        "id": f"q{number}",
        "type": "text" if kind == "text_optional" else kind,
        "text": {"zh": zh, "en": en},
    }
    if kind in ("single", "multiple"):
        lines = [line for line in str(data["options"]).splitlines() if line.strip()]
        question["options"] = [
            {"id": f"o{i}", "zh": pair[0], "en": pair[1]}
            for i, pair in enumerate((both_languages(line, MAX_LABEL) for line in lines), start=1)
        ]
    if question["type"] == "text":
        question["required"] = kind == "text"
    return question


async def after_kind(ctx: StepContext) -> str | None:
    return "confirm" if ctx.data["kind"] == DONE else None


async def add_question(ctx: StepContext) -> str | None:
    """After a question's words (and its choices): keep it and ask for the next one."""
    if ctx.data["kind"] in ("single", "multiple") and "options" not in ctx.data:
        return None  # its choices come next
    ctx.data["questions"] = [*(ctx.data.get("questions") or []), question_of(ctx.data)]
    return "kind"


async def summary(ctx: StepContext) -> Msg:
    zh, en = both_languages(ctx.data["title"], MAX_TITLE)
    lines = tuple(
        msg(
            "survey.new.summary_line",
            number=n,
            text=Label(q["text"]["zh"], q["text"]["en"]),
            kind=msg(f"survey.new.kind.{q['type'] if q.get('required', True) else 'text_optional'}"),
        )
        for n, q in enumerate(ctx.data["questions"], start=1)
    )
    kind = msg("survey.kind.anonymous" if ctx.data["anonymous"] == "yes" else "survey.kind.named")
    return msg("survey.new.summary", title=Label(zh, en), kind=kind, lines=Lines(lines))


async def submit(ctx: StepContext) -> Submitted:
    if not runs_surveys(ctx.person):
        return Submitted(refusal(ctx, "import"), "")
    zh, en = both_languages(ctx.data["title"], MAX_TITLE)
    definition = Definition(Label(zh, en), ctx.data["anonymous"] == "yes", list(ctx.data["questions"]))
    survey = await store_definition(ctx.session, definition, ctx.person.id, ctx.now, ctx.channel)
    return Submitted(imported(survey), f"survey:{survey.id}")


NEW = Flow(
    "survey_new",
    msg("survey.new.title"),
    msg("survey.new.title"),
    (
        TextStep("title", msg("survey.new.ask.title"), max_length=2 * MAX_TITLE + 3, validate=check_title),
        ChoiceStep(
            "anonymous",
            msg("survey.new.ask.anonymous"),
            options=(Option("yes", msg("survey.kind.anonymous")), Option("no", msg("survey.kind.named"))),
        ),
        ChoiceStep(
            "kind", msg("survey.new.ask.kind"), options=kind_options, dynamic_prompt=kind_prompt, then=after_kind
        ),
        TextStep(
            "text",
            msg("survey.new.ask.text"),
            when=lambda data: data.get("kind") not in (None, DONE),
            max_length=2 * MAX_TEXT + 3,
            validate=check_text,
            then=add_question,
        ),
        TextStep(
            "options",
            msg("survey.new.ask.options"),
            when=lambda data: data.get("kind") in ("single", "multiple"),
            max_length=MAX_OPTIONS * (2 * MAX_LABEL + 4),
            validate=check_options,
            then=add_question,
        ),
        ConfirmStep("confirm", msg("survey.new.ask.confirm"), summary=summary),
    ),
    submit,
    listed=False,
)

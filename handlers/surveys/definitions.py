"""Survey definitions: read from YAML or JSON, checked with the line of every problem, and the
templates that ship with Houqin (handlers/surveys/templates/*.yml).

A definition, as admins write it:

    title: {zh: 食堂满意度调查, en: Canteen satisfaction}
    anonymous: true
    questions:
      - id: taste                      # optional; q1, q2, ... when left out
        type: rating                   # rating (1-5), nps (0-10), single, multiple, text
        text: {zh: 饭菜口味如何？, en: How do the dishes taste?}
      - type: single
        text: {zh: 你通常几点用餐？, en: When do you usually eat?}
        options:
          - {id: early, zh: 11:30 以前, en: Before 11:30}
          - {id: late, zh: 12:00 以后, en: After 12:00}
      - type: text
        required: false
        text: {zh: 还有什么建议？, en: Anything else?}

JSON is read by the same YAML parser (JSON is YAML), so its problems carry lines too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from handlers.core import marked, uploads
from handlers.core.i18n import Label, Msg, msg

TYPES = ("rating", "nps", "single", "multiple", "text")
CHOICE_TYPES = ("single", "multiple")
SCALES = {"rating": (1, 5), "nps": (0, 10)}
MAX_QUESTIONS = 30
MAX_OPTIONS = 10
MAX_TITLE = 200
MAX_TEXT = 300
MAX_LABEL = 40
MAX_PROBLEMS = 10
ID = re.compile(r"[a-z0-9_]{1,20}")
TEMPLATES = Path(__file__).parent / "templates"
TOP_FIELDS = ("title", "anonymous", "questions")
# Every problem a definition can have: survey.import.error.<problem> in the catalogs.
PROBLEMS = (
    "encoding",
    "syntax",
    "missing",
    "not_list",
    "no_questions",
    "too_many_questions",
    "unknown_field",
    "repeated_field",
    "not_text",
    "too_long",
    "needs_both_languages",
    "not_boolean",
    "not_question",
    "bad_id",
    "duplicate_id",
    "bad_type",
    "options_count",
    "options_not_allowed",
)
QUESTION_FIELDS = ("id", "type", "text", "options", "required")


@dataclass(frozen=True)
class Definition:
    title: Label
    anonymous: bool
    questions: list[dict[str, Any]]

    def stored(self) -> dict[str, Any]:
        return {"questions": self.questions}


class DefinitionProblems(marked.Problems):
    """What is wrong with a definition file, each with its line; nothing was imported."""

    def __init__(self, problems: list[Msg], key: str = "survey.import.problems") -> None:
        super().__init__(problems, key)


# A file in chat or on the command line is read in a child process by uploads, within these limits:
# 30 questions of 10 options each are some 2,600 entries, six levels deep.
FILE = uploads.Parser(
    "handlers.surveys.definitions:parse", uploads.Limits(max_bytes=uploads.MB, max_nodes=5000, max_depth=12)
)


def parse(name: str, content: bytes) -> Definition:
    """The definition in a .yml/.yaml/.json file's bytes, or DefinitionProblems naming every line
    (uploads.FileRefused past FILE's limits)."""
    try:
        root = marked.compose(name, content, FILE.limits, "survey.import.error.", "survey.import.problems")
    except marked.Problems as problems:
        raise DefinitionProblems(problems.problems) from None
    return Reader().definition(root)


class Reader(marked.Reader):
    def __init__(self) -> None:
        super().__init__("survey.import.error.")

    def definition(self, root: yaml.Node | None) -> Definition:
        if not isinstance(root, yaml.MappingNode):
            raise DefinitionProblems([msg("survey.import.error.not_mapping", line=marked.line_of(root) if root else 1)])
        fields = self.fields(root, TOP_FIELDS)
        title = self.label(fields.get("title"), root, "title", MAX_TITLE)
        anonymous = self.boolean(fields.get("anonymous"), "anonymous", default=False)
        questions: list[dict[str, Any]] = []
        listed = fields.get("questions")
        if listed is None:
            self.problem(root, "missing", field="questions")
        elif not isinstance(listed, yaml.SequenceNode):
            self.problem(listed, "not_list", field="questions")
        elif not listed.value:
            self.problem(listed, "no_questions")
        elif len(listed.value) > MAX_QUESTIONS:
            self.problem(listed, "too_many_questions", max=MAX_QUESTIONS)
        else:
            seen: set[str] = set()
            for number, node in enumerate(listed.value, start=1):
                question = self.question(node, number, seen)
                if question is not None:
                    questions.append(question)
        if self.problems or title is None:
            raise DefinitionProblems(self.in_order())
        return Definition(title, anonymous, questions)

    def question(self, node: yaml.Node, number: int, seen: set[str]) -> dict[str, Any] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, "not_question")
            return None
        before = len(self.problems)
        fields = self.fields(node, QUESTION_FIELDS)
        ident = self.text(fields.get("id"), "id", 20) if "id" in fields else f"q{number}"
        if ident is not None and not ID.fullmatch(ident):
            self.problem(fields["id"], "bad_id", id=ident[:20])
        elif ident is not None and ident in seen:
            self.problem(fields.get("id", node), "duplicate_id", id=ident)
        if ident:
            seen.add(ident)
        kind_node = fields.get("type")
        kind = self.text(kind_node, "type", 20) if kind_node is not None else None
        if kind_node is None:
            self.problem(node, "missing", field="type")
        elif kind is not None and kind not in TYPES:
            self.problem(kind_node, "bad_type", type=kind, types=", ".join(TYPES))
            kind = None
        text = self.label(fields.get("text"), node, "text", MAX_TEXT)
        required = self.boolean(fields.get("required"), "required", default=True)
        options: list[dict[str, str]] = []
        listed = fields.get("options")
        if kind in CHOICE_TYPES:
            if listed is None:
                self.problem(node, "missing", field="options")
            elif not isinstance(listed, yaml.SequenceNode):
                self.problem(listed, "not_list", field="options")
            elif not 2 <= len(listed.value) <= MAX_OPTIONS:
                self.problem(listed, "options_count", min=2, max=MAX_OPTIONS)
            else:
                options = self.options(listed)
        elif listed is not None and kind is not None:
            self.problem(listed, "options_not_allowed", type=kind)
        if len(self.problems) > before or text is None or kind is None or ident is None:
            return None
        question: dict[str, Any] = {"id": ident, "type": kind, "text": {"zh": text.zh, "en": text.en}}
        if options:
            question["options"] = options
        if kind == "text":
            question["required"] = required
        return question

    def options(self, listed: yaml.SequenceNode) -> list[dict[str, str]]:
        options: list[dict[str, str]] = []
        seen: set[str] = set()
        for number, node in enumerate(listed.value, start=1):
            if not isinstance(node, yaml.MappingNode):
                self.problem(node, "needs_both_languages", field="option")
                continue
            fields = self.fields(node, ("id", "zh", "en"))
            ident = self.text(fields.get("id"), "id", 20) if "id" in fields else f"o{number}"
            if ident is not None and not ID.fullmatch(ident):
                self.problem(fields["id"], "bad_id", id=ident[:20])
                continue
            if ident is None or ident in seen:
                self.problem(fields.get("id", node), "duplicate_id", id=ident or "")
                continue
            seen.add(ident)
            zh = self.text(fields.get("zh"), "zh", MAX_LABEL)
            en = self.text(fields.get("en"), "en", MAX_LABEL)
            if zh is None or en is None:
                if "zh" not in fields or "en" not in fields:
                    self.problem(node, "needs_both_languages", field="option")
                continue
            options.append({"id": ident, "zh": zh, "en": en})
        return options


# --- templates ------------------------------------------------------------------------------------


def template_names() -> list[str]:
    return sorted(path.stem for path in TEMPLATES.glob("*.yml"))


def template(name: str) -> Definition | None:
    if name not in template_names():
        return None
    path = TEMPLATES / f"{name}.yml"
    return parse(path.name, path.read_bytes())


# --- reading a stored definition ------------------------------------------------------------------


def questions_of(definition: dict[str, Any]) -> list[dict[str, Any]]:
    return list(definition.get("questions", []))


def question_text(question: dict[str, Any]) -> Label:
    return Label(question["text"]["zh"], question["text"]["en"])


def option_label(option: dict[str, str]) -> Label:
    return Label(option["zh"], option["en"])


def valid_answer(question: dict[str, Any], value: Any) -> bool:
    """Whether a stored answer fits its question: the last check before anything is written."""
    kind = question["type"]
    if kind in SCALES:
        low, high = SCALES[kind]
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    ids = {option["id"] for option in question.get("options", [])}
    if kind == "single":
        return isinstance(value, str) and value in ids
    if kind == "multiple":
        return isinstance(value, list) and bool(value) and len(set(value)) == len(value) and set(value) <= ids
    if kind == "text":
        if value in (None, ""):
            return not question.get("required", True)
        return isinstance(value, str) and 0 < len(value) <= 1000
    return False

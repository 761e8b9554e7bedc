"""Files admins write in YAML or JSON (a survey, an inspection route), read so that every problem is
told with its line: the text composed into YAML nodes (JSON is YAML too), and a `Reader` that checks
fields, words and flags node by node, collecting problems under its catalog prefix
(`<prefix><problem>`, each given its `line`)."""

from __future__ import annotations

import json
from typing import Any

import yaml

from handlers.core import uploads
from handlers.core.i18n import Label, Msg, msg


class Problems(uploads.FileProblem):
    """What is wrong with a file, each with its line; nothing was imported. `key` names the catalog
    message listing them ({count}, {lines})."""

    def __init__(self, problems: list[Msg], key: str) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems
        self.key = key

    def __reduce__(self) -> tuple[type[Problems], tuple[list[Msg], str]]:
        return (type(self), (self.problems, self.key))

    def message(self, most: int = 10) -> Msg:
        from handlers.core.i18n import Lines

        return msg(self.key, count=len(self.problems), lines=Lines(tuple(self.problems[:most])))


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def compose(name: str, content: bytes, limits: uploads.Limits, prefix: str, listing: str) -> yaml.Node | None:
    """The file's root node; a problem with its encoding or syntax as `<prefix>encoding` or
    `<prefix>syntax` with line and column, listed by the message `listing`."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problems([msg(f"{prefix}encoding")], listing) from None
    if name.lower().endswith(".json"):
        try:
            json.loads(text)
        except json.JSONDecodeError as problem:
            raise Problems([msg(f"{prefix}syntax", line=problem.lineno, column=problem.colno)], listing) from None
        except RecursionError:
            # Nested deeper than the decoder goes ([[[[…): no file of ours is.
            raise uploads.FileRefused(msg("dialog.upload.too_complex")) from None
    try:
        return uploads.compose_yaml(text, limits)
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise Problems([msg(f"{prefix}syntax", line=line, column=column)], listing) from None
    except yaml.YAMLError:
        raise Problems([msg(f"{prefix}syntax", line=1, column=1)], listing) from None


class Reader:
    """Checks nodes, collecting problems with their lines; `prefix` is their catalog keys' start, dot
    included ("survey.import.error.")."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.problems: list[Msg] = []
        # A block list or mapping starts on the line after its key; a problem with it is told at the key.
        self.key_of: dict[int, yaml.Node] = {}

    def problem(self, node: yaml.Node, key: str, **params: Any) -> None:
        if isinstance(node, yaml.CollectionNode) and id(node) in self.key_of:
            node = self.key_of[id(node)]
        self.problems.append(msg(f"{self.prefix}{key}", line=line_of(node), **params))

    def in_order(self) -> list[Msg]:
        return sorted(self.problems, key=lambda problem: int(problem.params["line"]))

    def fields(self, node: yaml.MappingNode, allowed: tuple[str, ...]) -> dict[str, yaml.Node]:
        found: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            if name not in allowed:
                self.problem(key, "unknown_field", field=name[:30], allowed=", ".join(allowed))
            elif name in found:
                self.problem(key, "repeated_field", field=name)
            else:
                found[name] = value
                self.key_of[id(value)] = key
        return found

    def text(self, node: yaml.Node | None, field: str, limit: int) -> str | None:
        if node is None:
            return None
        if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
            self.problem(node, "not_text", field=field)
            return None
        value = str(node.value).strip()
        if len(value) > limit:
            self.problem(node, "too_long", field=field, max=limit)
            return None
        return value

    def label(self, node: yaml.Node | None, parent: yaml.Node, field: str, limit: int) -> Label | None:
        """Words in both languages: {zh: ..., en: ...}."""
        if node is None:
            self.problem(parent, "missing", field=field)
            return None
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, "needs_both_languages", field=field)
            return None
        parts = self.fields(node, ("zh", "en"))
        zh = self.text(parts.get("zh"), f"{field}.zh", limit)
        en = self.text(parts.get("en"), f"{field}.en", limit)
        if ("zh" not in parts or "en" not in parts) and not self.problems_about(node):
            self.problem(node, "needs_both_languages", field=field)
        return Label(zh, en) if zh and en else None

    def problems_about(self, node: yaml.Node) -> bool:
        return any(problem.params.get("line") == line_of(node) for problem in self.problems)

    def boolean(self, node: yaml.Node | None, field: str, default: bool) -> bool:
        if node is None:
            return default
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":bool"):
            return str(node.value).lower() in ("true", "yes", "on")
        self.problem(node, "not_boolean", field=field)
        return default

    def listed(self, node: yaml.Node | None, parent: yaml.Node, field: str) -> list[yaml.Node] | None:
        """A list field's entries; None (a problem told) when it is missing, not a list or empty."""
        if node is None:
            self.problem(parent, "missing", field=field)
        elif not isinstance(node, yaml.SequenceNode):
            self.problem(node, "not_list", field=field)
        elif not node.value:
            self.problem(node, "empty_list", field=field)
        else:
            return list(node.value)
        return None

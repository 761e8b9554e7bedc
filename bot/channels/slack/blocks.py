"""Houqin's neutral replies and steps drawn as Block Kit: messages, modal pages, the App Home.

Pure functions: no Web API calls here, so what a person sees can be tested without Slack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.areas import AREAS
from handlers.core.conversation import (
    Choice,
    ChoiceView,
    ConfirmView,
    FileView,
    NumberView,
    Outcome,
    PhotoView,
    Reply,
    StepView,
    TextView,
    split_text,
)
from handlers.core.i18n import translate

JSON = dict[str, Any]
# Slack's limits (Block Kit reference): section text, button label, option label and value, titles.
SECTION_TEXT = 3000
BUTTON_LABEL = 75
OPTION_LABEL = 75
OPTION_VALUE = 150
TITLE = 24
SELECT_OPTIONS = 100
RADIO_OPTIONS = 5  # more than this reads better as a dropdown
ANSWER = "answer"  # the block id of a modal page's one input: where inline errors go
WORDS = "words"  # words typed instead of choosing
STEP_CALLBACK = "houqin_step"
ACTION_PREFIX = "houqin"
# Pages with an input block (a confirmation only shows text and a submit button).
INPUT_FORMS = ("choice", "text", "number", "photo", "file")
PHOTO_TYPES = ["jpg", "jpeg", "png", "gif", "webp"]
HOME_COMMAND = "houqin"
# The app's own slash commands (slack/manifest.yml): /houqin and those the areas declare
# (Area.slash_commands); every other command is a word after /houqin.
SLASH_COMMANDS = frozenset({HOME_COMMAND, *(command for area in AREAS for command in area.slash_commands)})


def typed_in_slack(command: str) -> str:
    """How a command the words tell people to type is typed in Slack: /houqin my, but /repair."""
    return f"/{command}" if command in SLASH_COMMANDS else f"/{HOME_COMMAND} {command}"


def plain(text: str, limit: int = SECTION_TEXT) -> JSON:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split(text: str, limit: int = SECTION_TEXT) -> list[str]:
    """Long text as several sections (a section may not be empty)."""
    parts = split_text(text, limit)
    parts[-1] = parts[-1] or " "
    return parts


def sections(text: str) -> list[JSON]:
    return [{"type": "section", "text": plain(part)} for part in split(text)]


def button(label: str, value: str, action_id: str) -> JSON:
    return {"type": "button", "text": plain(label, BUTTON_LABEL), "value": value, "action_id": action_id}


def message_blocks(reply: Reply) -> list[JSON]:
    """A reply as a message: its text, then one actions block per row of buttons."""
    blocks = sections(reply.text)
    for r, row in enumerate(reply.buttons):
        elements = [button(b.label, b.payload, f"{ACTION_PREFIX}:{r}:{c}") for c, b in enumerate(row)]
        blocks.append({"type": "actions", "block_id": f"row{r}", "elements": elements})
    return blocks


def fallback_text(reply: Reply) -> str:
    """The notification text Slack shows where blocks cannot be (phones' lock screens)."""
    return clip(reply.text, SECTION_TEXT)


def retired(blocks: Sequence[JSON], chosen: str | None) -> list[JSON]:
    """A message whose button was pressed: the same text, no buttons, and what was chosen."""
    kept = [block for block in blocks if block.get("type") != "actions"]
    if chosen:
        kept.append({"type": "context", "elements": [plain(f"→ {chosen}", 2000)]})
    return kept or sections(" ")


def metadata(step: StepView, form: str) -> str:
    meta: JSON = {"v": step.version, "k": form, "f": step.flow, "s": step.step, "skip": step.skip}
    if step.discreet:
        meta["d"] = 1
    return json.dumps(meta)


def step_modal(step: StepView, locale: str, notes: Sequence[str] = ()) -> JSON:
    """One step of a flow as a modal page: what was said on the way, then the question's own input."""
    blocks: list[JSON] = []
    for note in notes:
        blocks.extend(sections(note))
    form, inputs = step_inputs(step, locale)
    blocks.extend(inputs)
    if step.can_go_back:
        back = button(step.back, step.payload("_back"), f"{ACTION_PREFIX}:back")
        blocks.append({"type": "actions", "block_id": "controls", "elements": [back]})
    submit = plain(translate(locale, "slack.modal.submit" if form == "confirm" else "slack.modal.next"), TITLE)
    view: JSON = {
        "type": "modal",
        "callback_id": STEP_CALLBACK,
        "title": plain(step.flow_title, TITLE),
        "close": plain(translate(locale, "slack.modal.cancel"), TITLE),
        "notify_on_close": True,
        "private_metadata": metadata(step, form),
        "blocks": blocks,
    }
    view["submit"] = submit
    return view


def step_inputs(step: StepView, locale: str) -> tuple[str, list[JSON]]:
    """The page's form (what its submission means: see SlackChannel.submission) and its blocks. A kind
    of step drawn nowhere here is its prompt, its buttons to choose from and a box for words."""
    if isinstance(step, ChoiceView):
        words = [words_input(locale)] if step.typed else []
        return "choice", [choice_input(step.prompt, step.buttons, locale, typed=step.typed), *words]
    if isinstance(step, TextView):
        return "text", [text_input(step.prompt, step.max_length, optional=step.optional)]
    if isinstance(step, NumberView):
        return "number", [number_input(step)]
    if isinstance(step, PhotoView):
        return "photo", [file_input(step.prompt, step.max_files, photos=True)]
    if isinstance(step, FileView):
        return "file", [file_input(step.prompt, 1, photos=False)]
    if isinstance(step, ConfirmView):
        return "confirm", [*(sections(step.summary) if step.summary else []), *sections(step.prompt)]
    if step.buttons:
        return "choice", [choice_input(step.prompt, step.buttons, locale, typed=True), words_input(locale)]
    return "text", [text_input(step.prompt, SECTION_TEXT)]


def choice_input(prompt: str, choices: Sequence[Choice], locale: str, *, typed: bool) -> JSON:
    options = [
        {"text": plain(choice.label, OPTION_LABEL), "value": choice.value[:OPTION_VALUE]}
        for choice in choices[:SELECT_OPTIONS]
    ]
    element: JSON
    if len(options) <= RADIO_OPTIONS:
        element = {"type": "radio_buttons", "action_id": "value", "options": options}
    else:
        element = {
            "type": "static_select",
            "action_id": "value",
            "placeholder": plain(translate(locale, "slack.modal.choose"), 150),
            "options": options,
        }
    block: JSON = {"type": "input", "block_id": ANSWER, "label": plain(prompt, 2000), "element": element}
    if typed:
        block["optional"] = True  # words in the box below do instead
    return block


def words_input(locale: str) -> JSON:
    """Beside a choice that also takes words: a search in the catalog, a place not in the list."""
    element = {"type": "plain_text_input", "action_id": "value", "max_length": 200}
    return {
        "type": "input",
        "block_id": WORDS,
        "label": plain(translate(locale, "slack.modal.or_type"), 2000),
        "element": element,
        "optional": True,
    }


def text_input(prompt: str, max_length: int, *, optional: bool = False) -> JSON:
    length = min(max_length, SECTION_TEXT)
    element = {"type": "plain_text_input", "action_id": "value", "multiline": length > 120, "max_length": length}
    block: JSON = {"type": "input", "block_id": ANSWER, "label": plain(prompt, 2000), "element": element}
    if optional:
        block["optional"] = True
    return block


def number_input(step: NumberView) -> JSON:
    element = {
        "type": "number_input",
        "action_id": "value",
        "is_decimal_allowed": False,
        "min_value": str(step.min_value),
        "max_value": str(step.max_value),
    }
    return {"type": "input", "block_id": ANSWER, "label": plain(step.prompt, 2000), "element": element}


def file_input(prompt: str, max_files: int, *, photos: bool) -> JSON:
    """Photos (or a file to import) are attached on the page itself; Slack uploads them and Houqin
    fetches them when the page is submitted. Photos are optional (none: skip), a file is not."""
    element: JSON = {"type": "file_input", "action_id": "value", "max_files": max_files or 1}
    if photos:
        element["filetypes"] = PHOTO_TYPES
    return {"type": "input", "block_id": ANSWER, "label": plain(prompt, 2000), "element": element, "optional": photos}


def submitted_files(view: JSON) -> list[JSON]:
    """The files attached to the page's file input (Slack has uploaded them already)."""
    value = view.get("state", {}).get("values", {}).get(ANSWER, {}).get("value", {})
    files = value.get("files") if isinstance(value, dict) else None
    return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


def submitted_value(view: JSON, block: str = ANSWER) -> str | None:
    """What the person put into the page's input (or the words box), if anything."""
    value = view.get("state", {}).get("values", {}).get(block, {}).get("value", {})
    if not isinstance(value, dict):
        return None
    selected = value.get("selected_option")
    if isinstance(selected, dict):
        return str(selected.get("value", ""))
    typed = value.get("value")
    return typed if isinstance(typed, str) else None


def notes_of(outcome: Outcome, step: StepView | None) -> list[str]:
    """What the core said besides the question itself (the question is the page's input)."""
    shown = {step.prompt, step.asked} if step is not None else set()
    if isinstance(step, ConfirmView):
        shown.add(step.summary)
    return [reply.text for reply in outcome.replies if reply.text not in shown]


def message_modal(title: str, texts: Sequence[str], locale: str) -> JSON:
    """A page that only says something (a flow that ended, a command answered)."""
    blocks = [block for text in texts for block in sections(text)] or sections(" ")
    return {
        "type": "modal",
        "title": plain(title, TITLE),
        "close": plain(translate(locale, "slack.modal.close"), TITLE),
        "blocks": blocks[:100],
    }


def loading_modal(locale: str) -> JSON:
    return message_modal(translate(locale, "slack.modal.title"), [translate(locale, "slack.modal.loading")], locale)


def failed_modal(locale: str) -> JSON:
    return message_modal(translate(locale, "slack.modal.title"), [translate(locale, "dialog.error.internal")], locale)


def home_view(overview: Reply, locale: str) -> JSON:
    """App Home: my requests and what waits for me (the core's /my), and buttons to start a flow."""
    blocks: list[JSON] = [{"type": "header", "text": plain(translate(locale, "slack.home.title"), 150)}]
    blocks.extend(message_blocks(overview))
    return {"type": "home", "blocks": blocks[:100]}

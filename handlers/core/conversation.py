"""What channels hand the core and what they get back: neutral of any platform.

A channel turns its payload into an ``Inbound`` on the way in and renders each ``Reply`` in its own
idiom on the way out (an inline keyboard, Block Kit buttons, chat bubbles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.core.uploads import Parsed

from handlers.core.text import plain

# Telegram's own ceiling for one message; nothing longer is accepted from any channel.
MAX_TEXT = 4096


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Text longer than a platform takes in one piece, cut at line ends where possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    parts.append(text)
    return parts


class Kind(StrEnum):
    COMMAND = "command"
    TEXT = "text"
    BUTTON = "button"
    PHOTO = "photo"
    DOCUMENT = "document"  # a file that is not a photo (a CSV or spreadsheet for an import)
    UNSUPPORTED = "unsupported"  # a sticker, voice note, document... something no step can use


@dataclass(frozen=True)
class PhotoIn:
    file_id: str | None = None  # the platform keeps the bytes (Telegram, Slack)
    content: bytes | None = None  # we were given the bytes (browser upload)
    content_type: str | None = None


@dataclass(frozen=True)
class DocumentIn:
    """A file sent to Houqin. The channel fetches the bytes before the core sees it (no download may
    happen inside a transaction); ``content`` is None when it was too big to fetch."""

    name: str
    content: bytes | None
    content_type: str | None = None
    size: int | None = None
    file_id: str | None = None  # the platform's reference, for the channel to fetch it by
    # What the core's parser made of it, before the delivery's transaction (handlers/core/uploads.py).
    parsed: Parsed | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", plain(self.name))  # a file's name is words someone chose


# Files larger than this are not fetched from the platform at all.
MAX_DOCUMENT = 2 * 1024 * 1024


@dataclass(frozen=True)
class Sender:
    channel: str
    external_id: str
    address: str  # where replies go: a Telegram chat id, a Slack DM channel, a web person
    display_name: str
    platform_locale: str | None = None

    def __post_init__(self) -> None:
        # A name is shown on cards and in lists: made plain where it enters, like every word sent.
        object.__setattr__(self, "display_name", plain(self.display_name))


@dataclass(frozen=True)
class Inbound:
    sender: Sender
    kind: Kind
    # Unique per delivery on its channel (Telegram update_id, a web client message id): a second
    # delivery with the same key is recognised and changes nothing.
    delivery_key: str
    text: str = ""  # the text, the command's arguments, or a button's payload
    command: str = ""  # without the slash, lower case (for a document: the command in its caption, if any)
    photo: PhotoIn | None = None
    document: DocumentIn | None = None
    # An answer meant for this version of the dialog (a Slack modal page): taken only if the dialog
    # is still there, else treated like a stale button. Buttons carry theirs in the payload.
    version: int | None = None

    def __post_init__(self) -> None:
        # The one place every channel's words enter the core: made plain here (handlers/core/text.py).
        object.__setattr__(self, "text", plain(self.text))
        object.__setattr__(self, "command", plain(self.command))


@dataclass(frozen=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True)
class FileOut:
    """A file sent with a reply (an export, a chart), kept in the attachments table: channels fetch
    its bytes by id when they send it, so replies and notices stay small and can be stored."""

    id: int
    name: str
    content_type: str

    @property
    def is_image(self) -> bool:
        return self.content_type in ("image/png", "image/jpeg")

    def to_record(self) -> list[Any]:
        return [self.id, self.name, self.content_type]

    @classmethod
    def from_record(cls, record: list[Any]) -> FileOut:
        return cls(int(record[0]), str(record[1]), str(record[2]))


@dataclass(frozen=True)
class Reply:
    text: str  # may be empty when the reply is only files
    buttons: tuple[tuple[Button, ...], ...] = ()
    files: tuple[FileOut, ...] = ()


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    # For a pressed button: what it chose, so the channel can mark the message it sat on and retire
    # its buttons; None when the press was refused.
    chosen: str | None = None
    # A short note for the platform's button acknowledgement (Telegram's toast).
    toast: str | None = None
    duplicate: bool = False
    # For a duplicate: whether the first handling's replies are known to have been sent, and when
    # the first handling was recorded (a channel may judge it still at work).
    replied: bool = False
    recorded_at: datetime | None = None
    locale: str = ""
    delivery_id: int | None = None
    dialog_id: int | None = None
    # The dialog's version after this turn: where its buttons live is remembered only if it still is.
    dialog_version: int | None = None
    # Where the buttons shown before this turn live; a channel that shows new ones retires these.
    retire_prompt: str | None = None
    # The pressed button sat on a card, whose new version comes through the outbox: leave it alone.
    on_card: bool = False
    # Why the answer was not taken (the step is asked again): a channel with a form shows it inline.
    problem: str | None = None
    # From a discreet flow (an anonymous answer): once replied, its record keeps none of the words.
    discreet: bool = False

    @property
    def has_buttons(self) -> bool:
        return any(reply.buttons for reply in self.replies)

    def to_record(self) -> dict[str, Any]:
        return {
            "replies": [
                {
                    "text": r.text,
                    "buttons": [[[b.label, b.payload] for b in row] for row in r.buttons],
                    "files": [f.to_record() for f in r.files],
                }
                for r in self.replies
            ],
            "chosen": self.chosen,
            "toast": self.toast,
            "locale": self.locale,
            "dialog_id": self.dialog_id,
            "dialog_version": self.dialog_version,
            "on_card": self.on_card,
            "discreet": self.discreet,
        }

    @classmethod
    def from_record(
        cls, record: dict[str, Any], *, replied: bool, delivery_id: int, recorded_at: datetime | None = None
    ) -> Outcome:
        replies = [
            Reply(
                r["text"],
                tuple(tuple(Button(label, payload) for label, payload in row) for row in r["buttons"]),
                tuple(FileOut.from_record(f) for f in r.get("files", [])),
            )
            for r in record.get("replies", [])
        ]
        return cls(
            replies=replies,
            chosen=record.get("chosen"),
            toast=record.get("toast"),
            locale=record.get("locale", ""),
            duplicate=True,
            replied=replied,
            recorded_at=recorded_at,
            delivery_id=delivery_id,
            dialog_id=record.get("dialog_id"),
            dialog_version=record.get("dialog_version"),
            on_card=record.get("on_card", False),
            discreet=record.get("discreet", False),
        )


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True, kw_only=True)
class StepView:
    """The question a person is on, whole: for channels that draw one page per step (a Slack modal)
    instead of walking the replies. Read-only; answers still go through ``handle``.

    Each kind of step has its view (ChoiceView, TextView, ...) with what its own input needs. Every
    view has a prompt and its buttons, so a channel draws one it does not know as those plus a box
    for words. An answer is sent as the button ``payload(value)``, as text with ``version`` for
    words, and as ``payload(skip)`` for a page left empty (no more photos, the confirmation).
    """

    prompt: str
    # The question as a chat asks it, where a page asks it otherwise (a photo page names no Skip button).
    asked: str = ""
    # What may be pressed to answer (besides Back and Cancel, which every page has).
    buttons: tuple[Choice, ...] = ()
    skip: str | None = None
    # Where it sits, filled in by the engine for every kind alike.
    flow: str = ""
    flow_title: str = ""
    step: str = ""
    # Which of the things a step asks in turn this page is (an inspection round's item, all one step):
    # a page answered by photos is done only while the same part is still asked.
    part: str = ""
    version: int = 0
    can_go_back: bool = False
    discreet: bool = False  # an anonymous answer: see Flow.discreet
    back: str = ""
    cancel: str = ""

    def payload(self, value: str) -> str:
        return f"s{self.version}:{value}"


@dataclass(frozen=True, kw_only=True)
class ChoiceView(StepView):
    """One of the buttons; `typed`: words do too (a catalog search, a place not listed), sent as text."""

    typed: bool = False


@dataclass(frozen=True, kw_only=True)
class TextView(StepView):
    optional: bool = False
    min_length: int = 1
    max_length: int = 500


@dataclass(frozen=True, kw_only=True)
class NumberView(StepView):
    min_value: int
    max_value: int


@dataclass(frozen=True, kw_only=True)
class PhotoView(StepView):
    max_files: int  # photos still to take


@dataclass(frozen=True, kw_only=True)
class FileView(StepView):
    """A file to import (a CSV, a spreadsheet)."""


@dataclass(frozen=True, kw_only=True)
class ConfirmView(StepView):
    summary: str


def asks(outcome: Outcome, step: StepView) -> bool:
    """Whether this turn asked the person's current question (its buttons carry the step's version):
    a channel then draws it as the step's own input (a Slack modal page, a Feishu card's input).
    Otherwise the replies stand alone (a language choice asked mid-flow keeps its own buttons)."""
    prefix = step.payload("")
    payloads = (button.payload for reply in outcome.replies for row in reply.buttons for button in row)
    return any(payload.startswith(prefix) for payload in payloads)

"""Text from outside made plain, once, where it enters: every Inbound and Sender (handlers/core/conversation.py)
passes its words through `plain`, so every flow, command and card sees the same clean text.

What goes: control and format characters (Unicode Cc, Cf) and whole ANSI escape sequences. A
right-to-left override (U+202E) turns the words on a technician's card around; a bell or
`ESC[31m` is obeyed by a terminal showing a log; six zero-width spaces look like nothing yet
counted as six characters. Lone surrogates go too: JSON can carry "\\ud800", no UTF-8 encoder takes
it, and a send or a database write would fail on it. What stays: newlines (a carriage return
becomes one), and a tab as a space; the zero-width joiners inside a word (emoji, some scripts need
them). Then NFC, so the same words are the same characters.

Minimum lengths count what a reader sees (`visible_length`): no spaces, no combining marks.
"""

from __future__ import annotations

import re
import unicodedata

# CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), the two-character escapes, and the 8-bit CSI.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
JOINERS = ("\u200c", "\u200d")
INVISIBLE = ("Cc", "Cf", "Cs")


def plain(text: str) -> str:
    """`text` without what no reader should be handed: see the module's words."""
    if text.isascii() and text.isprintable():
        return text  # the common case: nothing to do
    text = LINE_BREAKS.sub("\n", ANSI.sub("", text)).replace("\t", " ")
    kept = "".join(char for index, char in enumerate(text) if _kept(text, index))
    return unicodedata.normalize("NFC", kept)


def visible_length(text: str) -> int:
    """How many characters a reader sees: spaces, combining marks and format characters not counted."""
    return sum(1 for char in text if _shown(char) and not unicodedata.category(char).startswith("M"))


def _kept(text: str, index: int) -> bool:
    char = text[index]
    if char == "\n" or unicodedata.category(char) not in INVISIBLE:
        return True
    # A joiner stays only inside a word: between two characters a reader sees.
    return char in JOINERS and 0 < index < len(text) - 1 and _shown(text[index - 1]) and _shown(text[index + 1])


def _shown(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) not in INVISIBLE

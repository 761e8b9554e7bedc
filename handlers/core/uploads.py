"""Files people send to be imported (a stores catalog, people and rooms, a survey definition): read
within limits, off the event loop.

Every importer reads through here. A file is parsed in a child process (forked from a small
server process, so it starts in milliseconds) that is killed when its time is up: a thread could
not be stopped, and a file that makes a parser spin or swell must not hold the service. The limits:
bytes (before anything is read), rows (blank ones too: a spreadsheet of four million empty rows is
small when zipped), columns, the size of a spreadsheet once unzipped, the entries and nesting of
YAML/JSON, memory and time. Over a limit the person gets one message in their language and nothing
is imported.

The engine parses a delivery's file before its transaction opens (Houqin.handle), so no database
connection waits on a parse either (SQLite has one); the importer then takes the result with
``read``. The command line (``houqin supply|survey import``) uses ``parse_now``.
"""

from __future__ import annotations

import asyncio
import csv
import importlib
import io
import logging
import multiprocessing
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import IO, TYPE_CHECKING, Any
from xml.etree import ElementTree

import yaml

from handlers.core.i18n import Msg, msg
from handlers.core.text import plain

if TYPE_CHECKING:
    from handlers.core.conversation import DocumentIn

log = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    seconds: float = 10.0
    # Tables (CSV, XLSX): rows read, blank ones included; the columns kept of each; an XLSX unzipped.
    max_rows: int = 5000
    max_columns: int = 50
    max_unzipped: int = 20 * MB
    # YAML/JSON: entries (every scalar, list and mapping) and how deep they nest.
    max_nodes: int = 5000
    max_depth: int = 20
    # What the child process may allocate beyond what it starts with.
    max_memory: int = 512 * MB


@dataclass(frozen=True)
class Parser:
    """What reads one kind of file: ``function`` ("module:name", importable in the child process)
    takes (file name, bytes) and returns plain data, or raises a FileProblem."""

    function: str
    limits: Limits


class FileProblem(Exception):
    """Why a file imports nothing, as one message. Subclasses must survive pickling (they come back
    from the child process): give each a __reduce__ if its __init__ takes other arguments."""

    def message(self) -> Msg:
        raise NotImplementedError


class FileRefused(FileProblem):
    """The whole file is refused: over a limit, or not a file of its kind."""

    def __init__(self, reason: Msg) -> None:
        super().__init__(reason.key)
        self.reason = reason

    def __reduce__(self) -> tuple[type[FileRefused], tuple[Msg]]:
        return (FileRefused, (self.reason,))

    def message(self) -> Msg:
        return self.reason


@dataclass(frozen=True)
class Parsed:
    """A file already parsed (before the transaction): its parser, and what it gave or what was wrong."""

    parser: Parser
    value: Any = None
    problem: FileProblem | None = None

    def result(self) -> Any:
        if self.problem is not None:
            raise self.problem
        return self.value


# --- running a parser -----------------------------------------------------------------------------

# Two files at a time; more wait their turn here, not in the event loop's default threads.
_WAITERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload")
_CONTEXT = multiprocessing.get_context("forkserver")
# Imported once by the server, not by every child. "__main__" too (as multiprocessing's default does):
# a child then finds the main module loaded instead of running it again, so it must be safe to import
# (bot/cli.py and pytest are).
_CONTEXT.set_forkserver_preload(
    ["__main__", "handlers.core.uploads", "handlers.supplies.stock", "handlers.surveys.definitions"]
)


def warm_up() -> None:
    """Start the server the parsing processes fork from now (it imports the parsers once, which takes
    seconds), so that the first file sent does not wait for it. Returns at once."""
    from multiprocessing import forkserver

    forkserver.ensure_running()


async def parse(parser: Parser, name: str, content: bytes) -> Parsed:
    """Parse off the event loop; a file's problem is kept in the answer, never raised."""
    loop = asyncio.get_running_loop()
    try:
        value = await loop.run_in_executor(_WAITERS, parse_now, parser, name, content)
    except FileProblem as problem:
        return Parsed(parser, problem=problem)
    return Parsed(parser, value)


async def read(document: DocumentIn, parser: Parser) -> Any:
    """What an importer calls: the file's parsed value (or its FileProblem raised). Parsed already,
    before the transaction, unless the dialog moved on in between; then parsed now, still off the loop."""
    if document.parsed is not None and document.parsed.parser == parser:
        return document.parsed.result()
    if document.content is None:
        raise FileRefused(too_big(parser.limits))
    return (await parse(parser, document.name, document.content)).result()


def parse_now(parser: Parser, name: str, content: bytes) -> Any:
    """Parse in a child process and wait (blocking: call it from a thread, or from the command line)."""
    limits = parser.limits
    if len(content) > limits.max_bytes:
        raise FileRefused(too_big(limits))
    receiving, sending = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(
        target=_in_child, args=(parser.function, name, content, limits.max_memory, sending), daemon=True
    )
    child.start()
    sending.close()
    try:
        if not receiving.poll(limits.seconds):
            raise FileRefused(msg("dialog.upload.too_slow", seconds=int(limits.seconds)))
        ok, value = receiving.recv()
    except EOFError:
        # The child died without a word: it ran out of memory (or was killed).
        raise FileRefused(msg("dialog.upload.unreadable")) from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiving.close()
    if not ok:
        assert isinstance(value, FileProblem)
        raise value
    return value


def too_big(limits: Limits) -> Msg:
    return msg("dialog.error.file_too_big", mb=max(1, limits.max_bytes // MB))


def _in_child(function: str, name: str, content: bytes, max_memory: int, answer: Connection) -> None:
    _cap_memory(max_memory)
    module, _, attribute = function.partition(":")
    try:
        value = getattr(importlib.import_module(module), attribute)(name, content)
        reply: tuple[bool, Any] = (True, value)
    except FileProblem as problem:
        reply = (False, problem)
    except (MemoryError, RecursionError):
        reply = (False, FileRefused(msg("dialog.upload.too_complex")))
    except Exception:
        log.exception("reading %s with %s failed", name, function)
        reply = (False, FileRefused(msg("dialog.upload.unreadable")))
    answer.send(reply)
    answer.close()


def _cap_memory(extra: int) -> None:
    try:
        import resource

        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[0])
        now = pages * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (now + extra, now + extra))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: the time limit still holds


# --- tables: CSV and XLSX ----------------------------------------------------------------------------

TABLE = Parser("handlers.core.uploads:read_table", Limits(max_bytes=2 * MB))


def read_table(name: str, content: bytes, limits: Limits = TABLE.limits) -> list[list[str]]:
    """The non-blank rows of a CSV (UTF-8, or GB18030 as Chinese Excel writes it) or of an XLSX's
    first sheet; FileRefused past limits.max_rows rows, blank ones counted."""
    if content.startswith(b"PK\x03\x04") or name.lower().endswith(".xlsx"):
        rows = _xlsx_rows(content, limits)
    else:
        rows = _csv_rows(content)
    kept: list[list[str]] = []
    for count, cells in enumerate(rows, start=1):
        if count > limits.max_rows:
            raise FileRefused(msg("dialog.upload.too_many_rows", max=limits.max_rows))
        if any(cell.strip() for cell in cells):
            kept.append([plain(cell) for cell in cells])  # a file's words are text from outside
    return kept


def _csv_rows(content: bytes) -> Iterator[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return _csv_lines(text)
    raise FileRefused(msg("dialog.upload.not_a_table"))


def _csv_lines(text: str) -> Iterator[list[str]]:
    try:
        yield from csv.reader(io.StringIO(text))
    except csv.Error:
        raise FileRefused(msg("dialog.upload.not_a_table")) from None


def _xlsx_rows(content: bytes, limits: Limits) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # only an import needs it

    _check_archive(content, limits)
    # Whatever a damaged or disguised file makes the parser raise, the answer is the same sentence.
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:
        raise FileRefused(msg("dialog.upload.not_a_table")) from None
    try:
        sheet = book.worksheets[0]
        # The sheet's own dimension may already say it is too long (and rows missing from the file
        # are made up to fill it): no need to read on.
        if (sheet.max_row or 0) > limits.max_rows:
            raise FileRefused(msg("dialog.upload.too_many_rows", max=limits.max_rows))
        # One row past the limit is enough to know; the columns are capped so that a made-up width
        # (a cell in column XFD) does not make every row 16,384 cells long.
        for values in sheet.iter_rows(max_row=limits.max_rows + 1, max_col=limits.max_columns, values_only=True):
            yield ["" if value is None else _cell_text(value) for value in values]
    except FileProblem:
        raise
    except Exception:
        raise FileRefused(msg("dialog.upload.not_a_table")) from None
    finally:
        book.close()


def _check_archive(content: bytes, limits: Limits) -> None:
    """Before openpyxl opens it: its size unzipped, and the rows of every sheet counted, blank ones
    too, stopping at the limit. (Opening a sheet that does not state its size reads it to the end
    to learn it: four million empty rows take minutes.)"""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
            if sum(entry.file_size for entry in entries) > limits.max_unzipped or len(entries) > 1000:
                raise FileRefused(msg("dialog.upload.too_big_unzipped", mb=limits.max_unzipped // MB))
            for entry in entries:
                if entry.filename.endswith(".xml"):
                    with archive.open(entry) as part:
                        _count_rows(part, limits)
    except (zipfile.BadZipFile, ElementTree.ParseError, ValueError, OSError):
        raise FileRefused(msg("dialog.upload.not_a_table")) from None


def _count_rows(part: IO[bytes], limits: Limits) -> None:
    rows = 0
    for _event, element in ElementTree.iterparse(part, events=("start",)):
        if element.tag == "row" or element.tag.endswith("}row"):
            rows += 1
            if rows > limits.max_rows:
                raise FileRefused(msg("dialog.upload.too_many_rows", max=limits.max_rows))


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- YAML (and JSON, which is YAML) -------------------------------------------------------------


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's composer, counting entries and depth as it goes: it stops at the limit instead of
    building a million-question tree (or recursing into RecursionError on [[[[…)."""

    def __init__(self, text: str, limits: Limits) -> None:
        super().__init__(text)
        self.limits = limits
        self.nodes = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.nodes += 1
        self.depth += 1
        try:
            if self.nodes > self.limits.max_nodes or self.depth > self.limits.max_depth:
                raise FileRefused(msg("dialog.upload.too_complex"))
            node = super().compose_node(parent, index)
            if isinstance(node, yaml.ScalarNode):
                node.value = plain(node.value)  # a file's words are text from outside, as a message's are
            return node
        finally:
            self.depth -= 1


def compose_yaml(text: str, limits: Limits) -> yaml.Node | None:
    """The YAML document's node tree (yaml.compose), within the limits; yaml.YAMLError if malformed."""
    loader = _BoundedLoader(text, limits)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()

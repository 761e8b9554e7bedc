"""Door signs: one printable PNG per room whose QR codes start a repair request in that room.

Each sign links to the Telegram bot (``https://t.me/<bot>?start=room_<id>``) and to the browser chat
(``<browser url>/?start=room_<id>``). The payload carries ``rooms.id``, not the room code: codes such
as "101" repeat across buildings.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import httpx
import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_H

from handlers.core.rooms import DoorRoom
from handlers.inspections.routes import DoorCheckpoint

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# A6 landscape at 300 dpi (148 x 105 mm); A5 has the same proportions, so "fit to page" fills it.
DPI = 300
WIDTH, HEIGHT = 1748, 1240
MARGIN = 72  # 6 mm, inside what office printers can reach
QR_BOX = 540  # the most room each code gets, quiet zone included
# The standard asks for 4 modules of white around a code; tape, frames and glare on a door eat into it.
QR_BORDER = 6
INK, TEXT, MUTED, WHITE = 0, 25, 85, 255

TELEGRAM_TIMEOUT_SECONDS = 10.0
TELEGRAM_USERNAME = re.compile(r"[A-Za-z0-9_]{5,32}")
UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9_-]")

# Where a Chinese font usually lives when fontconfig cannot be asked (Debian, Fedora, Arch, macOS).
CJK_FONT_FILES = {
    False: (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
        "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
        "/System/Library/Fonts/PingFang.ttc",
    ),
    True: (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
    ),
}
LATIN_FONT_FILES = {
    False: ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",),
    True: ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",),
}


# --- links ----------------------------------------------------------------------------------------


def start_payload(room_id: int) -> str:
    return f"room_{room_id}"


def telegram_link(bot_username: str, room_id: int) -> str:
    return f"https://t.me/{bot_username}?start={start_payload(room_id)}"


def browser_link(browser_url: str, room_id: int) -> str:
    return f"{browser_url.rstrip('/')}/?start={start_payload(room_id)}"


def clean_bot_username(value: str | None) -> str | None:
    """The username without its @, None when blank; ValueError when Telegram would not accept it."""
    if value is None or not value.strip():
        return None
    username = value.strip().removeprefix("@")
    if not TELEGRAM_USERNAME.fullmatch(username):
        raise ValueError("must be the bot's @username: 5-32 letters, digits and _")
    return username


class BotLookupError(Exception):
    """Telegram did not tell us the bot's username; the message never contains the token."""


async def fetch_bot_username(api_base_url: str, token: str) -> str:
    """Ask Telegram's getMe for the bot's username."""
    try:
        async with httpx.AsyncClient(timeout=TELEGRAM_TIMEOUT_SECONDS) as client:
            response = await client.get(f"{api_base_url}/bot{token}/getMe")
    except httpx.HTTPError as exc:
        # The URL holds the token, and some httpx errors quote it.
        reason = (str(exc) or type(exc).__name__).replace(token, "<token>")
        raise BotLookupError(reason) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("ok") is not True:
        description = body.get("description") if isinstance(body, dict) else None
        raise BotLookupError(f"HTTP {response.status_code}" + (f" {description}" if description else ""))
    result = body.get("result")
    username = result.get("username") if isinstance(result, dict) else None
    if not isinstance(username, str) or not TELEGRAM_USERNAME.fullmatch(username):
        raise BotLookupError("getMe answered without a username")
    return username


# --- fonts ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Face:
    path: str | None  # None: Pillow's built-in font
    index: int = 0

    def at(self, size: int) -> Font:
        return _load_font(self.path, self.index, size)


@dataclass(frozen=True)
class Fonts:
    regular: Face
    bold: Face
    cjk: bool  # False: no Chinese font on this machine, so signs carry English text only


@lru_cache(maxsize=128)
def _load_font(path: str | None, index: int, size: int) -> Font:
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(path, size, index=index)


def _fc_match(pattern: str, *, needs_chinese: bool) -> Face | None:
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        found = subprocess.run(
            [fc_match, "-f", "%{file}\t%{index}\t%{lang}", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    path, _, rest = found.partition("\t")
    index, _, langs = rest.partition("\t")
    # fc-match always answers with its best guess, a Latin font when nothing covers Chinese.
    if not path or not Path(path).is_file() or (needs_chinese and "zh-cn" not in langs.split("|")):
        return None
    return Face(path, int(index) if index.isdigit() else 0)


def _simplified_chinese_face(path: str) -> Face:
    """In a collection (.ttc) the face for Simplified Chinese, so 门, 楼 and 报 get their mainland shapes."""
    index = 0
    while True:
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0] or ""
        except OSError:
            return Face(path, 0)
        if family.endswith(" SC"):
            return Face(path, index)
        index += 1


def find_cjk_face(*, bold: bool) -> Face | None:
    pattern = "Noto Sans CJK SC:lang=zh-cn" + (":weight=bold" if bold else "")
    face = _fc_match(pattern, needs_chinese=True)
    if face is not None:
        return face
    for path in CJK_FONT_FILES[bold]:
        if Path(path).is_file():
            return _simplified_chinese_face(path)
    return None


def _latin_face(*, bold: bool) -> Face:
    face = _fc_match("sans-serif" + (":weight=bold" if bold else ""), needs_chinese=False)
    if face is not None:
        return face
    for path in LATIN_FONT_FILES[bold]:
        if Path(path).is_file():
            return Face(path)
    return Face(None)


def find_fonts() -> Fonts:
    regular = find_cjk_face(bold=False)
    if regular is None:
        return Fonts(_latin_face(bold=False), _latin_face(bold=True), cjk=False)
    return Fonts(regular, find_cjk_face(bold=True) or regular, cjk=True)


# --- drawing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sign:
    path: Path
    room_id: int
    telegram_link: str | None
    browser_link: str

    @property
    def links(self) -> tuple[str, ...]:
        return (self.telegram_link, self.browser_link) if self.telegram_link else (self.browser_link,)


def _qr_codes(links: Sequence[str]) -> list[Image.Image]:
    """One image per link, one module per pixel, all of the same version so they print the same size."""
    version = 1
    for link in links:
        probe = qrcode.QRCode(error_correction=ERROR_CORRECT_H, border=QR_BORDER)
        probe.add_data(link)
        probe.make(fit=True)
        version = max(version, probe.version)
    images = []
    for link in links:
        code = qrcode.QRCode(version=version, error_correction=ERROR_CORRECT_H, border=QR_BORDER)
        code.add_data(link)
        code.make(fit=False)
        matrix = code.get_matrix()
        image = Image.new("L", (len(matrix), len(matrix)), WHITE)
        image.putdata([INK if dark else WHITE for row in matrix for dark in row])
        images.append(image)
    return images


def _shown_url(link: str) -> str:
    # https:// goes without saying when typed; http:// stays, or the browser would try https first.
    return link.removeprefix("https://")


def _fit(draw: ImageDraw.ImageDraw, text: str, face: Face, size: int, width: int, smallest: int) -> tuple[Font, str]:
    """The largest font size from `size` down to `smallest` that fits; below that the text is shortened."""
    while size > smallest and draw.textlength(text, font=face.at(size)) > width:
        size -= 2
    font = face.at(size)
    if draw.textlength(text, font=font) <= width:
        return font, text
    while len(text) > 1 and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return font, text.rstrip() + "…"


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    """Split a URL over lines without losing a character, after a / ? or . where one is near."""
    lines = [""]
    for char in text:
        if lines[-1] and draw.textlength(lines[-1] + char, font=font) > width:
            line = lines[-1]
            cut = max(line.rfind(mark) for mark in "/?.&=") + 1
            if cut < len(line) // 2:
                cut = len(line)
            lines[-1:] = [line[:cut], line[cut:]]
        lines[-1] += char
    return lines


def _place_lines(room: DoorRoom, cjk: bool) -> list[str]:
    building = room.building

    def line(building_name: str, room_name: str, separator: str) -> str:
        # "101 宿舍" already names its code; "宿舍楼 101 101 宿舍" would read as a mistake.
        named = re.search(rf"(?<![A-Za-z0-9]){re.escape(room.code)}(?![A-Za-z0-9])", room_name)
        head = building_name if named else f"{building_name} {room.code}"
        return separator.join(part for part in (head.strip(), room_name.strip()) if part)

    # An en dash: the CJK font draws · full-width, which leaves holes in an English line.
    english = line(building.name_en, room.name_en, " – ")
    return [line(building.name_zh, room.name_zh, " "), english] if cjk else [english]


def _url_lines(draw: ImageDraw.ImageDraw, link: str, face: Face, width: int) -> tuple[int, list[str]]:
    """The font size and lines for a URL: smaller type first, then more lines."""
    shown = _shown_url(link)
    size = 34
    while size > 24 and draw.textlength(shown, font=face.at(size)) > width:
        size -= 2
    return size, _wrap(draw, shown, face.at(size), width)


def render_sign(room: DoorRoom, telegram: str | None, browser: str, fonts: Fonts) -> Image.Image:
    """A room's door sign: scan it to report a repair there."""
    heading = "报修  Report a repair" if fonts.cjk else "Report a repair"
    hint = "Scan to report a problem in this room"
    if fonts.cjk:
        hint = f"扫码即可报修，地点已自动填好    {hint}"
    return draw_sign(heading, _place_lines(room, fonts.cjk), hint, telegram, browser, fonts)


def draw_sign(
    heading: str, place: Sequence[str], hint: str, telegram: str | None, browser: str, fonts: Fonts
) -> Image.Image:
    """A printable sign: the heading on a black band, the place in two lines, the codes, a hint."""
    sign = Image.new("L", (WIDTH, HEIGHT), WHITE)
    draw = ImageDraw.Draw(sign)
    inner = WIDTH - 2 * MARGIN
    middle = WIDTH // 2

    # The heading, white on a black band: it reads from across a corridor.
    band_bottom = MARGIN + 136
    draw.rounded_rectangle((MARGIN, MARGIN, WIDTH - MARGIN, band_bottom), radius=28, fill=INK)
    font, heading = _fit(draw, heading, fonts.bold, 88, inner - 80, 48)
    draw.text((middle, (MARGIN + band_bottom) // 2), heading, font=font, fill=WHITE, anchor="mm")

    y = band_bottom + 26
    for number, text in enumerate(place):
        first = number == 0
        font, text = _fit(draw, text, fonts.bold if first else fonts.regular, 72 if first else 44, inner, 28)
        draw.text((middle, y), text, font=font, fill=TEXT if first else MUTED, anchor="ma")
        y += 98 if first else 62

    links = [("Telegram", telegram)] if telegram else []
    links.append(("浏览器  Browser" if fonts.cjk else "Browser", browser))
    codes = _qr_codes([link for _, link in links])
    gap = 56
    column = (inner - gap) // 2
    # Two codes share the width; a single one sits in the middle.
    lefts = [MARGIN, MARGIN + column + gap] if len(links) == 2 else [middle - column // 2]
    urls = [_url_lines(draw, link, fonts.regular, column - 48) for _, link in links]
    url_height = max(len(lines) * (size + 8) for size, lines in urls)
    card_top = y + 18
    caption_top = card_top + 22
    # The caption ends where the code's quiet zone begins: pasting the code must not cover it.
    qr_top = caption_top + 64
    footer_top = HEIGHT - MARGIN - 44
    # Codes take what is left between caption and URL; all are the same version, so one scale fits all.
    scale = max(1, min(QR_BOX, footer_top - 24 - url_height - qr_top) // codes[0].width)
    card_bottom = qr_top + codes[0].width * scale + url_height + 18
    for left, (caption, _), code, (url_size, url_lines) in zip(lefts, links, codes, urls, strict=True):
        centre = left + column // 2
        draw.rounded_rectangle((left, card_top, left + column, card_bottom), radius=24, outline=175, width=3)
        font, caption = _fit(draw, caption, fonts.bold, 48, column - 48, 28)
        draw.text((centre, caption_top), caption, font=font, fill=TEXT, anchor="ma")
        picture = code.resize((code.width * scale, code.height * scale), Image.Resampling.NEAREST)
        sign.paste(picture, (centre - picture.width // 2, qr_top))
        line_top = qr_top + picture.height
        for line in url_lines:
            draw.text((centre, line_top), line, font=fonts.regular.at(url_size), fill=TEXT, anchor="ma")
            line_top += url_size + 8

    font, hint = _fit(draw, hint, fonts.regular, 30, inner, 20)
    draw.text((middle, HEIGHT - MARGIN), hint, font=font, fill=MUTED, anchor="md")
    return sign


def file_stem(room: DoorRoom) -> str:
    return UNSAFE_IN_FILE_NAME.sub("_", f"{room.building.code}-{room.code}")


def write_signs(
    rooms: Iterable[DoorRoom],
    *,
    bot_username: str | None,
    browser_url: str,
    out_dir: Path,
    fonts: Fonts | None = None,
) -> list[Sign]:
    """Write `<building>-<room>.png` for every room into `out_dir`; returns what was written."""
    fonts = fonts or find_fonts()
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Sign] = []
    taken: set[str] = set()
    for room in rooms:
        stem = file_stem(room)
        if stem.lower() in taken:
            # Sanitising (or a case-insensitive file system) made two rooms one name: the id tells them apart.
            stem = f"{stem}-{room.id}"
        taken.add(stem.lower())
        telegram = telegram_link(bot_username, room.id) if bot_username else None
        browser = browser_link(browser_url, room.id)
        path = out_dir / f"{stem}.png"
        render_sign(room, telegram, browser, fonts).save(path, format="PNG", dpi=(DPI, DPI), optimize=True)
        written.append(Sign(path, room.id, telegram, browser))
    return written


# --- inspection checkpoints and meeting-room check-ins --------------------------------------------


@dataclass(frozen=True)
class CodeSign:
    """A sign whose codes start something there (a round's visit, a booking's check-in)."""

    path: Path
    subject_id: int
    telegram_link: str | None
    browser_link: str

    @property
    def links(self) -> tuple[str, ...]:
        return (self.telegram_link, self.browser_link) if self.telegram_link else (self.browser_link,)


def write_code_sign(
    payload: str,
    subject_id: int,
    text: tuple[str, Sequence[str], str],
    path: Path,
    *,
    bot_username: str | None,
    browser_url: str,
    fonts: Fonts,
) -> CodeSign:
    """Draw and save one sign carrying `/start <payload>`: `text` is its heading, place and hint."""
    telegram = f"https://t.me/{bot_username}?start={payload}" if bot_username else None
    browser = f"{browser_url.rstrip('/')}/?start={payload}"
    heading, place, hint = text
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_sign(heading, place, hint, telegram, browser, fonts).save(path, format="PNG", dpi=(DPI, DPI), optimize=True)
    return CodeSign(path, subject_id, telegram, browser)


def write_checkpoint_signs(
    checkpoints: Iterable[DoorCheckpoint],
    *,
    bot_username: str | None,
    browser_url: str,
    out_dir: Path,
    fonts: Fonts | None = None,
) -> list[CodeSign]:
    """Write `<route>-<checkpoint>.png` per inspection checkpoint: the inspector scans it there, and
    the round records the visit and goes on at that checkpoint (/start ck_<id>)."""
    fonts = fonts or find_fonts()
    written: list[CodeSign] = []
    for checkpoint in checkpoints:
        heading = "巡检点  Inspection point" if fonts.cjk else "Inspection point"
        english = f"{checkpoint.name_en} – {checkpoint.route_en}"
        place = [f"{checkpoint.name_zh} {checkpoint.route_zh}", english] if fonts.cjk else [english]
        hint = "Scan here during the round"
        if fonts.cjk:
            hint = f"巡检时在此扫码签到    {hint}"
        stem = UNSAFE_IN_FILE_NAME.sub("_", f"{checkpoint.route_code}-{checkpoint.code}")
        written.append(
            write_code_sign(
                f"ck_{checkpoint.id}",
                checkpoint.id,
                (heading, place, hint),
                out_dir / f"{stem}.png",
                bot_username=bot_username,
                browser_url=browser_url,
                fonts=fonts,
            )
        )
    return written


def write_checkin_signs(
    rooms: Iterable[tuple[int, DoorRoom]],
    *,
    bot_username: str | None,
    browser_url: str,
    out_dir: Path,
    fonts: Fonts | None = None,
) -> list[CodeSign]:
    """Write `<building>-<room>.png` per bookable room: scanned by whoever booked it, within 15
    minutes of the start, it checks the booking in (/start bkin_<resource>)."""
    fonts = fonts or find_fonts()
    written: list[CodeSign] = []
    for resource_id, room in rooms:
        heading = "会议签到  Meeting check-in" if fonts.cjk else "Meeting check-in"
        hint = "Scan when your meeting starts, or the room is released after 15 minutes"
        if fonts.cjk:
            hint = f"会议开始时扫码签到，15 分钟未签到将释放会议室    {hint}"
        written.append(
            write_code_sign(
                f"bkin_{resource_id}",
                resource_id,
                (heading, _place_lines(room, fonts.cjk), hint),
                out_dir / f"{file_stem(room)}.png",
                bot_username=bot_username,
                browser_url=browser_url,
                fonts=fonts,
            )
        )
    return written

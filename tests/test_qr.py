"""Door signs: every PNG is decoded again, and must hold exactly the links for its room."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from bot import qr
from bot.cli import main
from handlers.core.rooms import DoorBuilding, DoorRoom, UnknownBuildingError, rooms_of
from storage.db import Database
from storage.models import Building, Room
from tests.fakes.telegram_api import FakeBotAPI

BOT = "houqin_test_bot"
PUBLIC = "https://houqin.example.org"
SIGN_COPY = Path("/tmp/houqin-sign.png")


def decoded(path: Path) -> list[str]:
    """The texts of the QR codes in a sign, sorted; each must carry high error correction."""
    with Image.open(path) as image:
        codes = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    assert all(code.ec_level == "H" for code in codes), [code.ec_level for code in codes]
    return sorted(code.text for code in codes)


def png_names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.png"))


async def room_ids(db: Database, building: str | None = None) -> dict[str, int]:
    """`<building>-<room>` -> rooms.id, straight from the table."""
    query = select(Building.code, Room.code, Room.id).join(Room.building)
    if building is not None:
        query = query.where(Building.code == building)
    async with db.unit_of_work() as session:
        return {f"{b}-{r}": room_id for b, r, room_id in (await session.execute(query)).all()}


def expected(room_id: int, *, bot: str | None, browser: str) -> list[str]:
    links = [f"{browser}/?start=room_{room_id}"]
    if bot is not None:
        links.append(f"https://t.me/{bot}?start=room_{room_id}")
    return sorted(links)


# --- the library ----------------------------------------------------------------------------------


@pytest.mark.subprocess  # fc-match finds the fonts
async def test_signs_for_building_a_hold_both_links_of_their_room(db: Database, tmp_path: Path) -> None:
    async with db.unit_of_work() as session:
        rooms = await rooms_of(session, ["A"])
    out = tmp_path / "signs"
    signs = qr.write_signs(rooms, bot_username=BOT, browser_url=PUBLIC, out_dir=out)

    ids = await room_ids(db, "A")
    assert png_names(out) == ["A-101.png", "A-201.png", "A-305.png"]
    assert sorted(sign.path.stem for sign in signs) == sorted(ids)
    for sign in signs:
        room_id = ids[sign.path.stem]
        assert sign.room_id == room_id
        assert sorted(sign.links) == expected(room_id, bot=BOT, browser=PUBLIC)
        assert decoded(sign.path) == expected(room_id, bot=BOT, browser=PUBLIC)
        with Image.open(sign.path) as image:
            assert image.size == (qr.WIDTH, qr.HEIGHT)
            assert image.info["dpi"] == pytest.approx((qr.DPI, qr.DPI), abs=0.01)  # PNG stores dots per metre
    # For a person to look at (see the report); the reception hall has both codes.
    shutil.copy(out / "A-101.png", SIGN_COPY)


@pytest.mark.subprocess  # fc-match finds the fonts
async def test_without_a_bot_username_a_sign_has_the_browser_link_only(db: Database, tmp_path: Path) -> None:
    async with db.unit_of_work() as session:
        rooms = await rooms_of(session, ["A"])
    signs = qr.write_signs(rooms, bot_username=None, browser_url="http://10.0.0.5:8080/", out_dir=tmp_path)

    ids = await room_ids(db, "A")
    assert len(signs) == 3
    for sign in signs:
        assert sign.telegram_link is None
        assert decoded(sign.path) == expected(ids[sign.path.stem], bot=None, browser="http://10.0.0.5:8080")


async def test_rooms_of_names_every_unknown_building(db: Database) -> None:
    async with db.unit_of_work() as session:
        with pytest.raises(UnknownBuildingError) as raised:
            await rooms_of(session, ["A", "Z", "Q"])
        everything = await rooms_of(session)
    assert raised.value.unknown == ("Z", "Q")
    assert "known: A, B, C, D" in str(raised.value)
    assert len(everything) == len(await room_ids(db))


@pytest.mark.subprocess  # fc-match finds the fonts
def test_file_names_are_safe_and_never_overwrite_each_other(tmp_path: Path) -> None:
    east = DoorBuilding(code="东楼", name_zh="东楼", name_en="East Building")
    rooms = [
        DoorRoom(id=41, code="1/01", name_zh="档案室", name_en="Archive", building=east),
        DoorRoom(id=42, code="1_01", name_zh="机房", name_en="Server room", building=east),
    ]
    signs = qr.write_signs(rooms, bot_username=BOT, browser_url=PUBLIC, out_dir=tmp_path)

    assert [sign.path.name for sign in signs] == ["__-1_01.png", "__-1_01-42.png"]
    for sign, room in zip(signs, rooms, strict=True):
        assert decoded(sign.path) == expected(room.id, bot=BOT, browser=PUBLIC)


@pytest.mark.subprocess  # fc-match finds the fonts
def test_the_chinese_font_draws_chinese_glyphs() -> None:
    fonts = qr.find_fonts()
    if not fonts.cjk:
        pytest.skip("no Chinese font on this machine (fonts-noto-cjk)")
    font = fonts.regular.at(40)
    # A font without these characters draws the same empty box for both.
    bao, xiu = (bytes(font.getmask(char)) for char in "报修")
    assert bao != xiu and any(bao) and any(xiu)


# --- the command ----------------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Path:
    """A clean environment pointing at the test database; returns the working directory."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # no developer .env, and ./var/qr lands here
    for name in list(os.environ):
        if name.startswith(("TELEGRAM_", "DATABASE_", "PUBLIC_", "HTTP_", "WEB_", "DEMO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return workdir


async def houqin(*argv: str) -> int:
    # On a thread: the command runs its own event loop, as it does from a shell.
    return await asyncio.to_thread(main, list(argv))


@pytest.mark.subprocess  # fc-match finds the fonts
async def test_houqin_qr_writes_and_lists_signs_for_one_building(
    db: Database, cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", f"@{BOT}")
    monkeypatch.setenv("PUBLIC_URL", f"{PUBLIC}/")
    out = tmp_path / "signs"

    assert await houqin("qr", "--building", "A", "--out", str(out)) == 0

    printed = capsys.readouterr()
    assert printed.err == ""
    ids = await room_ids(db, "A")
    lines = printed.out.splitlines()
    assert lines[-1] == f"3 door signs in {out} (Telegram and browser links)"
    assert len(lines) == 4
    for name, room_id in ids.items():
        path = out / f"{name}.png"
        links = [f"https://t.me/{BOT}?start=room_{room_id}", f"{PUBLIC}/?start=room_{room_id}"]
        assert f"{path}  {'  '.join(links)}" in lines
        assert decoded(path) == expected(room_id, bot=BOT, browser=PUBLIC)


@pytest.mark.subprocess  # fc-match finds the fonts
async def test_houqin_qr_asks_telegram_for_the_username_and_signs_every_room(
    db: Database,
    cli_env: Path,
    bot_api: FakeBotAPI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", bot_api.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", bot_api.base_url.removesuffix("/bot"))
    monkeypatch.setenv("HTTP_PORT", "8099")

    assert await houqin("qr") == 0

    err = capsys.readouterr().err
    assert len(bot_api.calls_to("getMe")) == 1
    # The browser link falls back to HTTP_HOST:HTTP_PORT, and the command says so.
    assert err.splitlines() == ["houqin: PUBLIC_URL is not set: browser links go to http://127.0.0.1:8099"]
    ids = await room_ids(db)
    out = cli_env / "var" / "qr"
    assert png_names(out) == sorted(f"{name}.png" for name in ids)
    for name, room_id in ids.items():
        assert decoded(out / f"{name}.png") == expected(room_id, bot=BOT, browser="http://127.0.0.1:8099")


@pytest.mark.subprocess  # fc-match finds the fonts
async def test_houqin_qr_makes_browser_only_signs_when_telegram_refuses(
    db: Database,
    cli_env: Path,
    bot_api: FakeBotAPI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = "999:WRONG"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", bot_api.base_url.removesuffix("/bot"))
    monkeypatch.setenv("PUBLIC_URL", PUBLIC)

    assert await houqin("qr", "--building", "B") == 0

    printed = capsys.readouterr()
    [complaint] = printed.err.splitlines()
    assert "HTTP 401" in complaint and "browser links only" in complaint and token not in complaint
    assert printed.out.splitlines()[-1] == "3 door signs in var/qr (browser links only)"
    for name, room_id in (await room_ids(db, "B")).items():
        assert decoded(cli_env / "var" / "qr" / f"{name}.png") == expected(room_id, bot=None, browser=PUBLIC)


@pytest.mark.subprocess  # fc-match finds the fonts
async def test_houqin_qr_without_username_or_token_says_why_there_is_no_telegram_code(
    db: Database, cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "")  # as .env.example leaves it

    assert await houqin("qr", "--building", "C") == 0

    assert capsys.readouterr().err.splitlines() == [
        "houqin: TELEGRAM_BOT_USERNAME and TELEGRAM_BOT_TOKEN are not set: browser links only"
    ]
    for name, room_id in (await room_ids(db, "C")).items():
        assert decoded(cli_env / "var" / "qr" / f"{name}.png") == expected(room_id, bot=None, browser=PUBLIC)


@pytest.mark.subprocess  # fc-match finds the fonts
async def test_houqin_qr_without_a_chinese_font_says_so_once_and_still_signs(
    db: Database, cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", BOT)
    monkeypatch.setenv("PUBLIC_URL", PUBLIC)
    monkeypatch.setattr(qr, "find_cjk_face", lambda *, bold: None)

    assert await houqin("qr", "--building", "D") == 0

    err = capsys.readouterr().err.splitlines()
    assert err == ["houqin: no Chinese font found (install fonts-noto-cjk): signs carry English text only"]
    for name, room_id in (await room_ids(db, "D")).items():
        assert decoded(cli_env / "var" / "qr" / f"{name}.png") == expected(room_id, bot=BOT, browser=PUBLIC)


async def test_houqin_qr_refuses_an_unknown_building_in_one_line(
    db: Database, cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", BOT)

    assert await houqin("qr", "--building", "A", "--building", "Z") == 2

    printed = capsys.readouterr()
    assert printed.err.splitlines() == ["houqin: unknown building Z (known: A, B, C, D)"]
    assert printed.out == ""
    assert png_names(cli_env / "var" / "qr") == []


async def test_houqin_qr_refuses_a_malformed_bot_username(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "t.me/houqin bot")

    assert await houqin("qr") == 2

    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("houqin: TELEGRAM_BOT_USERNAME is invalid: ")

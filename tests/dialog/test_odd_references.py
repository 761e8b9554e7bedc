"""Odd references typed in Telegram or carried by made-up buttons: a superscript two (a digit to
str.isdigit, not to int) and a number no database integer holds. Each gets the ordinary polite
answer in the person's language ("not found", "this button is not valid"), nothing crashes, and
the poller goes on serving the chat. The browser chat's file links answer such numbers with a 404."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from storage.db import Database
from tests.dialog.admin_people import link_telegram
from tests.dialog.telegram_person import TelegramPerson

SUPERSCRIPT = "²"
HUGE = "99999999999999999999999"
FORGED = "这个按钮无效。"


async def test_odd_ticket_references_are_answered_and_the_poller_keeps_serving(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    wang = await link_telegram(db, telegram_user, 7401, "wang.fang")
    welcome = await wang.says("/start")
    screen = welcome.messages[-1].message_id
    assert await wang.says(f"/ticket {SUPERSCRIPT}") == [f"找不到报修单 {SUPERSCRIPT}。"]
    assert await wang.says(f"/ticket {HUGE}") == [f"找不到报修单 {HUGE}。"]
    assert FORGED in await wang.presses_data(screen, f"tk:{SUPERSCRIPT}:view", strict=False)
    assert FORGED in await wang.presses_data(screen, f"tk:{HUGE}:view", strict=False)
    # Still served: the next thing said is answered as usual.
    assert "你好，王芳" in await wang.says("/start")

    emma = await link_telegram(db, telegram_user, 7402, "emma.clark")
    assert await emma.says(f"/ticket {HUGE}") == [f"There is no ticket {HUGE}."]


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        (f"/requisition {SUPERSCRIPT}", f"找不到物资申领单 {SUPERSCRIPT}。"),
        (f"/requisition {HUGE}", f"找不到物资申领单 {HUGE}。"),
        (f"/suggest {SUPERSCRIPT}", f"找不到建议 {SUPERSCRIPT}。"),
        (f"/suggest reply {HUGE} 谢谢", f"找不到建议 {HUGE[:12]}。"),
        (f"/survey results {SUPERSCRIPT}", f"找不到问卷 #{SUPERSCRIPT}。"),
        (f"/survey results {HUGE}", f"找不到问卷 #{HUGE[:12]}。"),
        (f"/audit #{SUPERSCRIPT}", f"找不到「#{SUPERSCRIPT}」。"),
        (f"/role grant #{HUGE} technician", f"找不到「#{HUGE}」。"),
        (f"/start room_{SUPERSCRIPT}", "这个二维码对应的房间已不存在，请手动选择位置。"),
        (f"/start room_{HUGE}", "这个二维码对应的房间已不存在，请手动选择位置。"),
    ],
)
async def test_odd_numbers_typed_after_any_command_get_the_not_found_answer(
    db: Database, telegram_user: Callable[..., TelegramPerson], typed: str, answer: str
) -> None:
    admin = await link_telegram(db, telegram_user, 7403, "admin")
    assert answer in await admin.says(typed)
    await admin.says("/cancel")  # a room link that names no room still starts a repair: leave it
    assert "你好，" in await admin.says("/start")  # still served


@pytest.mark.parametrize(
    "payload",
    [
        f"rq:{SUPERSCRIPT}:view",
        f"rq:{HUGE}:approve",
        f"sg:{SUPERSCRIPT}:vote",
        f"sg:{HUGE}:reply",
        f"aud:{SUPERSCRIPT}::",
        f"aud:{HUGE}::",
        f"org:{SUPERSCRIPT}",
        f"sc:{SUPERSCRIPT}:2025-01",
        f"s{SUPERSCRIPT}:x",
        f"s{HUGE}:x",
        f"jb:{SUPERSCRIPT}",
    ],
)
async def test_made_up_buttons_with_odd_numbers_are_not_valid(
    db: Database, telegram_user: Callable[..., TelegramPerson], payload: str
) -> None:
    admin = await link_telegram(db, telegram_user, 7404, "admin")
    screen = (await admin.says("/start")).messages[-1].message_id
    assert FORGED in await admin.presses_data(screen, payload, strict=False)
    assert "你好，" in await admin.says("/start")  # still served


@pytest.mark.parametrize("ref", [f"sv:{SUPERSCRIPT}:answer", f"sv:{HUGE}:answer"])
async def test_a_made_up_survey_button_finds_no_survey(
    db: Database, telegram_user: Callable[..., TelegramPerson], ref: str
) -> None:
    wang = await link_telegram(db, telegram_user, 7405, "wang.fang")
    screen = (await wang.says("/start")).messages[-1].message_id
    assert "找不到问卷" in await wang.presses_data(screen, ref, strict=False)


@pytest.mark.parametrize("path", ["files", "photos"])
async def test_a_file_the_browser_asks_for_by_an_odd_number_is_not_found(
    web_client: httpx.AsyncClient, path: str
) -> None:
    for odd in (HUGE, "%C2%B2"):
        response = await web_client.get(f"/api/web/{path}/{odd}", params={"person": "wang.fang"})
        assert response.status_code == 404

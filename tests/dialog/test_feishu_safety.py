"""What Feishu (or someone pretending to be it) can throw at /feishu/events: the URL-verification
challenge, a forged signature, a stale timestamp, a wrong verification token, a wrong encrypt key,
an event delivered twice, a forged button — and a storm of 429s while notices go out."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import DialogState, OutboxMessage, ProcessedDelivery, Ticket
from tests.dialog.feishu_person import FeishuPerson, FeishuWorld, event_payload
from tests.fakes.feishu_api import VERIFICATION_TOKEN, encrypted, signed


async def deliveries(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedDelivery)) or 0)


async def test_the_request_url_is_verified_with_the_challenge(feishu_world: FeishuWorld) -> None:
    assert feishu_world.http is not None
    body = encrypted({"challenge": "ajls384kdjx98XX", "token": VERIFICATION_TOKEN, "type": "url_verification"})
    answer = await feishu_world.http.post("/feishu/events", content=body, headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()) == (200, {"challenge": "ajls384kdjx98XX"})
    wrong = encrypted({"challenge": "x", "token": "guessed", "type": "url_verification"})
    refused = await feishu_world.http.post(
        "/feishu/events", content=wrong, headers={"Content-Type": "application/json"}
    )
    assert refused.status_code == 401


async def test_forged_stale_and_mistokened_requests_change_nothing(
    db: Database, feishu_world: FeishuWorld, feishu_user: Callable[..., FeishuPerson]
) -> None:
    mallory = feishu_user("ou_mallory", "某人")
    http = feishu_world.http
    assert http is not None
    before = await deliveries(db)
    message = {
        "sender": {"sender_id": {"open_id": "ou_mallory"}, "sender_type": "user"},
        "message": {"message_id": "om_x", "chat_type": "p2p", "message_type": "text", "content": '{"text":"/repair"}'},
    }
    body = encrypted(event_payload("im.message.receive_v1", message))

    forged = signed(body) | {"X-Lark-Signature": "0" * 64}
    assert (await http.post("/feishu/events", content=body, headers=forged)).status_code == 401
    stale = signed(body, age=6 * 60)  # signed as Feishu would have, six minutes ago: a replay
    assert (await http.post("/feishu/events", content=body, headers=stale)).status_code == 401
    unsigned = {"Content-Type": "application/json"}
    assert (await http.post("/feishu/events", content=body, headers=unsigned)).status_code == 401
    mistokened = encrypted(event_payload("im.message.receive_v1", message, token="not-the-app's"))
    assert (await http.post("/feishu/events", content=mistokened, headers=signed(mistokened))).status_code == 401
    wrong_key = encrypted(event_payload("im.message.receive_v1", message), "another-apps-key")
    assert (await http.post("/feishu/events", content=wrong_key, headers=signed(wrong_key))).status_code == 401
    plain = json.dumps(event_payload("im.message.receive_v1", message)).encode()
    assert (await http.post("/feishu/events", content=plain, headers=signed(plain))).status_code == 401
    assert (await http.post("/feishu/events", content=b"{", headers=signed(b"{"))).status_code == 400

    await feishu_world.settle()
    assert await deliveries(db) == before
    assert mallory.chat == []


async def test_an_event_delivered_twice_is_handled_once(
    db: Database, feishu_world: FeishuWorld, feishu_user: Callable[..., FeishuPerson]
) -> None:
    wang = feishu_user("ou_wang", "小王")
    await wang.writes("/repair", event_id="ev_repeated")
    said = [m.shown for m in wang.chat]
    # Feishu saw no answer in time and delivers the same event again.
    again = await wang.writes("/repair", event_id="ev_repeated")
    assert again.status == 200
    assert [m.shown for m in wang.chat] == said
    async with db.unit_of_work() as session:
        [state] = (await session.scalars(select(DialogState))).all()
        assert (state.flow, state.step) == ("repair", "category")

    # A card press delivered twice: one choice, one redraw, one next question.
    question = wang.chat[-1]
    [plumbing] = [b for b in question.buttons if b["text"]["content"] == "给排水"]
    first = await wang.press(question, plumbing["behaviors"][0]["value"], "button", event_id="ev_press")
    asked = len(wang.chat)
    second = await wang.press(question, plumbing["behaviors"][0]["value"], "button", event_id="ev_press")
    assert "card" in first.body and second.body == {}
    assert len(wang.chat) == asked and wang.said == "在哪栋楼？"


async def test_a_forged_button_is_refused_and_creates_nothing(
    db: Database, feishu_world: FeishuWorld, feishu_user: Callable[..., FeishuPerson]
) -> None:
    wang = feishu_user("ou_wang", "小王")
    await wang.writes("帮助")
    # A payload of their own making on their own card: a ticket's Accept they were never offered.
    answer = await wang.press(wang.chat[-1], {"p": "tk:1:accept", "q": "帮助"}, "button")
    assert answer.status == 200
    async with db.unit_of_work() as session:
        assert (await session.scalar(select(func.count()).select_from(Ticket))) == 0


async def test_a_storm_of_429s_holds_the_person_and_every_notice_still_arrives(
    db: Database, feishu_world: FeishuWorld, feishu_user: Callable[..., FeishuPerson]
) -> None:
    from tests.dialog.chat_person import linked, report_leak

    admin, sun, wang = feishu_user("ou_admin", "管理员"), feishu_user("ou_sun", "孙强"), feishu_user("ou_wang", "小王")
    await linked(admin, sun, "sun.qiang")
    feishu_world.api.limit("ou_sun", 3, reset_after=1)
    number = await report_leak(wang)
    # Feishu said 429 (code 99991400) three times; the pacer held the technician and tried again.
    assert feishu_world.api.rate_limited_answers == 3
    card = sun.latest(number)
    assert "状态：已分派" in card.shown
    async with db.unit_of_work() as session:
        failed = await session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
        assert list(failed) == []


# Houqin built with Feishu's webhooks, in a fresh interpreter: the SDK's modules it loaded, then those
# the long connection's start would load (so the check is seen to find them).
SDK_LOADED = """
import sys
from bot.service import build_service
from bot.settings import load_settings

def sdk():
    return sorted(name for name in sys.modules if name.split(".")[0] == "lark_oapi")[:3]

settings = load_settings(
    database_url=sys.argv[1], web_enabled=False, feishu_app_id="cli_a", feishu_app_secret="s",
    feishu_mode="webhook", feishu_encrypt_key="k", feishu_verification_token="t",
)
assert build_service(settings).channel("feishu") is not None
print(sdk())
import bot.channels.feishu.longconn
print(sdk())
"""


@pytest.mark.subprocess  # a fresh interpreter: this one has the SDK loaded by other tests
def test_webhook_mode_is_built_without_loading_the_sdk(tmp_path: Path) -> None:
    """The SDK takes seconds to import (its package loads every API model); webhooks need none of it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'houqin.db'}"
    probe = [sys.executable, "-c", SDK_LOADED, url]
    webhook, long_connection = subprocess.run(
        probe, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    assert webhook == "[]"
    assert long_connection != "[]"

"""Issue 20's acceptance, against the real `houqin run` with WECOM_* pointing at the fake WeCom: a
repair from an encrypted, signed /repair text through template-card button events to a ticket
number, and forged requests (another token's signature, six minutes old, another corp's) changing
nothing."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Ticket
from tests.dialog.wecom_person import WeComPerson, WeComWorld, message_fields
from tests.fakes.wecom_api import ENCODING_AES_KEY, TOKEN, FakeWeCom, sealed
from tests.reliability.harness import Launch, footprint_of, start_webhook

pytestmark = pytest.mark.reliability

TICKET = re.compile(r"R-\d{4}-\d{6}")


def wecom_env(db: Database, api: FakeWeCom) -> dict[str, str]:
    return {
        "DATABASE_URL": db.url,
        "WECOM_CORP_ID": api.corp_id,
        "WECOM_AGENT_ID": str(api.agent_id),
        "WECOM_SECRET": api.secret,
        "WECOM_TOKEN": TOKEN,
        "WECOM_ENCODING_AES_KEY": ENCODING_AES_KEY,
        "WECOM_API_BASE_URL": api.base_url,
        "WECOM_DIRECTORY_SYNC": "false",
        "WEB_ENABLED": "false",
        "ACCESS_POLICY": "open",
    }


@pytest.fixture
async def wecom_api() -> AsyncIterator[FakeWeCom]:
    async with FakeWeCom() as api:
        yield api


async def test_from_a_signed_repair_text_through_card_presses_to_a_ticket_and_forgeries_change_nothing(
    db: Database, http: httpx.AsyncClient, launch: Launch, wecom_api: FakeWeCom
) -> None:
    houqin = launch("houqin-wecom", wecom_env(db, wecom_api))
    await start_webhook(houqin, http)
    url = f"{houqin.base_url}/wecom/callback"
    wecom_api.person("Mallory", "某人")
    repair = message_fields("Mallory", "text", Content="/repair")
    forged = {
        "a signature with another token": sealed(repair, token="guessed"),
        "six minutes old": sealed(repair, age=6 * 60),
        "another corp's": sealed(repair, corp_id="wwanothercorp0000"),
    }
    before = await footprint_of(db, "wecom")
    for what, (query, body) in forged.items():
        answer = await http.post(f"{url}?{query}", content=body)
        assert answer.status_code == 401, what
    assert await footprint_of(db, "wecom") == before
    assert wecom_api.chat_of("Mallory") == [] and wecom_api.called("POST /cgi-bin/message") == 0

    async with httpx.AsyncClient(base_url=houqin.base_url, trust_env=False) as client:
        wang = WeComPerson.of(WeComWorld(wecom_api, None, db, client), "WangXiao", "小王")
        await wang.writes("/repair")
        assert wang.said == "需要维修的是哪一类？"
        for label in ("给排水", "教学楼", "301 三楼卫生间"):
            await wang.presses(label)
        assert wang.latest("需要维修的是哪一类？").replaced == "给排水"
        await wang.writes("洗手池水龙头关不紧，一直滴水")
        await wang.presses("跳过")
        await wang.presses("一般")
        await wang.presses("✔ 提交")
        number = TICKET.search(wang.latest("报修已提交").shown)
        assert number is not None, wang.said
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
    assert ticket is not None and ticket.channel == "wecom"
    await houqin.stop()

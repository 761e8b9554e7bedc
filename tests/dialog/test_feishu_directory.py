"""The organisation from Feishu's directory: `houqin feishu sync` (and the daily sync) maps Feishu's
departments to Houqin's and their leaders to managers, adds the people, and — under
ACCESS_POLICY=directory — marks those who left; contact.user.deleted_v3 does that at once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.cli import directory_sync
from bot.service import build_service
from storage.db import Database
from storage.models import ChannelAccount, Department, Person
from tests.dialog.conftest import feishu_settings, feishu_world_for
from tests.dialog.feishu_person import FeishuPerson, FeishuWorld, event_payload
from tests.fakes.feishu_api import Department as FeishuDepartment
from tests.fakes.feishu_api import FakeFeishu


@pytest.fixture
async def tenant(db: Database, feishu_api: FakeFeishu) -> AsyncIterator[FeishuWorld]:
    """A Feishu tenant whose directory decides who is in (ACCESS_POLICY=directory)."""
    api = feishu_api
    api.departments["od-finance"] = FeishuDepartment("od-finance", "财务处", leader_open_id="ou_huang")
    api.departments["od-it"] = FeishuDepartment("od-it", "信息中心", leader_open_id="ou_chen")
    api.departments["od-it-ops"] = FeishuDepartment("od-it-ops", "运维组", parent="od-it")
    api.person("ou_huang", "黄丽", department_ids=["od-finance"])
    api.person("ou_wang", "王芳", department_ids=["od-finance"])
    api.person("ou_chen", "陈刚", department_ids=["od-it"])
    api.person("ou_zhou", "周涛", department_ids=["od-it-ops"])
    service = build_service(feishu_settings(db, api, access_policy="directory"))
    async for world in feishu_world_for(service, api, db):
        yield world


async def person_of(db: Database, open_id: str) -> Person:
    async with db.unit_of_work() as session:
        account = await session.scalar(
            select(ChannelAccount).where(ChannelAccount.channel == "feishu", ChannelAccount.external_id == open_id)
        )
        assert account is not None, f"{open_id} has no Feishu account in Houqin"
        return account.person


async def test_houqin_feishu_sync_brings_in_departments_managers_and_people(
    db: Database, tenant: FeishuWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = feishu_settings(db, tenant.api, access_policy="directory")
    assert await directory_sync(settings, "feishu") == 0
    said = capsys.readouterr().out
    # 运维组 is new; 财务处 and 信息中心 were Houqin's already (the demo organisation's).
    assert "departments added 1, people added 4" in said and "managers added 2" in said

    async with db.unit_of_work() as session:
        departments = {d.name_zh: d.code for d in (await session.scalars(select(Department))).all()}
    # Matched by name, not made twice; a new one gets a code kept from Feishu's id.
    assert (departments["财务处"], departments["信息中心"]) == ("finance", "it")
    assert departments["运维组"].startswith("fe-")
    huang, wang, zhou = [await person_of(db, who) for who in ("ou_huang", "ou_wang", "ou_zhou")]
    assert (wang.display_name, wang.department_id) == ("王芳", huang.department_id)
    assert [(r.role, r.scope) for r in huang.roles if r.role == "manager"] == [("manager", "finance")]
    chen = await person_of(db, "ou_chen")
    assert [(r.role, r.scope) for r in chen.roles if r.role == "manager"] == [("manager", "it")]
    assert zhou.member

    # Run again: nothing new.
    assert await directory_sync(settings, "feishu") == 0
    assert "departments added 0, people added 0, moved 0, managers added 0, left 0" in capsys.readouterr().out


async def test_the_daily_sync_runs_once_a_day_and_marks_who_left(db: Database, tenant: FeishuWorld) -> None:
    first = await tenant.feishu.sync_directory(period="day one")
    assert first is not None and first.people_added == 4
    # Another process, the same day: already done.
    assert await tenant.feishu.sync_directory(period="day one") is None

    tenant.api.users["ou_zhou"].resigned = True
    second = await tenant.feishu.sync_directory(period="day two")
    assert second is not None and second.left == 1
    assert not (await person_of(db, "ou_zhou")).member

    # Someone the directory lists but who had left comes back in.
    tenant.api.users["ou_zhou"].resigned = False
    third = await tenant.feishu.sync_directory(period="day three")
    assert third is not None and third.rejoined == 1


async def test_a_leaver_event_turns_them_away_at_once(db: Database, tenant: FeishuWorld) -> None:
    await tenant.feishu.sync_directory()
    wang = FeishuPerson.of(tenant, "ou_wang", "王芳")
    await wang.writes("我的")
    assert "你" in wang.said  # a member: her requests (none yet)

    answer = await tenant.deliver(
        event_payload("contact.user.deleted_v3", {"object": {"open_id": "ou_wang", "union_id": "on_wang"}})
    )
    assert answer.status == 200
    assert not (await person_of(db, "ou_wang")).member
    await wang.writes("/repair")
    assert "您的账号还不是成员" in wang.said


async def test_under_invite_the_directory_brings_departments_but_makes_nobody_a_member(
    db: Database, feishu_api: FakeFeishu
) -> None:
    feishu_api.departments["od-it-ops"] = FeishuDepartment("od-it-ops", "运维组", leader_open_id="ou_zhou")
    feishu_api.person("ou_zhou", "周涛", department_ids=["od-it-ops"])
    service = build_service(feishu_settings(db, feishu_api, access_policy="invite"))
    async for world in feishu_world_for(service, feishu_api, db):
        applied = await world.feishu.sync_directory()
        assert applied is not None and (applied.departments_added, applied.people_added) == (1, 0)
        async with db.unit_of_work() as session:
            account = await session.scalar(select(ChannelAccount).where(ChannelAccount.channel == "feishu"))
        assert account is None  # 周涛 joins by invitation, as ACCESS_POLICY=invite says

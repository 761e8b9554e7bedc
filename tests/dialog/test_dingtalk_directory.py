"""The organisation from DingTalk's contact directory: `houqin dingtalk sync` (and the daily sync)
maps DingTalk's departments to Houqin's and their 主管 to managers, adds the people by userId, and —
under ACCESS_POLICY=directory — marks those who left."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.cli import directory_sync
from bot.service import build_service
from storage.db import Database
from storage.models import ChannelAccount, Department, Person
from tests.dialog.conftest import dingtalk_settings, dingtalk_world_for
from tests.dialog.dingtalk_person import DingTalkPerson, DingTalkWorld
from tests.fakes.dingtalk_api import Department as DingTalkDepartment
from tests.fakes.dingtalk_api import DirectoryUser, FakeDingTalk


@pytest.fixture
async def organisation(db: Database, dingtalk_api: FakeDingTalk) -> AsyncIterator[DingTalkWorld]:
    """A DingTalk organisation whose directory decides who is in (ACCESS_POLICY=directory)."""
    api = dingtalk_api
    api.departments[101] = DingTalkDepartment(101, "财务处")
    api.departments[102] = DingTalkDepartment(102, "信息中心")
    api.departments[103] = DingTalkDepartment(103, "运维组", parent=102)
    api.users["huang"] = DirectoryUser("huang", "黄丽", [101], leader_of=[101])
    api.users["wangfang"] = DirectoryUser("wangfang", "王芳", [101])
    api.users["chen"] = DirectoryUser("chen", "陈刚", [102], leader_of=[102])
    api.users["zhou"] = DirectoryUser("zhou", "周涛", [103])
    api.users["boss"] = DirectoryUser("boss", "校长", [1])
    service = build_service(dingtalk_settings(db, api, access_policy="directory"))
    async for world in dingtalk_world_for(service, api, db):
        yield world


async def person_of(db: Database, user_id: str) -> Person:
    async with db.unit_of_work() as session:
        account = await session.scalar(
            select(ChannelAccount).where(ChannelAccount.channel == "dingtalk", ChannelAccount.external_id == user_id)
        )
        assert account is not None, f"{user_id} has no DingTalk account in Houqin"
        return account.person


async def test_houqin_dingtalk_sync_brings_in_departments_managers_and_people(
    db: Database, organisation: DingTalkWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = dingtalk_settings(db, organisation.api, access_policy="directory")
    assert await directory_sync(settings, "dingtalk") == 0
    said = capsys.readouterr().out
    # 运维组 is new; 财务处 and 信息中心 were Houqin's already (the demo organisation's).
    assert said.startswith("DingTalk directory: ")
    assert "departments added 1, people added 5" in said and "managers added 2" in said

    async with db.unit_of_work() as session:
        departments = {d.name_zh: d.code for d in (await session.scalars(select(Department))).all()}
    assert (departments["财务处"], departments["信息中心"]) == ("finance", "it")
    assert departments["运维组"].startswith("di-")
    huang, wang, zhou, boss = [await person_of(db, who) for who in ("huang", "wangfang", "zhou", "boss")]
    assert (wang.display_name, wang.department_id) == ("王芳", huang.department_id)
    assert [(r.role, r.scope) for r in huang.roles if r.role == "manager"] == [("manager", "finance")]
    chen = await person_of(db, "chen")
    assert [(r.role, r.scope) for r in chen.roles if r.role == "manager"] == [("manager", "it")]
    # Someone at the root belongs to no department of Houqin's.
    assert zhou.member and boss.member and boss.department_id is None

    # A member writes: they are who the directory says.
    wang_in_chat = DingTalkPerson.of(organisation, "wangfang", "王芳")
    await wang_in_chat.writes("我的")
    assert (await person_of(db, "wangfang")).id == wang.id

    assert await directory_sync(settings, "dingtalk") == 0
    assert "departments added 0, people added 0, moved 0, managers added 0, left 0" in capsys.readouterr().out


async def test_the_daily_sync_runs_once_a_day_and_marks_who_left(db: Database, organisation: DingTalkWorld) -> None:
    first = await organisation.channel.sync_directory(period="day one")
    assert first is not None and first.people_added == 5
    assert await organisation.channel.sync_directory(period="day one") is None

    organisation.api.users["zhou"].left = True
    second = await organisation.channel.sync_directory(period="day two")
    assert second is not None and second.left == 1
    assert not (await person_of(db, "zhou")).member

    organisation.api.users["zhou"].left = False
    third = await organisation.channel.sync_directory(period="day three")
    assert third is not None and third.rejoined == 1


async def test_a_directory_that_cannot_be_read_is_said_plainly(
    db: Database, organisation: DingTalkWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = dingtalk_settings(db, organisation.api, access_policy="directory", dingtalk_client_secret="wrong")
    assert await directory_sync(settings, "dingtalk") == 1
    assert "DingTalk refused to give the directory" in capsys.readouterr().out

"""The organisation from WeCom's contact directory: `houqin wecom sync` (and the daily sync) maps its
departments to Houqin's and their leaders to managers, adds the members, and — under
ACCESS_POLICY=directory — marks those who left; a change_contact event (delete_user) does that at
once, and any other change has the directory read again. `houqin wecom menu` sets the app's menu."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.cli import directory_sync, wecom_menu
from bot.service import build_service
from storage.db import Database
from storage.models import ChannelAccount, Department, Person
from tests.dialog.conftest import wecom_settings, wecom_world_for
from tests.dialog.wecom_person import WeComPerson, WeComWorld, event_fields
from tests.fakes.wecom_api import Department as WeComDepartment
from tests.fakes.wecom_api import FakeWeCom


@pytest.fixture
async def corp(db: Database, wecom_api: FakeWeCom) -> AsyncIterator[WeComWorld]:
    """A WeCom corp whose directory decides who is in (ACCESS_POLICY=directory)."""
    api = wecom_api
    api.departments[2] = WeComDepartment(2, "财务处", leaders=["HuangLi"])
    api.departments[3] = WeComDepartment(3, "信息中心", leaders=["ChenGang"])
    api.departments[4] = WeComDepartment(4, "运维组", parentid=3)
    api.person("HuangLi", "黄丽", departments=[2])
    api.person("WangFang", "王芳", departments=[2])
    api.person("ChenGang", "陈刚", departments=[3])
    api.person("ZhouTao", "周涛", departments=[4])
    api.person("Boss", "校长", departments=[1])
    service = build_service(wecom_settings(db, api, access_policy="directory"))
    async for world in wecom_world_for(service, api, db):
        yield world


async def person_of(db: Database, userid: str) -> Person:
    async with db.unit_of_work() as session:
        account = await session.scalar(
            select(ChannelAccount).where(ChannelAccount.channel == "wecom", ChannelAccount.external_id == userid)
        )
        assert account is not None, f"{userid} has no WeCom account in Houqin"
        return account.person


async def test_houqin_wecom_sync_brings_in_departments_managers_and_members(
    db: Database, corp: WeComWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = wecom_settings(db, corp.api, access_policy="directory")
    assert await directory_sync(settings, "wecom") == 0
    said = capsys.readouterr().out
    # 运维组 is new; 财务处 and 信息中心 were Houqin's already (the demo organisation's).
    assert "departments added 1, people added 5" in said and "managers added 2" in said

    async with db.unit_of_work() as session:
        departments = {d.name_zh: d.code for d in (await session.scalars(select(Department))).all()}
    # Matched by name, not made twice; a new one gets a code kept from WeCom's id; the corp itself is none.
    assert (departments["财务处"], departments["信息中心"]) == ("finance", "it")
    assert departments["运维组"].startswith("we-") and "后勤测试单位" not in departments
    huang, wang, boss = [await person_of(db, who) for who in ("HuangLi", "WangFang", "Boss")]
    assert (wang.display_name, wang.department_id) == ("王芳", huang.department_id)
    assert [(r.role, r.scope) for r in huang.roles if r.role == "manager"] == [("manager", "finance")]
    assert boss.department_id is None and boss.member

    assert await directory_sync(settings, "wecom") == 0
    assert "departments added 0, people added 0, moved 0, managers added 0, left 0" in capsys.readouterr().out


async def test_the_daily_sync_runs_once_a_day_and_marks_who_left(db: Database, corp: WeComWorld) -> None:
    first = await corp.wecom.sync_directory(period="day one")
    assert first is not None and first.people_added == 5
    assert await corp.wecom.sync_directory(period="day one") is None  # another process, the same day

    corp.api.users["ZhouTao"].status = 5  # left the company
    second = await corp.wecom.sync_directory(period="day two")
    assert second is not None and second.left == 1
    assert not (await person_of(db, "ZhouTao")).member
    corp.api.users["ZhouTao"].status = 1
    third = await corp.wecom.sync_directory(period="day three")
    assert third is not None and third.rejoined == 1


async def test_change_contact_events_act_at_once(db: Database, corp: WeComWorld) -> None:
    await corp.wecom.sync_directory()
    wang = WeComPerson.of(corp, "WangFang", "王芳")
    await wang.writes("我的")
    assert "您的账号还不是成员" not in wang.said

    left = event_fields("sys", "change_contact", ChangeType="delete_user", UserID="WangFang")
    assert (await corp.deliver(left)).status_code == 200
    assert not (await person_of(db, "WangFang")).member
    await wang.writes("/repair")
    assert "您的账号还不是成员" in wang.said

    # Someone new in the directory: read again shortly after the event.
    corp.wecom.resync_after = 0
    corp.wecom.settings.wecom_directory_sync = True
    corp.api.person("LiNa", "李娜", departments=[2])
    added = event_fields("sys", "change_contact", ChangeType="create_user", UserID="LiNa")
    await corp.deliver(added)
    assert (await person_of(db, "LiNa")).display_name == "李娜"


async def test_houqin_wecom_menu_sets_the_apps_menu(
    db: Database, corp: WeComWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await wecom_menu(wecom_settings(db, corp.api)) == 0
    [menu] = corp.api.menus
    assert [entry["name"] for entry in menu["button"]] == ["报修", "领用", "更多"]
    assert [entry["key"] for entry in menu["button"][2]["sub_button"]] == ["my", "survey", "suggest", "lang", "help"]
    assert "WeCom menu set: 报修 | 领用 | 更多 (我的申请及进度" in capsys.readouterr().out

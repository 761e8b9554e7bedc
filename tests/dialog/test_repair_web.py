"""Repair intake through the browser chat's HTTP API, read as the conversation it is."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from bot.service import Service
from storage.db import Database
from storage.models import Person, Photo, Ticket
from tests.dialog.web_person import PNG_1X1, WebPerson

TICKET = re.compile(r"R-\d{4}-\d{6}")


async def tickets_of(db: Database, demo_key: str) -> list[Ticket]:
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person).where(Person.demo_key == demo_key))
        assert person is not None
        found = await session.scalars(select(Ticket).where(Ticket.reporter_id == person.id))
        return list(found.all())


async def test_wang_fang_reports_a_flickering_light_in_chinese(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    wang = person("wang.fang")
    assert "你好，王芳" in await wang.says("/start")
    assert "需要维修的是哪一类" in await wang.says("/repair")
    assert "在哪栋楼" in await wang.presses("电气照明")
    assert "在哪个房间" in await wang.presses("行政楼")
    assert "请描述问题" in await wang.presses("201 第一会议室")
    assert "照片" in await wang.says("会议室的灯一直闪，开会时很影响")
    assert "已收到 1 张照片" in await wang.sends_photo(PNG_1X1)
    assert "有多紧急" in await wang.presses("完成")
    summary = await wang.presses("较急")
    assert "类别：电气照明" in summary
    assert "位置：行政楼 201 第一会议室" in summary
    assert "照片：1 张" in summary
    done = await wang.presses("✔ 提交")
    number = TICKET.search(done.text)
    assert number and "报修已提交" in done.text

    [ticket] = await tickets_of(db, "wang.fang")
    assert ticket.number == number.group()
    assert (ticket.category, ticket.urgency, ticket.status) == ("electrical", "high", "assigned")
    assert ticket.room is not None and ticket.room.code == "201" and ticket.building is not None
    assert ticket.description == "会议室的灯一直闪，开会时很影响"
    assert [event.to_status for event in ticket.history] == ["new", "assigned"]
    async with db.unit_of_work() as session:
        stored = (await session.scalars(select(Photo.content).where(Photo.ticket_id == ticket.id))).all()
    assert stored == [PNG_1X1]

    mine = await wang.says("/my")
    assert ticket.number in mine.text and "已分派" in mine.text


async def test_emma_reports_in_english_with_a_place_not_in_the_list(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    emma = person("emma.clark")
    assert "What kind of problem is it?" in await emma.says("/repair")
    await emma.presses("IT & equipment")
    assert "Please type where it is" in await emma.presses("Not listed")
    assert "describe the problem" in await emma.says("Library, 2nd floor, printer corner")
    await emma.says("The printer jams on every page.")
    await emma.presses("Skip")
    summary = await emma.presses("Normal")
    assert "Location: Library, 2nd floor, printer corner" in summary
    assert "Photos: none" in summary
    done = await emma.presses("✔ Submit")
    assert "Repair request submitted" in done

    [ticket] = await tickets_of(db, "emma.clark")
    assert ticket.room_id is None and ticket.location_text == "Library, 2nd floor, printer corner"
    assert ticket.category == "it" and ticket.photos == []


async def test_back_and_cancel_leave_nothing_behind(db: Database, person: Callable[[str], WebPerson]) -> None:
    liu = person("liu.yang")
    await liu.says("/repair")
    await liu.presses("给排水")
    assert "需要维修的是哪一类" in await liu.presses("← 上一步")
    await liu.presses("保洁")
    await liu.presses("教学楼")
    cancelled = await liu.presses("✖ 取消")
    assert "没有保存任何内容" in cancelled
    assert await tickets_of(db, "liu.yang") == []
    assert "当前没有进行中的流程" in await liu.says("/cancel")


async def test_back_from_the_description_asks_the_room_again_not_the_building(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    zhang = person("zhang.wei")
    await zhang.says("/repair")
    await zhang.presses("家具门窗")
    await zhang.presses("教学楼")
    await zhang.presses("102 阶梯教室")
    back = await zhang.presses("← 上一步")
    assert "哪个房间" in back.texts[-1] and "102 阶梯教室" in back.labels  # still in 教学楼
    await zhang.presses("210 语音室")
    await zhang.says("讲台的抽屉锁坏了")
    await zhang.presses("跳过")
    assert "210 语音室" in await zhang.presses("一般")

    # Typed rather than picked: Back asks for the words again; Back once more, the building.
    await zhang.presses("✖ 取消")
    await zhang.says("/repair")
    await zhang.presses("家具门窗")
    await zhang.presses("列表里没有，我来输入")
    await zhang.says("操场东侧看台")
    assert "请输入具体位置" in (await zhang.presses("← 上一步")).texts[-1]
    assert "在哪栋楼" in (await zhang.presses("← 上一步")).texts[-1]
    assert await tickets_of(db, "zhang.wei") == []


async def test_the_same_submission_posted_twice_makes_one_ticket(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    zhang = person("zhang.wei")
    await zhang.says("/repair")
    await zhang.presses("家具门窗")
    await zhang.presses("教学楼")
    await zhang.presses("102 阶梯教室")
    await zhang.says("第三排的椅子坏了两把")
    await zhang.presses("跳过")
    await zhang.presses("一般")
    submit = next(b["payload"] for row in zhang.buttons for b in row if b["label"].startswith("✔"))

    first = await zhang._post({"button": submit}, client_id="retry-of-one-click")
    again = await zhang._post({"button": submit}, client_id="retry-of-one-click")
    assert not first.duplicate and again.duplicate
    assert again.texts == first.texts  # the retry gets the answer the first post got
    assert len(await tickets_of(db, "zhang.wei")) == 1


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    chen = person("chen.jing")
    await chen.says("/repair")
    assert "请点击下面的按钮选择" in await chen.says("随便写点什么")
    assert "这个选项不可用" in await chen.presses_payload(chen.buttons[0][0]["payload"].split(":")[0] + ":boiler")
    assert "这个按钮无效" in await chen.presses_payload("approve:R-2026-000001")
    await chen.presses("给排水")
    await chen.presses("宿舍楼")
    await chen.presses("B1 洗衣房")
    assert "这一步需要文字回答" in await chen.sends_photo(PNG_1X1)
    too_long = await chen.says("漏" * 4097)
    assert "太长了（4097 字），最多 4096 字" in too_long
    assert "最多 1000 字" in await chen.says("漏" * 1001)
    assert "太短了" in await chen.says("漏")
    assert "你正在进行「报修」" in await chen.says("/repair")
    assert "我不认识命令" not in await chen.says("/whatever")
    assert "用不了这种消息" in await chen.sends_photo(b"%PDF-1.4 not an image", filename="scan.pdf")
    # Still at the description step, and nothing reached the tickets table.
    assert "照片" in await chen.says("洗衣机排水管漏水，地面全是水")
    # At the photo step, words are answered with the one button shown: 跳过, then 完成 after a photo.
    assert "这一步请发送照片，或点「跳过」。" in await chen.says("没有照片")
    await chen.sends_photo(PNG_1X1)
    assert "这一步请发送照片，或点「完成」。" in await chen.says("就这一张")
    assert await tickets_of(db, "chen.jing") == []
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_a_button_from_an_earlier_step_has_expired(db: Database, person: Callable[[str], WebPerson]) -> None:
    david = person("david.wu")
    await david.says("/repair")
    category_buttons = david.buttons
    await david.presses("Plumbing")
    electrical = next(b["payload"] for row in category_buttons for b in row if b["label"] == "Electrical")
    stale = await david.presses_payload(electrical)
    assert "That button has expired" in stale
    assert "Which building?" in stale  # and we are still where we were


async def test_language_is_chosen_per_person(person: Callable[[str], WebPerson]) -> None:
    emma, wang = person("emma.clark"), person("wang.fang")
    assert "Choose your language" in await emma.says("/lang")
    assert "以后我用中文和你交流" in await emma.presses("中文")
    assert "你好" in await emma.says("/start")
    assert "你好，王芳" in await wang.says("/start")
    await wang.says("/lang")
    await wang.presses("English")
    assert "Hello, 王芳" in await wang.says("/start")
    assert "你好" in await emma.says("/start")


async def test_unknown_command_and_chatter_outside_a_flow(person: Callable[[str], WebPerson]) -> None:
    tom = person("tom.baker")
    assert "I don't know the command /dance" in await tom.says("/dance")
    assert "Sorry, I didn't understand" in await tom.says("hello?")
    helped = await tom.says("/help")
    assert "/repair — Report something that needs fixing" in helped
    assert "You have no open requests." in await tom.says("/my")


async def test_help_says_what_each_person_can_do_grouped_by_who_may(person: Callable[[str], WebPerson]) -> None:
    staff = (await person("emma.clark").says("/help")).texts[0]
    assert staff.startswith("What I can do for you:\n/repair — Report something that needs fixing")
    for everyday in ("/supply — ", "/suggest — Suggestion box", "/survey — ", "/ticket — ", "/my — "):
        assert everyday in staff, everyday
    assert "What your role adds" not in staff and "/stock" not in staff and "/admin" not in staff
    # A technician's role adds their monthly scorecard.
    technician = (await person("tom.baker").says("/help")).texts[0]
    assert "What your role adds:\n/scorecard — Monthly scorecards\n" in technician
    assert staff.endswith(
        "Anywhere, any time:\n/lang — Change language\n/cancel — Leave the current flow\n/help — Help"
    )

    # A logistics admin sees what the role adds, and only that: the stores, not the admins' own tools.
    lin = (await person("lin.hua").says("/help")).texts[0]
    assert "你的角色还可以用：" in lin and "/stock — " in lin and "/stats — " in lin
    assert "/settings — " not in lin.split("你的角色还可以用：")[0]


async def test_someone_elses_client_id_reveals_nothing_and_is_a_new_message(
    person: Callable[[str], WebPerson],
) -> None:
    wang, li = person("wang.fang"), person("li.na")
    private = await wang.says("/my", client_id="wang-fang-0001")
    replayed = await li.says("/my", client_id="wang-fang-0001")
    assert not replayed.duplicate
    assert replayed.texts != private.texts or "王芳" not in replayed.text


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (ConnectionError("database went away"), 503),  # an outage: the page tries again by itself
        (RuntimeError("a bug"), 500),
    ],
)
async def test_a_failure_is_a_translated_json_error_and_keeps_nothing(
    db: Database,
    web_service: Service,
    person: Callable[[str], WebPerson],
    monkeypatch: pytest.MonkeyPatch,
    fault: Exception,
    status: int,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise fault

    monkeypatch.setattr(web_service.houqin, "handle", broken)
    response = await person("wang.fang").client.post(
        "/api/web/messages", json={"person": "wang.fang", "client_id": "try-again-01", "text": "/start"}
    )
    assert response.status_code == status
    assert response.json() == {"error": "抱歉，系统出了点问题，刚才的操作没有保存。请再试一次。"}


async def test_the_technicians_card_arrives_in_the_browser_with_the_photo_only_they_may_see(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    wang, zhao, stranger = person("wang.fang"), person("zhao.lei"), person("zhang.wei")
    await wang.says("/repair")
    await wang.presses("电气照明")
    await wang.presses("行政楼")
    await wang.presses("101 接待大厅")
    await wang.says("大厅的吊灯一闪一闪")
    await wang.sends_photo(PNG_1X1)
    await wang.presses("完成")
    await wang.presses("一般")
    await wang.presses("✔ 提交")

    inbox = await zhao.inbox()
    [card] = [n for n in inbox if n["card_key"]]
    assert card["text"].startswith("🔧 R-") and "位置：行政楼 101 接待大厅" in card["text"]
    assert [b["label"] for row in card["buttons"] for b in row] == ["✔ 接单", "✖ 拒绝", "💬 留言"]
    [photo_url] = card["photos"]
    seen = await zhao.client.get(photo_url)
    assert seen.status_code == 200 and seen.content == PNG_1X1 and seen.headers["content-type"] == "image/png"
    snooping = await stranger.client.get(photo_url.replace("zhao.lei", "zhang.wei"))
    assert snooping.status_code == 404
    # Until the page acknowledges them, the same notices come again: a lost answer loses nothing.
    assert [n["id"] for n in await zhao.inbox()] == [n["id"] for n in inbox]
    assert await zhao.inbox(ack=[n["id"] for n in inbox]) == []

    accepted = await zhao.presses_payload(card["buttons"][0][0]["payload"])
    assert accepted.duplicate is False
    [update] = await zhao.inbox()
    assert update["card_key"] == card["card_key"] and "状态：已接单" in update["text"]
    [told] = await wang.inbox()
    assert "赵磊 已接下你的报修" in told["text"]

"""Repair intake in Telegram, through python-telegram-bot's Application and HTTP layer."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select

from bot.service import Service
from storage.db import Database
from storage.models import ChannelAccount, DialogState, Photo, Room, Ticket
from tests.channels import telegram_of
from tests.dialog.telegram_person import PNG_BYTES, TelegramPerson
from tests.fakes.telegram_api import FakeBotAPI

TICKET = re.compile(r"R-\d{4}-\d{6}")


async def all_tickets(db: Database) -> list[Ticket]:
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(Ticket).order_by(Ticket.id))).all())


async def test_a_teacher_reports_a_leaking_tap_in_chinese(
    db: Database, bot_api: FakeBotAPI, telegram_user: Callable[..., TelegramPerson]
) -> None:
    xiaoli = telegram_user(1001, "小李")
    welcome = await xiaoli.says("/start")
    assert welcome.texts == [
        "你好，小李！我是后勤助手。\n我可以帮你报修、申领办公用品、查看你的申请进度。请选择要办的事："
    ]
    assert [b["text"] for b in welcome.messages[0].buttons] == ["报修", "物资申领", "我的申请", "帮助"]

    started = await xiaoli.presses("报修")
    assert started.texts == [
        "开始：报修。报告需要维修的设施或设备，我会生成报修单号。\n随时发送 /cancel 退出。",
        "需要维修的是哪一类？",
    ]
    assert await xiaoli.presses("给排水") == ["在哪栋楼？"]
    assert await xiaoli.presses("教学楼") == ["在哪个房间？"]
    assert await xiaoli.presses("301 三楼卫生间") == ["请描述问题（例如：走廊灯不亮，已经两天了）："]
    assert await xiaoli.says("洗手池水龙头关不紧，一直滴水") == [
        "可以发送最多 3 张照片帮助维修人员了解情况。不需要就点「跳过」。"
    ]
    assert await xiaoli.sends_photo() == ["已收到 1 张照片。可以继续发送（最多 3 张），或点「完成」。"]
    assert await xiaoli.presses("完成") == ["有多紧急？"]
    summary = await xiaoli.presses("一般")
    assert summary.texts == [
        "请确认报修信息：\n类别：给排水\n位置：教学楼 301 三楼卫生间\n描述：洗手池水龙头关不紧，一直滴水\n"
        "照片：1 张\n紧急程度：一般",
        "以上信息正确吗？",
    ]
    done = await xiaoli.presses("✔ 提交")
    number = TICKET.search(done.text)
    assert number is not None
    assert done.texts == [
        f"✅ 报修已提交，单号 {number.group()}。\n给排水 · 一般\n已派给维修工 孙强。\n"
        "处理进展会通知你，发送 /my 可随时查看。"
    ]

    # Every message that carried a pressed button now shows the choice and has no buttons left.
    assert xiaoli.buttons_on_screen() == ["报修", "物资申领", "我的申请", "帮助"]  # only the closing menu
    assert [m.text for m in xiaoli.chat if m.edits][:3] == [
        "你好，小李！我是后勤助手。\n我可以帮你报修、申领办公用品、查看你的申请进度。请选择要办的事：\n\n→ 报修",
        "需要维修的是哪一类？\n\n→ 给排水",
        "在哪栋楼？\n\n→ 教学楼",
    ]

    [ticket] = await all_tickets(db)
    assert ticket.number == number.group()
    assert (ticket.category, ticket.urgency, ticket.channel) == ("plumbing", "normal", "telegram")
    # The plumbing technician of the demo organisation has it, due in 72 hours (normal urgency).
    assert ticket.status == "assigned" and ticket.assignee is not None and ticket.assignee.display_name == "孙强"
    assert ticket.due_at is not None and ticket.due_at - ticket.created_at == timedelta(hours=72)
    assert ticket.room is not None and (ticket.room.building.code, ticket.room.code) == ("B", "301")
    assert ticket.reporter.display_name == "小李"
    [photo] = ticket.photos
    assert photo.file_id and photo.channel == "telegram"

    mine = await xiaoli.says("/my")
    assert mine.texts[0].startswith(f"你有 1 个未完成的申请：\n{ticket.number} · 给排水 · 已分派 · 提交于 ")


async def test_an_english_speaker_is_answered_in_english(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    sam = telegram_user(1002, "Sam", "en")
    await sam.says("/repair")
    await sam.presses("Heating & A/C")
    await sam.presses("Canteen")
    await sam.presses("102 Kitchen")
    await sam.says("The extractor fan is very loud and smells of burning.")
    await sam.presses("Skip")
    summary = await sam.presses("Urgent")
    assert "Location: Canteen 102 Kitchen" in summary
    done = await sam.presses("✔ Submit")
    assert done.texts[0].startswith("✅ Repair request submitted: R-")
    assert "Heating & A/C · Urgent (safety or work stopped)" in done.text
    [ticket] = await all_tickets(db)
    assert ticket.urgency == "urgent" and ticket.photos == []


async def test_the_command_menu_is_published_in_both_languages(bot_api: FakeBotAPI, telegram: Service) -> None:
    menus = {key: [(c["command"], c["description"]) for c in commands] for key, commands in bot_api.commands.items()}
    assert menus["zh"][:2] == [("start", "开始使用，显示功能菜单"), ("repair", "报修")]
    assert menus["en"][:2] == [("start", "Start and show what I can do"), ("repair", "Report a repair")]
    # Everyone's menu: nothing in it that would only refuse them (privileged ones: tests/dialog/test_command_menus.py).
    assert [name for name, _ in menus[None]] == [
        "start",
        "repair",
        "supply",
        "my",
        "ticket",
        "requisition",
        "requisitions",
        "survey",
        "suggest",
        "link",
        "web",
        "book",
        "lang",
        "help",
        "cancel",
    ]


async def test_an_update_delivered_twice_makes_one_ticket(
    db: Database, bot_api: FakeBotAPI, telegram_user: Callable[..., TelegramPerson]
) -> None:
    lin = telegram_user(1003, "林")
    await lin.says("/repair")
    await lin.presses("保洁")
    await lin.presses("食堂")
    await lin.presses("101 一楼餐厅")
    await lin.says("餐厅地面有大片油渍，很滑")
    await lin.presses("跳过")
    await lin.presses("较急")
    confirm = next(m for m in reversed(lin.chat) if m.buttons)
    submit = next(str(b["callback_data"]) for b in confirm.buttons if str(b["text"]).startswith("✔"))
    press = lin.user.press(confirm.message_id, submit)
    from tests.dialog.telegram_person import handled

    await handled(db, press["update_id"])
    sent_before = len(lin.chat)
    bot_api.redeliver(press)  # Telegram did not see our acknowledgement and sends it again
    await lin.says("/my")  # updates are handled in order: once this is answered, the duplicate was too
    assert len(await all_tickets(db)) == 1
    assert len(lin.chat) == sent_before + 1  # only the /my answer; no second confirmation
    assert "1 个未完成的申请" in (lin.chat[-1].text or "")


async def test_bad_input_is_answered_and_changes_nothing(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    zhou = telegram_user(1004, "周")
    await zhou.says("/repair")
    assert "⚠️ 这一步用不了这种消息。" in await zhou.sends_sticker()
    assert "⚠️ 请点击下面的按钮选择。" in await zhou.sends_photo()
    category = next(m for m in reversed(zhou.chat) if m.buttons)
    version = str(category.buttons[0]["callback_data"]).split(":")[0]
    forged = await zhou.presses_data(category.message_id, f"{version}:nuclear", strict=False)
    assert "⚠️ 这个选项不可用，请从下面的按钮中选择。" in forged
    assert "这个按钮无效。" in await zhou.presses_data(category.message_id, "admin:grant", strict=False)
    await zhou.presses("电气照明")
    await zhou.presses("宿舍楼")
    await zhou.presses("101 宿舍")
    assert "⚠️ 这一步需要文字回答。" in await zhou.sends_photo()
    assert "太长了（4097 字），最多 4096 字" in await zhou.says("灯" * 4097)
    assert "你正在进行「报修」" in await zhou.says("/start")
    # A photo sent as a file is still a photo; at the photo step it counts.
    await zhou.says("宿舍顶灯不亮，开关没反应")
    assert "已收到 1 张照片" in await zhou.sends_document("light.jpg", "image/jpeg")
    assert "⚠️ 这一步用不了这种消息。" in await zhou.sends_document("notes.pdf", "application/pdf")
    assert await all_tickets(db) == []


async def test_a_restart_mid_conversation_resumes_at_the_same_step(
    db: Database, bot_api: FakeBotAPI, telegram: Service, telegram_user: Callable[..., TelegramPerson]
) -> None:
    from bot.service import build_service
    from tests.dialog.conftest import telegram_settings

    qian = telegram_user(1005, "钱")
    await qian.says("/repair")
    await qian.presses("家具门窗")
    await qian.presses("行政楼")
    await telegram.stop()  # the process goes away mid-dialog

    restarted = build_service(telegram_settings(db, bot_api))
    await restarted.start()
    try:
        # The room buttons sent before the restart still work: the state and its version are in the database.
        assert "请描述问题" in await qian.presses("201 第一会议室")
        await qian.says("会议室的门锁坏了，关不上")
        await qian.presses("跳过")
        await qian.presses("不急")
        assert "报修已提交" in await qian.presses("✔ 提交")
    finally:
        await restarted.stop()
    [ticket] = await all_tickets(db)
    assert ticket.category == "furniture" and ticket.room is not None and ticket.room.code == "201"


async def test_people_and_their_dialogs_are_kept_per_channel_account(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    await telegram_user(1006, "吴").says("/repair")
    async with db.unit_of_work() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "1006"))
        assert account is not None and account.address == "1006" and account.platform_locale == "zh-hans"
        state = await session.scalar(select(DialogState).where(DialogState.person_id == account.person_id))
        assert state is not None and (state.flow, state.step) == ("repair", "category")
        assert await session.scalar(select(func.count()).select_from(Photo)) == 0


async def test_photo_bytes_stay_with_telegram_and_the_file_id_with_the_ticket(
    db: Database, bot_api: FakeBotAPI, telegram: Service, telegram_user: Callable[..., TelegramPerson]
) -> None:
    he = telegram_user(1007, "何")
    await he.says("/repair")
    await he.presses("其他")
    await he.presses("宿舍楼")
    await he.presses("B1 洗衣房")
    await he.says("洗衣房的门把手掉了")
    await he.sends_photo(PNG_BYTES)
    await he.presses("完成")
    await he.presses("不急")
    await he.presses("✔ 提交")
    [ticket] = await all_tickets(db)
    [photo] = ticket.photos
    bot = telegram_of(telegram).application.bot
    downloaded = await (await bot.get_file(str(photo.file_id))).download_as_bytearray()
    assert bytes(downloaded) == PNG_BYTES


async def test_a_door_sign_starts_a_repair_in_that_room(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    async with db.unit_of_work() as session:
        room = await session.scalar(select(Room).where(Room.code == "B1"))
        assert room is not None
    jiang = telegram_user(1008, "蒋")
    await jiang.says("/repair")
    await jiang.presses("保洁")
    # Halfway through one report, they scan the sign on the laundry door: a fresh start, in that room.
    scanned = await jiang.says(f"/start room_{room.id}")
    assert scanned.texts[:2] == ["未完成的「报修」已放弃。", "位置：宿舍楼 B1 洗衣房"]
    assert scanned.texts[-1] == "需要维修的是哪一类？"
    await jiang.presses("给排水")
    assert await jiang.says("洗衣机排水口堵了") == ["可以发送最多 3 张照片帮助维修人员了解情况。不需要就点「跳过」。"]
    await jiang.presses("跳过")
    assert "位置：宿舍楼 B1 洗衣房" in await jiang.presses("一般")
    await jiang.presses("✔ 提交")
    [ticket] = await all_tickets(db)
    assert ticket.room_id == room.id

    assert "这个二维码对应的房间已不存在" in await jiang.says("/start room_999999")

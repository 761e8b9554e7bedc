"""The fake Bot API holds up against the real python-telegram-bot client over real HTTP."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBDeprecationWarning

from tests.fakes.telegram_api import FakeBotAPI, FakeUser

PTBApp = Application[Any, Any, Any, Any, Any, Any]
USER_ID = 1001


# ---------------------------------------------------------------------- a tiny bot to drive


async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    context.bot_data.setdefault("updates", []).append(update)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text, do_quote=True)


async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("报修", callback_data="pick:repair"),
                InlineKeyboardButton("领用", callback_data="pick:supplies"),
            ]
        ]
    )
    await update.message.reply_text("请选择：", reply_markup=keyboard)


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(f"已选择 {query.data}")


async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    photo = update.message.photo[-1]
    data = await (await context.bot.get_file(photo.file_id)).download_as_bytearray()
    context.bot_data["photo_bytes"] = bytes(data)
    await update.message.reply_text(f"收到 {len(data)} 字节")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    # Without this PTB only logs handler exceptions and a broken test would merely time out.
    context.bot_data.setdefault("errors", []).append(context.error)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


@pytest.fixture
async def app(fake_api: FakeBotAPI) -> AsyncIterator[PTBApp]:
    application: PTBApp = (
        ApplicationBuilder()
        .token(fake_api.token)
        .base_url(fake_api.base_url)
        .base_file_url(fake_api.base_file_url)
        .build()
    )
    application.add_handler(TypeHandler(Update, record), group=-1)
    application.add_handler(CommandHandler("menu", menu))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.add_handler(MessageHandler(filters.PHOTO, on_photo))
    application.add_handler(CallbackQueryHandler(on_press))
    application.add_error_handler(on_error)
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
    assert application.bot_data.get("errors", []) == []


@pytest.fixture
def user(fake_api: FakeBotAPI) -> FakeUser:
    return fake_api.user(USER_ID, "李四")


def seen_update_ids(app: PTBApp) -> list[int]:
    return [update.update_id for update in app.bot_data.get("updates", [])]


# ---------------------------------------------------------------------- polling


async def test_echo_via_polling(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    update = user.send_text("三楼打印机卡纸了")

    [reply] = await fake_api.wait_for_messages(USER_ID, 1)

    assert reply.text == "三楼打印机卡纸了"
    assert reply.raw["reply_to_message"]["message_id"] == update["message"]["message_id"]
    assert reply.raw["from"]["username"] == "houqin_test_bot"
    assert fake_api.calls_to("sendMessage")[0]["chat_id"] == USER_ID
    names = [name for name, _ in fake_api.calls]
    assert names.index("getMe") < names.index("deleteWebhook") < names.index("getUpdates")


async def test_offset_acknowledges_processed_updates(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    user.send_text("one")
    second = user.send_text("two")

    await fake_api.wait_for_messages(USER_ID, 2)
    await fake_api.wait_for(lambda: fake_api.acknowledged_offset == second["update_id"] + 1)

    assert fake_api.pending_updates == 0
    assert [m.text for m in fake_api.messages(USER_ID)] == ["one", "two"]


async def test_redelivered_update_is_handed_to_the_bot_again(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    update = user.send_text("重复投递")
    await fake_api.wait_for_messages(USER_ID, 1)
    await fake_api.wait_for(lambda: fake_api.acknowledged_offset > update["update_id"])

    fake_api.redeliver(update)

    await fake_api.wait_for_messages(USER_ID, 2)
    assert seen_update_ids(app) == [update["update_id"], update["update_id"]]


async def test_user_media_updates_deserialize_in_ptb(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    user.send_document("维修清单.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    user.send_sticker()
    user.send_location(31.2304, 121.4737)

    await fake_api.wait_for(lambda: len(seen_update_ids(app)) == 3)

    messages = [update.message for update in app.bot_data["updates"]]
    assert all(m is not None and m.chat.id == USER_ID for m in messages)
    assert messages[0] is not None and messages[0].document is not None
    assert messages[0].document.file_name == "维修清单.xlsx"
    assert messages[1] is not None and messages[1].sticker is not None
    assert messages[1].sticker.emoji == "👍"
    assert messages[2] is not None and messages[2].location is not None
    assert messages[2].location.latitude == pytest.approx(31.2304)


# ---------------------------------------------------------------------- keyboards and files


async def test_inline_keyboard_press_edits_the_message(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    user.send_text("/menu")
    [card] = await fake_api.wait_for_messages(USER_ID, 1)
    assert [b["callback_data"] for b in card.buttons] == ["pick:repair", "pick:supplies"]

    press = user.press(card.message_id, "pick:repair")

    await fake_api.wait_for(lambda: card.edits != [])
    assert card.text == "已选择 pick:repair"
    assert card.edits == ["请选择："]
    assert card.reply_markup is None  # editMessageText without reply_markup drops the keyboard
    assert press["callback_query"]["id"] in fake_api.callback_answers
    with pytest.raises(ValueError, match="no button"):
        user.press(card.message_id, "pick:supplies")  # no longer on screen


async def test_photo_is_downloadable_by_the_bot(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    content = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
    update = user.send_photo(content, caption="会议室椅子坏了")

    [reply] = await fake_api.wait_for_messages(USER_ID, 1)

    assert reply.text == f"收到 {len(content)} 字节"
    assert app.bot_data["photo_bytes"] == content
    file_id = update["message"]["photo"][0]["file_id"]
    assert await (await app.bot.get_file(file_id)).download_as_bytearray() == content


async def test_bot_uploads_are_kept(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    photo = await app.bot.send_photo(USER_ID, photo=b"png-bytes", caption="<b>报修单</b> #12", parse_mode="HTML")
    await app.bot.send_document(USER_ID, document=b"a,b\n1,2\n", filename="supplies.csv")
    await app.bot.edit_message_caption(USER_ID, photo.message_id, caption="报修单 #12 已完成")

    sent_photo, sent_doc = fake_api.messages(USER_ID)
    assert sent_photo.kind == "photo" and sent_photo.file is not None
    assert sent_photo.file.data == b"png-bytes"
    assert sent_photo.text == "报修单 #12 已完成" and sent_photo.edits == ["报修单 #12"]
    assert sent_doc.file is not None and sent_doc.file.filename == "supplies.csv"
    assert sent_doc.raw["document"]["file_name"] == "supplies.csv"
    # The file_id Telegram assigned can be sent again without re-uploading.
    assert photo.photo
    await app.bot.send_photo(USER_ID, photo=photo.photo[-1].file_id)
    assert fake_api.messages(USER_ID)[-1].raw["photo"][0]["file_size"] == len(b"png-bytes")


# ---------------------------------------------------------------------- Telegram's errors


async def test_message_length_limit(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    await app.bot.send_message(USER_ID, "字" * 4096)
    await app.bot.send_message(USER_ID, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")  # tags don't count

    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await app.bot.send_message(USER_ID, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)can.t parse entities"):
        await app.bot.send_message(USER_ID, "第一行<br>第二行", parse_mode="HTML")
    assert len(fake_api.messages(USER_ID)) == 2


async def test_callback_data_limit_is_64_bytes(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    def keyboard(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data=data)]])

    await app.bot.send_message(USER_ID, "fits", reply_markup=keyboard("好" * 21 + "a"))  # 64 bytes

    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await app.bot.send_message(USER_ID, "too long", reply_markup=keyboard("好" * 22))  # 22 chars, 66 bytes


async def test_edit_errors(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    sent = await app.bot.send_message(USER_ID, "已受理")

    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await app.bot.edit_message_text("x", chat_id=USER_ID, message_id=sent.message_id + 100)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await app.bot.edit_message_text("已受理", chat_id=USER_ID, message_id=sent.message_id)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await app.bot.send_message(999, "nobody here")

    user.blocked = True
    with pytest.raises(Forbidden, match="blocked"):
        await app.bot.send_message(USER_ID, "hello?")


async def test_enforce_limits_raises_retry_after(fake_api: FakeBotAPI, app: PTBApp, user: FakeUser) -> None:
    other = fake_api.user(1002)
    fake_api.enforce_limits(per_chat_per_second=1.0, global_per_second=30.0)

    await app.bot.send_message(USER_ID, "1")
    with warnings.catch_warnings():
        # PTB 22 warns that RetryAfter.retry_after will become a timedelta; not this fake's concern.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        with pytest.raises(RetryAfter):
            await app.bot.send_message(USER_ID, "2")
    await app.bot.send_message(other.chat_id, "another chat has its own budget")

    assert fake_api.too_many_requests == 1
    assert [m.text for m in fake_api.messages(USER_ID)] == ["1"]


async def test_global_limit(fake_api: FakeBotAPI, app: PTBApp) -> None:
    users = [fake_api.user(2000 + i) for i in range(3)]
    fake_api.enforce_limits(per_chat_per_second=10.0, global_per_second=2.0)

    for someone in users[:2]:
        await app.bot.send_message(someone.chat_id, "通知")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        with pytest.raises(RetryAfter):
            await app.bot.send_message(users[2].chat_id, "通知")


# ---------------------------------------------------------------------- webhook and commands


async def test_webhook_and_commands(fake_api: FakeBotAPI) -> None:
    async with Bot(fake_api.token, base_url=fake_api.base_url, base_file_url=fake_api.base_file_url) as bot:
        await bot.set_webhook("https://houqin.example/telegram", secret_token="s3cr3t-token")
        assert fake_api.webhook is not None and fake_api.webhook["secret_token"] == "s3cr3t-token"
        assert (await bot.get_webhook_info()).url == "https://houqin.example/telegram"
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates(timeout=0)
        await bot.delete_webhook()
        assert fake_api.webhook is None

        await bot.set_my_commands([("repair", "报修")], language_code="zh")
        await bot.set_my_commands([("repair", "Report a repair")])
        assert fake_api.commands == {
            "zh": [{"command": "repair", "description": "报修"}],
            None: [{"command": "repair", "description": "Report a repair"}],
        }
        assert [c.description for c in await bot.get_my_commands(language_code="zh")] == ["报修"]
        with pytest.raises(BadRequest, match=r"(?i)invalid language code"):
            await bot.set_my_commands([("repair", "报修")], language_code="zh-hans")
        with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
            await bot.set_my_commands([("Repair", "报修")])
        await bot.delete_my_commands(language_code="zh")
        assert set(fake_api.commands) == {None}


# ---------------------------------------------------------------------- raw protocol


async def test_raw_protocol(fake_api: FakeBotAPI) -> None:
    fake_api.user(USER_ID)
    api_url = f"{fake_api.base_url}{fake_api.token}"
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{api_url}/fooBar")
        assert response.status_code == 404
        assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}

        response = await client.post(f"{fake_api.base_url}999:WRONG/getMe")
        assert response.status_code == 401
        assert response.json()["description"] == "Unauthorized"

        markup = {"inline_keyboard": [[{"text": "ok", "callback_data": "42"}]]}
        response = await client.post(
            f"{api_url}/sendmessage", json={"chat_id": USER_ID, "text": "123", "reply_markup": markup}
        )
        assert response.json()["result"]["text"] == "123"  # a numeric text stays a string

        response = await client.post(
            f"{api_url}/sendDocument",
            data={"chat_id": str(USER_ID), "caption": "清单"},
            files={"document": ("list.txt", b"paper x10", "text/plain")},
        )
        document = response.json()["result"]["document"]
        response = await client.post(f"{api_url}/getFile", data={"file_id": document["file_id"]})
        download = await client.get(
            f"{fake_api.base_file_url}{fake_api.token}/{response.json()['result']['file_path']}"
        )
        assert download.content == b"paper x10"

    text_message, document_message = fake_api.messages(USER_ID)
    assert text_message.reply_markup == markup
    assert document_message.file is not None and document_message.file.content_type == "text/plain"
    assert fake_api.calls_to("sendMessage")[0]["text"] == "123"

    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=fake_api.base_url) as bot:
            await bot.get_me()


async def test_long_poll_wakes_on_user_action_and_on_stop(fake_api: FakeBotAPI) -> None:
    user = fake_api.user(USER_ID)
    url = f"{fake_api.base_url}{fake_api.token}/getUpdates"
    async with httpx.AsyncClient(timeout=10) as client:

        async def poll(**params: int) -> httpx.Response:
            return await client.post(url, data={key: str(value) for key, value in params.items()})

        polls = len(fake_api.calls_to("getUpdates"))
        waiting = asyncio.create_task(poll(timeout=30))
        await fake_api.wait_for(lambda: len(fake_api.calls_to("getUpdates")) == polls + 1)
        update = user.send_text("hi")
        response = await asyncio.wait_for(waiting, 2)
        assert [u["update_id"] for u in response.json()["result"]] == [update["update_id"]]

        # A second poller ends the first with 409, as when two bot instances run.
        first = asyncio.create_task(poll(offset=update["update_id"] + 1, timeout=30))
        await fake_api.wait_for(lambda: len(fake_api.calls_to("getUpdates")) == polls + 2)
        second = asyncio.create_task(poll(offset=update["update_id"] + 1, timeout=30))
        assert (await asyncio.wait_for(first, 2)).status_code == 409
        await fake_api.wait_for(lambda: len(fake_api.calls_to("getUpdates")) == polls + 3)
        assert fake_api.acknowledged_offset == update["update_id"] + 1

        await asyncio.wait_for(fake_api.stop(), 2)
        assert (await asyncio.wait_for(second, 2)).json() == {"ok": True, "result": []}


async def test_wait_for_reports_recent_calls(fake_api: FakeBotAPI) -> None:
    fake_api.user(USER_ID)
    async with Bot(fake_api.token, base_url=fake_api.base_url) as bot:
        await bot.send_message(USER_ID, "只有这一条")
    with pytest.raises(AssertionError, match=r"(?s)2 bot message.*have 1.*sendMessage"):
        await fake_api.wait_for_messages(USER_ID, 2, timeout=0.05)

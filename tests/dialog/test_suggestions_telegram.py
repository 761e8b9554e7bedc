"""The suggestion box in Telegram: an anonymous suggestion with a photo, a two-way thread with the
office that never learns who wrote it, upvotes from colleagues, adoption and "you said, we did".

Through python-telegram-bot's Application and HTTP layer against the fake Bot API, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.service import Service
from handlers.core import keys
from storage.db import Database
from storage.models import (
    AuditEntry,
    ChannelAccount,
    DialogState,
    OutboxMessage,
    Photo,
    ProcessedDelivery,
    Suggestion,
    SuggestionMessage,
    SuggestionVote,
)
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.test_ticket_life_telegram import make_staff


@pytest.fixture
async def office(db: Database, telegram_user: Callable[..., TelegramPerson]) -> dict[str, TelegramPerson]:
    people = {
        "admin": telegram_user(8401, "林主任"),
        "wang": telegram_user(8411, "小王"),
        "li": telegram_user(8412, "小李"),
    }
    await make_staff(db, people["admin"], "logistics_admin", department="logistics")
    await make_staff(db, people["wang"], department="finance")
    await make_staff(db, people["li"], department="hr")
    return people


async def test_an_anonymous_suggestion_and_its_thread(
    db: Database, telegram: Service, office: dict[str, TelegramPerson]
) -> None:
    admin, wang, li = office["admin"], office["wang"], office["li"]

    asked = await wang.says("/suggest")
    assert asked.texts == ["💡 建言献策：想就哪方面提建议？"]
    await wang.presses("食堂")
    await wang.says("希望食堂每周增加一次川菜")
    await wang.sends_photo()
    who = wang.chat[-1]
    assert [b["text"] for b in who.buttons][:2] == ["🔒 匿名", "👤 署名"]
    await wang.presses("🔒 匿名")
    summary = await wang.presses("📢 公开")
    assert summary.texts[0] == (
        "请确认你的建议：\n类别：食堂\n内容：希望食堂每周增加一次川菜\n附照片 1 张\n🔒 匿名 · 📢 公开"
    )
    done = await wang.presses("✔ 提交")
    assert "谢谢！你的建议 #1 已提交。" in done.text

    # The office sees the suggestion, its photo, never the name.
    card = admin.latest("💡 建议 #1")
    assert card.text == "💡 建议 #1 · 食堂 · 已收到\n匿名 · 📢 公开 · 👍 0\n希望食堂每周增加一次川菜"
    assert card.kind == "photo" or any(m.kind == "photo" for m in admin.chat)
    assert [b["text"] for b in card.buttons] == ["💬 回复", "🔍 研究中", "✅ 采纳", "✖ 不采纳"]

    # The office replies by the suggestion's number; the reply reaches the suggester through Houqin.
    assert "请写下给提出人的回复" in await admin.presses("💬 回复")
    assert "回复已转给建议 #1 的提出人。" in await admin.says("谢谢建议！下周开始试行，想吃什么菜？")
    # Replying keeps the card's buttons: the office may still adopt or decline from it.
    assert [b["text"] for b in card.buttons] == ["💬 回复", "🔍 研究中", "✅ 采纳", "✖ 不采纳"]
    reply = wang.latest("后勤回复了你的建议 #1")
    assert reply.text == "💬 后勤回复了你的建议 #1：\n谢谢建议！下周开始试行，想吃什么菜？"

    # ... and the suggester answers back, still anonymous.
    assert "请写下给后勤的回复" in await wang.presses("💬 回复后勤")
    assert "你的回复已转给后勤（建议 #1）。" in await wang.says("水煮鱼和回锅肉")
    assert admin.latest("的提出人").text == "💬 建议 #1 的提出人（匿名）回复：\n水煮鱼和回锅肉"
    await admin.presses("💬 回复")
    await admin.says("好的，安排上")
    assert wang.latest("安排上").text == "💬 后勤回复了你的建议 #1：\n好的，安排上"
    thread = await admin.says("/suggest 1")
    assert "提出人 说：水煮鱼和回锅肉" in thread.text and "后勤 林主任 说：好的，安排上" in thread.text

    # The suggester reads the whole thread too; nobody else but the office does.
    own = await wang.says("/suggest 1")
    assert "提出人 说：水煮鱼和回锅肉" in own.text and "后勤 林主任 说：好的，安排上" in own.text
    assert [b["text"] for b in own.messages[-1].buttons] == ["💬 回复后勤"]
    assert "你没有权限这样做。" in (await li.says("/suggest 1")).text

    # Someone else cannot answer in the suggester's place, nor act for the office: refused, audited.
    forged = await li.presses_data(li.chat[-1].message_id, "sg:1:answer", strict=False)
    assert "你没有权限这样做。" in forged.text
    forged = await li.presses_data(li.chat[-1].message_id, "sg:1:adopted", strict=False)
    assert "你没有权限这样做。" in forged.text

    # Colleagues see it (without who) and upvote it, once each.
    listed = await li.says("/suggest list")
    assert "📢 同事们的建议（支持就点赞）：\n#1 · 食堂 · 已收到 · 👍 0 票\n   希望食堂每周增加一次川菜" in listed.text
    assert "已为 #1 点赞，现在 1 票。" in await li.presses("👍 为 #1 点赞")
    await li.says("/suggest list")
    assert "你已经为这条建议点过赞了。" in await li.presses("👍 为 #1 点赞")

    # Adopted, with what was done: the suggester hears it, and it joins "you said, we did".
    await admin.says("/suggest 1")
    assert "采纳后做了什么" in await admin.presses("✅ 采纳")
    assert "建议 #1 已标记为：已采纳。" in await admin.says("每周三午餐增加川菜窗口")
    assert wang.latest("现在是：已采纳").text == "💡 你的建议 #1 现在是：已采纳\n我们做了：每周三午餐增加川菜窗口"
    we_did = await li.says("/suggest list")
    assert "✅ 你说我做：\n· #1 希望食堂每周增加一次川菜\n   → 我们做了：每周三午餐增加川菜窗口" in we_did.text

    # Nothing the office was shown names the suggester.
    assert not any("小王" in (m.text or "") for m in admin.chat)
    async with db.unit_of_work() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "8411"))
        assert account is not None
        wang_id = account.person_id
        suggestion = await session.get(Suggestion, 1)
        assert suggestion is not None
        assert suggestion.author_id is None and not suggestion.named and suggestion.route is not None
        # The way back to the suggester is a seal: it opens to them with the server's key, and to
        # nobody without it (a check for the id's digits in it failed whenever the random bytes held them).
        server_key = await keys.server_key(session)
        assert keys.unseal(server_key, suggestion.route) == wang_id
        assert keys.unseal(b"not the server's key", suggestion.route) is None
        assert suggestion.photo_file_id is not None
        assert suggestion.status == "adopted" and suggestion.upvotes == 1
        messages = (await session.scalars(select(SuggestionMessage).order_by(SuggestionMessage.id))).all()
        assert [(m.from_office, m.author_id is None, m.body) for m in messages] == [
            (True, False, "谢谢建议！下周开始试行，想吃什么菜？"),
            (False, True, "水煮鱼和回锅肉"),
            (True, False, "好的，安排上"),
        ]
        assert (await session.scalars(select(Photo).where(Photo.person_id == wang_id))).all() == []
        assert len((await session.scalars(select(SuggestionVote))).all()) == 1
        refused = (await session.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused"))).all()
        assert sorted(entry.action for entry in refused) == ["suggest.adopted", "suggest.answer", "suggest.view"]
        # No audit line ties the suggester to it.
        assert not [e for e in (await session.scalars(select(AuditEntry))).all() if e.actor_id == wang_id]
        assert "8411" not in json.dumps([m.body for m in messages], ensure_ascii=False)

        # What was said to and by the suggester is not kept beside them once sent: of the delivery
        # records of their turns only the /start names their dialog, and the office's replies to them
        # are forgotten once delivered (tests/dialog/test_anonymity.py searches every table).
        dialog = await session.scalar(select(DialogState).where(DialogState.person_id == wang_id))
        assert dialog is not None
        theirs = [
            json.dumps(d.outcome, ensure_ascii=False)
            for d in (await session.scalars(select(ProcessedDelivery))).all()
            if d.outcome.get("dialog_id") == dialog.id
        ]
        notices = [
            json.dumps(m.body, ensure_ascii=False)
            for m in (await session.scalars(select(OutboxMessage).where(OutboxMessage.person_id == wang_id))).all()
        ]
        assert len(theirs) == 1 and "你好，小王！" in theirs[0]
        assert [text for text in theirs + notices if "#1" in text or "川菜" in text or "水煮鱼" in text] == []
        assert not [text for text in notices if "discreet" in text]

"""Satisfaction surveys in Telegram: an admin imports a survey, launches it to Finance, three people
answer (one stops midway and finishes after a restart), results and the export agree; the same for
an anonymous survey, whose answers are then searched for in every table, export and log line.

Through python-telegram-bot's Application and HTTP layer against the fake Bot API, on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from datetime import datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.channels.registry import TRANSPORT_LOGGERS, quieten_transport
from bot.service import Service, build_service
from storage.db import Database
from storage.models import (
    AuditEntry,
    Base,
    ChannelAccount,
    DialogState,
    OutboxMessage,
    Person,
    ProcessedDelivery,
    Survey,
    SurveyResponse,
)
from tests.dialog.conftest import telegram_settings
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.test_ticket_life_telegram import make_staff
from tests.fakes.telegram_api import FakeBotAPI
from tests.identifiers import names_anyone

YAML_MIME = "application/x-yaml"


def definition(anonymous: bool) -> bytes:
    return f"""\
title: {{zh: 搬家后回访, en: After the move}}
anonymous: {"true" if anonymous else "false"}
questions:
  - id: overall
    type: rating
    text: {{zh: 整体满意吗？, en: "Satisfied overall?"}}
  - id: recommend
    type: nps
    text: {{zh: 会推荐给同事吗？, en: "Would you recommend it?"}}
  - id: missing
    type: multiple
    text: {{zh: 还缺什么？, en: "What is missing?"}}
    options:
      - {{id: network, zh: 网络, en: Network}}
      - {{id: phone, zh: 电话, en: Phone}}
      - {{id: chairs, zh: 椅子, en: Chairs}}
  - id: words
    type: text
    required: false
    text: {{zh: 还想说什么？, en: "Anything else?"}}
""".encode()


@pytest.fixture
async def finance(db: Database, telegram_user: Callable[..., TelegramPerson]) -> dict[str, TelegramPerson]:
    """An admin and three Finance colleagues in Telegram (Finance also has three demo people, who use
    the browser: six are invited)."""
    people = {
        "admin": telegram_user(8301, "林主任"),
        "wang": telegram_user(8311, "小王"),
        "li": telegram_user(8312, "小李"),
        "zhao": telegram_user(8313, "小赵"),
        "zhang": telegram_user(8314, "小张"),
    }
    await make_staff(db, people["admin"], "admin", department="logistics")
    for key in ("wang", "li", "zhao"):
        await make_staff(db, people[key], department="finance")
    await make_staff(db, people["zhang"], department="hr")
    return people


async def import_and_launch(admin: TelegramPerson, anonymous: bool) -> None:
    imported = await admin.sends_file("survey.yml", YAML_MIME, definition(anonymous), caption="/survey import")
    kind = "匿名" if anonymous else "实名"
    assert imported.texts == [
        f"已导入问卷 #1「搬家后回访」（{kind}，4 道题），尚未发布。\n发布：/survey launch 1 对象 [天数]"
    ]
    launched = await admin.says("/survey launch 1 dept:finance 7")
    assert "问卷 #1「搬家后回访」已发布给部门 财务处：共 6 人，其中 6 人现在能收到邀请。" in launched.text


async def answer_all(who: TelegramPerson, rating: str, nps: str, missing: list[str], words: str | None) -> str:
    """Press through the whole survey from the invitation; what Houqin says on submitting."""
    await who.presses("📝 填写问卷")
    await who.presses("▶ 开始")
    await who.presses(rating)
    await who.presses(nps)
    for label in missing:
        await who.presses(label)
    await who.presses("✔ 选好了")
    if words is None:
        await who.presses("跳过")
    else:
        await who.says(words)
    return (await who.presses("✔ 提交")).text


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_a_named_survey_from_import_to_results_and_export(
    db: Database,
    bot_api: FakeBotAPI,
    telegram: Service,
    finance: dict[str, TelegramPerson],
) -> None:
    admin, wang, li, zhao, zhang = (finance[k] for k in ("admin", "wang", "li", "zhao", "zhang"))
    await import_and_launch(admin, anonymous=False)

    # The invitation says what it is; the first screen says it is named, before any question.
    invitation = wang.latest("📋 新问卷")
    assert (invitation.text or "").startswith("📋 新问卷：搬家后回访（实名，4 道题），")
    assert [b["text"] for b in invitation.buttons] == ["📝 填写问卷"]
    assert zhang.chat[-1].text is not None and "新问卷" not in "".join(m.text or "" for m in zhang.chat)
    intro = await wang.presses("📝 填写问卷")
    assert "👤 这是实名问卷：后勤会看到你的名字和答案。" in intro.text and "共 4 道题" in intro.text
    first = await wang.presses("▶ 开始")
    assert first.texts == ["第 1/4 题：整体满意吗？\n（1 = 很不满意，5 = 非常满意）"]
    assert [b["text"] for b in first.messages[-1].buttons] == ["1", "2", "3", "4", "5", "✖ 取消"]
    second = await wang.presses("4")
    assert second.texts == ["第 2/4 题：会推荐给同事吗？\n（0 = 完全不可能，10 = 非常可能）"]
    assert [b["text"] for b in second.messages[-1].buttons][-2:] == ["◀ 上一题", "✖ 取消"]
    # Out of range, typed: said plainly, and the question stays.
    wrong = await wang.says("11")
    assert wrong.texts[0] == "⚠️ 请回答 0 到 10 之间的整数。"
    assert "第 2/4 题" in wrong.texts[-1]
    third = await wang.says("9")
    assert third.texts == ["第 3/4 题：还缺什么？\n（可多选，选好后点「选好了」）"]
    ticked = await wang.presses("网络")
    assert [b["text"] for b in ticked.messages[-1].buttons][:4] == ["✓ 网络", "电话", "椅子", "✔ 选好了"]
    await wang.presses("椅子")
    fourth = await wang.presses("✔ 选好了")
    assert fourth.texts == ["第 4/4 题：还想说什么？"]
    # The last question, in words, has its way back too; going back shows what was answered.
    assert [b["text"] for b in fourth.messages[-1].buttons] == ["跳过", "◀ 上一题", "✖ 取消"]
    again = await wang.presses("◀ 上一题")
    assert again.texts == ["第 3/4 题：还缺什么？\n（可多选，选好后点「选好了」）\n（你之前的回答：网络、椅子）"]
    assert [b["text"] for b in again.messages[-1].buttons][:4] == ["✓ 网络", "电话", "✓ 椅子", "✔ 选好了"]
    await wang.presses("✔ 选好了")
    check = await wang.says("网络太慢")
    assert check.texts[0] == (
        "请核对你的答案：\n"
        "· 整体满意吗？\n  → 4\n"
        "· 会推荐给同事吗？\n  → 9\n"
        "· 还缺什么？\n  → 网络、椅子\n"
        "· 还想说什么？\n  → 网络太慢"
    )
    prompt = wang.chat[-1]
    submit = next(str(b["callback_data"]) for b in prompt.buttons if str(b["text"]).startswith("✔ 提交"))
    done = await wang.presses("✔ 提交")
    assert "谢谢！你对「搬家后回访」的答案已收到。" in done.text

    # Pressing Submit again (a double tap on an old screen) submits nothing a second time.
    stale = await wang.presses_data(prompt.message_id, submit, strict=False)
    assert stale.texts == ["这个按钮已经过期了，请使用最新消息中的按钮。"]

    assert "谢谢" in await answer_all(li, "5", "10", ["电话"], None)

    # 小赵 stops after two questions (and is told they are kept); Houqin restarts; the buttons under
    # the question still work.
    await zhao.presses("📝 填写问卷")
    await zhao.presses("▶ 开始")
    await zhao.presses("2")
    await zhao.presses("3")
    stopped = await zhao.says("/cancel")
    assert stopped.texts[0] == "先停在这里。你已答的 2 道题已保存，问卷截止前可随时从邀请里继续。"
    await zhao.presses("📝 填写问卷")
    await zhao.presses("▶ 开始")
    await telegram.stop()
    restarted = build_service(telegram_settings(db, bot_api))
    await restarted.start()
    try:
        assert "✓ 网络" in [b["text"] for b in (await zhao.presses("网络")).messages[-1].buttons]
        await zhao.presses("✔ 选好了")
        await zhao.says("椅子不够")
        assert "谢谢" in (await zhao.presses("✔ 提交")).text

        # Someone the survey was not sent to, with a made-up button: refused, audited, nothing stored.
        forged = await zhang.presses_data(zhang.chat[-1].message_id, "sv:1:answer", strict=False)
        assert "这份问卷不是发给你的。" in forged.text

        results = await admin.says("/survey results 1")
        text = results.text
        chart = results.messages[-1]
        assert chart.kind == "photo" and chart.file is not None and chart.file.data.startswith(b"\x89PNG")
        assert "📊 #1 搬家后回访（实名，进行中，" in text
        assert "回答：3/6 人（50%）" in text
        assert "1. 整体满意吗？\n   平均 3.7 分（3 人回答）\n   1: 0 · 2: 1 · 3: 0 · 4: 1 · 5: 1" in text
        assert "2. 会推荐给同事吗？\n   NPS 33（3 人回答）" in text
        assert "3. 还缺什么？\n   3 人回答\n   网络 2 · 电话 1 · 椅子 1" in text
        assert "网络太慢 —— 小王" in text and "椅子不够 —— 小赵" in text

        # A reminder goes to those who have not answered: the three colleagues in the browser.
        assert "已给问卷 #1 发出 3 条提醒。" in (await admin.says("/survey remind 1")).text
        assert not any("⏰" in (m.text or "") for who in (wang, li, zhao) for m in who.chat)

        # 小李 changes an answer: still one response of hers.
        again = await li.presses("📝 填写问卷")
        assert "你已经填过这份问卷；这次的答案会替换上次的。" in again.text
        await li.presses("▶ 开始")
        await li.presses("1")
        await li.presses("0")
        await li.presses("电话")
        await li.presses("✔ 选好了")
        await li.presses("跳过")
        assert "替换了你之前的答案" in (await li.presses("✔ 提交")).text

        # Only admins (and managers of the department it went to) see results.
        assert "你没有权限" in (await wang.says("/survey results 1")).text

        closed = await admin.says("/survey close 1")
        assert "问卷 #1「搬家后回访」已结束" in closed.text
        late = await wang.presses("📝 填写问卷")
        assert "问卷「搬家后回访」已结束，不再接受回答。" in late.text

        # The export, as the admin gets it: a spreadsheet, and the same as CSV.
        rows = await exported(admin, "xlsx")
        assert rows == await exported(admin, "csv")
        assert "你没有权限" in (await wang.says("/survey export 1")).text
    finally:
        await restarted.stop()

    async with db.unit_of_work() as session:
        survey = await session.get(Survey, 1)
        assert survey is not None and survey.token_key is None  # erased on closing
        responses = (await session.scalars(select(SurveyResponse))).all()
        names = {(await session.get(Person, r.person_id)).display_name: r.answers for r in responses}  # type: ignore[union-attr]
        assert names == {
            "小王": {"overall": 4, "recommend": 9, "missing": ["network", "chairs"], "words": "网络太慢"},
            "小李": {"overall": 1, "recommend": 0, "missing": ["phone"]},
            "小赵": {"overall": 2, "recommend": 3, "missing": ["network"], "words": "椅子不够"},
        }
        refused = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "survey.answer"))).all()
        assert [entry.outcome for entry in refused].count("refused") == 1
    assert rows[0] == [
        "填写人",
        "部门",
        "日期",
        "overall: 整体满意吗？",
        "recommend: 会推荐给同事吗？",
        "missing: 还缺什么？",
        "words: 还想说什么？",
    ]
    assert sorted(tuple(row[:2] + row[3:]) for row in rows[1:]) == sorted(
        [
            ("小王", "财务处", "4", "9", "网络; 椅子", "网络太慢"),
            ("小李", "财务处", "1", "0", "电话", ""),
            ("小赵", "财务处", "2", "3", "网络", "椅子不够"),
        ]
    )


async def exported(admin: TelegramPerson, kind: str) -> list[list[str]]:
    """Ask for the export in the chat and read the document Houqin sends (openpyxl for XLSX)."""
    heard = await admin.says(f"/survey export 1 {kind}")
    assert heard.texts[0] == f"问卷 #1 的答案已导出：survey-1.{kind}"
    document = next(m for m in heard.messages if m.kind == "document")
    assert document.file is not None and document.file.filename == f"survey-1.{kind}"
    if kind == "csv":
        return [row for row in csv.reader(io.StringIO(document.file.data.decode("utf-8-sig")))]
    sheet = load_workbook(io.BytesIO(document.file.data)).active
    assert sheet is not None
    return [["" if cell is None else str(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_an_anonymous_survey_keeps_no_trace_of_who_answered(
    db: Database,
    bot_api: FakeBotAPI,
    telegram: Service,
    finance: dict[str, TelegramPerson],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Everything Houqin logs at its most talkative (LOG_LEVEL=DEBUG, as `houqin run` sets it up).
    caplog.set_level(logging.DEBUG)
    quieten_transport()
    admin, wang, li, zhao = (finance[k] for k in ("admin", "wang", "li", "zhao"))
    await import_and_launch(admin, anonymous=True)
    invitation = wang.latest("📋 新问卷")
    assert (invitation.text or "").startswith("📋 新问卷：搬家后回访（匿名，4 道题），")
    intro = await wang.presses("📝 填写问卷")
    assert "🔒 这是匿名问卷：答案不会和你的名字或账号关联" in intro.text
    caplog.clear()

    secrets_said = {"wang": "食堂的秘密意见甲", "li": "宿舍的秘密意见乙", "zhao": "会议室的秘密意见丙"}
    await wang.presses("▶ 开始")
    await wang.presses("5")
    await wang.presses("10")
    await wang.presses("网络")
    await wang.presses("✔ 选好了")
    confirm = await wang.says(secrets_said["wang"])
    # Nothing of the answers is repeated back (replies are kept with the delivery record).
    assert confirm.texts[0] == "4 道题都答完了。这是匿名问卷：答案不会和你关联。"
    assert "匿名答案已收到" in (await wang.presses("✔ 提交")).text
    assert "谢谢" in await answer_all(li, "3", "6", ["电话", "椅子"], secrets_said["li"])

    await zhao.presses("📝 填写问卷")
    await zhao.presses("▶ 开始")
    await zhao.presses("1")
    await telegram.stop()
    restarted = build_service(telegram_settings(db, bot_api))
    await restarted.start()
    try:
        await zhao.presses("8")
        await zhao.presses("椅子")
        await zhao.presses("✔ 选好了")
        await zhao.says(secrets_said["zhao"])
        assert "谢谢" in (await zhao.presses("✔ 提交")).text
        # Answering again replaces, still counted once, still without a name.
        await li.presses("📝 填写问卷")
        await li.presses("▶ 开始")
        await li.presses("4")
        await li.presses("7")
        await li.presses("电话")
        await li.presses("✔ 选好了")
        await li.says(secrets_said["li"])
        assert "替换了你之前的答案" in (await li.presses("✔ 提交")).text
        results = (await admin.says("/survey results 1")).text
        rows = await exported(admin, "xlsx")
    finally:
        await restarted.stop()
    log_lines = [record.getMessage() for record in caplog.records]

    assert "回答：3/6 人（50%）" in results and "平均 3.3 分（3 人回答）" in results
    assert "NPS 33（3 人回答）" in results  # 10, 7, 8: one promoter, two passives, no detractor
    for said in secrets_said.values():
        assert f"· {said}\n" in results + "\n" and f"{said} ——" not in results

    async with db.unit_of_work() as session:
        respondents = [
            await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == str(p.user.user_id)))
            for p in (wang, li, zhao)
        ]
        people = [account.person for account in respondents if account is not None]
        identifiers = (
            {p.display_name for p in people}
            | {a.external_id for a in respondents if a}
            | {str(a.address) for a in respondents if a}
        )
        person_ids = {p.id for p in people}

        dialogs = {
            d.id: d
            for d in (await session.scalars(select(DialogState).where(DialogState.person_id.in_(person_ids)))).all()
        }

        # 1. Every row of every table: the words they wrote are in survey_responses, which holds nothing
        #    that names anyone, and otherwise only in what the admin was shown (their results).
        holding: dict[str, int] = {}
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(table.select())).mappings():
                # Words only (names, external ids, what was said); numbers and times are compared whole.
                values = {k: v for k, v in row.items() if isinstance(v, str | dict | list)}
                linked = {
                    k for k, v in row.items() if k.endswith(("person_id", "actor_id", "author_id")) and v in person_ids
                }
                dumped = json.dumps(values, default=str, ensure_ascii=False)
                if table.name == "survey_responses":
                    # The token is random-looking hex: it is compared whole (a 4-digit id may turn up in it).
                    assert row["person_id"] is None and row["token"] not in identifiers
                    rest = json.dumps(
                        {k: v for k, v in values.items() if k != "token"}, default=str, ensure_ascii=False
                    )
                    assert not names_anyone(rest, identifiers), rest
                if any(said in dumped for said in secrets_said.values()) and table.name != "survey_responses":
                    assert not linked and not names_anyone(dumped, identifiers), dumped
                if any(said in dumped for said in secrets_said.values()):
                    holding[table.name] = holding.get(table.name, 0) + 1
                    if table.name == "processed_deliveries":
                        assert row["outcome"]["dialog_id"] not in dialogs
                        assert row["outcome"]["replies"][0]["text"].startswith("📊 #1")
        assert holding == {"survey_responses": 3, "processed_deliveries": 1}

        # 2. The delivery records of their answers echo no choice and name no dialog (nor, by their
        #    key or time, anyone); their dialogs are empty again.
        assert all(d.flow is None and d.data == {} for d in dialogs.values())
        deliveries = (await session.scalars(select(ProcessedDelivery))).all()
        assert not [d for d in deliveries if d.outcome.get("dialog_id") in dialogs and d.outcome.get("discreet")]
        discreet = [d for d in deliveries if d.outcome.get("discreet")]
        assert len(discreet) >= 15
        assert all(d.outcome == {"replies": [], "discreet": True} for d in discreet)
        assert all(d.at.time() == d.replied_at.time() == datetime.min.time() for d in discreet if d.replied_at)

        # 3. No audit line and no message was written about anyone's answering.
        assert (await session.scalars(select(AuditEntry).where(AuditEntry.action == "survey.answer"))).all() == []
        to_them = (await session.scalars(select(OutboxMessage).where(OutboxMessage.person_id.in_(person_ids)))).all()
        assert all("survey.invite" in json.dumps(m.body) for m in to_them)

        # 4. The export has no respondent column and no identifier.
        assert rows[0][0] == "日期" and len(rows) == 4
        flat = json.dumps(rows, ensure_ascii=False)
        assert not names_anyone(flat, identifiers)

    # 5. No log line written while they answered names them or repeats what they said.
    for name in TRANSPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    telling = [*identifiers, *secrets_said.values()]
    assert [line for line in log_lines if names_anyone(line, telling)] == []


async def test_an_admin_writes_a_survey_in_the_chat(telegram: Service, finance: dict[str, TelegramPerson]) -> None:
    admin, wang = finance["admin"], finance["wang"]
    assert "你没有权限" in (await wang.says("/survey new")).text

    assert "问卷标题，中文和英文用 / 隔开" in await admin.says("/survey new")
    assert "请用 / 把中文和英文隔开" in await admin.says("保洁回访")
    await admin.says("保洁回访 / Cleaning follow-up")
    assert "第一道题是什么题型？" in await admin.presses("实名")
    await admin.presses("⭐ 1–5 分评分")
    kinds = await admin.says("打扫得干净吗？ / Was it clean?")
    assert "已有 1 道题。下一道是什么题型？" in kinds.text
    assert "✔ 完成" in [b["text"] for b in kinds.messages[-1].buttons]
    await admin.presses("🔘 单选")
    await admin.says("哪一层？ / Which floor?")
    assert "请写 2 到 10 个选项" in await admin.says("一楼 / Ground floor")
    await admin.says("一楼 / Ground floor\n二楼 / First floor")
    await admin.presses("✏ 文字（选答）")
    await admin.says("还有什么？ / Anything else?")
    summary = await admin.presses("✔ 完成")
    assert summary.texts[0] == (
        "问卷「保洁回访」（实名）\n"
        "第 1 题：打扫得干净吗？ · ⭐ 1–5 分评分\n"
        "第 2 题：哪一层？ · 🔘 单选\n"
        "第 3 题：还有什么？ · ✏ 文字（选答）"
    )
    saved = await admin.presses("✔ 提交")
    assert "已导入问卷 #1「保洁回访」（实名，3 道题），尚未发布。" in saved.text
    launched = await admin.says("/survey launch 1 dept:finance")
    assert "共 6 人" in launched.text
    await wang.presses("📝 填写问卷")
    await wang.presses("▶ 开始")
    await wang.presses("5")
    assert "第 3/3 题：还有什么？" in await wang.presses("二楼")

"""Surveys and the suggestion box in the browser chat, in English: a template launched to Academic
Affairs, answers given (and refused: forged, out of range, a person it was not sent to), the results
a manager of that department may see; and a suggestion answered by the office."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from storage.db import Database
from storage.models import SurveyDraft, SurveyResponse
from tests.dialog.web_person import WebPerson


async def invitation(who: WebPerson, fragment: str) -> dict[str, str]:
    """The button on the newest notice containing `fragment` in this person's inbox."""
    for notice in reversed(await who.inbox()):
        if fragment in notice["text"]:
            return notice["buttons"][0][0]  # type: ignore[no-any-return]
    raise AssertionError(f"no notice with {fragment!r}")


async def answers_cleaning_in_chinese(who: WebPerson, words: str) -> str:
    """The cleaning template answered from its invitation (4, 5, 卫生间, the words); what submitting said."""
    await who.presses_payload((await invitation(who, "新问卷"))["payload"])
    for label in ("▶ 开始", "4", "5", "卫生间", "✔ 选好了"):
        await who.presses(label)
    await who.says(words)
    return (await who.presses("✔ 提交")).text


async def drafts(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(SurveyDraft)) or 0)


async def responses(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(SurveyResponse)) or 0)


async def test_a_template_survey_answered_in_the_browser(db: Database, person: Callable[[str], WebPerson]) -> None:
    admin, liu, chen, ma, emma = (person(k) for k in ("admin", "liu.yang", "chen.jing", "ma.hong", "emma.clark"))
    await admin.says("/lang")
    await admin.presses("English")
    listed = await admin.says("/survey templates")
    assert "Survey templates: after_move, canteen, cleaning, quarterly" in listed.text
    imported = await admin.says("/survey import cleaning")
    assert imported.texts == [
        "Imported survey #1 “Cleaning services survey” (anonymous, 4 questions); not launched yet.\n"
        "Launch it: /survey launch 1 <audience> [days]"
    ]
    shown = await admin.says("/survey show 1")
    assert shown.texts[0].startswith(
        "📋 #1 Cleaning services survey (anonymous, draft)\n1. ⭐ Rating 1–5: How clean are the offices?"
    )
    assert "3. ☑ Multiple choice: Which places need more cleaning? (choose any)\n   Offices / Restrooms /" in shown.text
    assert "4. ✏ Text (optional): Other comments or suggestions" in shown.text
    assert "Usage: /survey launch" in (await admin.says("/survey launch 1")).text
    launched = await admin.says("/survey launch 1 dept:teaching 3")
    assert "launched to departments Academic Affairs: 3 people, 3 of them reachable now." in launched.text

    # 刘洋 reads Chinese; Emma (IT) was not asked. It waits for him under /my, and under /survey.
    mine = await liu.says("/my")
    assert "📋 待填问卷（1）：\n· #1 保洁服务满意度调查 · " in mine.text
    assert mine.labels == ["📝 填写：保洁服务满意度调查"]  # answered from /my too, as from the invitation
    assert "🔒 这是匿名问卷" in await liu.presses("📝 填写：保洁服务满意度调查")
    await liu.says("/cancel")
    assert (await liu.says("/survey")).labels == ["保洁服务满意度调查"]
    assert "No surveys are waiting for you." in (await emma.says("/survey")).text
    button = await invitation(liu, "新问卷")
    intro = await liu.presses_payload(button["payload"])
    assert "🔒 这是匿名问卷" in intro.text
    first = await liu.presses("▶ 开始")
    assert first.texts[0].startswith("第 1/4 题：办公室的清洁程度如何？")
    # A made-up value for the 1–5 question, and a typed one out of range: refused, nothing kept.
    version = first.buttons[0][0]["payload"].split(":")[0]
    forged = await liu.presses_payload(f"{version}:9")
    assert forged.texts[0] == "⚠️ 这个选项不可用，请从下面的按钮中选择。"
    assert (await liu.says("6")).texts[0] == "⚠️ 请回答 1 到 5 之间的整数。"
    assert await responses(db) == 0
    await liu.presses("4")
    await liu.presses("5")
    await liu.presses("卫生间")
    await liu.presses("✔ 选好了")
    await liu.presses("跳过")
    assert "匿名答案已收到" in (await liu.presses("✔ 提交")).text
    assert "待填问卷" not in (await liu.says("/my")).text

    # 陈静 answers two questions, cancels to do something else, and later carries on from the third.
    await chen.presses_payload((await invitation(chen, "新问卷"))["payload"])
    await chen.presses("▶ 开始")
    await chen.presses("2")
    await chen.presses("2")
    await chen.says("/cancel")
    again = await chen.presses_payload((await invitation(chen, "新问卷"))["payload"])
    assert "上次已答完 2 道题，接着往下答。" in again.text
    assert (await chen.presses("▶ 开始")).texts[0].startswith("第 3/4 题：")

    for colleague, stars in ((chen, None), (ma, "3")):
        if stars is not None:
            await colleague.presses_payload((await invitation(colleague, "新问卷"))["payload"])
            await colleague.presses("▶ 开始")
            await colleague.presses(stars)
            await colleague.presses(stars)
        await colleague.presses("走廊楼梯")
        await colleague.presses("✔ 选好了")
        await colleague.says("楼梯扶手很久没擦了")
        assert "谢谢" in (await colleague.presses("✔ 提交")).text

    refused = await emma.presses_payload("sv:1:answer")
    assert refused.texts == ["This survey was not sent to you."]
    assert await responses(db) == 3

    # 马红 manages Academic Affairs, the only department it went to: she may see the results.
    results = await ma.says("/survey results 1")
    assert "回答：3/3 人（100%）" in results.text and "平均 3.0 分（3 人回答）" in results.text
    assert "楼梯扶手很久没擦了" in results.text
    assert "You may not do that" in (await emma.says("/survey results 1")).text
    assert "Answered: 3 of 3 (100%)" in (await admin.says("/survey results 1")).text

    # The week's satisfaction picture: these six ratings (no repair was rated); a chart comes with it.
    picture = await admin.says("/survey satisfaction")
    assert "average 3.2 (ratings: 6; repairs 0, surveys 6) · NPS —" in picture.text
    assert "平均 3.2（6 个评分：报修 0，问卷 6）" in (await ma.says("/survey satisfaction")).text
    assert "You may not do that" in (await emma.says("/survey satisfaction")).text


async def test_a_named_suggestion_answered_by_the_office(person: Callable[[str], WebPerson]) -> None:
    emma, lin = person("emma.clark"), person("lin.hua")  # 林华 is a logistics admin
    assert "what is your suggestion about?" in (await emma.says("/suggest")).text
    await emma.presses("Facilities")
    await emma.says("The lift in building A is too slow in the morning")
    await emma.presses("Skip")
    await emma.presses("👤 With my name")
    await emma.presses("🔐 Only the logistics office")
    assert "Suggestion #1 is in." in (await emma.presses("✔ Submit")).text

    card = next(n for n in await lin.inbox() if n["text"].startswith("💡 建议 #1"))
    assert "署名：Emma Clark" in card["text"] and "🔐 只给后勤" in card["text"]
    inbox = await lin.says("/suggest inbox")
    assert "#1 · 设施 · 已收到" in inbox.text
    await lin.presses("💬 回复 #1")
    await lin.says("已联系电梯公司检修")
    reply = next(n for n in await emma.inbox() if "replied to your suggestion #1" in n["text"])
    assert reply["text"].endswith("已联系电梯公司检修")
    assert "Only" not in (await lin.says("/suggest status 1 review")).text
    assert "is now: under review" in next(n["text"] for n in reversed(await emma.inbox()) if "is now" in n["text"])
    # Typed, "adopted" asks what was done, as the button does: that is what the suggester is told.
    assert "采纳后做了什么" in await lin.says("/suggest status 1 adopted")
    assert "建议 #1 已标记为：已采纳。" in await lin.says("早高峰加开一部电梯")
    told = next(n["text"] for n in reversed(await emma.inbox()) if "is now" in n["text"])
    assert "早高峰加开一部电梯" in told
    # Private suggestions are not listed for colleagues, and cannot be upvoted.
    assert "No shared suggestions yet" in (await emma.says("/suggest list")).text
    assert "You may not do that." in (await emma.presses_payload("sg:1:vote")).text


async def test_a_survey_closed_while_someone_answers_keeps_nothing(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    admin, liu = person("admin"), person("liu.yang")
    await admin.says("/survey import after_move")
    await admin.says("/survey launch 1 dept:teaching")
    await liu.presses_payload((await invitation(liu, "新问卷"))["payload"])
    await liu.presses("▶ 开始")
    await liu.presses("5")
    await liu.presses("全部到位")
    assert await drafts(db) == 1  # what 刘洋 has answered so far, to carry on from
    assert "问卷 #1「搬迁后回访」已结束" in (await admin.says("/survey close 1")).text
    assert await drafts(db) == 0  # gone with the survey's key
    await liu.says('=HYPERLINK("http://example.com")')
    refused = await liu.presses("✔ 提交")
    assert refused.texts[0].startswith("问卷「搬迁后回访」已结束，不再接受回答。")
    assert await responses(db) == 0
    assert "问卷「搬迁后回访」已结束" in (await liu.presses_payload("sv:1:answer")).text
    assert "已经发布过了" in (await admin.says("/survey launch 1 everyone")).text
    assert "找不到问卷 #9" in (await admin.says("/survey results 9")).text

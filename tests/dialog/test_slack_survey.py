"""A survey in Slack: imported by an admin from a modal's file input, launched to Finance, answered
page by page in a modal from the invitation card in the DM; the same rules as every channel."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from sqlalchemy import select

from bot.channels.registry import quieten_transport
from bot.channels.slack.channel import submission_key
from handlers.core import keys
from handlers.core.discreet import sealed_key
from storage.db import Database
from storage.models import ProcessedDelivery, SurveyResponse
from tests.dialog.slack_person import SlackPerson
from tests.dialog.test_slack_repair import linked
from tests.dialog.test_surveys_telegram import YAML_MIME, definition
from tests.dialog.traces import logged, tables_holding


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_a_named_survey_answered_in_a_modal_from_its_invitation(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    admin, wang = slack_user("UADMIN", "管理员"), slack_user("UWANG", "王芳")
    await linked(admin, wang, "wang.fang")

    await admin.slash("/houqin", "survey import")
    await admin.attaches(definition(anonymous=False), name="survey.yml", mimetype=YAML_MIME)
    assert "已导入问卷 #1「搬家后回访」（实名，4 道题）" in admin.dm[-1].shown, admin.dm[-1].shown
    await admin.slash("/houqin", "survey launch 1 dept:finance 7")
    assert "已发布给部门 财务处" in admin.dm[-1].shown

    invitation = wang.latest("📋 新问卷")
    assert [b["text"]["text"] for b in invitation.buttons] == ["📝 填写问卷"]
    await wang.presses("📝 填写问卷")
    assert "👤 这是实名问卷" in wang.page
    await wang.chooses("▶ 开始")
    assert "第 1/4 题：整体满意吗？" in wang.page and wang.options() == ["1", "2", "3", "4", "5"]
    await wang.chooses("4")
    await wang.chooses("9")
    await wang.chooses("网络")
    await wang.chooses("椅子")
    await wang.chooses("✔ 选好了")
    assert "第 4/4 题：还想说什么？" in wang.page
    await wang.types("网络太慢")
    assert "→ 网络、椅子" in wang.page and "→ 网络太慢" in wang.page
    await wang.submits()
    assert "谢谢！你对「搬家后回访」的答案已收到。" in wang.dm[-1].shown
    async with db.unit_of_work() as session:
        [response] = (await session.scalars(select(SurveyResponse))).all()
    assert response.answers == {"overall": 4, "recommend": 9, "missing": ["network", "chairs"], "words": "网络太慢"}


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_an_anonymous_answer_from_slack_leaves_its_words_only_in_the_response(
    db: Database, slack_user: Callable[..., SlackPerson], caplog: pytest.LogCaptureFixture
) -> None:
    """Slack's own layers (Bolt, slack_sdk, the delivery keys of modal pages) keep the promise too."""
    caplog.set_level(logging.DEBUG)
    quieten_transport()
    admin, wang = slack_user("UADMIN", "管理员"), slack_user("UWANG", "王芳")
    await linked(admin, wang, "wang.fang")
    await admin.slash("/houqin", "survey import")
    await admin.attaches(definition(anonymous=True), name="survey.yml", mimetype=YAML_MIME)
    await admin.slash("/houqin", "survey launch 1 dept:finance 7")
    await wang.presses("📝 填写问卷")
    assert "🔒 这是匿名问卷" in wang.page
    caplog.clear()

    secret = "食堂的秘密意见丁"
    await wang.chooses("▶ 开始")
    await wang.chooses("5")
    await wang.chooses("10")
    await wang.chooses("网络")
    await wang.chooses("✔ 选好了")
    await wang.types(secret)
    assert secret not in wang.page  # nothing of the answers is repeated back
    await wang.submits()
    assert "匿名答案已收到" in wang.dm[-1].shown
    log_lines = logged(caplog)
    async with db.unit_of_work() as session:
        [response] = (await session.scalars(select(SurveyResponse))).all()
    assert await tables_holding(db, secret) == {"survey_responses"} and response.person_id is None
    assert [line for line in log_lines if secret in line or "UWANG" in line] == []

    # The pages' delivery keys cannot be recomputed from the server key to test a guessed answer:
    # an anonymous page is keyed with the process's own salt, which no database holds (and kept
    # sealed, as every discreet delivery is: handlers/core/discreet.py).
    async with db.unit_of_work() as session:
        stored = set((await session.scalars(select(ProcessedDelivery.key))).all())
        server_key = await keys.server_key(session)
        from_server_key = keys.derive(server_key, "slack-submission")
    anonymous_pages = [view for view in wang.submitted if json.loads(view["private_metadata"]).get("d")]
    assert len(anonymous_pages) == 7  # from ▶ 开始 to the submission
    for view in anonymous_pages:
        page_key = await wang.world.channel.page_key(view, json.loads(view["private_metadata"]))
        assert page_key not in stored and sealed_key(server_key, "slack", page_key) in stored
        guessed = submission_key(view, from_server_key)
        assert guessed not in stored and sealed_key(server_key, "slack", guessed) not in stored


async def test_a_suggestion_with_a_photo_from_slack(db: Database, slack_user: Callable[..., SlackPerson]) -> None:
    from storage.models import Suggestion
    from tests.dialog.telegram_person import PNG_BYTES

    wang = slack_user("UWANG", "小王")
    await wang.slash("/suggest")
    assert "想就哪方面提建议？" in wang.page
    await wang.chooses("食堂")
    await wang.types("希望食堂每周增加一次川菜")
    await wang.attaches(PNG_BYTES)
    await wang.chooses("🔒 匿名")
    await wang.chooses("📢 公开")
    assert "附照片 1 张" in wang.page and "🔒 匿名 · 📢 公开" in wang.page
    await wang.submits()
    assert "谢谢！你的建议 #1 已提交。" in wang.dm[-1].shown
    async with db.unit_of_work() as session:
        suggestion = await session.get(Suggestion, 1)
        assert suggestion is not None and suggestion.author_id is None

"""A ticket's life in WeCom: the technician's template card changed in place as he accepts, starts
and resolves it (update_template_card with the code of his press), and the reporter's rating from
the stars on hers."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from storage.db import Database
from storage.models import Ticket
from tests.dialog.chat_person import linked, report_leak
from tests.dialog.wecom_person import WeComPerson


async def test_a_leak_from_report_to_rating_all_in_wecom(db: Database, wecom_user: Callable[..., WeComPerson]) -> None:
    admin, sun, wang = wecom_user("admin", "管理员"), wecom_user("SunQiang", "孙强"), wecom_user("WangXiao", "小王")
    await linked(admin, sun, "sun.qiang")

    number = await report_leak(wang)
    # The plumber's card: a template card with the ticket's words and buttons.
    card = sun.latest(number)
    assert card.shown.startswith(f"🔧 {number} · 给排水 · 较急") and card.shown.endswith("状态：已分派")
    assert card.labels == ["✔ 接单", "✖ 拒绝", "💬 留言"]

    await sun.presses("✔ 接单")
    # The same card, changed in place with the code of his press.
    assert card.shown.endswith("状态：已接单") and card.edits == 1
    assert card.labels == ["▶ 开始维修", "✖ 拒绝", "💬 留言"]
    await sun.presses("▶ 开始维修")
    assert card.shown.endswith("状态：维修中")
    await sun.presses("✅ 已修好")
    await sun.writes("已更换阀芯")
    await sun.presses("跳过")
    # Nothing left to press: the card's buttons give way to its new state, its words come anew.
    assert (card.replaced, card.labels) == ("状态：已修好待确认", [])
    assert sun.said.startswith(f"🔧 {number}") and sun.said.endswith("状态：已修好待确认")
    # His answer in words retired the question's buttons too.
    assert sun.latest("简单说明做了什么").labels == []

    resolved = wang.latest("已修好")
    assert resolved.labels == ["★", "★★", "★★★", "★★★★", "★★★★★"]
    await wang.presses("★★★★★")
    await wang.presses("跳过")
    assert "谢谢你的反馈" in wang.said

    async with db.unit_of_work() as session:
        closed = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert closed is not None and (closed.status, closed.rating) == ("closed", 5)
        assert closed.assignee is not None and closed.assignee.display_name == "孙强"

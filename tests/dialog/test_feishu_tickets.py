"""A ticket's life in Feishu: the technician's card patched in place (PATCH im/v1/messages/{id})
as he accepts, starts and resolves it, and the reporter's rating from the stars on her card."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from storage.db import Database
from storage.models import Ticket
from tests.dialog.card_person import linked, report_leak
from tests.dialog.feishu_person import FeishuPerson


async def test_a_leak_from_report_to_rating_all_in_feishu(
    db: Database, feishu_user: Callable[..., FeishuPerson]
) -> None:
    admin, sun, wang = feishu_user("ou_admin", "管理员"), feishu_user("ou_sun", "孙强"), feishu_user("ou_wang", "小王")
    await linked(admin, sun, "sun.qiang")

    number = await report_leak(wang)
    # The plumber's card is an interactive card in his chat, with the card's buttons.
    card = sun.latest(number)
    assert "状态：已分派" in card.shown
    assert card.labels == ["✔ 接单", "✖ 拒绝", "💬 留言"]

    await sun.presses("✔ 接单")
    # The same message, patched in place.
    assert "状态：已接单" in card.shown and card.edits >= 1
    assert [m for m in sun.chat if number in m.shown and m is not card] == []
    await sun.presses("▶ 开始维修")
    await sun.presses("✅ 已修好")
    await sun.writes("已更换阀芯")
    await sun.presses("跳过")
    assert "状态：已修好" in card.shown

    resolved = wang.latest("已修好")
    assert resolved.labels == ["★", "★★", "★★★", "★★★★", "★★★★★"]
    await wang.presses("★★★★★")
    await wang.presses("跳过")
    assert "谢谢你的反馈" in wang.said

    async with db.unit_of_work() as session:
        closed = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert closed is not None and (closed.status, closed.rating) == ("closed", 5)
        assert closed.assignee is not None and closed.assignee.display_name == "孙强"

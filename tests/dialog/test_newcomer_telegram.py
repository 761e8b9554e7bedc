"""What a newcomer who has read nothing does first in Telegram: says hello, looks for a menu, reports
a repair without a photo and checks on it."""

from __future__ import annotations

from collections.abc import Callable

from tests.dialog.telegram_person import TelegramPerson


async def test_a_hello_or_menu_gets_the_welcome_not_a_shrug(telegram_user: Callable[..., TelegramPerson]) -> None:
    zhou = telegram_user(7301, "小周")
    hello = await zhou.says("你好！")
    assert hello.texts == [
        "你好，小周！我是后勤助手。\n我可以帮你报修、申领办公用品、查看你的申请进度。请选择要办的事："
    ]
    assert [b["text"] for b in hello.messages[0].buttons] == ["报修", "物资申领", "我的申请", "帮助"]
    assert (await zhou.says("/menu")).texts == hello.texts
    # Words that are not a greeting still get the honest answer, with the same way out.
    assert "抱歉，我没看懂" in await zhou.says("我的电脑")

    amy = telegram_user(7302, "Amy", "en")
    assert (await amy.says("Hello")).text.startswith("Hello, Amy! I'm Houqin, the logistics assistant.")


async def test_a_repair_without_photos_says_none_and_my_counts_in_the_singular(
    telegram_user: Callable[..., TelegramPerson],
) -> None:
    amy = telegram_user(7303, "Amy", "en")
    await amy.says("/repair")
    await amy.presses("Furniture")
    await amy.presses("Teaching Building")
    await amy.presses("Not listed")
    await amy.says("Room 118")
    await amy.says("The cupboard door is off its hinge")
    await amy.presses("Skip")
    summary = await amy.presses("Low")
    assert "Photos: none" in summary
    await amy.presses("✔ Submit")
    mine = await amy.says("/my")
    assert mine.text.startswith("You have 1 open request:\nR-")

"""What a person does in any chat channel where commands are typed and buttons pressed by their label
(Feishu, DingTalk, WeCom), and the conversations several tests of those channels begin with.

    await linked(admin, sun, "sun.qiang")   # an admin joins sun's account to a demo person
    number = await report_leak(wang)        # a leak reported in Chinese, its ticket number
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

TICKET = re.compile(r"R-\d{4}-\d{6}")
REQUISITION = re.compile(r"S-\d{4}-\d{6}")


class Shown(Protocol):
    @property
    def shown(self) -> str: ...


class Message(Shown, Protocol):
    @property
    def labels(self) -> list[str]: ...


M = TypeVar("M", bound=Message)


class Reads(Generic[M]):
    """What a person sees in their chat with the bot: `chat` is the channel's, the rest shared."""

    name: str

    @property
    def chat(self) -> Sequence[M]:
        raise NotImplementedError

    @property
    def said(self) -> str:
        """The newest message's words."""
        assert self.chat, f"nothing was said to {self.name}"
        return self.chat[-1].shown

    def latest(self, fragment: str) -> M:
        for message in reversed(self.chat):
            if fragment in message.shown:
                return message
        raise AssertionError(f"{self.name} never saw {fragment!r}; chat: {[m.shown for m in self.chat]}")

    def buttons_on_screen(self) -> list[str]:
        return [label for message in self.chat for label in message.labels]


class ChatPerson(Protocol):
    @property
    def account(self) -> str:
        """How an admin names their account: feishu:ou_…, dingtalk:<userId>, wecom:<UserID>."""
        ...

    @property
    def said(self) -> str: ...

    def latest(self, fragment: str) -> Shown: ...

    async def writes(self, text: str) -> Any: ...

    async def presses(self, label: str) -> Any: ...

    async def sends_image(self, content: bytes) -> Any: ...


async def linked(admin: ChatPerson, who: ChatPerson, web_account: str) -> None:
    """An admin joins someone's chat account to a person of the demo organisation (their browser account)."""
    await who.writes("/start")
    await admin.writes(f"/link {who.account} web:{web_account}")
    assert f"已将 {who.account} 关联到" in admin.said, admin.said


async def report_leak(who: ChatPerson, description: str = "三楼卫生间洗手池下面漏水") -> str:
    """A leak reported from 报修 to its ticket number."""
    await who.writes("报修")
    for label in ("给排水", "教学楼", "301 三楼卫生间"):
        await who.presses(label)
    await who.writes(description)
    await who.presses("跳过")
    await who.presses("较急")
    await who.presses("✔ 提交")
    number = TICKET.search(who.latest("报修已提交").shown)
    assert number is not None, who.said
    return number.group()


async def request_batteries(who: ChatPerson, approver: str = "黄丽") -> str:
    """Five AA batteries for the meeting room's remote, from 领用 to the requisition's number."""
    await who.writes("领用")
    await who.writes("电池")  # words where the categories are offered search the catalog
    await who.presses("5 号电池")
    await who.writes("5")
    await who.presses("✔ 选好了")
    await who.writes("会议室遥控器")
    assert approver in who.latest("请确认物资申领").shown  # the confirmation names who will approve
    await who.presses("✔ 提交")
    number = REQUISITION.search(who.latest("已为你预留").shown)
    assert number is not None, who.said
    return number.group()


async def suggest_anonymously(who: ChatPerson, picture: bytes) -> None:
    """An anonymous, public suggestion about the canteen, with a picture."""
    await who.writes("/suggest")
    assert "想就哪方面提建议？" in who.said
    await who.presses("食堂")
    await who.writes("希望食堂每周增加一次川菜")
    await who.sends_image(picture)
    await who.presses("🔒 匿名")
    await who.presses("📢 公开")
    summary = who.latest("附照片").shown
    assert "附照片 1 张" in summary and "🔒 匿名 · 📢 公开" in summary
    await who.presses("✔ 提交")
    assert "谢谢！你的建议 #1 已提交。" in who.latest("谢谢").shown

"""What a person does in any chat channel where commands are typed and buttons pressed by their label
(Feishu, DingTalk), and the conversations several tests of those channels begin with."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar

TICKET = re.compile(r"R-\d{4}-\d{6}")


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
        """How an admin names their account: feishu:ou_…, dingtalk:<userId>."""
        ...

    @property
    def said(self) -> str: ...

    def latest(self, fragment: str) -> Shown: ...

    async def writes(self, text: str) -> Any: ...

    async def presses(self, label: str) -> Any: ...


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

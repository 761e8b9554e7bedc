"""What a person does the same way in every chat app that shows Houqin's questions as cards with
buttons and takes commands typed as words (Feishu, WeCom): the helpers their tests share.

    await linked(admin, sun, "sun.qiang")   # an admin joins sun's account to a demo person
    number = await report_leak(wang)        # a leak reported in Chinese, its ticket number
"""

from __future__ import annotations

import re
from typing import Generic, Protocol, TypeVar

TICKET = re.compile(r"R-\d{4}-\d{6}")


class Shown(Protocol):
    @property
    def shown(self) -> str: ...


class OnScreen(Protocol):
    """A message in a chat as a test reads it: its words and the labels of its buttons."""

    @property
    def shown(self) -> str: ...

    @property
    def labels(self) -> list[str]: ...


M = TypeVar("M", bound=OnScreen)


class Sees(Generic[M]):
    """What a person sees in their chat with Houqin, read the same way on every platform: `chat` is the
    platform's messages to them, oldest first."""

    name: str

    @property
    def chat(self) -> list[M]:
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


class CardPerson(Protocol):
    @property
    def account(self) -> str:
        """How /link names their account: feishu:ou_…, wecom:UserID."""
        ...

    @property
    def said(self) -> str: ...

    async def writes(self, text: str) -> object: ...

    async def presses(self, label: str) -> object: ...

    def latest(self, fragment: str) -> Shown: ...


async def linked(admin: CardPerson, who: CardPerson, web_account: str) -> None:
    """An admin joins a chat account to a person of the demo organisation (their browser account)."""
    await who.writes("/start")
    await admin.writes(f"/link {who.account} web:{web_account}")
    assert f"已将 {who.account} 关联到" in admin.said, admin.said


async def report_leak(who: CardPerson, description: str = "三楼卫生间洗手池下面漏水") -> str:
    """A leak in 教学楼 301 reported from the keyword 报修 to its confirmation: the ticket's number."""
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

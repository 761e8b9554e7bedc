"""A person using Houqin in WeCom: messages and card presses encrypted and signed as WeCom sends
them to /wecom/callback in Houqin's ASGI app, and a fake WeCom (tests/fakes/wecom_api.py) holding
what Houqin showed them.

    wang = WeComPerson.of(wecom_world, "WangFang", "王芳")
    await wang.writes("/repair")        # or 报修, or repair: words typed in their chat with the app
    await wang.presses("给排水")         # the newest card button with that label
    await wang.sends_image(PNG_BYTES)   # a picture sent in the chat
    wang.said                           # the words of the newest message
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bot.channels.wecom import WeComChannel
from bot.channels.wecom.callback import Message
from storage.db import Database
from tests.dialog.chat_person import Reads
from tests.dialog.slack_person import delivery_replied, notices_delivered
from tests.fakes.wecom_api import AGENT_ID, CORP_ID, FakeWeCom, WeComMessage, sealed

JSON = dict[str, Any]
_ids = itertools.count(1)


@dataclass
class WeComWorld:
    """Houqin's ASGI app, its WeCom channel and the fake WeCom. Without a channel, Houqin is another
    process (`houqin run`) reached over HTTP: what it did is read from the database."""

    api: FakeWeCom
    channel: WeComChannel | None
    db: Database
    http: httpx.AsyncClient
    channels: tuple[str, ...] = ("wecom",)

    @property
    def wecom(self) -> WeComChannel:
        """The channel, when Houqin runs in this process."""
        assert self.channel is not None, "Houqin runs in another process"
        return self.channel

    async def deliver(self, fields: JSON, *, settle: bool = True, **sealing: Any) -> httpx.Response:
        """One callback as WeCom sends it: `fields` encrypted, signed and POSTed to /wecom/callback."""
        query, body = sealed(fields, **sealing)
        response = await self.http.post(f"/wecom/callback?{query}", content=body)
        if settle and response.status_code == 200:
            await self.settle(fields)
        elif settle and self.channel is not None:
            await self.settle()
        return response

    async def settle(self, fields: JSON | None = None) -> None:
        """Until Houqin has done what the callback started and sent every notice it queued."""
        if self.channel is not None:
            await self.channel.settled()
        elif fields is not None:
            key = WeComChannel.delivery_key(Message({name: str(value) for name, value in fields.items()}))
            await delivery_replied(self.db, "wecom", key)
        await notices_delivered(self.db, self.channels)


def message_fields(userid: str, kind: str, msg_id: int | None = None, **given: Any) -> JSON:
    """A message's XML fields as WeCom writes them, before it encrypts them."""
    return {
        "ToUserName": CORP_ID,
        "FromUserName": userid,
        "CreateTime": int(time.time()),
        "MsgType": kind,
        **given,
        "MsgId": msg_id or 7_000_000_000_000_000 + next(_ids),
        "AgentID": AGENT_ID,
    }


def event_fields(userid: str, event: str, create_time: int | None = None, **given: Any) -> JSON:
    return {
        "ToUserName": CORP_ID,
        "FromUserName": userid,
        "CreateTime": create_time or int(time.time()),
        "MsgType": "event",
        "Event": event,
        **given,
        "AgentID": AGENT_ID,
    }


@dataclass
class WeComPerson(Reads[WeComMessage]):
    world: WeComWorld
    userid: str
    name: str

    @classmethod
    def of(cls, world: WeComWorld, userid: str, name: str) -> WeComPerson:
        world.api.person(userid, name)
        return cls(world, userid, name)

    # --- what they see --------------------------------------------------------------------------

    @property
    def account(self) -> str:
        return f"wecom:{self.userid}"

    @property
    def chat(self) -> list[WeComMessage]:
        return self.world.api.chat_of(self.userid)

    # --- what they do ---------------------------------------------------------------------------

    async def writes(self, text: str, msg_id: int | None = None) -> httpx.Response:
        return await self.world.deliver(message_fields(self.userid, "text", msg_id, Content=text))

    async def sends_image(self, content: bytes) -> httpx.Response:
        media_id = f"media-in-{next(_ids):06d}"
        self.world.api.resources[media_id] = content
        fields = message_fields(self.userid, "image", PicUrl=f"https://wework.qpic.cn/{media_id}", MediaId=media_id)
        return await self.world.deliver(fields)

    async def presses(self, label: str) -> httpx.Response:
        """The newest button with that label in their chat."""
        for message in reversed(self.chat):
            for button in message.buttons:
                if str(button["text"]).startswith(label):
                    return await self.press(message, str(button["key"]))
        raise AssertionError(f"no button {label!r} for {self.name}; buttons: {self.buttons_on_screen()}")

    async def press(self, message: WeComMessage, key: str, create_time: int | None = None) -> httpx.Response:
        """A template_card_event for this card (a forged one: any key of one's own making)."""
        fields = event_fields(
            self.userid,
            "template_card_event",
            create_time,
            EventKey=key,
            TaskId=message.task_id,
            CardType="button_interaction",
            ResponseCode=self.world.api.press_code(message),
        )
        return await self.world.deliver(fields)

    async def taps_menu(self, command: str) -> httpx.Response:
        return await self.world.deliver(event_fields(self.userid, "click", EventKey=command))

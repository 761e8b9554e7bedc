"""A person using Houqin in DingTalk: their messages to the robot as DingTalk delivers them — posted
signed to the webhook route of Houqin's ASGI app, or pushed as frames over the Stream connection the
SDK opened — and a fake open platform (tests/fakes/dingtalk_api.py) holding what the robot sent them.

    li = DingTalkPerson.of(dingtalk_world, "staff_li", "小李")
    await li.writes("/repair")        # or 报修: words typed in their chat with the robot
    await li.presses("给排水")         # the newest button with that label: it sends its answer
    await li.sends_image(PNG_BYTES)   # a picture sent in the chat
    li.said                           # the words of the newest message
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bot.channels.dingtalk import DingTalkChannel
from storage.db import Database
from tests.dialog.chat_person import Reads
from tests.dialog.slack_person import delivery_replied, notices_delivered
from tests.fakes.dingtalk_api import CARD, CARD_TOPIC, CHATBOT_TOPIC, CLIENT_ID, DingTalkMessage, FakeDingTalk, signed

JSON = dict[str, Any]
_ids = itertools.count(1)


@dataclass
class Answer:
    """How DingTalk's delivery was answered: the HTTP status, or the stream acknowledgement's code."""

    status: int
    body: JSON


@dataclass
class DingTalkWorld:
    """Houqin (its webhook route, or its Stream connection), its DingTalk channel and the fake platform.
    Without a channel, Houqin is another process (`houqin run`): what it did is read from the database."""

    api: FakeDingTalk
    channel_in_process: DingTalkChannel | None
    db: Database
    http: httpx.AsyncClient | None = None
    channels: tuple[str, ...] = ("dingtalk",)

    async def deliver(self, message: JSON, *, age: float = 0, secret: str | None = None, settle: bool = True) -> Answer:
        """A robot message as DingTalk delivers it: posted signed to /dingtalk/events, or a frame on the stream."""
        if self.http is None:
            ack = await self.api.push("CALLBACK", CHATBOT_TOPIC, message)
            delivered = Answer(int(ack["code"]), json.loads(ack.get("data") or "{}"))
        else:
            headers = signed(age=age, **({"secret": secret} if secret is not None else {}))
            body = json.dumps(message, ensure_ascii=False).encode()
            response = await self.http.post("/dingtalk/events", content=body, headers=headers)
            delivered = Answer(response.status_code, response.json() if response.content else {})
        if settle and delivered.status == 200:
            await self.settle(message)
        return delivered

    @property
    def channel(self) -> DingTalkChannel:
        """The channel, when Houqin runs in this process."""
        assert self.channel_in_process is not None, "Houqin runs in another process"
        return self.channel_in_process

    async def settle(self, message: JSON | None = None) -> None:
        """Until Houqin has done what the message started and sent every notice it queued."""
        if self.channel_in_process is not None:
            await self.channel_in_process.settled()
        elif message is not None:
            await delivery_replied(self.db, "dingtalk", f"msg:{message['msgId']}")
        await notices_delivered(self.db, self.channels)


@dataclass
class DingTalkPerson(Reads[DingTalkMessage]):
    world: DingTalkWorld
    user_id: str
    name: str

    @classmethod
    def of(cls, world: DingTalkWorld, user_id: str, name: str) -> DingTalkPerson:
        return cls(world, user_id, name)

    @property
    def account(self) -> str:
        return f"dingtalk:{self.user_id}"

    # --- what they see --------------------------------------------------------------------------

    @property
    def chat(self) -> list[DingTalkMessage]:
        return self.world.api.chat_of(self.user_id)

    # --- what they do ---------------------------------------------------------------------------

    def find(self, label: str, message: DingTalkMessage | None = None) -> tuple[DingTalkMessage, str]:
        """The newest button with that label (on this message, if given): where, and what it sends."""
        for shown in [message] if message is not None else reversed(self.chat):
            for text, answer in shown.buttons:
                if text.startswith(label):
                    return shown, answer
        raise AssertionError(f"no button {label!r} for {self.name}; buttons: {self.buttons_on_screen()}")

    def button(self, label: str, message: DingTalkMessage | None = None) -> str:
        return self.find(label, message)[1]

    async def presses(self, label: str, message: DingTalkMessage | None = None) -> Answer:
        """An ActionCard's button makes DingTalk send its answer in their chat, as if typed; a
        template card's calls back over the stream, and DingTalk applies the answer to the card."""
        shown, answer = self.find(label, message)
        if shown.msg_key != CARD:
            return await self.writes(answer)
        content = {"cardPrivateData": {"actionIds": ["press"], "params": {"payload": answer}}}
        callback = {
            "outTrackId": shown.key,
            "corpId": "ding-corp",
            "userId": self.user_id,
            "userIdType": 1,
            "type": "actionCallback",
            "spaceType": "IM_ROBOT",
            "content": json.dumps(content, ensure_ascii=False),
            "extension": "{}",
        }
        ack = await self.world.api.push("CALLBACK", CARD_TOPIC, callback)
        response = json.loads(ack.get("data") or "{}").get("response") or {}
        shown.param.update((response.get("cardData") or {}).get("cardParamMap") or {})
        await self.world.settle()
        return Answer(int(ack["code"]), response)

    async def writes(self, text: str, msg_id: str | None = None) -> Answer:
        return await self.world.deliver(self.message("text", {"text": {"content": text}}, msg_id))

    async def sends_image(self, content: bytes) -> Answer:
        code = f"pic-{next(_ids):06d}"
        self.world.api.files[code] = content
        return await self.world.deliver(self.message("picture", {"content": {"downloadCode": code}}))

    async def sends_file(self, name: str, content: bytes) -> Answer:
        code = f"file-{next(_ids):06d}"
        self.world.api.files[code] = content
        return await self.world.deliver(self.message("file", {"content": {"downloadCode": code, "fileName": name}}))

    def message(self, msgtype: str, content: JSON, msg_id: str | None = None) -> JSON:
        """The robot's message as DingTalk posts it (and as the chatbot topic carries it)."""
        return {
            "conversationId": f"cid-{self.user_id}",
            "chatbotCorpId": "ding-corp",
            "chatbotUserId": "robot-houqin",
            "msgId": msg_id or f"msg{next(_ids):08d}",
            "senderNick": self.name,
            "isAdmin": False,
            "senderStaffId": self.user_id,
            "sessionWebhookExpiredTime": int(time.time() * 1000) + 5400_000,
            "createAt": int(time.time() * 1000),
            "senderCorpId": "ding-corp",
            "conversationType": "1",
            "senderId": f"$:LWCP_v1:${self.user_id}",
            "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=x",
            "robotCode": CLIENT_ID,
            "msgtype": msgtype,
            **content,
        }

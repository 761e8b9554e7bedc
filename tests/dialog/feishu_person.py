"""A person using Houqin in Feishu: events encrypted and signed as Feishu sends them, through the
webhook route into Houqin's ASGI app (or over the SDK's long connection), and a fake Open Platform
(tests/fakes/feishu_api.py) holding the cards Houqin showed them.

    wang = FeishuPerson.of(feishu_world, "ou_wang", "王芳")
    await wang.writes("/repair")        # or 报修: words typed in their chat with the app
    await wang.presses("给排水")         # the newest card button with that label
    await wang.sends_image(PNG_BYTES)   # a picture sent in the chat
    wang.said                           # the words of the newest card
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.channels.feishu import FeishuChannel
from storage.db import Database
from tests.dialog.card_person import Sees
from tests.dialog.slack_person import delivery_replied, notices_delivered
from tests.fakes.feishu_api import APP_ID, ENCRYPT_KEY, VERIFICATION_TOKEN, FakeFeishu, FeishuMessage, encrypted, signed

JSON = dict[str, Any]
_ids = itertools.count(1)


def event_payload(event_type: str, event: JSON, event_id: str | None = None, token: str = VERIFICATION_TOKEN) -> JSON:
    """An event in Feishu's schema 2.0, as its header and body come."""
    header = {
        "event_id": event_id or f"ev_{next(_ids):08d}",
        "token": token,
        "create_time": str(int(time.time() * 1000)),
        "event_type": event_type,
        "tenant_key": "tenant-houqin",
        "app_id": APP_ID,
    }
    return {"schema": "2.0", "header": header, "event": event}


@dataclass
class Answer:
    """How Feishu's request was answered: the status and the body (a card callback's toast and card)."""

    status: int
    body: JSON


@dataclass
class FeishuWorld:
    """Houqin's ASGI app (or its long connection), its Feishu channel and the fake Open Platform.
    Without a channel, Houqin is another process (`houqin run`): what it did is read from the database."""

    api: FakeFeishu
    channel: FeishuChannel | None
    db: Database
    http: httpx.AsyncClient | None = None
    channels: tuple[str, ...] = ("feishu",)

    @property
    def feishu(self) -> FeishuChannel:
        """The channel, when Houqin runs in this process."""
        assert self.channel is not None, "Houqin runs in another process"
        return self.channel

    async def deliver(
        self, payload: JSON, *, age: int = 0, encrypt_key: str = ENCRYPT_KEY, settle: bool = True
    ) -> Answer:
        """One event or callback as Feishu delivers it: posted encrypted and signed to /feishu/events,
        or pushed over the long connection when Houqin runs one."""
        if self.http is None:
            answer = await self.api.push(payload)
            data = json.loads(base64.b64decode(answer["data"])) if answer.get("data") else {}
            delivered = Answer(int(answer.get("code", 0)), data)
        else:
            body = encrypted(payload, encrypt_key)
            response = await self.http.post("/feishu/events", content=body, headers=signed(body, age=age))
            delivered = Answer(response.status_code, response.json() if response.content else {})
        if settle:
            await self.settle(payload)
        return delivered

    async def settle(self, payload: JSON | None = None) -> None:
        """Until Houqin has done what the event started and sent every notice it queued."""
        if self.channel is not None:
            await self.channel.settled()
        elif payload is not None:
            await delivery_replied(self.db, "feishu", delivery_key(payload))
        await notices_delivered(self.db, self.channels)


@dataclass
class FeishuPerson(Sees[FeishuMessage]):
    world: FeishuWorld
    open_id: str
    name: str
    toasts: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, world: FeishuWorld, open_id: str, name: str) -> FeishuPerson:
        world.api.person(open_id, name)
        return cls(world, open_id, name)

    # --- what they see --------------------------------------------------------------------------

    @property
    def account(self) -> str:
        return f"feishu:{self.open_id}"

    @property
    def chat(self) -> list[FeishuMessage]:
        return self.world.api.chat_of(self.open_id)

    # --- what they do ---------------------------------------------------------------------------

    async def writes(self, text: str, event_id: str | None = None) -> Answer:
        return await self._message("text", {"text": text}, event_id)

    async def sends_image(self, content: bytes) -> Answer:
        key = f"img_in_{next(_ids):06d}"
        self.world.api.resources[key] = content
        return await self._message("image", {"image_key": key})

    async def sends_file(self, name: str, content: bytes) -> Answer:
        key = f"file_in_{next(_ids):06d}"
        self.world.api.resources[key] = content
        return await self._message("file", {"file_key": key, "file_name": name})

    async def presses(self, label: str) -> Answer:
        """The newest button with that label in their chat."""
        for message in reversed(self.chat):
            for button in message.buttons:
                if str(button["text"]["content"]).startswith(label):
                    return await self.press(message, button["behaviors"][0]["value"], "button")
        raise AssertionError(f"no button {label!r} for {self.name}; buttons: {self.buttons_on_screen()}")

    async def fills(self, words: str) -> Answer:
        """Words typed into the box on the newest card that has one, and sent."""
        for message in reversed(self.chat):
            for box in message.inputs:
                return await self.press(message, box["behaviors"][0]["value"], "input", typed=words)
        raise AssertionError(f"no card with a box for {self.name}; chat: {[m.shown for m in self.chat]}")

    async def picks(self, label: str) -> Answer:
        """An option of the newest drop-down offering it."""
        for message in reversed(self.chat):
            for menu in message.selects:
                for option in menu["options"]:
                    if str(option["text"]["content"]).startswith(label):
                        value = menu["behaviors"][0]["value"]
                        return await self.press(message, value, "select_static", option=option["value"])
        raise AssertionError(f"no option {label!r} for {self.name}")

    async def press(
        self,
        message: FeishuMessage,
        value: JSON,
        tag: str,
        *,
        option: str | None = None,
        typed: str | None = None,
        event_id: str | None = None,
    ) -> Answer:
        """A card callback for this message (a forged one: any value of one's own making)."""
        action: JSON = {"value": value, "tag": tag}
        if option is not None:
            action["option"] = option
        if typed is not None:
            action["input_value"] = typed
        event = {
            "operator": {"tenant_key": "tenant-houqin", "open_id": self.open_id, "union_id": f"on_{self.open_id}"},
            "token": f"c-{next(_ids)}",
            "action": action,
            "host": "im_message",
            "context": {"open_message_id": message.id, "open_chat_id": f"oc_{self.open_id}"},
        }
        payload = event_payload("card.action.trigger", event, event_id)
        answer = await self.world.deliver(payload, settle=False)
        # What Feishu does with the answer: the toast shown, the card replaced in place.
        if toast := answer.body.get("toast"):
            self.toasts.append(str(toast["content"]))
        if card := answer.body.get("card"):
            message.content, message.edits = card["data"], message.edits + 1
        await self.world.settle(payload)
        return answer

    async def _message(self, kind: str, content: JSON, event_id: str | None = None) -> Answer:
        event = {
            "sender": {
                "sender_id": {"union_id": f"on_{self.open_id}", "user_id": self.open_id, "open_id": self.open_id},
                "sender_type": "user",
                "tenant_key": "tenant-houqin",
            },
            "message": {
                "message_id": f"om_in_{next(_ids):06d}",
                "create_time": str(int(time.time() * 1000)),
                "chat_id": f"oc_{self.open_id}",
                "chat_type": "p2p",
                "message_type": kind,
                "content": json.dumps(content, ensure_ascii=False),
            },
        }
        return await self.world.deliver(event_payload("im.message.receive_v1", event, event_id))


def delivery_key(payload: JSON) -> str:
    """The key Houqin keeps an event's handling under (bot/channels/feishu/channel.py)."""
    header = payload["header"]
    kind = "press" if header["event_type"] == "card.action.trigger" else "event"
    return f"{kind}:{header['event_id']}"

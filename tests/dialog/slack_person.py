"""A person using Houqin in Slack: real signed payloads through Bolt into Houqin's ASGI app, and a
fake Slack Web API (tests/fakes/slack_api.py) holding what Houqin showed them.

    wang = SlackPerson.of(slack_world, "UWANG", "王芳")
    await wang.slash("/repair")
    await wang.chooses("电工")          # a page's select or radio buttons, then Next
    await wang.types("灯不亮了")         # a page's text or number input, then Next
    await wang.submits()                 # a page with nothing to fill in (skip photos, confirm)
    await wang.presses("✔ 接单")         # the newest button with that label in the DM (or home)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import func, select

from bot.channels.slack import SlackChannel
from handlers.core.outbox import GIVE_UP_AFTER, due_by
from storage.db import Database
from storage.models import OutboxMessage, ProcessedDelivery, utcnow
from tests.fakes.slack_api import FakeSlackAPI, FakeView, SlackMessage

JSON = dict[str, Any]
SIGNING_SECRET = "test-signing-secret"
_events = itertools.count(1)


def signed_headers(body: bytes, content_type: str, *, secret: str = SIGNING_SECRET, age: int = 0) -> dict[str, str]:
    """Slack's v0 signature over timestamp and body (the way Slack signs every request)."""
    timestamp = str(int(time.time()) - age)
    base = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }


@dataclass
class SlackWorld:
    """Houqin's ASGI app, its Slack channel and the fake Web API, shared by every person in a test."""

    http: httpx.AsyncClient
    api: FakeSlackAPI
    channel: SlackChannel
    db: Database
    channels: tuple[str, ...] = ("slack",)

    async def post(self, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        sent = {**signed_headers(body, content_type), **headers}
        return await self.http.post("/slack/events", content=body, headers=sent)

    async def settle(self) -> None:
        """Until Houqin has done what the request started and sent every notice it queued."""
        await self.channel.settled()
        await notices_delivered(self.db, self.channels)


@dataclass
class SlackPerson:
    world: SlackWorld
    user_id: str
    name: str
    errors: dict[str, str] = field(default_factory=dict)
    last: httpx.Response | None = None
    submitted: list[JSON] = field(default_factory=list)  # every modal page as it was sent back

    @classmethod
    def of(cls, world: SlackWorld, user_id: str, name: str, locale: str = "zh-CN") -> SlackPerson:
        world.api.user(user_id, name, locale)
        return cls(world, user_id, name)

    # --- what they see --------------------------------------------------------------------------

    @property
    def api(self) -> FakeSlackAPI:
        return self.world.api

    @property
    def dm(self) -> list[SlackMessage]:
        return self.api.messages.get(self.api.dm_of(self.user_id), [])

    @property
    def modal(self) -> FakeView | None:
        return self.api.modal_of(self.user_id)

    @property
    def page(self) -> str:
        """The open modal page's words: its sections and its input's label."""
        view = self.modal
        assert view is not None, f"{self.name} has no modal open; DM: {[m.shown for m in self.dm]}"
        parts = [str(view.view["title"]["text"])]
        for block in view.view["blocks"]:
            if block["type"] == "section":
                parts.append(block["text"]["text"])
            elif block["type"] == "input":
                parts.append(block["label"]["text"])
            elif block["type"] == "context":
                parts.extend(e["text"] for e in block["elements"])
        return "\n".join(parts)

    def options(self) -> list[str]:
        view = self.modal
        assert view is not None
        for block in view.view["blocks"]:
            if block["type"] == "input" and "options" in block["element"]:
                return [o["text"]["text"] for o in block["element"]["options"]]
        return []

    def latest(self, fragment: str) -> SlackMessage:
        for message in reversed(self.dm):
            if fragment in message.shown:
                return message
        raise AssertionError(f"{self.name} never saw {fragment!r}; DM: {[m.shown for m in self.dm]}")

    @property
    def home(self) -> str:
        view = self.api.homes.get(self.user_id, {"blocks": []})
        return "\n".join(b["text"]["text"] for b in view["blocks"] if b["type"] in ("section", "header"))

    # --- what they do ---------------------------------------------------------------------------

    async def slash(self, command: str, text: str = "") -> httpx.Response:
        form = {
            "token": "legacy",
            "team_id": "T1",
            "team_domain": "houqin-test",
            "channel_id": "CGENERAL",
            "channel_name": "general",
            "user_id": self.user_id,
            "user_name": self.user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": "https://hooks.slack.test/commands/1",
            "trigger_id": self.api.new_trigger(self.user_id),
        }
        return await self._send(urlencode(form).encode(), "application/x-www-form-urlencoded")

    async def chooses(self, label: str) -> httpx.Response:
        view = self._open_modal()
        block = self._input(view)
        [option] = [o for o in block["element"]["options"] if o["text"]["text"].startswith(label)][:1] or [None]
        assert option is not None, f"no option {label!r}; options: {self.options()}"
        value = {"type": block["element"]["type"], "selected_option": option}
        return await self._submit(view, value)

    async def types(self, text: str) -> httpx.Response:
        """Type into the page's text (or number) input; on a choice page, into the box beside the list."""
        view = self._open_modal()
        words = [b for b in view.view["blocks"] if b["type"] == "input" and b["block_id"] == "words"]
        if words:
            return await self._submit(view, None, words={"type": "plain_text_input", "value": text})
        block = self._input(view)
        return await self._submit(view, {"type": block["element"]["type"], "value": text})

    async def attaches(
        self, *contents: bytes, name: str = "photo{}.png", mimetype: str = "image/png"
    ) -> httpx.Response:
        """Attach files to the page's file input (Slack uploads them), then submit it."""
        view = self._open_modal()
        files = [self.api.shared_file(name.format(i), content, mimetype) for i, content in enumerate(contents)]
        return await self._submit(view, {"type": "file_input", "files": files})

    async def drops_file(self, name: str, content: bytes, mimetype: str, text: str = "") -> httpx.Response:
        """Drop a file into their DM with Houqin, with a message (Slack's file_share)."""
        shared = self.api.shared_file(name, content, mimetype)
        event = {
            "type": "message",
            "subtype": "file_share",
            "channel_type": "im",
            "user": self.user_id,
            "text": text,
            "files": [shared],
            "channel": self.api.dm_of(self.user_id),
            "ts": f"{time.time():.6f}",
        }
        return await self.event(event)

    async def submits(self) -> httpx.Response:
        """Press the page's submit button with nothing filled in (an optional input left empty)."""
        view = self._open_modal()
        inputs = [b for b in view.view["blocks"] if b["type"] == "input"]
        value = {"type": inputs[0]["element"]["type"], "value": None} if inputs else None
        return await self._submit(view, value)

    async def closes(self) -> httpx.Response:
        view = self._open_modal()
        self.api.close_views(self.user_id)
        payload = {
            "type": "view_closed",
            "team": {"id": "T1"},
            "user": {"id": self.user_id, "team_id": "T1"},
            "api_app_id": "A1",
            "view": {**view.view, "id": view.id, "hash": view.hash, "team_id": "T1"},
            "is_cleared": False,
        }
        return await self._interact(payload)

    async def presses(self, label: str) -> httpx.Response:
        """The newest button with that label: on the open modal page, else in the DM, else at home."""
        view = self.modal
        if view is not None:
            for block in view.view["blocks"]:
                for element in block.get("elements", []) if block["type"] == "actions" else []:
                    if element["text"]["text"].startswith(label):
                        return await self._press(element, {"type": "view", "view_id": view.id}, view=view)
        for message in reversed(self.dm):
            for element in message.buttons:
                if element["text"]["text"].startswith(label):
                    container = {"type": "message", "message_ts": message.ts, "channel_id": message.channel}
                    return await self._press(element, container, message=message)
        home = self.api.homes.get(self.user_id, {"blocks": []})
        for block in home["blocks"]:
            for element in block.get("elements", []) if block["type"] == "actions" else []:
                if element["text"]["text"].startswith(label):
                    return await self._press(element, {"type": "view", "view_id": "VHOME"}, home=home)
        seen = [e["text"]["text"] for m in self.dm for e in m.buttons]
        raise AssertionError(f"no button {label!r} for {self.name}; buttons in the DM: {seen}")

    async def presses_value(self, value: str, message: SlackMessage | None = None) -> httpx.Response:
        """A button payload of their own making (what a forged request would carry)."""
        element = {"type": "button", "action_id": "houqin:0:0", "text": {"type": "plain_text", "text": "x"}}
        element["value"] = value
        target = message or self.dm[-1]
        container = {"type": "message", "message_ts": target.ts, "channel_id": target.channel}
        return await self._press(element, container, message=target)

    async def opens_home(self) -> str:
        await self.event({"type": "app_home_opened", "user": self.user_id, "channel": "DHOME", "tab": "home"})
        return self.home

    async def writes(self, text: str) -> httpx.Response:
        """Words typed in their DM with Houqin."""
        event = {
            "type": "message",
            "channel_type": "im",
            "user": self.user_id,
            "text": text,
            "channel": self.api.dm_of(self.user_id),
            "ts": f"{time.time():.6f}",
        }
        return await self.event(event)

    async def event(self, event: JSON, event_id: str | None = None, **headers: str) -> httpx.Response:
        body = {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "event": {**event, "event_ts": f"{time.time():.6f}"},
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_events):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": "T1", "user_id": "UHOUQIN", "is_bot": True}],
        }
        return await self._send(json.dumps(body).encode(), "application/json", headers=headers)

    # --- plumbing -------------------------------------------------------------------------------

    def _open_modal(self) -> FakeView:
        view = self.modal
        assert view is not None, f"{self.name} has no modal open; DM: {[m.shown for m in self.dm]}"
        return view

    def _input(self, view: FakeView) -> JSON:
        inputs: list[JSON] = [b for b in view.view["blocks"] if b["type"] == "input"]
        assert inputs, f"the page has nothing to fill in: {self.page}"
        return inputs[0]

    async def _submit(self, view: FakeView, value: JSON | None, words: JSON | None = None) -> httpx.Response:
        values: JSON = {}
        if value is not None:
            values["answer"] = {"value": value}
        if words is not None:
            values["words"] = {"value": words}
        state = {"values": values}
        submitted: JSON = {**view.view, "id": view.id, "hash": view.hash, "team_id": "T1", "state": state}
        self.submitted.append(submitted)
        payload = {
            "type": "view_submission",
            "team": {"id": "T1"},
            "user": {"id": self.user_id, "username": self.user_id.lower(), "team_id": "T1"},
            "api_app_id": "A1",
            "trigger_id": self.api.new_trigger(self.user_id),
            "view": submitted,
        }
        # Slack applies the page's response action as soon as it has it, before anything the app
        # does afterwards (a late views.update), so the work it started is waited for after.
        response = await self._interact(payload, settle=False)
        self.errors = {}
        if response.content:
            answer = response.json()
            if answer.get("response_action") == "update":
                self.api.replace_view(view.id, answer["view"])
            elif answer.get("response_action") == "errors":
                self.errors = answer["errors"]
            elif answer.get("response_action") == "clear":
                self.api.close_views(self.user_id)
        else:
            self.api.close_views(self.user_id)
        await self.world.settle()
        return response

    async def _press(
        self,
        element: JSON,
        container: JSON,
        *,
        message: SlackMessage | None = None,
        view: FakeView | None = None,
        home: JSON | None = None,
    ) -> httpx.Response:
        payload: JSON = {
            "type": "block_actions",
            "team": {"id": "T1"},
            "user": {"id": self.user_id, "username": self.user_id.lower(), "team_id": "T1"},
            "api_app_id": "A1",
            "trigger_id": self.api.new_trigger(self.user_id),
            "container": container,
            "actions": [
                {
                    "type": "button",
                    "action_id": element["action_id"],
                    "block_id": "row0",
                    "text": element["text"],
                    "value": element.get("value"),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if message is not None:
            payload["channel"] = {"id": message.channel}
            payload["message"] = {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks}
        if view is not None:
            payload["view"] = {**view.view, "id": view.id, "hash": view.hash}
        if home is not None:
            payload["view"] = {**home, "id": "VHOME", "hash": "hhome"}
        return await self._interact(payload)

    async def _interact(self, payload: JSON, *, settle: bool = True) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self._send(body, "application/x-www-form-urlencoded", settle=settle)

    async def _send(
        self, body: bytes, content_type: str, *, settle: bool = True, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        response = await self.world.post(body, content_type, **(headers or {}))
        assert response.status_code == 200, (response.status_code, response.text)
        self.last = response
        if settle:
            await self.world.settle()
        return response


async def notices_delivered(db: Database, channels: tuple[str, ...], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Until every notice queued for these channels has gone out (cards, status updates)."""
    async with asyncio.timeout(timeout):
        while True:
            async with db.unit_of_work(brief=True) as session:
                waiting = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.channel.in_(channels), OutboxMessage.sent_at.is_(None))
                    # A notice held back until later (a low rating waiting for its comment) is not due yet.
                    .where(due_by(utcnow()))
                    .where(OutboxMessage.attempts < GIVE_UP_AFTER)
                )
            if not waiting:
                return
            await asyncio.sleep(0.01)


async def delivery_replied(db: Database, channel: str, key: str, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Until a delivery (handled here or by another process) has had its replies sent."""
    async with asyncio.timeout(timeout):
        while True:
            async with db.unit_of_work(brief=True) as session:
                done = await session.scalar(
                    select(ProcessedDelivery.replied_at).where(
                        ProcessedDelivery.channel == channel, ProcessedDelivery.key == key
                    )
                )
            if done is not None:
                return
            await asyncio.sleep(0.02)

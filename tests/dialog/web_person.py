"""A person chatting with Houqin through the browser chat's HTTP API, as the page does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.app import create_app
from bot.service import build_service
from bot.settings import load_settings
from handlers.core.area import Area
from storage.db import Database


@asynccontextmanager
async def browser_chat(db: Database, areas: Sequence[Area]) -> AsyncIterator[httpx.AsyncClient]:
    """The browser chat's HTTP API (demo mode) of a Houqin doing what `areas` do, served in-process."""
    settings = load_settings(database_url=db.url, demo_mode=True, web_enabled=True, telegram_bot_token="")
    service = build_service(settings, areas=tuple(areas))
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as client:
        yield client
    await service.db.dispose()


@dataclass
class Said:
    """What Houqin answered to one thing the person did."""

    texts: list[str]
    buttons: list[list[dict[str, str]]]
    chosen: str | None
    duplicate: bool
    # Files sent with the replies (an export, a chart): name, url, image.
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def __contains__(self, fragment: str) -> bool:
        return fragment in self.text

    @property
    def labels(self) -> list[str]:
        return [button["label"] for row in self.buttons for button in row]


@dataclass
class WebPerson:
    client: httpx.AsyncClient
    key: str
    buttons: list[list[dict[str, str]]] = field(default_factory=list)
    heard: list[Said] = field(default_factory=list)

    async def says(self, text: str, client_id: str | None = None) -> Said:
        return await self._post({"text": text}, client_id)

    async def presses(self, label: str) -> Said:
        """Press the button whose label starts with `label` among the latest ones Houqin showed."""
        for row in self.buttons:
            for button in row:
                if button["label"].startswith(label):
                    return await self._post({"button": button["payload"]})
        raise AssertionError(f"no button {label!r}; buttons shown: {[b['label'] for r in self.buttons for b in r]}")

    async def inbox(self, ack: list[int] | None = None) -> list[dict[str, Any]]:
        """What the page's poll gets: notices not yet acknowledged (acknowledging `ack` first)."""
        response = await self.client.post("/api/web/inbox", json={"person": self.key, "ack": ack or []})
        assert response.status_code == 200, response.text
        notices: list[dict[str, Any]] = response.json()["notices"]
        return notices

    async def presses_payload(self, payload: str) -> Said:
        return await self._post({"button": payload})

    async def sends_photo(self, content: bytes, filename: str = "photo.png", client_id: str | None = None) -> Said:
        response = await self.client.post(
            "/api/web/photos",
            data={"person": self.key, "client_id": client_id or uuid.uuid4().hex},
            files={"file": (filename, content, "application/octet-stream")},
        )
        return self._heard(response)

    async def sends_file(self, content: bytes, filename: str, caption: str | None = None) -> Said:
        """Any file through the page's upload (a spreadsheet), perhaps captioned with its command."""
        data = {"person": self.key, "client_id": uuid.uuid4().hex, **({"caption": caption} if caption else {})}
        response = await self.client.post(
            "/api/web/photos", data=data, files={"file": (filename, content, "application/octet-stream")}
        )
        return self._heard(response)

    async def _post(self, body: dict[str, Any], client_id: str | None = None) -> Said:
        payload = {"person": self.key, "client_id": client_id or uuid.uuid4().hex, **body}
        return self._heard(await self.client.post("/api/web/messages", json=payload))

    def _heard(self, response: httpx.Response) -> Said:
        assert response.status_code == 200, response.text
        body = response.json()
        said = Said(
            texts=[reply["text"] for reply in body["replies"]],
            buttons=[row for reply in body["replies"] for row in reply["buttons"]],
            chosen=body["chosen"],
            duplicate=body["duplicate"],
            files=[file for reply in body["replies"] for file in reply.get("files", [])],
        )
        shown = [reply["buttons"] for reply in body["replies"] if reply["buttons"]]
        if shown:
            self.buttons = shown[-1]
        self.heard.append(said)
        return said


# The smallest valid PNG: a 1x1 pixel, so photo uploads carry real image bytes.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)

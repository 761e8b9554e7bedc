"""Socket Mode: for organisations that cannot expose a URL, Houqin dials Slack instead.

The fake Socket Mode endpoint hands Bolt a slash command over a real WebSocket; the modal opens
exactly as in HTTP mode, and /slack/events is not served at all.
"""

from __future__ import annotations

import asyncio

import httpx

from bot.app import create_app
from bot.service import build_service
from storage.db import Database
from tests.channels import slack_of
from tests.dialog.conftest import slack_settings
from tests.fakes.slack_api import FakeSlackAPI, FakeSocketMode


async def test_a_slash_command_over_socket_mode_opens_the_modal(db: Database, slack_api: FakeSlackAPI) -> None:
    async with FakeSocketMode() as socket:
        slack_api.socket_url = socket.url
        settings = slack_settings(db, slack_api, slack_signing_secret="", slack_app_token="xapp-1-test")
        service = build_service(settings)
        assert slack_of(service) is not None and service.channel_names() == ["slack (socket mode)"]
        await service.start()
        try:
            async with asyncio.timeout(10):
                await socket.connected.wait()
            slack_api.user("UWANG", "小王")
            command = {
                "team_id": "T1",
                "user_id": "UWANG",
                "user_name": "uwang",
                "command": "/repair",
                "text": "",
                "api_app_id": "A1",
                "channel_id": "C1",
                "response_url": "https://hooks.slack.test/1",
                "trigger_id": slack_api.new_trigger("UWANG"),
            }
            async with asyncio.timeout(10):
                ack = await socket.deliver("slash_commands", command)
            assert ack["envelope_id"] == "env-1"
            await slack_of(service).settled()
            modal = slack_api.modal_of("UWANG")
            assert modal is not None
            assert "需要维修的是哪一类？" in [b.get("label", {}).get("text") for b in modal.view["blocks"]]

            transport = httpx.ASGITransport(app=create_app(service))
            async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as http:
                assert (await http.post("/slack/events", content=b"{}")).status_code == 404
        finally:
            await service.stop()

"""Bolt listeners: each acknowledges Slack at once and hands the payload to the channel.

Grouped as in Bolt's starter template (commands, actions, views, events); they only route, the
channel translates, the core decides.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.channels.slack import blocks

if TYPE_CHECKING:
    from bot.channels.slack.channel import SlackChannel


def register(app: AsyncApp, slack: SlackChannel) -> None:
    register_commands(app, slack)
    register_actions(app, slack)
    register_views(app, slack)
    register_events(app, slack)


def register_commands(app: AsyncApp, slack: SlackChannel) -> None:
    # Every slash command the manifest lists: /repair, /supply, /survey, /suggest, /houqin ...
    @app.command(re.compile(r"^/.+"))
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        slack.spawn(slack.command(body))


def register_actions(app: AsyncApp, slack: SlackChannel) -> None:
    @app.action(re.compile(rf"^{blocks.ACTION_PREFIX}:"))
    async def on_press(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        slack.spawn(slack.press(body, action))


def register_views(app: AsyncApp, slack: SlackChannel) -> None:
    @app.view(blocks.STEP_CALLBACK)
    async def on_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        # The page's answer decides the response (errors, next page, close), so the core is waited
        # for, but never past Slack's 3 s: then a loading page now, the real one when it is ready.
        work = slack.spawn(slack.submission(body))
        try:
            screen = await asyncio.wait_for(asyncio.shield(work), timeout=slack.ack_within)
        except TimeoutError:
            await ack(response_action="update", view=blocks.loading_modal(slack.locale_hint_for(body)))
            slack.spawn(slack.late_submission(work, str(body["view"]["id"])))
            return
        except Exception:
            # Nothing was kept (the core's transaction rolled back); the page says so and stays.
            await ack(response_action="update", view=blocks.failed_modal(slack.locale_hint_for(body)))
            return
        await ack(**screen.response())
        slack.spawn(slack.after_submission(screen))

    @app.view_closed(blocks.STEP_CALLBACK)
    async def on_close(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        slack.spawn(slack.closed(body))


def register_events(app: AsyncApp, slack: SlackChannel) -> None:
    @app.event("app_home_opened")
    async def on_home(event: dict[str, Any]) -> None:
        # Events are acknowledged by Bolt when the listener returns, so it only starts the work.
        if event.get("tab", "home") == "home":
            slack.spawn(slack.publish_home(str(event["user"])))

    @app.event("user_change")
    async def on_user_change(event: dict[str, Any]) -> None:
        # A member deactivated in the workspace (ACCESS_POLICY=directory: the workspace decides).
        user = event.get("user")
        if isinstance(user, dict) and user.get("deleted") is True and user.get("id"):
            slack.spawn(slack.user_left(str(user["id"])))

    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any]) -> None:
        # Only people's own words and files in their DM with Houqin: no edits, joins, bots (Bolt
        # drops our own messages).
        if event.get("channel_type") != "im" or event.get("bot_id") or not event.get("user"):
            return
        if event.get("subtype") not in (None, "file_share"):
            return
        slack.spawn(slack.message(event, str(body.get("event_id") or event.get("client_msg_id") or event["ts"])))

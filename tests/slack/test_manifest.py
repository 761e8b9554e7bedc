"""slack/manifest.yml creates an app that can reach everything Houqin handles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.channels.slack import EVENTS_PATH
from bot.channels.slack.blocks import SLASH_COMMANDS
from bot.channels.slack.channel import HOME_COMMAND
from bot.service import AREAS

MANIFEST = Path(__file__).resolve().parents[2] / "slack" / "manifest.yml"


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return loaded


def test_every_listed_flow_has_its_slash_command_and_every_url_is_houqins() -> None:
    app = manifest()
    commands = {c["command"].lstrip("/"): c for c in app["features"]["slash_commands"]}
    flows = {flow.name for area in AREAS for flow in area.flows if flow.listed}
    assert flows <= set(commands), flows - set(commands)
    assert HOME_COMMAND in commands
    urls = [c["url"] for c in commands.values()]
    urls += [app["settings"]["event_subscriptions"]["request_url"], app["settings"]["interactivity"]["request_url"]]
    assert all(url.endswith(EVENTS_PATH) for url in urls)


def test_command_hints_keep_exactly_the_manifests_slash_commands() -> None:
    """Words that tell a Slack person to type /repair say so; any other command goes after /houqin.
    The manifest has exactly /houqin and the slash commands the areas declare, each one of its area's
    commands or listed flows."""
    commands = {c["command"].lstrip("/") for c in manifest()["features"]["slash_commands"]}
    declared = {command for area in AREAS for command in area.slash_commands}
    assert commands == SLASH_COMMANDS == {HOME_COMMAND, *declared}
    for area in AREAS:
        answered = {*area.commands, *(flow.name for flow in area.flows if flow.listed)}
        assert set(area.slash_commands) <= answered, (area.name, set(area.slash_commands) - answered)


def test_the_events_and_scopes_the_channel_uses() -> None:
    app = manifest()
    # user_change: a deactivated workspace member leaves (ACCESS_POLICY=directory; users:read below).
    events = {"app_home_opened", "message.im", "user_change"}
    assert set(app["settings"]["event_subscriptions"]["bot_events"]) == events
    scopes = set(app["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "im:write", "im:history", "users:read", "files:write", "files:read"} <= scopes
    assert app["features"]["app_home"]["home_tab_enabled"] is True

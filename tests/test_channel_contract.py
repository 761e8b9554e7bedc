"""Every channel the service can run is a Channel (bot/channels/contract.py), and is one entry in
bot/channels/registry.py."""

from __future__ import annotations

import importlib

from bot.channels.contract import Channel, SendsNotices
from bot.channels.dingtalk import DingTalkChannel
from bot.channels.feishu import FeishuChannel
from bot.channels.registry import CHANNELS, TRANSPORT_LOGGERS
from bot.channels.slack import SlackChannel
from bot.channels.telegram import TelegramChannel
from bot.channels.web import WebChat
from bot.channels.wecom import WeComChannel


def conforming(
    telegram: TelegramChannel,
    slack: SlackChannel,
    feishu: FeishuChannel,
    dingtalk: DingTalkChannel,
    wecom: WeComChannel,
    web: WebChat,
) -> list[Channel]:
    """Never called: mypy checks here that each channel keeps the contract."""
    pushing: list[SendsNotices] = [telegram, slack, feishu, dingtalk, wecom]
    assert pushing
    return [telegram, slack, feishu, dingtalk, wecom, web]


def test_every_registered_channel_is_built_by_its_own_package() -> None:
    names = [kind.name for kind in CHANNELS]
    assert names == ["telegram", "slack", "feishu", "dingtalk", "wecom", "web"]
    for kind in CHANNELS:
        module, _, attribute = kind.builder.partition(":")
        assert module == f"bot.channels.{kind.name}"
        builder = getattr(importlib.import_module(module), attribute)
        assert builder.name == kind.name


def test_each_channels_transport_stays_quiet() -> None:
    assert {
        "telegram",
        "slack_sdk",
        "slack_bolt",
        "Lark",
        "dingtalk_stream",
        "httpx",
        "sqlalchemy.engine",
    } <= TRANSPORT_LOGGERS.keys()

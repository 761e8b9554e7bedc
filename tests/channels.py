"""A running service's channels, typed for what tests look into (service.channel(name) is any Channel)."""

from __future__ import annotations

from bot.channels.dingtalk import DingTalkChannel
from bot.channels.feishu import FeishuChannel
from bot.channels.slack import SlackChannel
from bot.channels.telegram import TelegramChannel
from bot.channels.wecom import WeComChannel
from bot.service import Service


def telegram_of(service: Service) -> TelegramChannel:
    channel = service.channel("telegram")
    assert isinstance(channel, TelegramChannel), "Telegram is not on in this service"
    return channel


def unpaced_telegram(service: Service) -> Service:
    """The service with Telegram's notices sent without its one-a-second per chat: a conversation test
    is about what is said, and pacing has its own tests (test_fan_out_pacing, test_telegram_notices)."""
    telegram_of(service).pacer.chat_interval = 0
    return service


def slack_of(service: Service) -> SlackChannel:
    channel = service.channel("slack")
    assert isinstance(channel, SlackChannel), "Slack is not on in this service"
    return channel


def feishu_of(service: Service) -> FeishuChannel:
    channel = service.channel("feishu")
    assert isinstance(channel, FeishuChannel), "Feishu is not on in this service"
    return channel


def dingtalk_of(service: Service) -> DingTalkChannel:
    channel = service.channel("dingtalk")
    assert isinstance(channel, DingTalkChannel), "DingTalk is not on in this service"
    return channel


def wecom_of(service: Service) -> WeComChannel:
    channel = service.channel("wecom")
    assert isinstance(channel, WeComChannel), "WeCom is not on in this service"
    return channel

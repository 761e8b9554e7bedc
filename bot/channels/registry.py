"""The channels the service can run, one entry each (contract.ChannelKind): a new channel is its
package under bot/channels/ plus its entry here."""

from __future__ import annotations

import logging

from bot.channels.contract import SHARED_TRANSPORT_LOGGERS, ChannelKind

CHANNELS: tuple[ChannelKind, ...] = (
    ChannelKind("telegram", lambda s: s.telegram_enabled, "bot.channels.telegram:TelegramChannel", ("telegram",)),
    # Slack's SDK logs every Web API call's body at DEBUG, Bolt every payload: names, words.
    ChannelKind(
        "slack",
        lambda s: s.slack_enabled,
        "bot.channels.slack:SlackChannel",
        ("slack_sdk", "slack_bolt"),
        directory=True,
    ),
    # lark-oapi's logger writes every event's payload at DEBUG.
    ChannelKind(
        "feishu",
        lambda s: s.feishu_enabled,
        "bot.channels.feishu:FeishuChannel",
        ("Lark",),
        directory=True,
    ),
    # dingtalk-stream's loggers write each frame it receives (with people's words) at INFO and below.
    ChannelKind(
        "dingtalk",
        lambda s: s.dingtalk_enabled,
        "bot.channels.dingtalk:DingTalkChannel",
        ("dingtalk_stream",),
        directory=True,
    ),
    # The WeCom channel calls its API with httpx (quietened above) and logs no payloads itself.
    ChannelKind("wecom", lambda s: s.wecom_enabled, "bot.channels.wecom:WeComChannel", (), directory=True),
    ChannelKind("web", lambda s: s.web_chat_enabled, "bot.channels.web:WebChat"),
)

# Every logger that would write what people said or a token, and the lowest level it may log at
# whatever LOG_LEVEL says: the database's and HTTP's, and each channel's own.
TRANSPORT_LOGGERS: dict[str, int] = {
    **SHARED_TRANSPORT_LOGGERS,
    **{name: logging.INFO for kind in CHANNELS for name in kind.transport_loggers},
}


def quieten_transport() -> None:
    for name, lowest in TRANSPORT_LOGGERS.items():
        logging.getLogger(name).setLevel(max(lowest, logging.getLogger().level))

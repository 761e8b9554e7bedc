"""Feishu / Lark, through the official SDK lark-oapi: channel.py (events and card callbacks to the
core, cards and notices back), events.py (the webhook's signature and decryption), cards.py (card
JSON 2.0), api.py (the Open Platform and its tenant token), longconn.py (the SDK's WebSocket)."""

from bot.channels.feishu.channel import CHANNEL, EVENTS_PATH, FeishuChannel

__all__ = ["CHANNEL", "EVENTS_PATH", "FeishuChannel"]

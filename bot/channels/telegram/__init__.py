"""Telegram, through python-telegram-bot: channel.py (polling or the webhook in, replies and paced
notices out, each person's command menu)."""

from bot.channels.telegram.channel import CHANNEL, WEBHOOK_PATH, TelegramChannel

__all__ = ["CHANNEL", "WEBHOOK_PATH", "TelegramChannel"]

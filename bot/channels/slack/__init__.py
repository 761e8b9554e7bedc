"""Slack, through slack-bolt: see channel.py (translation), listeners.py (routing), blocks.py
(Block Kit), pacing.py (outbound limits)."""

from bot.channels.slack.channel import CHANNEL, EVENTS_PATH, SlackChannel

__all__ = ["CHANNEL", "EVENTS_PATH", "SlackChannel"]

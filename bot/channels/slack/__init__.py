"""Slack, through slack-bolt: channel.py (from Slack to the core), listeners.py (routing),
blocks.py (Block Kit), outbound.py (to Slack, paced), files.py (what people share)."""

from bot.channels.slack.channel import EVENTS_PATH, SlackChannel
from bot.channels.slack.outbound import CHANNEL

__all__ = ["CHANNEL", "EVENTS_PATH", "SlackChannel"]

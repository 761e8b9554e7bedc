"""DingTalk (钉钉): channel.py (the robot's messages to the core, robot messages and notices back),
events.py (the webhook's signature), cards.py (ActionCards whose buttons send the answer), api.py
(the open platform and its access token), stream.py (the official dingtalk-stream SDK),
directory.py (the contact directory)."""

from bot.channels.dingtalk.channel import CHANNEL, EVENTS_PATH, DingTalkChannel

__all__ = ["CHANNEL", "EVENTS_PATH", "DingTalkChannel"]

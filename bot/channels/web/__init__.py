"""The browser chat: channel.py (a page and a small JSON API on Houqin's own ASGI app) and static/
(the page itself)."""

from bot.channels.web.channel import CHANNEL, STATIC, WebChat

__all__ = ["CHANNEL", "STATIC", "WebChat"]

"""WeCom (企业微信), a self-built app: channel.py (the callback's messages and card presses to the
core, messages and cards back), callback.py (signature, age and decryption, with wechatpy's
enterprise crypto), cards.py (template cards), api.py (the server API and its access token),
directory.py (the contact directory)."""

from bot.channels.wecom.channel import CALLBACK_PATH, CHANNEL, WeComChannel

__all__ = ["CALLBACK_PATH", "CHANNEL", "WeComChannel"]

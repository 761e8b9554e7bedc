"""What a discreet turn leaves behind: nothing that ties the person to what they said.

A turn is discreet when it happens inside a discreet flow (an anonymous survey answer, a suggestion,
an answer to the office), starts one, or is a discreet action (an anonymous suggester reading their
own thread). Its anonymous record (a response, a suggestion, a suggester's message) keeps the day
only, so nothing else may place the person at the moment it was written either:

- its delivery record is kept under a keyed hash of its key (a browser's key is ``person:client_id``,
  Telegram's update ids count up), with a random id, without the dialog it moved; once replied,
  with the day only and without its replies (handlers/core/engine.py, handlers/core/replied.py);
- the person's own rows carry no time from it: their dialog is stamped with the day, their
  account's "last seen" is left as it was (handlers/core/engine.py);
- a notice to an anonymous suggester is kept with the day only, and deleted once sent
  (handlers/core/outbox.py).

Times to the second would be matched against the office's cards and replies, which carry the real
moment; and growing ids would line the record up with the person's other rows by order.
"""

from __future__ import annotations

from datetime import datetime, time

from handlers.core import keys


def day_of(moment: datetime) -> datetime:
    """The start of the moment's day (UTC), all a discreet record keeps of when."""
    return datetime.combine(moment.date(), time(), tzinfo=moment.tzinfo)


def sealed_key(server_key: bytes, channel: str, key: str) -> str:
    """How a discreet delivery's key is kept: still recognised when the platform delivers it again,
    but telling neither who sent it nor, by order, when."""
    return keys.token(server_key, "delivery", channel, key)

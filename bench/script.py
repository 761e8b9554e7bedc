"""The repair conversation every benchmark replays, and how to drive it through the core.

A person starts with /repair and then answers whatever Houqin asks, judging only by the buttons it
shows: the category "electrical", the first building and room offered, a description when only
Back/Cancel are offered (a text step), Skip for photos, urgency "high", and Submit. Buttons are chosen
by the value in their payload (``s{version}:{value}``), never by label, so the same policy works in
either language and keeps working when a step is added to the flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from handlers.core.conversation import Inbound, Kind, Outcome, Sender
from handlers.core.engine import Houqin

DESCRIPTION = "会议室的灯一直闪，开会时很影响"
# Preferred answers, in order, among the values a step offers. "new": file it even if a similar
# ticket is open. Values starting with "_" are the engine's controls (Back, Cancel, Other, Done…).
PREFERRED = ("electrical", "new", "_done", "high", "_submit")
MAX_STEPS = 16  # a conversation longer than this is a bug in the policy or the flow, not a benchmark


@dataclass(frozen=True)
class Act:
    kind: Literal["command", "text", "press"]
    text: str  # the command ("/repair"), the typed words, or the payload of the button pressed


START = Act("command", "/repair")


def decide(payloads: Sequence[str]) -> Act | None:
    """The next act given the buttons on screen; None once no step of a flow is asked (the menu)."""
    steps = [payload for payload in payloads if payload.startswith("s") and payload.partition(":")[0][1:].isdigit()]
    if not steps:
        return None
    values = {payload.partition(":")[2]: payload for payload in steps}
    for preferred in PREFERRED:
        if preferred in values:
            return Act("press", values[preferred])
    options = [payload for value, payload in values.items() if not value.startswith("_")]
    if options:
        return Act("press", options[0])
    return Act("text", DESCRIPTION)


def payloads_of(outcome: Outcome) -> list[str]:
    return [button.payload for reply in outcome.replies for row in reply.buttons for button in row]


def telegram_sender(user_id: int) -> Sender:
    """Who a Telegram private chat is, as channels/telegram/channel.py:to_inbound would say it."""
    return Sender("telegram", str(user_id), str(user_id), f"员工{user_id}", "zh-hans")


def inbound(sender: Sender, key: str, act: Act) -> Inbound:
    if act.kind == "command":
        return Inbound(sender, Kind.COMMAND, key, command=act.text.removeprefix("/"))
    if act.kind == "text":
        return Inbound(sender, Kind.TEXT, key, text=act.text)
    return Inbound(sender, Kind.BUTTON, key, text=act.text)


async def converse(houqin: Houqin, sender: Sender, key_prefix: str) -> list[tuple[Act, Outcome]]:
    """One whole repair conversation through the core, each act decided from the previous answer."""
    done: list[tuple[Act, Outcome]] = []
    act: Act | None = START
    while act is not None:
        if len(done) == MAX_STEPS:
            raise RuntimeError(f"the conversation did not end in {MAX_STEPS} steps: {done[-1][1].replies}")
        outcome = await houqin.handle(inbound(sender, f"{key_prefix}-{len(done)}", act))
        done.append((act, outcome))
        act = decide(payloads_of(outcome))
    return done


async def calibrate(houqin: Houqin, sender: Sender, key_prefix: str) -> list[Act]:
    """The acts of one whole conversation of a person seen for the first time.

    They are the same for every new person (the dialog version in each payload advances the same
    way), which lets an open-loop load send each act at its scheduled time without waiting for the
    answer to the previous one.
    """
    done = await converse(houqin, sender, key_prefix)
    if not any("R-" in reply.text for reply in done[-1][1].replies):
        raise RuntimeError(f"the calibration conversation did not end in a ticket: {done[-1][1].replies}")
    return [act for act, _ in done]

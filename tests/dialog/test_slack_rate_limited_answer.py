"""Slack answers 429 to Houqin's answer in someone's DM: the answer waits out Retry-After and goes
once, and nothing else is written to that DM meanwhile. Through Bolt and the fake Slack Web API."""

from __future__ import annotations

from collections.abc import Callable

from storage.db import Database
from tests.dialog.slack_person import SlackPerson
from tests.fakes.slack_api import FakeSlackAPI


async def test_an_answer_slack_rate_limits_goes_after_retry_after(
    db: Database, slack_api: FakeSlackAPI, slack_user: Callable[..., SlackPerson]
) -> None:
    wang = slack_user("UWANG", "小王")
    dm = slack_api.dm_of("UWANG")
    slack_api.rate_limited[dm] = 1  # the next message to his DM: "429, retry after 1 s"
    await wang.slash("/houqin", "help")
    tries = [params for method, params in slack_api.calls if method == "chat.postMessage" and params["channel"] == dm]
    assert len(tries) == 2  # refused once, sent once
    assert tries[0]["text"] == tries[1]["text"] and "/houqin help" in tries[1]["text"]
    assert [m.shown for m in wang.dm] == [tries[1]["text"]]
    # The DM stays held for Slack's second: the channel's notices to it wait their turn too.
    assert wang.world.channel.outbound.pacer.held_until(dm) > 0

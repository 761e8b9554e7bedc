"""The access token: fetched once, shared by every call, fetched anew ten minutes before it expires
or when DingTalk refuses it; "too fast" and wrong credentials read as DingTalk says them."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.dingtalk.api import DingTalkAPI, DingTalkError
from tests.fakes.dingtalk_api import FakeDingTalk


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def api_of(fake: FakeDingTalk, clock: Clock | None = None, secret: str | None = None) -> DingTalkAPI:
    return DingTalkAPI(
        fake.client_id,
        secret or fake.client_secret,
        fake.client_id,
        fake.base_url,
        fake.base_url,
        **({"clock": clock} if clock else {}),
    )


async def test_the_token_is_kept_until_ten_minutes_before_it_expires() -> None:
    clock = Clock()
    async with FakeDingTalk(token_lifetime=7200) as fake:
        api = api_of(fake, clock)
        await api.send("wang", "sampleText", {"content": "一"})
        clock.now += 6000  # 1h40m: 20 minutes left
        await api.send("wang", "sampleText", {"content": "二"})
        assert fake.tokens == ["tok-000001"]
        clock.now += 601  # less than 10 minutes left: a new one before the old one lapses
        await api.send("wang", "sampleText", {"content": "三"})
        assert len(fake.tokens) == 2
        assert [m.shown for m in fake.chat_of("wang")] == ["一", "二", "三"]
        await api.close()


async def test_many_sends_at_once_wait_for_one_token() -> None:
    async with FakeDingTalk() as fake:
        api = api_of(fake)
        await asyncio.gather(*(api.send(f"p{n}", "sampleText", {"content": "hi"}) for n in range(10)))
        assert fake.called("/v1.0/oauth2/accessToken") == 1
        await api.close()


async def test_a_refused_token_is_fetched_again_once() -> None:
    async with FakeDingTalk() as fake:
        api = api_of(fake)
        await api.send("wang", "sampleText", {"content": "一"})
        fake.tokens.append("tok-revoked-elsewhere")  # DingTalk now knows another token than ours
        await api.send("wang", "sampleText", {"content": "二"})
        assert fake.chat_of("wang")[-1].shown == "二"
        assert fake.called("/v1.0/oauth2/accessToken") == 2
        await api.close()


async def test_too_fast_and_wrong_secrets_are_told_as_dingtalk_tells_them() -> None:
    async with FakeDingTalk() as fake:
        fake.limit("wang", 1)
        api = api_of(fake)
        with pytest.raises(DingTalkError) as limited:
            await api.send("wang", "sampleText", {"content": "一"})
        assert limited.value.rate_limited and (limited.value.status, limited.value.code) == (
            403,
            "Forbidden.AccessDenied.QpsLimitForApi",
        )
        wrong = api_of(fake, secret="not-the-secret")
        with pytest.raises(DingTalkError) as refused:
            await wrong.send("wang", "sampleText", {"content": "二"})
        assert refused.value.code == "invalidClientIdOrSecret" and not refused.value.rate_limited
        await api.close()
        await wrong.close()

"""The tenant access token: fetched once, shared by every call, fetched anew ten minutes before it
expires (Feishu's own clock) or when Feishu refuses it; a 429 is read as Feishu says it."""

from __future__ import annotations

import pytest

from bot.channels.feishu.api import FeishuAPI, FeishuError
from tests.fakes.feishu_api import FakeFeishu


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_token_is_kept_until_ten_minutes_before_it_expires() -> None:
    clock = Clock()
    async with FakeFeishu(token_lifetime=7200) as fake:
        fake.person("ou_wang", "王芳")
        api = FeishuAPI(fake.app_id, fake.app_secret, fake.base_url, clock=clock)
        await api.send("ou_wang", "text", {"text": "一"})
        clock.now += 6000  # 1h40m: 20 minutes left
        await api.send("ou_wang", "text", {"text": "二"})
        assert fake.tokens == ["t-000001"]
        clock.now += 601  # less than 10 minutes left: a new one before the old one lapses
        await api.send("ou_wang", "text", {"text": "三"})
        assert len(fake.tokens) == 2
        assert [m.shown for m in fake.chat_of("ou_wang")] == ["一", "二", "三"]


async def test_a_refused_token_is_fetched_again_once() -> None:
    async with FakeFeishu() as fake:
        fake.person("ou_wang", "王芳")
        api = FeishuAPI(fake.app_id, fake.app_secret, fake.base_url)
        await api.send("ou_wang", "text", {"text": "一"})
        fake.tokens.append("t-revoked-elsewhere")  # Feishu now knows another token than ours
        fake.tokens.append("t-current")
        await api.send("ou_wang", "text", {"text": "二"})
        assert fake.chat_of("ou_wang")[-1].shown == "二"
        assert fake.called("POST /open-apis/auth/v3/tenant_access_token/internal") == 2


async def test_rate_limits_and_wrong_secrets_are_told_as_feishu_tells_them() -> None:
    async with FakeFeishu() as fake:
        fake.person("ou_wang", "王芳")
        fake.limit("ou_wang", 1, reset_after=7)
        api = FeishuAPI(fake.app_id, fake.app_secret, fake.base_url)
        with pytest.raises(FeishuError) as limited:
            await api.send("ou_wang", "text", {"text": "一"})
        assert limited.value.rate_limited and (limited.value.code, limited.value.retry_after) == (99991400, 7.0)
        wrong = FeishuAPI(fake.app_id, "not-the-secret", fake.base_url)
        with pytest.raises(FeishuError) as refused:
            await wrong.send("ou_wang", "text", {"text": "二"})
        assert refused.value.code == 10014

"""The access token: fetched once, shared by every call, fetched anew five minutes before it expires
(WeCom's own clock) or when WeCom refuses it; WeCom's errcodes read as it means them."""

from __future__ import annotations

import pytest

from bot.channels.wecom.api import WeComAPI, WeComError
from tests.fakes.wecom_api import FakeWeCom

TEXT = {"msgtype": "text", "text": {"content": "一"}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_the_token_is_kept_until_five_minutes_before_it_expires() -> None:
    clock = Clock()
    async with FakeWeCom(token_lifetime=7200) as fake:
        fake.person("WangFang", "王芳")
        api = WeComAPI(fake.corp_id, fake.secret, fake.agent_id, fake.base_url, clock=clock)
        await api.send("WangFang", TEXT)
        clock.now += 6600  # 1h50m: 10 minutes left
        await api.send("WangFang", TEXT)
        assert fake.tokens == ["at-000001"]
        clock.now += 301  # under 5 minutes left: a new one before the old one lapses
        await api.send("WangFang", TEXT)
        assert len(fake.tokens) == 2 and len(fake.chat_of("WangFang")) == 3
        await api.close()


async def test_a_refused_token_is_fetched_again_once() -> None:
    async with FakeWeCom() as fake:
        fake.person("WangFang", "王芳")
        api = WeComAPI(fake.corp_id, fake.secret, fake.agent_id, fake.base_url)
        await api.send("WangFang", TEXT)
        fake.tokens.append("at-fetched-by-another-process-after-expiry")  # ours is refused now (42001)
        await api.send("WangFang", TEXT)
        assert len(fake.chat_of("WangFang")) == 2
        assert fake.called("GET /cgi-bin/gettoken") == 2
        await api.close()


async def test_limits_leavers_and_wrong_secrets_are_told_as_wecom_tells_them() -> None:
    async with FakeWeCom() as fake:
        fake.person("WangFang", "王芳")
        fake.limit("WangFang", 1, 45009)
        api = WeComAPI(fake.corp_id, fake.secret, fake.agent_id, fake.base_url)
        with pytest.raises(WeComError) as limited:
            await api.send("WangFang", TEXT)
        assert limited.value.rate_limited and limited.value.code == 45009
        with pytest.raises(WeComError) as gone:
            await api.send("NoSuchPerson", TEXT)
        assert (gone.value.code, gone.value.rate_limited) == (81013, False)
        wrong = WeComAPI(fake.corp_id, "not-the-secret", fake.agent_id, fake.base_url)
        with pytest.raises(WeComError) as refused:
            await wrong.send("WangFang", TEXT)
        assert refused.value.code == 40001
        await api.close()
        await wrong.close()

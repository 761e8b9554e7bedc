"""A platform's access token (Feishu's tenant token, DingTalk's and WeCom's access token): fetched once
however many calls wait for it, kept until a little before it expires, forgotten when the platform
says it is no longer good."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    value: str
    refresh_at: float


class CachedToken:
    """`fetch` asks the platform: the token and its lifetime in seconds; it is asked again `early`
    seconds before that lifetime ends (by `clock`)."""

    def __init__(
        self, fetch: Callable[[], Awaitable[tuple[str, float]]], early: float, clock: Callable[[], float]
    ) -> None:
        self.fetch, self.early, self.clock = fetch, early, clock
        self._token: Token | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:  # one fetch however many calls wait for it
            if self._token is None or self.clock() >= self._token.refresh_at:
                value, lifetime = await self.fetch()
                self._token = Token(value, self.clock() + lifetime - self.early)
            return self._token.value

    def forget(self) -> None:
        self._token = None

"""Fixtures of the reliability scenarios: the observed fake Bot API, the seed, the variant, the summary."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.reliability.harness import Counts, HouqinProcess, Launch, ObservedBotAPI


@dataclass(frozen=True)
class Variant:
    long: bool
    seed: int

    def rng(self, salt: str) -> random.Random:
        """An RNG per use, so one scenario's choices do not shift another's."""
        return random.Random(f"{self.seed}:{salt}")


@pytest.fixture
def variant(request: pytest.FixtureRequest) -> Variant:
    seed = request.config.getoption("--reliability-seed")
    chosen = Variant(bool(request.config.getoption("--long")), seed if seed is not None else random.randrange(10**9))
    print(f"reliability: {request.node.nodeid} seed={chosen.seed} long={chosen.long}")
    return chosen


@pytest.fixture
def report(request: pytest.FixtureRequest, variant: Variant) -> Iterator[list[Counts]]:
    """Scenarios append their counts; they are printed and summarised whether the test passed or not."""
    counts: list[Counts] = []
    yield counts
    for entry in counts:
        line = f"{request.node.nodeid} [seed {variant.seed}{', long' if variant.long else ''}] {entry.line()}"
        print(line)
        request.node.user_properties.append(("summary", line))  # tests/conftest.py prints them at the end


@pytest.fixture
async def observed_api() -> AsyncIterator[ObservedBotAPI]:
    async with ObservedBotAPI() as api:
        yield api


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A client for Houqin's own HTTP port (webhook, health): 127.0.0.1 only, no proxies from the env."""
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def launch(observed_api: ObservedBotAPI, tmp_path: Path) -> AsyncIterator[Launch]:
    """Makes `houqin run` processes (logs in tmp_path); whatever happens, each is stopped at the end,
    before the fake Bot API it talks to."""
    made: list[HouqinProcess] = []

    def make(name: str, env: Mapping[str, str]) -> HouqinProcess:
        made.append(HouqinProcess(name, env, tmp_path))
        return made[-1]

    yield make
    for houqin in made:
        await houqin.stop()

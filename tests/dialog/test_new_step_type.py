"""A step type no channel knows, defined only here (a meter reading with its unit and range, as
inspections will ask), works everywhere as it is: asked in words and buttons on Telegram and in the
browser chat, drawn by Slack's generic page (its prompt, its buttons, a box for words). Adding a step
type is its class; a channel's own rendering of it is optional."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.service import AREAS, Service, build_service
from handlers.core.area import Area
from handlers.core.conversation import StepView
from handlers.core.flow import (
    Action,
    Answer,
    Flow,
    Invalid,
    Option,
    Question,
    Step,
    StepContext,
    Submitted,
    Taken,
    choices_in,
)
from handlers.core.i18n import Label, msg
from storage.db import Database
from tests.dialog.conftest import slack_settings, slack_world_for, telegram_running, telegram_settings
from tests.dialog.slack_person import SlackPerson, SlackWorld
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.web_person import WebPerson, browser_chat
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeBotAPI

UNREADABLE = "unreadable"


@dataclass(frozen=True, kw_only=True)
class ReadingView(StepView):
    """What a channel would need to draw a reading its own way (a number box with the unit beside it)."""

    unit: str
    low: int
    high: int


@dataclass(frozen=True)
class ReadingStep(Step):
    """A reading with its unit, within a range; or "can't read it" (the meter is behind a locked door)."""

    unit: str = "kWh"
    low: int = 0
    high: int = 99999

    def _unreadable(self) -> Option:
        return Option(UNREADABLE, Label("无法读取", "Can't read it"))

    async def ask(self, ctx: StepContext) -> Question:
        return Question(await self.prompt_in(ctx), ((self._unreadable(),),))

    async def take(self, ctx: StepContext, answer: Answer) -> Taken:
        if answer.choice == UNREADABLE:
            ctx.data[self.key] = {"unreadable": True}
            return Taken(chosen=self._unreadable().label)
        if answer.text is None:
            raise Invalid(msg("dialog.error.expected_text"))
        try:
            value = float(answer.text.strip().removesuffix(self.unit).strip())
        except ValueError:
            raise Invalid(msg("dialog.error.not_a_number", min=self.low, max=self.high)) from None
        if not self.low <= value <= self.high:
            raise Invalid(msg("dialog.error.not_a_number", min=self.low, max=self.high))
        ctx.data[self.key] = {"value": value, "unit": self.unit}
        return Taken()

    async def view(self, ctx: StepContext) -> StepView:
        prompt = (await self.prompt_in(ctx)).render(ctx.locale)
        buttons = choices_in((self._unreadable(),), ctx.locale)
        return ReadingView(prompt=prompt, buttons=buttons, unit=self.unit, low=self.low, high=self.high)


async def recorded(ctx: StepContext) -> Submitted:
    meter, reading = ctx.data["meter"], ctx.data["reading"]
    if reading.get("unreadable"):
        return Submitted(Label(f"已记下：{meter} 无法读取", f"Noted: {meter} could not be read"), meter)
    shown = f"{reading['value']:g} {reading['unit']}"
    return Submitted(Label(f"已记下 {meter} 的读数：{shown}", f"Recorded {meter}: {shown}"), meter)


async def scanned(ctx: StepContext, meter: str) -> Action:
    """The code on a meter (/start meter_M1) starts its reading."""
    return Action(start=("reading", {"meter": meter}))


READINGS = Area(
    "readings",
    flows=(
        Flow(
            "reading",
            Label("抄表", "Meter reading"),
            Label("记录一块电表的读数。", "Record a meter's reading."),
            (ReadingStep("reading", Label("电表读数是多少（千瓦时）？", "What does the meter read (kWh)?")),),
            recorded,
            listed=False,
        ),
    ),
    links={"meter": scanned},
)
WITH_READINGS = (*AREAS, READINGS)


@pytest.fixture
async def telegram(db: Database, bot_api: FakeBotAPI) -> AsyncIterator[Service]:
    async for service in telegram_running(build_service(telegram_settings(db, bot_api), WITH_READINGS)):
        yield service


@pytest.fixture
async def slack(db: Database, slack_api: FakeSlackAPI) -> AsyncIterator[SlackWorld]:
    async for world in slack_world_for(build_service(slack_settings(db, slack_api), WITH_READINGS), slack_api, db):
        yield world


async def test_telegram_asks_it_in_words_and_buttons(db: Database, bot_api: FakeBotAPI, telegram: Service) -> None:
    zhao = TelegramPerson(bot_api, db, bot_api.user(4101, "老赵"))
    asked = await zhao.says("/start meter_M1")
    assert asked.texts == ["电表读数是多少（千瓦时）？"]
    assert [b["text"] for b in asked.messages[0].buttons] == ["无法读取", "✖ 取消"]
    assert "请输入" in (await zhao.says("很多")).text  # not a number: asked again
    assert await zhao.says("1234.5 kWh") == ["已记下 M1 的读数：1234.5 kWh"]
    await zhao.says("/start meter_M2")
    assert await zhao.presses("无法读取") == ["已记下：M2 无法读取"]


async def test_the_browser_chat_asks_it_in_words_and_buttons(db: Database) -> None:
    async with browser_chat(db, WITH_READINGS) as client:
        wang = WebPerson(client, "wang.fang")
        asked = await wang.says("/start meter_M1")
        assert asked.texts == ["电表读数是多少（千瓦时）？"] and asked.labels == ["无法读取", "✖ 取消"]
        assert "已记下 M1 的读数：88 kWh" in await wang.says("88")
        await wang.says("/start meter_M2")
        assert "已记下：M2 无法读取" in await wang.presses("无法读取")


async def test_slack_draws_it_as_its_prompt_its_buttons_and_a_box_for_words(
    db: Database, slack: SlackWorld, slack_api: FakeSlackAPI
) -> None:
    li = SlackPerson.of(slack, "ULI", "小李")
    await li.slash("/houqin", "start meter_M1")
    assert "电表读数是多少（千瓦时）？" in li.page and li.options() == ["无法读取"]
    await li.types("九十九")
    assert li.errors, li.page  # beside the input, the page stays
    await li.types("99")
    assert li.modal is None and li.dm[-1].shown.startswith("已记下 M1 的读数：99 kWh")
    await li.slash("/houqin", "start meter_M2")
    await li.chooses("无法读取")
    assert li.modal is None and li.dm[-1].shown.startswith("已记下：M2 无法读取")

"""Signing in to the browser chat in Chromium, outside demo mode: by link, across a reload, sign-out,
an expired link, and a change refused without its CSRF token (issue 15, item 4)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from bot.settings import Settings, load_settings
from handlers.accounts import signin
from storage.db import Database
from storage.models import Person, ProcessedDelivery, utcnow
from tests.browser.conftest import fresh_page, live_houqin

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class SignedInHouqin:
    base_url: str
    database_url: str


@pytest.fixture(scope="module")
def houqin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedInHouqin]:
    """A real Houqin with sign-in (not the demo): PUBLIC_URL is where it listens."""

    def signing_in(url: str, base_url: str, port: int) -> Settings:
        return load_settings(database_url=url, web_enabled=True, public_url=base_url, telegram_bot_token=None)

    with live_houqin(tmp_path_factory, signing_in) as live:
        yield SignedInHouqin(live.base_url, f"sqlite+aiosqlite:///{live.database_file}")


@pytest.fixture
def page(browser: Browser, houqin: SignedInHouqin) -> Iterator[Page]:
    with fresh_page(browser, houqin.base_url, "en-US") as page:
        yield page


def link(houqin: SignedInHouqin, handle: str, *, issued_ago: timedelta = timedelta(0)) -> str:
    """A sign-in link as /web gives it (issue_link, the code behind /web), issued `issued_ago`."""

    async def issue() -> str:
        db = Database(houqin.database_url)
        try:
            async with db.unit_of_work() as session:
                person = await session.scalar(select(Person.id).where(Person.handle == handle))
                assert person is not None
                return await signin.issue_link(session, person, utcnow() - issued_ago)
        finally:
            await db.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        token = pool.submit(asyncio.run, issue()).result()
    return f"/signin/{token}"


def deliveries(houqin: SignedInHouqin) -> int:
    engine = create_engine(houqin.database_url.replace("+aiosqlite", ""))
    try:
        with Session(engine) as session:
            return int(session.scalar(select(func.count()).select_from(ProcessedDelivery)) or 0)
    finally:
        engine.dispose()


def signs_in(page: Page, houqin: SignedInHouqin, handle: str) -> None:
    page.goto(link(houqin, handle))
    page.get_by_test_id("signin-button").click()
    # The page's script has asked who is signed in (and so listens to the box and buttons): on a busy
    # machine the input, enabled in the HTML, would take words before anything hears them.
    expect(page.locator("#banner")).to_have_text(re.compile(r"^(Signed in as |已登录：)\S"))
    expect(page.get_by_test_id("message-input")).to_be_enabled()


def say(page: Page, text: str) -> None:
    page.get_by_test_id("message-input").fill(text)
    page.get_by_test_id("message-input").press("Enter")


def test_signing_in_by_link_opens_the_chat_as_that_person(page: Page, houqin: SignedInHouqin) -> None:
    page.goto("/")
    expect(page.get_by_test_id("signin-panel")).to_contain_text("/web")
    expect(page.get_by_test_id("message-input")).to_be_disabled()
    signs_in(page, houqin, "emma.clark")
    expect(page.locator("#banner")).to_have_text("Signed in as Emma Clark")
    expect(page.get_by_test_id("person-picker")).to_be_hidden()  # no picker outside the demo
    say(page, "/my")
    expect(page.get_by_test_id("bot-message").last).to_be_visible()


def test_a_session_survives_a_reload_and_a_new_tab_opens_on_the_conversation(
    page: Page, houqin: SignedInHouqin
) -> None:
    signs_in(page, houqin, "david.wu")
    say(page, "hello from the first tab")
    expect(page.get_by_test_id("bot-message")).to_have_count(1)
    page.reload()
    expect(page.locator("#banner")).to_have_text("Signed in as David Wu")
    expect(page.get_by_test_id("my-message")).to_have_text(["hello from the first tab"])
    other = page.context.new_page()
    other.goto("/")
    expect(other.get_by_test_id("my-message")).to_have_text(["hello from the first tab"])
    expect(other.get_by_test_id("bot-message")).to_have_count(1)


def test_signing_out_ends_the_session(page: Page, houqin: SignedInHouqin) -> None:
    signs_in(page, houqin, "tom.baker")
    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("signin-panel")).to_be_visible()
    expect(page.get_by_test_id("message-input")).to_be_disabled()
    page.reload()
    expect(page.get_by_test_id("signin-panel")).to_be_visible()
    assert page.context.request.get("/api/web/session").status == 401


def test_an_expired_link_says_so_and_signs_nobody_in(page: Page, houqin: SignedInHouqin) -> None:
    page.goto(link(houqin, "emma.clark", issued_ago=signin.LINK_LIFETIME + timedelta(minutes=1)))
    page.get_by_test_id("signin-button").click()
    expect(page.get_by_test_id("signin-text")).to_contain_text("expired")
    page.goto("/")
    expect(page.get_by_test_id("signin-panel")).to_be_visible()


def test_a_change_without_the_csrf_token_is_refused(page: Page, houqin: SignedInHouqin) -> None:
    signs_in(page, houqin, "zhang.wei")
    before = deliveries(houqin)
    # From the page itself, with the session cookie but without the token: refused.
    status = page.evaluate(
        """() => fetch("/api/web/messages", {method: "POST", headers: {"Content-Type": "application/json"},
             body: JSON.stringify({client_id: "forged-123", text: "/my"})}).then((r) => r.status)"""
    )
    assert status == 403
    # From another site, a form posting to the chat: its cookie is not even sent (SameSite=Lax).
    page.route(
        "http://evil.test/**",
        lambda route: route.fulfill(
            content_type="text/html",
            body=f"""<form id="f" method="post" action="{houqin.base_url}/api/web/messages"
                     enctype="text/plain"><input name='{{"client_id":"evil-1234","text":"/my","x":"' value='"}}'>
                     </form><script>document.getElementById("f").submit()</script>""",
        ),
    )
    with page.expect_response(f"{houqin.base_url}/api/web/messages") as posted:
        page.goto("http://evil.test/")
    assert posted.value.status in (401, 403)
    assert deliveries(houqin) == before
    # The page's own requests, which carry the token, still work.
    page.goto("/")
    say(page, "/my")
    expect(page.get_by_test_id("bot-message")).to_have_count(1)
    assert deliveries(houqin) == before + 1

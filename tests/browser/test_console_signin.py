"""The web console outside demo mode: the browser chat's session lets a manager in and keeps a staff
member out; no session, no console; a change without the session's CSRF token, or from another site,
is refused and audited as the chat's would be (issue 24)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from storage.models import AuditEntry, Person
from tests.browser.conftest import fresh_page
from tests.browser.test_web_signin import SignedInHouqin, link
from tests.browser.test_web_signin import houqin as houqin  # the module's signed-in Houqin

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Browser, houqin: SignedInHouqin) -> Iterator[Page]:
    with fresh_page(browser, houqin.base_url, "zh-CN") as page:
        yield page


def sign_in(page: Page, houqin: SignedInHouqin, handle: str) -> None:
    page.goto(link(houqin, handle))
    page.get_by_test_id("signin-button").click()
    page.wait_for_url("**/")


def audit_of(houqin: SignedInHouqin, action: str) -> list[tuple[str, str | None, dict[str, str]]]:
    engine = create_engine(houqin.database_url.replace("+aiosqlite", ""))
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(AuditEntry.outcome, Person.handle, AuditEntry.detail)
                .outerjoin(Person, Person.id == AuditEntry.actor_id)
                .where(AuditEntry.action == action)
                .order_by(AuditEntry.id)
            ).all()
            return [(outcome, handle, detail) for outcome, handle, detail in rows]
    finally:
        engine.dispose()


def test_without_a_session_the_console_says_how_to_sign_in(page: Page) -> None:
    response = page.goto("/console")
    assert response is not None and response.status == 401
    expect(page.get_by_test_id("console-signin")).to_contain_text("/web")
    assert page.request.post("/console/tickets/R-2026-000001/close", form={"csrf": "x"}).status == 401


def test_a_signed_in_manager_opens_it_and_a_change_needs_the_sessions_token(page: Page, houqin: SignedInHouqin) -> None:
    sign_in(page, houqin, "huang.li")
    page.goto("/console/tickets")
    expect(page.get_by_test_id("console-person")).to_have_text("黄丽")
    expect(page.get_by_test_id("scope")).to_contain_text("财务处")
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert token
    # A change without the token, or with another's, is refused before anything else and audited.
    assert page.request.post("/console/tickets/R-2026-000001/close", form={"csrf": "forged"}).status == 403
    assert audit_of(houqin, "browser.session")[-1][:2] == ("refused", "huang.li")
    assert audit_of(houqin, "browser.session")[-1][2] == {"reason": "csrf"}
    cross = page.request.post(
        "/console/tickets/R-2026-000001/close",
        form={"csrf": token},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status == 403
    assert audit_of(houqin, "browser.session")[-1][2] == {"reason": "cross-site"}


def test_a_signed_in_staff_member_is_refused(page: Page, houqin: SignedInHouqin) -> None:
    sign_in(page, houqin, "emma.clark")
    response = page.goto("/console")
    assert response is not None and response.status == 403
    expect(page.get_by_test_id("console-refused")).to_be_visible()
    assert audit_of(houqin, "admin.menu")[-1][:2] == ("refused", "emma.clark")

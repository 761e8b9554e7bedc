"""Single sign-on to the browser chat against a fake OpenID Connect provider on 127.0.0.1: discovery,
the code flow with state, nonce and PKCE, the ID token checked against the provider's JWKS, and its
claims matched to a person (issue 15, item 4)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update

from bot.app import create_app
from bot.service import Service, build_service
from bot.settings import load_settings
from storage.db import Database
from storage.models import AuditEntry, Person, WebSession
from tests.fakes.oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeOIDCProvider

PUBLIC = "http://houqin.test"


@pytest.fixture
async def provider() -> AsyncIterator[FakeOIDCProvider]:
    async with FakeOIDCProvider() as fake:
        yield fake


@pytest.fixture
async def service(db: Database, provider: FakeOIDCProvider) -> AsyncIterator[Service]:
    settings = load_settings(
        database_url=db.url,
        web_enabled=True,
        public_url=PUBLIC,
        telegram_bot_token="",
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
    )
    built = build_service(settings)
    async with built.db.unit_of_work() as session:
        await session.execute(update(Person).where(Person.handle == "emma.clark").values(email="emma@example.org"))
    yield built
    await built.db.dispose()


@pytest.fixture
async def browser(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        yield client


async def logs_in(browser: httpx.AsyncClient, provider: FakeOIDCProvider) -> httpx.Response:
    """Press the page's login button, pass the provider (already logged in there), come back."""
    began = await browser.get("/signin/oidc")
    assert began.status_code == 302, began.text
    assert began.headers["location"].startswith(f"{provider.issuer}/authorize?")
    async with httpx.AsyncClient() as outside:
        at_provider = await outside.get(began.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    back = at_provider.headers["location"]
    assert back.startswith(f"{PUBLIC}/signin/oidc/callback?")
    return await browser.get(back.removeprefix(PUBLIC), headers={"Accept-Language": "en"})


async def sessions(service: Service) -> int:
    async with service.db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(WebSession)) or 0)


async def test_the_page_offers_the_login_button_when_configured(browser: httpx.AsyncClient) -> None:
    unsigned = await browser.get("/api/web/session")
    assert unsigned.status_code == 401 and unsigned.json()["oidc"] is True


async def test_a_member_named_by_the_email_claim_is_signed_in(
    service: Service, browser: httpx.AsyncClient, provider: FakeOIDCProvider
) -> None:
    provider.user = {"email": "Emma@Example.org", "email_verified": True}
    arrived = await logs_in(browser, provider)
    assert arrived.status_code == 303 and arrived.headers["location"] == "/"
    who = await browser.get("/api/web/session")
    assert who.status_code == 200 and who.json()["person"]["name"] == "Emma Clark"
    # The flow as a provider expects it: code, PKCE S256, nonce and state; the verifier sent later.
    [asked] = provider.authorize_requests
    assert asked["response_type"] == "code" and asked["code_challenge_method"] == "S256"
    assert asked["nonce"] and asked["state"] and "openid" in asked["scope"].split()
    [token_request] = provider.token_requests
    assert token_request["code_verifier"] and token_request["redirect_uri"] == f"{PUBLIC}/signin/oidc/callback"
    async with service.db.unit_of_work() as session:
        done = await session.scalar(select(AuditEntry).where(AuditEntry.action == "browser.signin"))
    assert done is not None and done.detail == {"by": "oidc"}


async def test_preferred_username_is_matched_to_a_handle(
    browser: httpx.AsyncClient, provider: FakeOIDCProvider
) -> None:
    provider.user = {"preferred_username": "David.Wu"}
    assert (await logs_in(browser, provider)).status_code == 303
    assert (await browser.get("/api/web/session")).json()["person"]["name"] == "David Wu"


async def test_someone_the_organisation_does_not_know_is_politely_refused(
    service: Service, browser: httpx.AsyncClient, provider: FakeOIDCProvider
) -> None:
    provider.user = {"email": "stranger@elsewhere.test", "preferred_username": "stranger"}
    refused = await logs_in(browser, provider)
    assert refused.status_code == 403 and "not a member" in refused.text
    assert await sessions(service) == 0


async def test_an_unverified_email_names_nobody(
    service: Service, browser: httpx.AsyncClient, provider: FakeOIDCProvider
) -> None:
    provider.user = {"email": "emma@example.org", "email_verified": False}
    assert (await logs_in(browser, provider)).status_code == 403
    assert await sessions(service) == 0


async def test_an_id_token_signed_with_a_key_the_provider_does_not_publish_is_refused(
    service: Service, browser: httpx.AsyncClient, provider: FakeOIDCProvider
) -> None:
    provider.user = {"email": "emma@example.org"}
    provider.sign_with_unpublished_key()
    refused = await logs_in(browser, provider)
    assert refused.status_code == 400 and "did not complete" in refused.text
    assert await sessions(service) == 0
    assert (await browser.get("/api/web/session")).status_code == 401


async def test_a_callback_not_begun_in_this_browser_is_refused(
    service: Service, browser: httpx.AsyncClient, provider: FakeOIDCProvider
) -> None:
    """Login CSRF: someone else's code and state, sent to this browser, sign nobody in."""
    provider.user = {"email": "emma@example.org"}
    began = await browser.get("/signin/oidc")
    async with httpx.AsyncClient() as outside:
        back = (await outside.get(began.headers["location"])).headers["location"]
    query = parse_qs(urlsplit(back).query)
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as victim:
        refused = await victim.get(f"/signin/oidc/callback?code={query['code'][0]}&state={query['state'][0]}")
        assert refused.status_code == 400
    # And a state that is not the one this browser began with.
    wrong = await browser.get(f"/signin/oidc/callback?code={query['code'][0]}&state=not-the-one")
    assert wrong.status_code == 400
    assert await sessions(service) == 0

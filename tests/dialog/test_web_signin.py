"""Signing in to the browser chat outside demo mode, at the HTTP level: links from /web, sessions,
the CSRF token, sign-out, and each way in that must stay shut (issue 15, item 4).

Time moves by the service's own clock (`houqin.clock`), never by sleeping or by a date written here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update

from bot.app import create_app
from bot.service import Service, build_service
from bot.settings import load_settings
from handlers.accounts import history, signin
from handlers.core import files, housekeeping, outbox
from handlers.core.conversation import Inbound, Kind, Sender
from handlers.core.i18n import Label, Lines
from handlers.core.outbox import Notice
from storage.db import Database
from storage.models import AuditEntry, ChannelAccount, Person, ProcessedDelivery, WebSession, WebSigninLink
from tests.dialog.test_surveys_web import answers_cleaning_in_chinese
from tests.dialog.web_person import WebPerson

PUBLIC = "http://houqin.test"
WORDS = "食堂二楼的卫生间灯一直不亮，没人管"
LINK = re.compile(r"https?://[a-z.]+/signin/([A-Za-z0-9_-]+)")


@pytest.fixture
async def service(db: Database) -> AsyncIterator[Service]:
    settings = load_settings(
        database_url=db.url, demo_mode=False, web_enabled=True, public_url=PUBLIC, telegram_bot_token=""
    )
    built = build_service(settings)
    yield built
    await built.db.dispose()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(service) as browser:
        yield browser


def new_client(service: Service) -> httpx.AsyncClient:
    """A browser of its own (its own cookies), as a second device or a new private window is."""
    transport = httpx.ASGITransport(app=create_app(service))
    return httpx.AsyncClient(transport=transport, base_url=PUBLIC)


async def person_id(db: Database, handle: str) -> int:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Person.id).where(Person.handle == handle))
        assert found is not None
        return int(found)


async def in_telegram(service: Service, handle: str, command: str, words: str = "") -> str:
    """A command typed in Telegram by the demo person of this handle (their account made as they write)."""
    pid = await person_id(service.db, handle)
    sender = Sender("telegram", f"tg-{handle}", f"tg-{handle}", handle)
    async with service.db.unit_of_work() as session:
        if await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == f"tg-{handle}")) is None:
            session.add(ChannelAccount(person_id=pid, channel="telegram", external_id=f"tg-{handle}", address="1"))
    asked = Inbound(sender, Kind.COMMAND, uuid.uuid4().hex, text=words, command=command)
    outcome = await service.houqin.handle(asked)
    await service.houqin.mark_replied(outcome)
    return "\n".join(reply.text for reply in outcome.replies)


async def asks_web(service: Service, handle: str, words: str = "") -> str:
    return await in_telegram(service, handle, "web", words)


async def link_for(service: Service, handle: str) -> str:
    said = await asks_web(service, handle)
    found = LINK.search(said)
    assert found, said
    return found.group(1)


async def signs_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    headers = {"Origin": PUBLIC, "Sec-Fetch-Site": "same-origin", "Accept-Language": "en"}
    return await client.post(f"/signin/{token}", headers=headers)


async def signed_in(service: Service, client: httpx.AsyncClient, handle: str) -> str:
    """Signed in by a link; the session's CSRF token."""
    response = await signs_in(client, await link_for(service, handle))
    assert response.status_code == 303, response.text
    who = await client.get("/api/web/session")
    assert who.status_code == 200
    return str(who.json()["csrf"])


async def says(client: httpx.AsyncClient, csrf: str | None, text: str, **headers: str) -> httpx.Response:
    sent = {"Origin": PUBLIC, "Sec-Fetch-Site": "same-origin", **headers}
    if csrf is not None:
        sent["X-CSRF-Token"] = csrf
    return await client.post("/api/web/messages", json={"client_id": uuid.uuid4().hex, "text": text}, headers=sent)


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def refusals(db: Database, action: str) -> list[AuditEntry]:
    async with db.unit_of_work() as session:
        found = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == action, AuditEntry.outcome == "refused")
        )
        return list(found.all())


# --- the link ------------------------------------------------------------------------------------


async def test_web_in_any_chat_gives_a_one_time_link_whose_token_is_kept_only_as_a_hash(service: Service) -> None:
    said = await asks_web(service, "emma.clark")
    assert "10 minutes" in said
    token = LINK.search(said).group(1)  # type: ignore[union-attr]
    async with service.db.unit_of_work() as session:
        links = (await session.scalars(select(WebSigninLink))).all()
        deliveries = (await session.scalars(select(ProcessedDelivery))).all()
    assert [link.token_hash for link in links] == [signin.digest(token)]
    # Once sent, not even the delivery's record keeps the link.
    assert not any(token in str(delivery.outcome) for delivery in deliveries)


async def test_opening_the_link_shows_a_button_and_only_pressing_it_signs_in(
    service: Service, client: httpx.AsyncClient
) -> None:
    token = await link_for(service, "emma.clark")
    # A link preview (a GET) spends nothing.
    page = await client.get(f"/signin/{token}", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert page.status_code == 200 and "Sign in" in page.text and 'method="post"' in page.text
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "same-origin"
    assert await count(service.db, WebSession) == 0
    pressed = await signs_in(client, token)
    assert pressed.status_code == 303 and pressed.headers["location"] == "/"
    cookie = pressed.headers["set-cookie"]
    assert "houqin_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http here
    assert f"Max-Age={int(signin.SESSION_LIFETIME.total_seconds())}" in cookie
    who = (await client.get("/api/web/session")).json()
    assert who["person"]["name"] == "Emma Clark" and who["csrf"]
    # The session id is in the cookie only; the database keeps its hash.
    session_id = client.cookies["houqin_session"]
    async with service.db.unit_of_work() as session:
        [row] = (await session.scalars(select(WebSession))).all()
    assert row.session_hash == signin.digest(session_id) and session_id not in row.session_hash


async def test_the_link_page_speaks_the_browsers_language(service: Service, client: httpx.AsyncClient) -> None:
    token = await link_for(service, "wang.fang")
    page = await client.get(f"/signin/{token}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录" in page.text and 'lang="zh-CN"' in page.text


async def test_a_used_link_is_refused_and_audited(service: Service, client: httpx.AsyncClient) -> None:
    token = await link_for(service, "emma.clark")
    assert (await signs_in(client, token)).status_code == 303
    async with new_client(service) as other:
        again = await signs_in(other, token)
        assert again.status_code == 400 and "already been used" in again.text
        assert "set-cookie" not in again.headers
    assert await count(service.db, WebSession) == 1
    [refused] = await refusals(service.db, signin.SIGNIN)
    assert refused.actor_id == await person_id(service.db, "emma.clark") and refused.detail["reason"] == "used"


async def test_a_newer_link_retires_the_older_one(service: Service, client: httpx.AsyncClient) -> None:
    first = await link_for(service, "emma.clark")
    await link_for(service, "emma.clark")
    assert (await signs_in(client, first)).status_code == 400


async def test_an_expired_link_is_refused_and_audited(service: Service, client: httpx.AsyncClient) -> None:
    token = await link_for(service, "emma.clark")
    issued = service.houqin.clock()
    service.houqin.clock = lambda: issued + signin.LINK_LIFETIME + timedelta(seconds=1)
    refused = await signs_in(client, token)
    assert refused.status_code == 400 and "expired" in refused.text
    assert await count(service.db, WebSession) == 0
    assert [entry.detail["reason"] for entry in await refusals(service.db, signin.SIGNIN)] == ["expired"]


async def test_a_made_up_link_changes_nothing(service: Service, client: httpx.AsyncClient) -> None:
    for token in ("A" * 43, "oops", "x" * 300):
        refused = await signs_in(client, token)
        assert refused.status_code in (400, 404)
    assert await count(service.db, WebSession) == 0
    assert await refusals(service.db, signin.SIGNIN) == []  # it names nobody


async def test_a_sign_in_posted_from_another_site_is_refused(service: Service, client: httpx.AsyncClient) -> None:
    token = await link_for(service, "emma.clark")
    forced = await client.post(
        f"/signin/{token}", headers={"Origin": "https://evil.test", "Sec-Fetch-Site": "cross-site"}
    )
    assert forced.status_code == 400
    assert await count(service.db, WebSession) == 0
    assert (await signs_in(client, token)).status_code == 303  # still the owner's to use


# --- the session -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/web/session"),
        ("GET", "/api/web/history"),
        ("POST", "/api/web/messages"),
        ("POST", "/api/web/inbox"),
        ("POST", "/api/web/photos"),
        ("POST", "/api/web/signout"),
        ("GET", "/api/web/files/1"),
        ("GET", "/api/web/photos/1"),
    ],
)
async def test_without_a_session_every_request_gets_401(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={"person": "emma.clark", "text": "hi", "client_id": "abcdefgh"})
    assert response.status_code == 401 and response.json()["signin"] is True


async def test_the_demo_picker_is_not_there_outside_demo_mode(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/web/people")).status_code == 404
    chat = await client.get("/")  # the page itself, which then asks who is signed in
    assert chat.status_code == 200 and chat.headers["x-frame-options"] == "DENY"


async def test_a_signed_in_person_chats_as_themselves_whatever_the_body_says(
    service: Service, client: httpx.AsyncClient
) -> None:
    csrf = await signed_in(service, client, "emma.clark")
    answered = await client.post(
        "/api/web/messages",
        json={"client_id": uuid.uuid4().hex, "text": "/my", "person": "wang.fang"},
        headers={"X-CSRF-Token": csrf, "Origin": PUBLIC},
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["locale"] == "en"  # Emma's language, not Wang Fang's
    async with service.db.unit_of_work() as session:
        keys = (await session.scalars(select(ProcessedDelivery.key))).all()
    assert any(key.startswith("emma.clark:") for key in keys) and not any(k.startswith("wang.fang:") for k in keys)


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no token
        {"X-CSRF-Token": "0" * 64},  # a wrong one
    ],
)
async def test_a_change_without_its_csrf_token_is_refused_and_audited(
    service: Service, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await signed_in(service, client, "emma.clark")
    before = await count(service.db, ProcessedDelivery)
    refused = await says(client, None, "/my", **headers)
    assert refused.status_code == 403
    assert await count(service.db, ProcessedDelivery) == before
    [entry] = await refusals(service.db, signin.SESSION)
    assert entry.detail == {"reason": "csrf"} and entry.actor_id == await person_id(service.db, "emma.clark")


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": "https://evil.test"}],
)
async def test_a_cross_site_post_is_refused_even_with_the_token(
    service: Service, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    csrf = await signed_in(service, client, "emma.clark")
    before = await count(service.db, ProcessedDelivery)
    refused = await says(client, csrf, "/my", **headers)
    assert refused.status_code == 403
    assert await count(service.db, ProcessedDelivery) == before
    assert [entry.detail["reason"] for entry in await refusals(service.db, signin.SESSION)] == ["cross-site"]


async def test_one_persons_csrf_token_does_not_serve_anothers_session(
    service: Service, client: httpx.AsyncClient
) -> None:
    emmas = await signed_in(service, client, "emma.clark")
    async with new_client(service) as other:
        await signed_in(service, other, "david.wu")
        assert (await says(other, emmas, "/my")).status_code == 403


async def test_signing_out_on_the_page_ends_this_session_only(service: Service, client: httpx.AsyncClient) -> None:
    csrf = await signed_in(service, client, "emma.clark")
    async with new_client(service) as laptop:
        await signed_in(service, laptop, "emma.clark")
        old_cookie = client.cookies["houqin_session"]
        out = await client.post("/api/web/signout", headers={"X-CSRF-Token": csrf, "Origin": PUBLIC})
        assert out.status_code == 200 and 'houqin_session=""' in out.headers["set-cookie"]
        # The old cookie, kept by someone who copied it, opens nothing.
        async with new_client(service) as thief:
            thief.cookies.set("houqin_session", old_cookie)
            assert (await thief.get("/api/web/session")).status_code == 401
        assert (await laptop.get("/api/web/session")).status_code == 200


async def test_web_signout_in_chat_ends_every_session_of_that_person(
    service: Service, client: httpx.AsyncClient
) -> None:
    await signed_in(service, client, "emma.clark")
    async with new_client(service) as laptop, new_client(service) as davids:
        await signed_in(service, laptop, "emma.clark")
        await signed_in(service, davids, "david.wu")
        said = await asks_web(service, "emma.clark", "signout")
        assert "2 sessions ended" in said
        assert (await client.get("/api/web/session")).status_code == 401
        assert (await laptop.get("/api/web/session")).status_code == 401
        assert (await davids.get("/api/web/session")).status_code == 200


async def test_a_session_slides_for_thirty_days_from_its_last_use(service: Service, client: httpx.AsyncClient) -> None:
    """Kept by the day: no time of day that could sit beside an anonymous answer."""
    await signed_in(service, client, "emma.clark")
    start = service.houqin.clock()
    service.houqin.clock = lambda: start + timedelta(days=20)
    renewed = await client.get("/api/web/session")
    assert renewed.status_code == 200 and "houqin_session=" in renewed.headers["set-cookie"]
    async with service.db.unit_of_work() as session:
        [row] = (await session.scalars(select(WebSession))).all()
    assert (row.last_used_at.hour, row.last_used_at.minute, row.last_used_at.second) == (0, 0, 0)
    service.houqin.clock = lambda: start + timedelta(days=45)  # 25 days after the last use
    assert (await client.get("/api/web/session")).status_code == 200
    service.houqin.clock = lambda: start + timedelta(days=45) + signin.SESSION_LIFETIME + timedelta(days=1, minutes=1)
    assert (await client.get("/api/web/session")).status_code == 401
    assert await count(service.db, WebSession) == 0


async def test_someone_who_left_loses_their_old_session(service: Service, client: httpx.AsyncClient) -> None:
    """A leaver (handlers/core/membership.py) is refused on their next request, the session ended and
    the refusal audited; a link they kept, or single sign-on, signs them in no more."""
    csrf = await signed_in(service, client, "emma.clark")
    kept_link = await link_for(service, "emma.clark")
    async with service.db.unit_of_work() as session:
        await session.execute(
            update(Person).where(Person.handle == "emma.clark").values(left_at=service.houqin.clock())
        )
    before = await count(service.db, ProcessedDelivery)
    assert (await says(client, csrf, "/my")).status_code == 401
    assert await count(service.db, ProcessedDelivery) == before
    assert await count(service.db, WebSession) == 0
    assert [entry.detail["reason"] for entry in await refusals(service.db, signin.SESSION)] == ["ended"]
    refused = await signs_in(client, kept_link)
    assert refused.status_code == 403 and "not a member" in refused.text
    assert await count(service.db, WebSession) == 0


async def test_a_session_whose_person_is_gone_opens_nothing(service: Service, client: httpx.AsyncClient) -> None:
    # A person deleted outright takes their sessions with them (ON DELETE CASCADE); one who never
    # acted (no audit line holds them) can be, so that is who is deleted here.
    async with service.db.unit_of_work() as session:
        ghost = Person(display_name="Ghost", handle="ghost")
        session.add(ghost)
        await session.flush()
        started = await signin.start_session(session, ghost, "link", service.houqin.clock())
    client.cookies.set("houqin_session", started.session_id)
    assert (await client.get("/api/web/session")).status_code == 200
    async with service.db.unit_of_work() as session:
        await session.execute(delete(Person).where(Person.handle == "ghost"))
    assert (await client.get("/api/web/session")).status_code == 401


async def test_an_https_public_url_makes_the_cookie_secure(db: Database) -> None:
    settings = load_settings(
        database_url=db.url, web_enabled=True, public_url="https://houqin.example.org", telegram_bot_token=""
    )
    secure = build_service(settings)
    try:
        token = await link_for(secure, "emma.clark")
        transport = httpx.ASGITransport(app=create_app(secure))
        async with httpx.AsyncClient(transport=transport, base_url="https://houqin.example.org") as browser:
            pressed = await browser.post(f"/signin/{token}", headers={"Origin": "https://houqin.example.org"})
        assert pressed.status_code == 303 and "Secure" in pressed.headers["set-cookie"]
    finally:
        await secure.db.dispose()


# --- a channel like the others --------------------------------------------------------------------


async def test_a_new_tab_opens_on_the_last_fifty_messages(service: Service, client: httpx.AsyncClient) -> None:
    csrf = await signed_in(service, client, "emma.clark")
    for n in range(30):
        assert (await says(client, csrf, f"note {n}")).status_code == 200
    async with new_client(service) as tab:
        tab.cookies.set("houqin_session", client.cookies["houqin_session"])
        entries = (await tab.get("/api/web/history")).json()["entries"]
    assert len(entries) == history.KEEP
    mine = [entry["text"] for entry in entries if entry["who"] == "me"]
    assert mine[-1] == "note 29" and "note 4" not in mine  # the oldest are gone
    assert all(entry["who"] in ("me", "bot") for entry in entries)


async def test_someone_elses_history_and_files_stay_theirs(service: Service, client: httpx.AsyncClient) -> None:
    csrf = await signed_in(service, client, "emma.clark")
    await says(client, csrf, "only for emma")
    async with new_client(service) as davids:
        await signed_in(service, davids, "david.wu")
        entries = (await davids.get("/api/web/history")).json()["entries"]
        assert not any("only for emma" in str(entry) for entry in entries)


async def test_notices_cards_and_files_reach_the_signed_in_person_only(
    service: Service, client: httpx.AsyncClient
) -> None:
    await in_telegram(service, "emma.clark", "my")  # she used Telegram last…
    csrf = await signed_in(service, client, "emma.clark")  # …and now signs in: her notices come here
    emma = await person_id(service.db, "emma.clark")

    async def card(text: str) -> None:
        async with service.db.unit_of_work() as session:
            kept = await files.keep(session, emma, "report.csv", "text/csv", b"a,b\n", service.houqin.clock())
            notice = Notice(emma, Lines((Label(text, text),)), card_key="tk:77", files=(kept,))
            assert await outbox.notify(session, notice, service.houqin.clock())

    async def inbox(ack: list[int]) -> list[dict[str, Any]]:
        polled = await client.post("/api/web/inbox", json={"ack": ack}, headers={"X-CSRF-Token": csrf})
        assert polled.status_code == 200
        notices: list[dict[str, Any]] = polled.json()["notices"]
        return notices

    await card("ticket 77: new")
    [first] = await inbox([])
    assert first["card_key"] == "tk:77" and first["text"] == "ticket 77: new"
    url = first["files"][0]["url"]
    assert url.startswith("/api/web/files/") and "person=" not in url  # the cookie says who asks
    assert (await client.get(url)).content == b"a,b\n"
    async with new_client(service) as davids:
        await signed_in(service, davids, "david.wu")
        assert (await davids.get(url)).status_code == 404
    async with new_client(service) as nobody:
        assert (await nobody.get(url)).status_code == 401

    await inbox([])  # handed out again, not acknowledged yet: kept once all the same
    await card("ticket 77: accepted")
    [second] = await inbox([first["id"]])
    assert second["text"] == "ticket 77: accepted"
    cards = [e for e in (await client.get("/api/web/history")).json()["entries"] if e.get("card_key") == "tk:77"]
    assert [entry["text"] for entry in cards] == ["ticket 77: accepted"]  # edited in place


async def test_an_anonymous_answer_in_the_signed_in_browser_leaves_nothing_of_its_own(
    service: Service, client: httpx.AsyncClient
) -> None:
    """The browser's own tables stay out of it: the history keeps no discreet turn, and the session's
    times keep the day only (handlers/core/discreet.py; tests/dialog/test_anonymity.py for the rest)."""
    for typed in ("import cleaning", "launch 1 dept:teaching 3"):
        await in_telegram(service, "admin", "survey", typed)
    csrf = await signed_in(service, client, "liu.yang")
    client.headers.update({"X-CSRF-Token": csrf, "Origin": PUBLIC})
    liu = WebPerson(client, "liu.yang")  # the body's person is ignored: the session says who
    await liu.says("/my")  # the browser is where she reads now
    await liu.inbox()  # the invitation, handed out (and kept in her history) before she answers
    liu_id = await person_id(service.db, "liu.yang")
    kept_before = await history.recent(service.db, liu_id)

    assert "匿名答案已收到" in await answers_cleaning_in_chinese(liu, WORDS)

    assert await history.recent(service.db, liu_id) == kept_before
    async with service.db.unit_of_work() as session:
        [row] = (await session.scalars(select(WebSession).where(WebSession.person_id == liu_id))).all()
    assert (row.last_used_at.hour, row.last_used_at.minute, row.last_used_at.second) == (0, 0, 0)


async def test_daily_tidying_forgets_spent_links_and_ended_sessions(
    service: Service, client: httpx.AsyncClient
) -> None:
    await signed_in(service, client, "emma.clark")  # one link spent, one session
    await link_for(service, "david.wu")  # one link waiting
    now = service.houqin.clock()
    async with service.db.unit_of_work() as session:
        await housekeeping.tidy(session, now, service.houqin.areas)
    assert await count(service.db, WebSigninLink) == 1 and await count(service.db, WebSession) == 1
    async with service.db.unit_of_work() as session:
        await housekeeping.tidy(session, now + signin.SESSION_LIFETIME + timedelta(days=2), service.houqin.areas)
    assert await count(service.db, WebSigninLink) == 0 and await count(service.db, WebSession) == 0

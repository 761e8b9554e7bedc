"""Sign-in for the browser chat outside demo mode: the link's page, the session cookie, the checks
every request passes (handlers/accounts/signin.py keeps the sessions).

Opening PUBLIC_URL/signin/<token> shows a page with a button; only pressing it (a POST) spends the
link. Chat apps and mail scanners fetch links they see to preview them: a GET that signed in would
spend the link before its owner opens it, and would sign in whoever fetched it.

A session's cookie is HttpOnly (no script reads it), SameSite=Lax (not sent with another site's
POST), Secure when PUBLIC_URL is https. A state-changing request also needs the session's CSRF
token in X-CSRF-Token (the page gets it from GET /api/web/session) and must not come from another
site (Sec-Fetch-Site, Origin): a request failing that is refused (403) and audited; one without a
valid session gets 401 and the page shows how to sign in.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.settings import Settings
from handlers.accounts import signin
from handlers.core.conversation import Sender
from handlers.core.engine import Houqin
from handlers.core.i18n import pick_locale, translate

CHANNEL = "web"
COOKIE = "houqin_session"
CSRF_HEADER = "x-csrf-token"
# What Sec-Fetch-Site says of a request the page itself made (or one typed into the address bar).
OWN_SITE = ("same-origin", "none")
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class Visitor:
    """A request's signed-in person: as the core sees them, and their session."""

    sender: Sender
    who: signin.SignedIn
    session_id: str

    @property
    def person_id(self) -> int:
        return self.who.person_id


class SignIn:
    def __init__(self, settings: Settings, houqin: Houqin) -> None:
        assert settings.public_url is not None
        self.houqin = houqin
        self.public_url = settings.public_url
        parts = urlsplit(settings.public_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.secure = parts.scheme == "https"
        self.default_locale = settings.default_locale
        self.oidc = settings.oidc_enabled

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/signin/{token}", self.link_page),
            Route("/signin/{token}", self.link_pressed, methods=["POST"]),
            Route("/api/web/session", self.session),
            Route("/api/web/signout", self.sign_out, methods=["POST"]),
        ]

    # --- the link -----------------------------------------------------------------------------------

    async def link_page(self, request: Request) -> Response:
        """The button that signs in; nothing is looked up or spent by showing it."""
        locale = self.browser_locale(request)
        token = request.path_params["token"]
        if not well_formed(token):
            return self.page(locale, translate(locale, "signin.page.bad_link"), status=400)
        form = (
            f'<form method="post" action="/signin/{html.escape(token)}">'
            f'<button type="submit" data-testid="signin-button">'
            f"{html.escape(translate(locale, 'signin.page.button'))}</button></form>"
        )
        return self.page(locale, translate(locale, "signin.page.explain"), extra=form)

    async def link_pressed(self, request: Request) -> Response:
        locale = self.browser_locale(request)
        token = request.path_params["token"]
        # A sign-in posted from another site would sign the victim in as the attacker (login CSRF).
        if not self.from_own_site(request) or not well_formed(token):
            return self.page(locale, translate(locale, "signin.page.bad_link"), status=400)
        started = await signin.start_by_link(self.houqin.db, token, self.houqin.clock())
        if started is signin.Refusal.NOT_MEMBER:
            return self.page(locale, translate(locale, "signin.page.not_member"), status=403)
        if isinstance(started, signin.Refusal):
            return self.page(locale, translate(locale, "signin.page.bad_link"), status=400)
        return self.signed_in_response(started)

    def signed_in_response(self, started: signin.Started) -> Response:
        response = RedirectResponse("/", status_code=303)
        # As long as the session was given (not less the moments since): the same on a busy machine.
        self.set_cookie(response, started.session_id, signin.SESSION_LIFETIME)
        return response

    # --- the session ---------------------------------------------------------------------------------

    async def session(self, request: Request) -> Response:
        """Who is signed in here, with the CSRF token the page sends back; 401 when nobody is."""
        visitor = await self.visitor(request)
        if visitor is None:
            return self.unauthorised()
        found = visitor.who
        body = {
            "person": {"id": found.external_id, "name": found.display_name, "locale": found.locale, "roles": []},
            "csrf": signin.csrf_token(visitor.session_id),
            "oidc": self.oidc,
        }
        return self.renew(JSONResponse(body, headers={"Cache-Control": "no-store"}), visitor)

    async def sign_out(self, request: Request) -> Response:
        visitor = await self.changing(request)
        if isinstance(visitor, Response):
            return visitor
        await signin.sign_out(self.houqin.db, visitor.session_id, self.houqin.clock())
        response = JSONResponse({"signed_out": True})
        response.delete_cookie(COOKIE, path="/", secure=self.secure, httponly=True, samesite="lax")
        return response

    async def visitor(self, request: Request) -> Visitor | None:
        session_id = request.cookies.get(COOKIE)
        if not session_id or len(session_id) > 128:
            return None
        found = await signin.signed_in(self.houqin.db, session_id, self.default_locale, self.houqin.clock())
        if found is None:
            return None
        sender = Sender(CHANNEL, found.external_id, found.external_id, found.display_name, None)
        return Visitor(sender, found, session_id)

    async def reading(self, request: Request) -> Visitor | Response:
        """The signed-in person of a request that changes nothing (GET), or 401."""
        visitor = await self.visitor(request)
        return visitor if visitor is not None else self.unauthorised()

    async def changing(self, request: Request, token: str | None = None) -> Visitor | Response:
        """The signed-in person of a state-changing request with its CSRF token, from this site; or
        401 (no session), or 403 (audited: the session was someone's). The token comes in the header,
        or as `token` (a console form's hidden field: an HTML form sends no headers of its own)."""
        visitor = await self.visitor(request)
        if visitor is None:
            return self.unauthorised()
        if not self.from_own_site(request):
            await signin.refused_request(self.houqin.db, visitor.person_id, self.houqin.clock(), "cross-site")
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        if not signin.csrf_matches(visitor.session_id, token or request.headers.get(CSRF_HEADER)):
            await signin.refused_request(self.houqin.db, visitor.person_id, self.houqin.clock(), "csrf")
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        return visitor

    def from_own_site(self, request: Request) -> bool:
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in OWN_SITE:
            return False
        origin = request.headers.get("origin")
        return origin is None or origin == self.origin

    def renew(self, response: Response, visitor: Visitor) -> Response:
        """The cookie again with the session's new expiry, when using it just pushed that on."""
        if visitor.who.renewed_until is not None:
            self.set_cookie(response, visitor.session_id, visitor.who.renewed_until - self.houqin.clock())
        return response

    def set_cookie(self, response: Response, session_id: str, lasting: timedelta) -> None:
        max_age = max(0, round(lasting.total_seconds()))
        response.set_cookie(
            COOKIE, session_id, max_age=max_age, path="/", secure=self.secure, httponly=True, samesite="lax"
        )

    def unauthorised(self) -> Response:
        return JSONResponse({"error": "sign in first", "signin": True, "oidc": self.oidc}, status_code=401)

    # --- pages ------------------------------------------------------------------------------------------

    def browser_locale(self, request: Request) -> str:
        first = request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip()
        return pick_locale(None, first or None, self.default_locale)

    def page(self, locale: str, text: str, *, extra: str = "", status: int = 200) -> HTMLResponse:
        return signin_page(locale, text, extra=extra, status=status)


def signin_page(locale: str, text: str, *, extra: str = "", status: int = 200) -> HTMLResponse:
    """A small page of its own (the chat's stylesheet), every word escaped."""
    title = html.escape(translate(locale, "signin.page.title"))
    to_chat = html.escape(translate(locale, "signin.page.to_chat"))
    lang = "zh-CN" if locale == "zh_CN" else locale
    body = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title><link rel="stylesheet" href="/static/style.css">'
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml"></head>'
        f'<body><main class="signin"><h1>{title}</h1><p data-testid="signin-text">{html.escape(text)}</p>'
        f'{extra}<p><a href="/">{to_chat}</a></p></main></body></html>'
    )
    # same-origin: the link's token never leaves in a Referer, yet the button's POST keeps its Origin
    # (no-referrer would make it "null", and the same-site check refuse it).
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "frame-ancestors 'none'",
    }
    return HTMLResponse(body, status_code=status, headers=headers)


def well_formed(token: str) -> bool:
    return 20 <= len(token) <= 64 and set(token) <= TOKEN_CHARS

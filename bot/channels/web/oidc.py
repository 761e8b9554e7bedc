"""Single sign-on to the browser chat with the organisation's OpenID Connect provider (optional:
OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET).

Authlib does the protocol: discovery (ISSUER/.well-known/openid-configuration), the authorization
code flow with PKCE (S256), the token request, and the ID token checked against the provider's
published keys (JWKS), issuer, audience, expiry and our nonce. Ours is only where the flow's
secrets wait meanwhile and who the verified claims name: the state, nonce and PKCE verifier are
random per attempt and wait in a short-lived HttpOnly cookie on the browser that began, so the
callback is accepted only there (the state must match); handlers/accounts/signin.person_for_claims
matches the `email` claim to a person's e-mail, else `preferred_username` to a handle, and starts the
same session a sign-in link does. Anyone else gets a polite page saying they are not a member.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import warnings

import httpx
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.web.signin import SignIn
from bot.settings import Settings
from handlers.accounts import signin
from handlers.core.engine import Houqin
from handlers.core.i18n import translate

with warnings.catch_warnings():
    # Authlib 1.9 asks, from inside its own Starlette client, for httpx2 instead of httpx, and its
    # warnings module turns them on for the whole process as it loads: nothing of ours to change, and
    # it would print at every start with single sign-on on. Both stay inside this block.
    import authlib.deprecate  # noqa: F401  (loaded first, so the filter below goes in front of its own)

    warnings.filterwarnings("ignore", "The httpx module is deprecated", DeprecationWarning)
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.starlette_client import OAuth

log = logging.getLogger(__name__)
FLOW_COOKIE = "houqin_oidc"
FLOW_SECONDS = 600
SCOPE = "openid email profile"


class SingleSignOn:
    def __init__(self, settings: Settings, houqin: Houqin, pages: SignIn) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id and settings.public_url
        self.houqin = houqin
        self.pages = pages
        self.redirect_uri = f"{settings.public_url}/signin/oidc/callback"
        self.client = OAuth().register(
            "houqin",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            server_metadata_url=f"{settings.oidc_issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
        )

    def routes(self) -> list[BaseRoute]:
        # Before /signin/{token}, which would otherwise take "oidc" for a token.
        return [Route("/signin/oidc", self.begin), Route("/signin/oidc/callback", self.callback)]

    async def begin(self, request: Request) -> Response:
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        try:
            made = await self.client.create_authorization_url(
                self.redirect_uri, state=state, nonce=nonce, code_verifier=verifier
            )
        except (OAuthError, httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("single sign-on: the provider's discovery document could not be read (%s)", exc)
            return self.failed(request)
        response = RedirectResponse(made["url"], status_code=302)
        response.set_cookie(
            FLOW_COOKIE,
            f"{state}.{nonce}.{verifier}",
            max_age=FLOW_SECONDS,
            path="/signin/oidc",
            secure=self.pages.secure,
            httponly=True,
            samesite="lax",  # sent on the provider's redirect back (a top-level GET), not on others' POSTs
        )
        return response

    async def callback(self, request: Request) -> Response:
        kept = request.cookies.get(FLOW_COOKIE, "").split(".")
        state, code = request.query_params.get("state", ""), request.query_params.get("code")
        if len(kept) != 3 or not state or not hmac.compare_digest(kept[0], state) or not code:
            return self.failed(request)
        _, nonce, verifier = kept
        try:
            token = await self.client.fetch_access_token(
                redirect_uri=self.redirect_uri, code=code, code_verifier=verifier
            )
            claims = await self.client.parse_id_token(token, nonce=nonce)
        except (OAuthError, JoseError, httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("single sign-on refused: %s", type(exc).__name__)
            return self.failed(request)
        if claims is None:
            return self.failed(request)
        # An address the provider says it has not verified names nobody.
        email = claims.get("email") if claims.get("email_verified", True) is not False else None
        username = claims.get("preferred_username")
        started = await signin.person_for_claims(
            self.houqin.db,
            email if isinstance(email, str) else None,
            username if isinstance(username, str) else None,
            self.houqin.clock(),
        )
        if started is None:
            locale = self.pages.browser_locale(request)
            response: Response = self.pages.page(locale, translate(locale, "signin.page.not_member"), status=403)
        else:
            response = self.pages.signed_in_response(started)
        response.delete_cookie(FLOW_COOKIE, path="/signin/oidc", secure=self.pages.secure, httponly=True)
        return response

    def failed(self, request: Request) -> Response:
        locale = self.pages.browser_locale(request)
        response = self.pages.page(locale, translate(locale, "signin.page.sso_failed"), status=400)
        response.delete_cookie(FLOW_COOKIE, path="/signin/oidc", secure=self.pages.secure, httponly=True)
        return response

"""The browser chat: a page and a small JSON API on Houqin's own ASGI app.

Translates HTTP requests into Inbound deliveries and Outcomes into JSON, nothing more. In demo mode
it trusts the person the page says it is (the picker); otherwise the person is the one signed in
(signin.py: a session cookie, a CSRF token on every change, single sign-on in oidc.py), and their
recent conversation is kept server-side (handlers/accounts/history.py) so a new tab is not empty.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.channels.bodies import read_limited
from bot.channels.contract import MAX_PHOTO_BYTES
from bot.channels.web.console import Console
from bot.channels.web.signin import SignIn, Visitor
from bot.settings import Settings
from handlers.accounts import history
from handlers.accounts import views as account_views
from handlers.core.conversation import MAX_TEXT, DocumentIn, Inbound, Kind, Outcome, PhotoIn, Reply, Sender
from handlers.core.engine import Houqin
from handlers.core.flow import sniff_image_type
from handlers.core.i18n import LOCALES, catalog, translate, typed_as_is
from handlers.core.outages import is_outage
from handlers.core.outbox import Outbox

if TYPE_CHECKING:
    from bot.channels.web.oidc import SingleSignOn

log = logging.getLogger(__name__)
CHANNEL = "web"
STATIC = Path(__file__).parent / "static"
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_UPLOAD = MAX_PHOTO_BYTES
# A message (4,096 characters, each perhaps written as \uXXXX) or a list of notices seen, with room.
MAX_JSON = 256 * 1024
FRAMES = "frame-ancestors 'none'"


class WebChat:
    name = CHANNEL
    label = CHANNEL

    def __init__(self, settings: Settings, houqin: Houqin, outbox: Outbox) -> None:
        self.houqin = houqin
        self.outbox = outbox
        self.default_locale = settings.default_locale
        # None in demo mode: the page names the person (the picker).
        self.signin = SignIn(settings, houqin) if settings.web_signin else None
        self.sso: SingleSignOn | None = None
        if settings.oidc_enabled and self.signin is not None:
            from bot.channels.web.oidc import SingleSignOn  # Authlib, loaded only when configured

            self.sso = SingleSignOn(settings, houqin, self.signin)
        # The console (/console) for those who run logistics: the same sign-in, the same demo picker idea.
        self.console = Console(houqin, self.signin, settings.default_locale)

    async def start(self) -> None:
        """Nothing to start: the page asks (the API below) and fetches its own notices (/api/web/inbox)."""

    async def stop(self) -> None:
        """Nothing running of its own."""

    def command_syntax(self, command: str) -> str:
        return typed_as_is(command)

    def routes(self) -> list[BaseRoute]:
        own: list[BaseRoute] = [Route("/api/web/people", self.people), Route("/api/web/session", self.demo)]
        if self.signin is not None:
            own = [*(self.sso.routes() if self.sso else []), *self.signin.routes()]
            own.append(Route("/api/web/history", self.history))
        return [
            *own,
            Route("/", self.page),
            Route("/api/web/strings", self.strings),
            Route("/api/web/messages", self.message, methods=["POST"]),
            Route("/api/web/photos", self.photo, methods=["POST"]),
            Route("/api/web/inbox", self.inbox, methods=["POST"]),
            # Ids as text, parsed by handlers/core/ids.py: Starlette's int takes digits of any size.
            Route("/api/web/photos/{photo_id}", self.photo_bytes),
            Route("/api/web/files/{file_id}", self.file_bytes),
            *self.console.routes(),
            Mount("/static", StaticFiles(directory=STATIC), name="web-static"),
        ]

    async def page(self, request: Request) -> Response:
        # Never inside another site's frame: its buttons approve and hand out things (clickjacking).
        headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Content-Security-Policy": FRAMES}
        return FileResponse(STATIC / "index.html", headers=headers)

    async def demo(self, request: Request) -> Response:
        """Nobody signs in to the demo: the page shows its picker."""
        return JSONResponse({"demo": True})

    async def history(self, request: Request) -> Response:
        """The signed-in person's recent conversation, oldest first, for a page just opened."""
        assert self.signin is not None
        visitor = await self.signin.reading(request)
        if isinstance(visitor, Response):
            return visitor
        entries = await history.recent(self.houqin.db, visitor.person_id)
        return self.signin.renew(JSONResponse({"entries": entries}, headers={"Cache-Control": "no-store"}), visitor)

    async def people(self, request: Request) -> Response:
        """The demo picker: every person who has a browser identity."""
        members = await account_views.members(self.houqin.db, CHANNEL, self.default_locale)
        people = [
            {"id": member.external_id, "name": member.name, "roles": list(member.roles), "locale": member.locale}
            for member in members
        ]
        return JSONResponse({"people": people})

    async def strings(self, request: Request) -> Response:
        locale = request.query_params.get("locale", self.default_locale)
        if locale not in LOCALES:
            locale = self.default_locale
        texts = {key: text for key, text in catalog(locale).items() if key.startswith(("web.", "lang."))}
        return JSONResponse({"locale": locale, "strings": texts})

    async def message(self, request: Request) -> Response:
        asked = await self._json_from_person(request)
        if isinstance(asked, Response):
            return asked
        body, sender, visitor = asked
        client_id = body.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            return problem(400, "client_id must be 8-64 letters, digits, - or _")
        inbound = inbound_from(sender, delivery_key(sender, client_id), body)
        if inbound is None:
            return problem(400, "send one of text or button, as a string")
        return await self._handle(inbound, visitor)

    async def photo(self, request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_UPLOAD:
            return problem(413, "photo too large")
        visitor = await self._changing(request)
        if isinstance(visitor, Response):
            return visitor
        form = await request.form(max_files=1, max_fields=4)
        sender = visitor.sender if visitor is not None else await self._sender(form.get("person"))
        if isinstance(sender, Response):
            return sender
        client_id = form.get("client_id")
        upload = form.get("file")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            return problem(400, "client_id must be 8-64 letters, digits, - or _")
        if not isinstance(upload, UploadFile):
            return problem(400, "file is required")
        content = await upload.read(MAX_UPLOAD + 1)
        kind_of_image = sniff_image_type(content)
        key = delivery_key(sender, client_id)
        if kind_of_image:
            inbound = Inbound(sender, Kind.PHOTO, key, photo=PhotoIn(content=content, content_type=kind_of_image))
            return await self._handle(inbound, visitor)
        # Any other file is a document (a spreadsheet to import); a step that wants none says so, politely.
        # An optional caption names the command it is for ("/stock import"), as in Telegram.
        caption = form.get("caption")
        command, args = "", ""
        if isinstance(caption, str) and caption.strip().startswith("/"):
            head, _, rest = caption.strip()[1:].partition(" ")
            command, args = head.lower(), rest.strip()
        document = DocumentIn(
            name=upload.filename or "file", content=content, content_type=upload.content_type, size=len(content)
        )
        return await self._handle(
            Inbound(sender, Kind.DOCUMENT, key, text=args, command=command, document=document), visitor
        )

    async def inbox(self, request: Request) -> Response:
        """Notices for this person (cards, status updates), until the page acknowledges them.

        The page sends back the ids it has shown; those are marked sent before the rest is listed,
        so a response lost on the way costs nothing: the next poll hands the same notices again.
        """
        asked = await self._json_from_person(request)
        if isinstance(asked, Response):
            return asked
        body, sender, visitor = asked
        ack = body.get("ack", [])
        if not isinstance(ack, list) or not all(isinstance(i, int) for i in ack) or len(ack) > 200:
            return problem(400, "ack must be a list of notice ids")
        await self.outbox.acknowledge(CHANNEL, sender.address, ack)
        notices = []
        kept: list[tuple[str, dict[str, Any]]] = []
        for item in await self.outbox.waiting_for(CHANNEL, sender.address):
            photos = [f"/api/web/photos/{photo_id}{self._asker(sender)}" for photo_id in item.photos]
            notice = {"id": item.id, **reply_json(item.reply, self._asker(sender)), "card_key": item.card_key}
            notices.append({**notice, "photos": photos})
            if not item.discreet:
                # A card is kept once, as it is now; any other notice once, however often it is handed out.
                kept.append((item.card_key or f"notice:{item.id}", {"who": "bot", **notice, "photos": photos}))
        response = JSONResponse({"notices": notices}, headers={"Cache-Control": "no-store"})
        if visitor is None or self.signin is None:
            return response
        await history.record(self.houqin.db, visitor.person_id, kept)
        return self.signin.renew(response, visitor)

    async def photo_bytes(self, request: Request) -> Response:
        """A photo, for someone who may see it (its sender, or who may view its ticket)."""
        sender = await self._reader(request)
        if isinstance(sender, Response):
            return sender
        photo_ref = request.path_params["photo_id"]
        photo = await account_views.photo_for(self.houqin.db, self.houqin.areas, CHANNEL, sender.external_id, photo_ref)
        if photo is None or photo.content is None:
            # Not theirs to see, or kept by another platform: the same answer either way.
            return problem(404, "no such photo")
        return Response(
            photo.content,
            media_type=photo.content_type or "application/octet-stream",
            headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    async def file_bytes(self, request: Request) -> Response:
        """A file Houqin made for this person (an export, a chart); nobody else's."""
        sender = await self._reader(request)
        if isinstance(sender, Response):
            return sender
        kept = await account_views.file_for(self.houqin.db, CHANNEL, sender.external_id, request.path_params["file_id"])
        if kept is None:
            return problem(404, "no such file")
        # Pictures show in the chat; anything else downloads under its own name.
        disposition = "inline" if kept.content_type.startswith("image/") else "attachment"
        return Response(
            kept.content,
            media_type=kept.content_type,
            headers={
                "Cache-Control": "private, max-age=3600",
                "X-Content-Type-Options": "nosniff",
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(kept.name)}",
            },
        )

    async def _handle(self, inbound: Inbound, visitor: Visitor | None = None) -> Response:
        try:
            outcome = await self.houqin.handle(inbound)
            await self.houqin.mark_replied(outcome)
        except Exception as exc:
            # Rolled back, nothing kept: the page may retry with the same client_id.
            if is_outage(exc):
                log.warning("database unreachable; a browser message is refused for now (%s)", exc)
                return problem(503, translate(self.default_locale, "dialog.error.internal"))
            log.exception("handling a browser message failed")
            return problem(500, translate(self.default_locale, "dialog.error.internal"))
        answer = outcome_json(outcome, self._asker(inbound.sender))
        response = JSONResponse(answer)
        if visitor is None or self.signin is None:
            return response
        if not outcome.discreet and not outcome.duplicate:
            # Nothing of a discreet turn is kept, here as anywhere (handlers/core/discreet.py).
            said = [said_entry(inbound), *({"who": "bot", "lang": outcome.locale, **r} for r in answer["replies"])]
            await history.record(self.houqin.db, visitor.person_id, [("", entry) for entry in said if entry])
        return self.signin.renew(response, visitor)

    def _asker(self, sender: Sender) -> str:
        """What a file's URL says of who asks: the demo's person; nothing once signed in (the cookie says)."""
        return "" if self.signin is not None else f"?person={quote(sender.external_id)}"

    async def _changing(self, request: Request) -> Visitor | Response | None:
        """Who signed in sends this change (checked: session, CSRF token, same site); None in the demo,
        where the request itself names the person."""
        return await self.signin.changing(request) if self.signin is not None else None

    async def _reader(self, request: Request) -> Sender | Response:
        if self.signin is None:
            return await self._sender(request.query_params.get("person"))
        visitor = await self.signin.reading(request)
        return visitor if isinstance(visitor, Response) else visitor.sender

    async def _json_from_person(self, request: Request) -> tuple[dict[str, Any], Sender, Visitor | None] | Response:
        """A JSON object from a known person (signed in, or named by the demo's page), or the 4xx
        that says what is wrong with it."""
        visitor = await self._changing(request)
        if isinstance(visitor, Response):
            return visitor
        raw = await read_limited(request, MAX_JSON)
        if raw is None:
            return problem(413, "body too large")
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            # RecursionError: nested thousands deep ([[[[…), which no message is.
            return problem(400, "body must be JSON")
        if not isinstance(body, dict):
            return problem(400, "body must be a JSON object")
        if visitor is not None:
            return body, visitor.sender, visitor
        sender = await self._sender(body.get("person"))
        if isinstance(sender, Response):
            return sender
        return body, sender, None

    async def _sender(self, person_key: object) -> Sender | Response:
        if not isinstance(person_key, str) or not person_key:
            return problem(400, "person is required")
        name = await account_views.account_name(self.houqin.db, CHANNEL, person_key)
        if name is None:
            return problem(404, "no such person")
        return Sender(CHANNEL, person_key, person_key, name, None)


def delivery_key(sender: Sender, client_id: str) -> str:
    # Bound to the person: someone else's client_id must never fetch that person's stored answer.
    return f"{sender.external_id}:{client_id}"


def inbound_from(sender: Sender, key: str, body: dict[str, Any]) -> Inbound | None:
    text, button = body.get("text"), body.get("button")
    if isinstance(button, str) and text is None:
        return Inbound(sender, Kind.BUTTON, key, text=button[:MAX_TEXT])
    if not isinstance(text, str) or button is not None:
        return None
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        command, _, args = stripped[1:].partition(" ")
        return Inbound(sender, Kind.COMMAND, key, text=args.strip(), command=command.lower())
    # Over-long text still goes through, so the dialog can say it is too long in the person's language.
    return Inbound(sender, Kind.TEXT, key, text=text)


def said_entry(inbound: Inbound) -> dict[str, Any]:
    """What the page shows of what the person sent (a pressed button marks its bubble instead)."""
    if inbound.kind is Kind.PHOTO:
        return {"who": "me", "photo": None}
    if inbound.kind is Kind.DOCUMENT and inbound.document is not None:
        return {"who": "me", "text": f"📎 {inbound.document.name}"}
    if inbound.kind is Kind.COMMAND:
        return {"who": "me", "text": f"/{inbound.command} {inbound.text}".strip()}
    if inbound.kind is Kind.TEXT:
        return {"who": "me", "text": inbound.text}
    return {}


def reply_json(reply: Reply, asker: str) -> dict[str, Any]:
    return {
        "text": reply.text,
        "buttons": [[{"label": b.label, "payload": b.payload} for b in row] for row in reply.buttons],
        "files": [
            {
                "url": f"/api/web/files/{file.id}{asker}",
                "name": file.name,
                "image": file.is_image,
            }
            for file in reply.files
        ],
    }


def outcome_json(outcome: Outcome, asker: str) -> dict[str, Any]:
    return {
        "replies": [reply_json(reply, asker) for reply in outcome.replies],
        "chosen": outcome.chosen,
        "toast": outcome.toast,
        "locale": outcome.locale,
        "duplicate": outcome.duplicate,
    }


def problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"error": detail}, status_code=status)

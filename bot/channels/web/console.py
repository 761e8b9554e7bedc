"""The web console (/console): pages for the people who run logistics, on the browser chat's app.

HTML rendered on the server (Jinja2, every value escaped) in the viewer's language; a little script
(static/console.js) polls the queue's mark and draws charts from JSON with the vendored Chart.js. The
data and the rules are the areas' (handlers/<area>/console.py): this module translates requests into
their calls and their answers into pages, never touching storage.

Who is looking: outside the demo, whoever holds a browser session (signin.py: the same cookie as the
chat); in the demo, the person picked at /console/demo (a cookie naming their browser account, as
the chat's picker trusts the page). Every change is a POST with the session's CSRF token (a hidden
field) from this site, refused 403 and audited otherwise; and the action itself asks authz again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm.exc import StaleDataError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.channels.web.signin import OWN_SITE, SignIn
from handlers.accounts import views as account_views
from handlers.accounts.signin import csrf_token
from handlers.admin import console as admin
from handlers.core import console, uploads
from handlers.core.console import ConsolePage, Reach, Viewer
from handlers.core.conversation import DocumentIn
from handlers.core.engine import Houqin
from handlers.core.i18n import Label, Renderable, msg, pick_locale, translate
from handlers.core.refusals import Refused, refused
from handlers.repairs import console as repairs
from handlers.suggestions import console as suggestions
from handlers.supplies import console as supplies
from handlers.surveys import console as surveys

TEMPLATES = Path(__file__).parent / "templates"
CHANNEL = "web"
DEMO_COOKIE = "houqin_console_person"
# Who may open the console at all: whoever oversees something (the chat's /admin menu).
DOOR = "admin.menu"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
# The largest organisation file taken: /org import's.
MAX_IMPORT = admin.IMPORT_BYTES
# How often a queue page asks whether anything changed (console.js), in milliseconds.
POLL_MS = 5000


@dataclass(frozen=True)
class Looking:
    """A request's viewer and how far the console's door lets them in."""

    viewer: Viewer
    pages: list[ConsolePage]
    csrf: str


class Console:
    def __init__(self, houqin: Houqin, signin: SignIn | None, default_locale: str) -> None:
        self.houqin = houqin
        self.signin = signin
        self.default_locale = default_locale
        # The demo has no sessions: its forms carry a token keyed by this process's own random secret.
        self.demo_secret = secrets.token_bytes(32)
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
        )
        self.area_pages = [page for area in houqin.areas for page in area.console]

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/console", self.home),
            Route("/console/tickets", self.tickets),
            Route("/console/tickets/mark", self.tickets_mark),
            Route("/console/tickets/{number}", self.ticket),
            Route("/console/tickets/{number}/{action}", self.ticket_action, methods=["POST"]),
            Route("/console/requisitions", self.requisitions),
            Route("/console/requisitions/mark", self.requisitions_mark),
            Route("/console/requisitions/{number}", self.requisition),
            Route("/console/requisitions/{number}/{action}", self.requisition_action, methods=["POST"]),
            Route("/console/stock", self.stock),
            Route("/console/stock/{number}", self.stock_item),
            Route("/console/stock/{number}/{action}", self.stock_change, methods=["POST"]),
            Route("/console/suggestions", self.suggestions),
            Route("/console/suggestions/{number}", self.suggestion),
            Route("/console/suggestions/{number}/{action}", self.suggestion_action, methods=["POST"]),
            Route("/console/surveys", self.surveys),
            Route("/console/surveys/{number}", self.survey),
            Route("/console/surveys/{number}/export.{kind}", self.survey_export),
            Route("/console/org", self.org),
            Route("/console/org/import", self.org_import, methods=["POST"]),
            Route("/console/org/role", self.org_role, methods=["POST"]),
            Route("/console/org/add", self.org_add, methods=["POST"]),
            Route("/console/scorecards", self.scorecards),
            Route("/console/stats", self.stats),
            Route("/console/audit", self.audit),
            Route("/console/photos/{photo_id}", self.photo),
        ]
        if self.signin is None:
            routes.append(Route("/console/demo", self.demo_picker, methods=["GET", "POST"]))
        return [Route(r.path, self.renewing(r.endpoint), methods=r.methods) for r in routes if isinstance(r, Route)]

    def renewing(self, endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """The endpoint, and the session's cookie sent again when using it pushed its expiry on (as the
        chat's API does): someone who only uses the console stays signed in as long as the server says."""

        async def endpoint_renewing(request: Request) -> Response:
            response = await endpoint(request)
            visitor = getattr(request.state, "visitor", None)
            if visitor is not None and self.signin is not None:
                return self.signin.renew(response, visitor)
            return response

        return endpoint_renewing

    # --- who is looking ----------------------------------------------------------------------------

    async def person_key(self, request: Request) -> tuple[int | None, str | None, str] | Response:
        """(person id, or the demo's account, the CSRF token their forms carry), or the page that
        says how to sign in."""
        if self.signin is not None:
            visitor = await self.signin.visitor(request)
            if visitor is None:
                return self.sign_in_first(request)
            request.state.visitor = visitor  # for renewing
            return visitor.person_id, None, csrf_token(visitor.session_id)
        account = request.cookies.get(DEMO_COOKIE, "")
        if not account or len(account) > 64:
            return RedirectResponse("/console/demo", status_code=303)
        return None, account, self.demo_csrf(account)

    def demo_csrf(self, account: str) -> str:
        return hmac.new(self.demo_secret, account.encode(), hashlib.sha256).hexdigest()

    @asynccontextmanager
    async def looking(self, person_id: int | None, account: str | None, csrf: str) -> AsyncIterator[Looking | None]:
        """The viewer, in a unit of work that commits when the page is done (a refusal's audit line
        with it); None when the person is not there (left, or the demo's cookie names nobody)."""
        async with self.houqin.db.unit_of_work() as session:
            person = await console.member(session, person_id, account)
            if person is None:
                yield None
                return
            locale = pick_locale(person.locale, None, self.default_locale)
            viewer = Viewer(
                session,
                person,
                locale,
                self.houqin.clock(),
                self.houqin.zone,
                self.houqin.rules,
                self.houqin.supply_rules,
            )
            yield Looking(viewer, console.pages_for(person, self.area_pages), csrf)

    async def changing(self, request: Request, token: str | None) -> Response | None:
        """None when a POST may go on (session or demo cookie, its token, this site); else the refusal."""
        if self.signin is not None:
            visitor = await self.signin.changing(request, token)
            return visitor if isinstance(visitor, Response) else None
        account = request.cookies.get(DEMO_COOKIE, "")
        if not self.from_own_site(request):
            return JSONResponse({"error": "cross-site request refused"}, status_code=403)
        if not account or not token or not hmac.compare_digest(self.demo_csrf(account), token):
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        return None

    def from_own_site(self, request: Request) -> bool:
        if self.signin is not None:
            return self.signin.from_own_site(request)
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in OWN_SITE:
            return False
        origin = request.headers.get("origin")
        return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"

    # --- pages ---------------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return await self.page(request, self._home)

    async def _home(self, request: Request, looking: Looking) -> Response:
        viewer = looking.viewer
        waiting: list[tuple[ConsolePage, int]] = []
        for page in looking.pages:
            found = await console.reach(viewer.session, viewer.person, page.action)
            if page.waiting is not None and found is not None:
                waiting.append((page, await page.waiting(viewer, found)))
        weeks: list[repairs.WeekOfRepairs] = []
        found = await console.reach(viewer.session, viewer.person, repairs.ACTION)
        if found is not None:
            weeks = await repairs.week_of(viewer, found)
        charts = {f"trend-{n}": week.chart(viewer.locale, viewer.zone) for n, week in enumerate(weeks)}
        told = await console.week_in_words(viewer, self.houqin.areas, repairs.last_week(viewer))
        return self.render(
            request,
            looking,
            "home.html",
            "console.nav.home",
            weeks=weeks,
            waiting=waiting,
            charts=charts,
            told=told,
        )

    async def tickets(self, request: Request) -> Response:
        return await self.page(request, self._tickets, action=repairs.ACTION)

    async def _tickets(self, request: Request, looking: Looking, reach: Reach) -> Response:
        params = dict(request.query_params)
        filters = repairs.filters_from(params)
        table = await repairs.ticket_table(looking.viewer, reach, filters)
        choices = await repairs.choices(looking.viewer)
        mark = await repairs.queue_mark(looking.viewer, reach)
        return self.render(
            request,
            looking,
            "tickets.html",
            "console.nav.tickets",
            reach=reach,
            filters=filters,
            table=table,
            choices=choices,
            mark=mark,
            statuses=repairs.STATUSES,
            categories=repairs.CATEGORIES,
            sorts=repairs.SORTS,
            poll_ms=POLL_MS,
        )

    async def tickets_mark(self, request: Request) -> Response:
        return await self.mark(request, repairs.ACTION, repairs.queue_mark)

    async def requisitions_mark(self, request: Request) -> Response:
        return await self.mark(request, supplies.ACTION, supplies.queue_mark)

    async def mark(self, request: Request, action: str, mark_of: Callable[[Viewer, Reach], Awaitable[str]]) -> Response:
        """A live queue's cheap question: has anything it shows changed? (JSON, polled)."""
        key = await self.person_key(request)
        if isinstance(key, Response):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        async with self.looking(*key) as looking:
            if looking is None or not looking.pages:
                return JSONResponse({"error": "not yours to see"}, status_code=403)
            reach = await console.reach(looking.viewer.session, looking.viewer.person, action)
            if reach is None:
                return JSONResponse({"error": "not yours to see"}, status_code=403)
            mark = await mark_of(looking.viewer, reach)
        return JSONResponse({"mark": mark}, headers={"Cache-Control": "no-store"})

    async def ticket(self, request: Request) -> Response:
        return await self.page(request, self._ticket, action=repairs.ACTION)

    async def _ticket(self, request: Request, looking: Looking, reach: Reach) -> Response:
        number = request.path_params["number"]
        viewer = looking.viewer
        try:
            found = await repairs.ticket_page(viewer, reach, number)
        except Refused as refusal:
            return self.refusal(request, looking, refusal.reason, status=404 if not refusal.audit else 403)
        done = request.query_params.get("done", "")
        said = None
        if done in repairs.ACTIONS:
            technician = found.ticket.assignee.display_name if found.ticket.assignee else "—"
            said = translate(viewer.locale, f"ticket.done.{done}", number=found.ticket.number, technician=technician)
        return self.render(request, looking, "ticket_page.html", "console.ticket.title", page=found, said=said)

    async def ticket_action(self, request: Request) -> Response:
        return await self.act(request, "tickets", repairs.act)

    async def requisition_action(self, request: Request) -> Response:
        return await self.act(request, "requisitions", supplies.act)

    async def act(self, request: Request, kind: str, act: Callable[..., Awaitable[str]]) -> Response:
        """A form's POST: the session (or demo cookie), its CSRF token and this site first; then the
        area's action as the viewer (which asks authz itself, as in chat); then back to the record."""
        form = await request.form(max_files=0, max_fields=8)
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        refusal = await self.changing(request, fields.get("csrf"))
        if refusal is not None:
            return refusal
        key = await self.person_key(request)
        if isinstance(key, Response):
            return key
        number, action = request.path_params["number"], request.path_params["action"]
        try:
            async with self.looking(*key) as looking:
                if looking is None:
                    return self.sign_in_first(request)
                if not looking.pages:
                    return self.closed_door(request, looking)
                try:
                    said = await act(looking.viewer, number, action, fields)
                except Refused as refused_now:
                    # Caught inside the unit of work: the refusal's audit line is kept, nothing else changed.
                    return self.refusal(request, looking, refused_now.reason, status=403)
        except StaleDataError:
            # Someone else moved it between our reading and our writing: nothing was kept.
            async with self.looking(*key) as looking:
                assert looking is not None
                return self.refusal(request, looking, msg("console.error.changed"), status=409)
        # What to say once back on the record's page: the last word of the catalog key the action gave.
        done = said.rsplit(".", 1)[-1]
        return RedirectResponse(f"/console/{kind}/{quote(number)}?done={quote(done)}", status_code=303)

    async def requisitions(self, request: Request) -> Response:
        return await self.page(request, self._requisitions, action=supplies.ACTION)

    async def _requisitions(self, request: Request, looking: Looking, reach: Reach) -> Response:
        filters = supplies.filters_from(dict(request.query_params))
        return self.render(
            request,
            looking,
            "requisitions.html",
            "console.nav.requisitions",
            reach=reach,
            filters=filters,
            table=await supplies.requisition_table(looking.viewer, reach, filters),
            departments=await supplies.departments(looking.viewer, reach),
            mark=await supplies.queue_mark(looking.viewer, reach),
            statuses=supplies.STATUSES,
            poll_ms=POLL_MS,
        )

    async def requisition(self, request: Request) -> Response:
        return await self.page(request, self._requisition, action=supplies.ACTION)

    async def _requisition(self, request: Request, looking: Looking, reach: Reach) -> Response:
        viewer = looking.viewer
        try:
            found = await supplies.requisition_page(viewer, reach, request.path_params["number"])
        except Refused as refusal:
            return self.refusal(request, looking, refusal.reason, status=403 if refusal.audit else 404)
        done = request.query_params.get("done", "")
        said = None
        if done in supplies.ACTIONS:
            said = translate(viewer.locale, f"console.requisition.done.{done}", number=found.requisition.number)
        return self.render(
            request, looking, "requisition_page.html", "console.requisition.title", page=found, said=said
        )

    async def stock(self, request: Request) -> Response:
        return await self.page(request, self._stock, action=supplies.STOCK_ACTION)

    async def _stock(self, request: Request, looking: Looking, reach: Reach) -> Response:
        filters = supplies.stock_filters_from(dict(request.query_params))
        table = await supplies.stock_table(looking.viewer, filters)
        return self.render(
            request,
            looking,
            "stores.html",
            "console.nav.stock",
            filters=filters,
            table=table,
            categories=supplies.STOCK_CATEGORIES,
        )

    async def stock_item(self, request: Request) -> Response:
        return await self.page(request, self._stock_item, action=supplies.STOCK_ACTION)

    async def _stock_item(self, request: Request, looking: Looking, reach: Reach) -> Response:
        viewer = looking.viewer
        code = request.path_params["number"]
        try:
            found = await supplies.item_page(viewer, code, console.page_number(dict(request.query_params)))
        except Refused as refusal:
            return self.refusal(request, looking, refusal.reason, status=404)
        done = request.query_params.get("done", "")
        said = translate(viewer.locale, f"console.stock.done.{done}") if done in supplies.STOCK_CHANGES else None
        return self.render(request, looking, "stores_item.html", "console.stock.title", page=found, said=said)

    async def stock_change(self, request: Request) -> Response:
        return await self.act(request, "stock", supplies.change)

    async def stats(self, request: Request) -> Response:
        return await self.page(request, self._stats, action=admin.STATS)

    async def _stats(self, request: Request, looking: Looking, reach: Reach) -> Response:
        viewer = looking.viewer
        period = console.period_of(dict(request.query_params), viewer.today)
        found = await admin.statistics(viewer, self.houqin.areas, period)
        charts = {f"chart-{n}": console.chart_json(chart) for n, chart in enumerate(found.charts)}
        return self.render(request, looking, "statistics.html", "console.nav.stats", found=found, charts=charts)

    async def suggestions(self, request: Request) -> Response:
        return await self.page(request, self._suggestions, action=suggestions.ACTION)

    async def _suggestions(self, request: Request, looking: Looking, reach: Reach) -> Response:
        filters = suggestions.filters_from(dict(request.query_params))
        return self.render(
            request,
            looking,
            "suggestion_box.html",
            "console.nav.suggestions",
            filters=filters,
            table=await suggestions.inbox(looking.viewer, filters),
            statuses=suggestions.statuses(),
            topics=suggestions.topics(),
        )

    async def suggestion(self, request: Request) -> Response:
        return await self.page(request, self._suggestion, action=suggestions.ACTION)

    async def _suggestion(self, request: Request, looking: Looking, reach: Reach) -> Response:
        viewer = looking.viewer
        try:
            found = await suggestions.thread(viewer, request.path_params["number"])
        except Refused as refusal:
            return self.refusal(request, looking, refusal.reason, status=404)
        done = request.query_params.get("done", "")
        said = None
        if done in ("reply", "unreached", "status"):
            said = translate(viewer.locale, f"console.suggestion.done.{done}")
        return self.render(
            request, looking, "suggestion_thread.html", "console.suggestion.title", page=found, said=said
        )

    async def suggestion_action(self, request: Request) -> Response:
        return await self.act(request, "suggestions", suggestions.act)

    async def surveys(self, request: Request) -> Response:
        return await self.page(request, self._surveys, action=surveys.DOOR)

    async def _surveys(self, request: Request, looking: Looking, reach: Reach) -> Response:
        found = await surveys.surveys(looking.viewer)
        return self.render(request, looking, "survey_list.html", "console.nav.surveys", found=found)

    async def survey(self, request: Request) -> Response:
        return await self.page(request, self._survey, action=surveys.DOOR)

    async def _survey(self, request: Request, looking: Looking, reach: Reach) -> Response:
        try:
            found = await surveys.survey_results(looking.viewer, request.path_params["number"])
        except Refused as refusal:
            return self.refusal(request, looking, refusal.reason, status=403)
        charts = {
            f"q-{shown.number}": console.chart_json(shown.chart) for shown in found.questions if shown.chart is not None
        }
        return self.render(request, looking, "survey_results.html", "console.survey.title", found=found, charts=charts)

    async def survey_export(self, request: Request) -> Response:
        """The results as a file, as /survey export makes it: read in the unit of work, written after."""
        kind = request.path_params["kind"]
        if kind not in ("csv", "xlsx"):
            return Response("no such file", status_code=404, media_type="text/plain")
        key = await self.person_key(request)
        if isinstance(key, Response):
            return key
        async with self.looking(*key) as looking:
            if looking is None:
                return self.sign_in_first(request)
            if not looking.pages:
                return self.closed_door(request, looking)
            try:
                later = await surveys.export(looking.viewer, request.path_params["number"], kind)
            except Refused as refusal:
                return self.refusal(request, looking, refusal.reason, status=403)
        content = await asyncio.to_thread(later.make)
        return Response(
            content,
            media_type=later.content_type,
            headers={
                **HEADERS,
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(later.name)}",
            },
        )

    async def org(self, request: Request) -> Response:
        return await self.page(request, self._org, action=admin.ORG)

    async def _org(
        self, request: Request, looking: Looking, reach: Reach, imported: Any = None, role_said: str | None = None
    ) -> Response:
        filters = admin.people_filters_from(dict(request.query_params))
        found = await admin.organisation(looking.viewer, filters)
        return self.render(
            request,
            looking,
            "organisation.html",
            "console.nav.org",
            filters=filters,
            found=found,
            table=found.people,
            roles=admin.ROLES,
            imported=imported,
            role_said=role_said,
            status=422 if imported is not None and imported.problems else 200,
        )

    async def org_import(self, request: Request) -> Response:
        """A CSV/XLSX of people, departments or rooms: checked line by line as /org import checks it,
        and imported when the admin said so. Parsed off the event loop before the transaction."""
        if int(request.headers.get("content-length") or 0) > MAX_IMPORT + 64 * 1024:
            return Response("file too large", status_code=413, media_type="text/plain")
        form = await request.form(max_files=1, max_fields=4)
        token = form.get("csrf")
        refusal = await self.changing(request, token if isinstance(token, str) else None)
        if refusal is not None:
            return refusal
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return Response("file is required", status_code=400, media_type="text/plain")
        content = await upload.read(MAX_IMPORT + 1)
        name = upload.filename or "file"
        parsed = await uploads.parse(uploads.TABLE, name, content) if len(content) <= MAX_IMPORT else None
        document = DocumentIn(name, content if parsed else None, upload.content_type, size=len(content), parsed=parsed)
        key = await self.person_key(request)
        if isinstance(key, Response):
            return key
        async with self.looking(*key) as looking:
            if looking is None:
                return self.sign_in_first(request)
            if not looking.pages:
                return self.closed_door(request, looking)
            reach = await console.reach(looking.viewer.session, looking.viewer.person, admin.ORG)
            if reach is None:
                reason = refused(looking.viewer, admin.IMPORT, None, msg("console.error.not_yours"))
                return self.refusal(request, looking, reason, status=403)
            try:
                imported = await admin.import_file(
                    looking.viewer, self.houqin.areas, document, confirmed=form.get("confirm") == "1"
                )
            except Refused as refused_now:
                return self.refusal(request, looking, refused_now.reason, status=403)
            return await self._org(request, looking, reach, imported)

    async def scorecards(self, request: Request) -> Response:
        return await self.page(request, self._scorecards, action=admin.SCORECARDS)

    async def _scorecards(self, request: Request, looking: Looking, reach: Reach) -> Response:
        viewer = looking.viewer
        period = admin.month_of(dict(request.query_params), viewer.today)
        found = await admin.scorecard_table(viewer, reach, period)
        charts = {f"dept-{d.code}": console.chart_json(d.chart) for d in found}
        before = (period.first - timedelta(days=1)).strftime("%Y-%m")
        return self.render(
            request,
            looking,
            "scorecard_table.html",
            "console.nav.scorecards",
            found=found,
            period=period,
            month=period.first.strftime("%Y-%m"),
            before=before,
            charts=charts,
        )

    async def org_role(self, request: Request) -> Response:
        """A role granted or revoked from the organisation page: /role's own command, its answer shown."""
        return await self.org_change(request, admin.change_role)

    async def org_add(self, request: Request) -> Response:
        """A department, building or room added from the organisation page: /org's own functions."""
        return await self.org_change(request, admin.add_to_organisation)

    async def org_change(
        self, request: Request, change: Callable[[Viewer, Any, Mapping[str, str]], Awaitable[Renderable]]
    ) -> Response:
        form = await request.form(max_files=0, max_fields=8)
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        refusal = await self.changing(request, fields.get("csrf"))
        if refusal is not None:
            return refusal
        key = await self.person_key(request)
        if isinstance(key, Response):
            return key
        async with self.looking(*key) as looking:
            if looking is None:
                return self.sign_in_first(request)
            if not looking.pages:
                return self.closed_door(request, looking)
            reach = await console.reach(looking.viewer.session, looking.viewer.person, admin.ORG)
            said = await change(looking.viewer, self.houqin.areas, fields)
            if reach is None:
                # /role refused them (and audited it); they may not see the organisation page either.
                return self.refusal(request, looking, said, status=403)
            return await self._org(request, looking, reach, role_said=said.render(looking.viewer.locale))

    async def audit(self, request: Request) -> Response:
        return await self.page(request, self._audit, action=admin.AUDIT)

    async def _audit(self, request: Request, looking: Looking, reach: Reach) -> Response:
        filters = admin.audit_filters_from(dict(request.query_params))
        found = await admin.audit_table(looking.viewer, filters)
        return self.render(
            request,
            looking,
            "audit_log.html",
            "console.nav.audit",
            filters=filters,
            found=found,
            table=found.rows,
            actions=admin.actions_named(),
            channels=admin.channels_named(),
            outcomes=admin.OUTCOMES,
        )

    async def photo(self, request: Request) -> Response:
        key = await self.person_key(request)
        if isinstance(key, Response):
            return key
        async with self.looking(*key) as looking:
            reach = None
            if looking is not None and looking.pages:
                reach = await console.reach(looking.viewer.session, looking.viewer.person, repairs.ACTION)
            found = (
                await repairs.photo(looking.viewer, reach, request.path_params["photo_id"])
                if looking and reach
                else None
            )
            if found is None or found.content is None:
                return Response("no such photo", status_code=404, media_type="text/plain")
            return Response(
                found.content,
                media_type=found.content_type or "application/octet-stream",
                headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
            )

    async def demo_picker(self, request: Request) -> Response:
        """The demo's picker: who to be (any seeded person); the console then judges them as anyone."""
        locale = self.browser_locale(request)
        if request.method == "POST":
            if not self.from_own_site(request):
                return JSONResponse({"error": "cross-site request refused"}, status_code=403)
            form = await request.form(max_files=0, max_fields=2)
            person = form.get("person")
            if not isinstance(person, str) or not 0 < len(person) <= 64:
                return RedirectResponse("/console/demo", status_code=303)
            response = RedirectResponse("/console", status_code=303)
            response.set_cookie(DEMO_COOKIE, person, path="/", httponly=True, samesite="lax")
            return response
        members = await account_views.members(self.houqin.db, CHANNEL, self.default_locale)
        html = self.env.get_template("demo.html").render(
            **self.words(locale), members=members, title=translate(locale, "console.demo.title")
        )
        return HTMLResponse(html, headers=HEADERS)

    # --- the frame around every page -------------------------------------------------------------

    async def page(self, request: Request, draw: Callable[..., Any], action: str | None = None) -> Response:
        """Who is looking, whether they may open the console (and this page), then the page."""
        key = await self.person_key(request)
        if isinstance(key, Response):
            return key
        async with self.looking(*key) as looking:
            if looking is None:
                return self.sign_in_first(request)
            if not looking.pages:
                return self.closed_door(request, looking)
            if action is None:
                response: Response = await draw(request, looking)
                return response
            reach = await console.reach(looking.viewer.session, looking.viewer.person, action)
            if reach is None:
                reason = refused(looking.viewer, action, None, msg("console.error.not_yours"))
                return self.refusal(request, looking, reason, status=403)
            response = await draw(request, looking, reach)
            return response

    def closed_door(self, request: Request, looking: Looking) -> Response:
        """Someone who oversees nothing (staff, a technician): refused, and audited like /admin."""
        reason = refused(looking.viewer, DOOR, "console", msg("console.error.closed"))
        return self.refusal(request, looking, reason, status=403)

    def refusal(self, request: Request, looking: Looking, reason: Renderable, status: int) -> Response:
        return self.render(
            request,
            looking,
            "refused.html",
            "console.refused.title",
            reason=reason.render(looking.viewer.locale),
            status=status,
        )

    def sign_in_first(self, request: Request) -> Response:
        locale = self.browser_locale(request)
        html = self.env.get_template("sign_in_first.html").render(
            **self.words(locale), title=translate(locale, "console.signin.title")
        )
        return HTMLResponse(html, status_code=401, headers=HEADERS)

    def browser_locale(self, request: Request) -> str:
        first = request.headers.get("accept-language", "").split(",")[0].split(";")[0].strip()
        return pick_locale(None, first or None, self.default_locale)

    def words(self, locale: str) -> dict[str, Any]:
        """What every template may call: its words in the locale, names, times, links."""
        zone = self.houqin.zone

        def t(key: str, **params: Any) -> str:
            return translate(locale, key, **params)

        def name(value: Label | Renderable) -> str:
            return value.render(locale)

        def when(moment: datetime | None) -> str:
            return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment is not None else "—"

        def link(path: str, query: Mapping[str, str] | None = None) -> str:
            return f"{path}?{urlencode(query)}" if query else path

        return {
            "t": t,
            "name": name,
            "when": when,
            "link": link,
            "locale": locale,
            "lang": "zh-CN" if locale == "zh_CN" else locale,
        }

    def render(
        self, request: Request, looking: Looking, template: str, title: str, *, status: int = 200, **values: Any
    ) -> Response:
        locale = looking.viewer.locale
        charts = values.pop("charts", {})
        html = self.env.get_template(template).render(
            **self.words(locale),
            **values,
            title=translate(locale, title),
            viewer=looking.viewer,
            pages=looking.pages,
            here=request.url.path,
            csrf=looking.csrf,
            # Inside <script type="application/json">: no "<" may close the element early.
            charts={
                key: json.dumps(chart, ensure_ascii=False).replace("<", "\\u003c") for key, chart in charts.items()
            },
            demo=self.signin is None,
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)

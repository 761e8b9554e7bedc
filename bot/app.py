"""Houqin's ASGI app: health, the Telegram webhook, Slack's events and the browser chat on one Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.metrics import metrics_route
from bot.service import Service, settle_memory


def create_app(service: Service, *, settle: bool = False) -> Starlette:
    """The ASGI app: /healthz, /metrics, every channel's routes; starts and stops the service.
    `settle` (houqin run): the memory loaded by start-up is set aside from garbage collection."""

    async def healthz(request: Request) -> Response:
        database = await service.db.ping()
        body = {
            "status": "ok" if database else "degraded",
            "database": "ok" if database else "unreachable",
            "channels": service.channel_names(),
        }
        return JSONResponse(body, status_code=200 if database else 503)

    routes: list[BaseRoute] = [Route("/healthz", healthz)]
    if service.settings.metrics_enabled:
        routes.append(metrics_route(service))
    for channel in service.channels:
        routes.extend(channel.routes())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        if settle:
            settle_memory()
        try:
            yield
        finally:
            await service.stop()

    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(RefuseWhileStopping, service=service)])


class RefuseWhileStopping:
    """Once a stop has begun, every request is answered 503 with Retry-After: Telegram and Slack send
    their updates again (to this process once restarted, or to another), the browser page tries again."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.service.stopping:
            refusal = PlainTextResponse("stopping; try again shortly\n", status_code=503, headers={"Retry-After": "5"})
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

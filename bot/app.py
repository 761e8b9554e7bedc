"""Houqin's ASGI app: health, the Telegram webhook, Slack's events and the browser chat on one Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.metrics import metrics_route
from bot.service import Service


def create_app(service: Service) -> Starlette:
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
        try:
            yield
        finally:
            await service.stop()

    return Starlette(routes=routes, lifespan=lifespan)

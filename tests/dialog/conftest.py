from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bot.app import create_app
from bot.service import Service, build_service
from bot.settings import load_settings
from storage.db import Database
from tests.dialog.web_person import WebPerson


@pytest.fixture
async def web_service(db: Database) -> AsyncIterator[Service]:
    settings = load_settings(database_url=db.url, demo_mode=True, web_enabled=True, telegram_bot_token="")
    service = build_service(settings)
    yield service
    await service.db.dispose()


@pytest.fixture
async def web_client(web_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(web_service))
    async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as client:
        yield client


@pytest.fixture
def person(web_client: httpx.AsyncClient) -> Callable[[str], WebPerson]:
    """Someone from the demo organisation, chatting in the browser."""
    return lambda key: WebPerson(web_client, key)

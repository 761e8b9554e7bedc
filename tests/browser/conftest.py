"""A real Houqin (demo data, file SQLite, uvicorn on a free port) and headless Chromium to drive it."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from bot.app import create_app
from bot.service import build_service
from bot.settings import Settings, load_settings
from storage import migrate
from storage.demo import seed_database

# Playwright cannot download its own browsers here; Debian's Chromium works with these switches.
CHROMIUM = os.environ.get("HOUQIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_SECONDS = 20.0
# Each step is a round trip and a SQLite commit; leave room for a slow machine.
expect.set_options(timeout=10_000)


@dataclass(frozen=True)
class LiveHouqin:
    base_url: str
    database_file: Path


def _prepare_database(url: str) -> None:
    migrate.upgrade(url)
    asyncio.run(seed_database(url))


def _wait_until_healthy(base_url: str, server_thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if not server_thread.is_alive():
            raise RuntimeError("uvicorn stopped before it answered /healthz")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling interval while the server binds, not a wait for the page
    raise RuntimeError(f"Houqin did not answer {base_url}/healthz within {STARTUP_SECONDS:.0f}s")


@contextmanager
def live_houqin(
    tmp_path_factory: pytest.TempPathFactory, settings_for: Callable[[str, str, int], Settings]
) -> Iterator[LiveHouqin]:
    """Houqin on a file SQLite with the demo organisation, served by uvicorn on a free port, with
    the settings `settings_for(database_url, base_url, port)` gives."""
    database_file = tmp_path_factory.mktemp("houqin-web") / "houqin.db"
    url = f"sqlite+aiosqlite:///{database_file}"
    # On a thread of its own: once Playwright's sync API has started, this thread has a running loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_prepare_database, url).result()

    # Bind first and hand uvicorn the socket, so no other process can take the port in between.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    base_url = f"http://127.0.0.1:{port}"

    app = create_app(build_service(settings_for(url, base_url, port)))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="houqin-uvicorn", daemon=True)
    thread.start()
    try:
        _wait_until_healthy(base_url, thread)
        yield LiveHouqin(base_url, database_file)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(scope="module")
def houqin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHouqin]:
    def demo(url: str, base_url: str, port: int) -> Settings:
        return load_settings(
            database_url=url, demo_mode=True, web_enabled=True, telegram_bot_token=None, http_port=port
        )

    with live_houqin(tmp_path_factory, demo) as live:
        yield live


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (set HOUQIN_CHROMIUM)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@contextmanager
def fresh_page(browser: Browser, base_url: str, locale: str) -> Iterator[Page]:
    # A fresh context per test: its own cookies and sessionStorage, so nothing leaks between tests.
    context: BrowserContext = browser.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 900}, locale=locale
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def page(browser: Browser, houqin_server: LiveHouqin) -> Iterator[Page]:
    with fresh_page(browser, houqin_server.base_url, "zh-CN") as page:
        yield page

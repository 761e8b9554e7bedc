"""uvicorn inside the test's own event loop, for the fakes of the platforms a test starts and stops.

A test starts a fake per platform it talks to, hundreds of times a run, so what uvicorn spends on
starting and stopping (made for a process that serves for days) is paid over and over.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import time
from collections.abc import Generator
from typing import Any

import uvicorn
from starlette.types import ASGIApp


def quiet_config(app: ASGIApp, **given: Any) -> uvicorn.Config:
    """A free port on 127.0.0.1, no lifespan, no access log, and pytest's own logging left alone
    (log_config None: uvicorn would otherwise reconfigure the process-wide logging pytest captures)."""
    defaults: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "lifespan": "off",
        "access_log": False,
        "log_config": None,
        "log_level": None,
    }
    return uvicorn.Config(app, **(defaults | given))


class InLoopServer(uvicorn.Server):
    """uvicorn.Server with signals left to pytest and a stop that waits no longer than it must."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()
        self._serving: asyncio.Task[None] | None = None

    async def start(self, name: str) -> int:
        """Serve in the background of this loop; the port it listens on, once it does."""
        self._serving = asyncio.create_task(self.serve(), name=name)
        while not self.started:
            if self._serving.done():
                await self._serving
                raise RuntimeError(f"{name} exited during startup")
            await asyncio.sleep(0.001)
        return int(self.servers[0].sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Until it has stopped: requests in flight answered, up to the graceful timeout."""
        self.should_exit = True
        self.exit_requested.set()
        if self._serving is not None:
            await self._serving

    # uvicorn.Server.serve() replaces the SIGINT/SIGTERM handlers while it runs; inside a test that would
    # swallow Ctrl-C meant for pytest, so signals are left alone.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    # The stock loop checks should_exit every 100 ms; waiting on an event makes stop() that much faster,
    # which adds up over a test suite that starts a server per test.
    async def main_loop(self) -> None:
        await self.on_tick(0)  # sets the default response headers
        await self.exit_requested.wait()

    # The stock shutdown sleeps 100 ms after asking open connections to close, then checks every 100 ms
    # until they have and no request is still being answered: a tenth of a second or two per fake per
    # test. The same waits, checked every millisecond, up to the same graceful timeout. Measured: make
    # check's teardowns, summed over its tests, 25.5 → 4.5 s.
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        state = self.server_state
        limit = self.config.timeout_graceful_shutdown  # None: as long as it takes, as uvicorn does
        deadline = math.inf if limit is None else time.monotonic() + limit
        # uvicorn says when a connection or request ends by a set changing, not by an event.
        while (state.connections or state.tasks) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        for task in state.tasks:
            task.cancel(msg="graceful shutdown timed out")
        if not self.force_exit:
            await self.lifespan.shutdown()

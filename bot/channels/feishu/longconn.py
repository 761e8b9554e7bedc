"""The long connection: lark-oapi's ws.Client dials Feishu (no public URL needed) and its event
dispatcher hands each event to the channel.

The SDK's client is built for a thread of its own: `start()` blocks, runs on a module-level event
loop, asks for its endpoint with a blocking `requests` call, and calls the dispatcher's handlers
synchronously. So it runs in a daemon thread with a loop of its own (set as the module's `loop`),
and each handler passes the event to the channel on Houqin's loop: a message is handed over and
acknowledged at once; a card callback waits for the channel's answer (the toast and the redrawn
card), which the channel gives within Feishu's 3 s whatever the core does. Feishu's cluster mode
sends each event to one of the connected processes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import lark_oapi as lark
import lark_oapi.ws.client as ws_client
from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse

from bot.channels.feishu.events import Envelope, from_sdk
from bot.settings import Settings

log = logging.getLogger(__name__)
JSON = dict[str, Any]
Dispatch = Callable[[Envelope], Coroutine[Any, Any, JSON]]
# Events Houqin takes over the connection (the console's Events and Callbacks must subscribe them).
EVENTS = ("im.message.receive_v1", "application.bot.menu_v6", "contact.user.deleted_v3")


class LongConnection:
    def __init__(self, settings: Settings, dispatch: Dispatch, ack_within: float) -> None:
        assert settings.feishu_app_id and settings.feishu_app_secret
        self.settings = settings
        self.dispatch = dispatch
        self.ack_within = ack_within
        self._houqin_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()

    async def start(self) -> None:
        self._houqin_loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="feishu-long-connection", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        # The SDK's client schedules everything on its module's loop: this thread's.
        ws_client.loop = loop
        builder = lark.EventDispatcherHandler.builder("", "")
        for event_type in EVENTS:
            builder = builder.register_p2_customized_event(event_type, self._event)
        handler = builder.register_p2_card_action_trigger(self._card_action).build()
        self._client = lark.ws.Client(
            self.settings.feishu_app_id,
            self.settings.feishu_app_secret,
            event_handler=handler,
            domain=self.settings.feishu_api_base_url,
            log_level=lark.LogLevel.WARNING,
        )
        try:
            self._client.start()
        except RuntimeError:
            pass  # the loop was stopped by stop(): the connection is over
        except Exception:
            log.exception("the Feishu long connection ended")
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def _handed(self, payload: JSON) -> concurrent.futures.Future[JSON]:
        assert self._houqin_loop is not None
        return asyncio.run_coroutine_threadsafe(self.dispatch(from_sdk(payload)), self._houqin_loop)

    def _event(self, data: Any) -> None:
        """An event: handed to the channel, which takes it (its work goes on in a task) before Feishu
        is told it arrived."""
        self._handed(marshalled(data)).result(timeout=self.ack_within)

    def _card_action(self, data: Any) -> P2CardActionTriggerResponse:
        """A card's button: the channel's answer (toast and redrawn card), within Feishu's time."""
        future = self._handed(marshalled(data))
        try:
            answer = future.result(timeout=self.ack_within + 0.3)
        except concurrent.futures.TimeoutError:
            answer = {}
        return P2CardActionTriggerResponse(answer)

    async def stop(self) -> None:
        loop, client = self._loop, self._client
        if loop is None or client is None or self._thread is None:
            return
        client._auto_reconnect = False
        # Closing it, the SDK logs its receive loop's end as an error: expected here, not worth a line.
        logging.getLogger("Lark").setLevel(logging.CRITICAL)
        loop.set_exception_handler(_ending)
        closing = asyncio.run_coroutine_threadsafe(client._disconnect(), loop)
        await asyncio.wrap_future(closing)
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(self._thread.join, 5)


def _ending(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The SDK's tasks ending with the connection Houqin closed: nothing to report."""


def marshalled(data: Any) -> JSON:
    """An SDK event object back as Feishu sent it (the channel reads events as plain JSON)."""
    return dict(json.loads(lark.JSON.marshal(data)))

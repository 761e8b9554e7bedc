"""Stream mode: the official dingtalk-stream SDK dials DingTalk (no public URL needed) and hands the
robot's messages (the chatbot topic) and the organisation's events (user_leave_org) to the channel.

The SDK's client opens its connection with blocking `requests` calls (POST
/v1.0/gateway/connections/open: an endpoint and a ticket), then reads frames over a WebSocket and
acknowledges each. So it runs in a daemon thread with a loop of its own, and each handler passes
what came to the channel on Houqin's loop: the channel takes a message (its work goes on in a task)
before the frame is acknowledged, so DingTalk redelivers one that was never taken.

Where the SDK connects is a class attribute built from DINGTALK_OPENAPI_ENDPOINT when it is imported;
it is set here from DINGTALK_API_BASE_URL, so a test double (or a proxy) can stand in for DingTalk.
The SDK's loop swallows one cancellation (it sleeps and reconnects), so stopping cancels until done.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

import dingtalk_stream
from dingtalk_stream import AckMessage, CallbackHandler, CallbackMessage, ChatbotMessage, EventHandler, EventMessage

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.channels.dingtalk.channel import DingTalkChannel

log = logging.getLogger(__name__)
OPEN_PATH = "/v1.0/gateway/connections/open"
# Handing a frame to the channel on Houqin's loop takes no longer than this, or the frame is refused
# (DingTalk sends it again).
HAND_OVER_SECONDS = 5.0


class Stream:
    def __init__(self, settings: Settings, channel: DingTalkChannel) -> None:
        assert settings.dingtalk_client_id and settings.dingtalk_client_secret
        self.settings = settings
        self.channel = channel
        self._houqin_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None
        self._thread: threading.Thread | None = None
        self.client: dingtalk_stream.DingTalkStreamClient | None = None

    async def start(self) -> None:
        self._houqin_loop = asyncio.get_running_loop()
        dingtalk_stream.DingTalkStreamClient.OPEN_CONNECTION_API = self.settings.dingtalk_api_base_url + OPEN_PATH
        credential = dingtalk_stream.Credential(self.settings.dingtalk_client_id, self.settings.dingtalk_client_secret)
        logger = logging.getLogger("dingtalk_stream.client")
        logger.setLevel(logging.NOTSET)  # as quiet as its package's logger (registry.py), again after a stop
        client = dingtalk_stream.DingTalkStreamClient(credential, logger=logger)
        client.register_callback_handler(ChatbotMessage.TOPIC, Chatbot(self))
        if channel_template := self.channel.template:
            log.info("interactive cards from template %s", channel_template)
            client.register_callback_handler(CallbackHandler.TOPIC_CARD_CALLBACK, CardPresses(self))
        client.register_all_event_handler(Events(self))
        self.client = client
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(client, started), name="dingtalk-stream", daemon=True)
        self._thread.start()
        await asyncio.to_thread(started.wait, 5)

    def _run(self, client: dingtalk_stream.DingTalkStreamClient, started: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._main = loop.create_task(client.start())
        started.set()
        try:
            loop.run_until_complete(asyncio.gather(self._main, return_exceptions=True))
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def hand(self, work: Any) -> Any:
        """Run `work` (a coroutine) on Houqin's loop and wait for it here."""
        assert self._houqin_loop is not None
        return asyncio.run_coroutine_threadsafe(work, self._houqin_loop).result(timeout=HAND_OVER_SECONDS)

    async def stop(self) -> None:
        loop, main, thread = self._loop, self._main, self._thread
        if loop is None or main is None or thread is None:
            return

        # The SDK logs the cancellation below as a network error; stopping is not one.
        logging.getLogger("dingtalk_stream.client").setLevel(logging.CRITICAL)

        async def end() -> None:
            # The SDK catches a cancellation once (and sleeps to reconnect): cancel until it is done.
            while not main.done():
                main.cancel()
                await asyncio.wait([main], timeout=0.1)

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(end(), loop))
        await asyncio.to_thread(thread.join, 5)


class Chatbot(CallbackHandler):  # type: ignore[misc]
    """The robot's messages (topic /v1.0/im/bot/messages/get): taken by the channel, then acknowledged."""

    def __init__(self, stream: Stream) -> None:
        super().__init__()
        self.stream = stream

    async def process(self, message: CallbackMessage) -> tuple[int, str]:
        data = message.data if isinstance(message.data, dict) else {}
        channel = self.stream.channel

        async def take() -> None:
            channel.take(data)

        await asyncio.to_thread(self.stream.hand, take())
        return AckMessage.STATUS_OK, "OK"


class CardPresses(CallbackHandler):  # type: ignore[misc]
    """A template card's button (topic /v1.0/card/instances/callback): acknowledged with the pressed
    card's new variables, within DingTalk's time whatever the core does."""

    def __init__(self, stream: Stream) -> None:
        super().__init__()
        self.stream = stream

    async def process(self, message: CallbackMessage) -> tuple[int, Any]:
        data = message.data if isinstance(message.data, dict) else {}
        key = f"press:{message.headers.message_id}"
        answer = await asyncio.to_thread(self.stream.hand, self.stream.channel.card_press(data, key))
        return AckMessage.STATUS_OK, answer


class Events(EventHandler):  # type: ignore[misc]
    """The organisation's events: a person who left the organisation leaves Houqin (ACCESS_POLICY=directory)."""

    def __init__(self, stream: Stream) -> None:
        super().__init__()
        self.stream = stream

    async def process(self, event: EventMessage) -> tuple[int, str]:
        if event.headers.event_type == "user_leave_org":
            data = event.data if isinstance(event.data, dict) else {}
            user_ids = [str(u) for u in data.get("userId") or []]
            await asyncio.to_thread(self.stream.hand, self.stream.channel.left(user_ids))
        return AckMessage.STATUS_OK, "OK"

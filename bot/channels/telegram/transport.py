"""The Bot API's HTTP requests over aiohttp, through python-telegram-bot's own extension point
(`ApplicationBuilder().request(...)`, a `BaseRequest`), instead of its default httpx.

Why: in a py-spy profile of `houqin run` answering Telegram (issue 17), httpx and httpcore took about
30 % of the process's CPU, more than the core's handling of the updates; every button press costs
three Bot API calls. aiohttp, already here for Slack's SDK, parses HTTP in C and costs a fraction of
that per call. PTB keeps everything else: building the request, parsing the answer, mapping Telegram's
errors. This module only carries bytes, and maps transport failures to PTB's own exceptions as
`HTTPXRequest` does: a timeout is `TimedOut`, anything else on the wire `NetworkError`.
"""

from __future__ import annotations

import json

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# PTB's own defaults for HTTPXRequest, kept: seconds.
READ_TIMEOUT = 5.0
WRITE_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0
POOL_TIMEOUT = 1.0
MEDIA_WRITE_TIMEOUT = 20.0


def _given(value: object, default: float | None) -> float | None:
    """A timeout the caller passed (a number or None for none), else this request's default."""
    return value if value is None or isinstance(value, int | float) else default


def _body(request: RequestData | None, agent: str) -> tuple[aiohttp.FormData | bytes | None, dict[str, str]]:
    """A request's body and headers. Without files, the parameters as one JSON body, which the Bot
    API takes as it takes a form: one json.dumps, where a form costs a dumps per field and then
    aiohttp's form encoder (about 5 % of a webhook process's CPU in issue 17's profile)."""
    if request is None:
        return None, {"User-Agent": agent}
    files = request.multipart_data
    if not files:
        return json.dumps(request.parameters).encode(), {"User-Agent": agent, "Content-Type": "application/json"}
    form = aiohttp.FormData()
    for name, value in request.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form, {"User-Agent": agent}


class AiohttpRequest(BaseRequest):
    def __init__(self, connection_pool_size: int = 256, read_timeout: float | None = READ_TIMEOUT) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # No cookies (the Bot API sets none), no proxy from the environment unless asked (as httpx).
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=True,
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        read = _given(read_timeout, self._read_timeout)
        write = _given(write_timeout, MEDIA_WRITE_TIMEOUT if files else WRITE_TIMEOUT)
        connect = _given(connect_timeout, CONNECT_TIMEOUT)
        pool = _given(pool_timeout, POOL_TIMEOUT)
        # aiohttp has no write timeout of its own: the whole request is bounded by the sum instead, so
        # a server that stops reading an upload cannot hold it for ever.
        parts = (read, write, connect, pool)
        timeout = aiohttp.ClientTimeout(
            total=None if None in parts else sum(part for part in parts if part is not None),
            connect=None if connect is None or pool is None else connect + pool,  # a free connection, then connected
            sock_connect=connect,
            sock_read=read,
        )
        body, headers = _body(request_data, self.USER_AGENT)
        try:
            async with self._session.request(method, url, data=body, headers=headers, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err

"""The browser chat's JSON bodies are bounded like files: a body nested thousands deep or larger
than any message is refused with a 4xx, not a 500, and the person's next message is answered."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.dialog.web_person import WebPerson

JSON = {"content-type": "application/json"}


async def test_a_body_nested_thousands_deep_or_megabytes_long_is_refused_politely(
    web_client: httpx.AsyncClient, person: Callable[[str], WebPerson]
) -> None:
    deep = b'{"person": "wang.fang", "client_id": "deep-0001", "text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    refused = await web_client.post("/api/web/messages", content=deep, headers=JSON)
    assert (refused.status_code, refused.json()) == (400, {"error": "body must be JSON"})

    long = b'{"person": "wang.fang", "client_id": "long-0001", "text": "' + b"x" * 1024 * 1024 + b'"}'
    assert (await web_client.post("/api/web/messages", content=long, headers=JSON)).status_code == 413
    assert (await web_client.post("/api/web/inbox", content=deep, headers=JSON)).status_code == 400

    assert "报修" in await person("wang.fang").says("/help")

"""Files people share with Houqin in Slack (a modal's file input, a file dropped into the DM),
fetched with the bot token before the core's transaction begins (never while holding it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.channels.contract import MAX_PHOTO_BYTES, fetch_document
from handlers.core.conversation import MAX_DOCUMENT, DocumentIn, PhotoIn
from handlers.core.flow import sniff_image_type

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackFiles:
    token: str
    api_base_url: str

    async def photo(self, shared: dict[str, Any]) -> PhotoIn:
        """A picture the person attached; bytes that are not an image (or none at all) are passed on
        as such, and the step refuses them in the person's words."""
        content = await self.fetch(shared, MAX_PHOTO_BYTES)
        kind = sniff_image_type(content) if content is not None else None
        return PhotoIn(file_id=str(shared.get("id") or ""), content=content or b"", content_type=kind or "unknown")

    async def document(self, shared: dict[str, Any]) -> DocumentIn:
        """Any other file (a catalog to import); without bytes when too big, and the step says so."""
        document = DocumentIn(
            name=str(shared.get("name") or "file"),
            content=None,
            content_type=str(shared.get("mimetype") or "") or None,
            size=int(shared.get("size") or 0) or None,
            file_id=str(shared.get("id") or ""),
        )
        return await fetch_document(document, lambda: self.fetch(shared, MAX_DOCUMENT))

    async def fetch(self, shared: dict[str, Any], limit: int) -> bytes | None:
        """The file's bytes (files:read); None when too big or unreadable."""
        url = str(shared.get("url_private_download") or shared.get("url_private") or "")
        if int(shared.get("size") or 0) > limit:
            return None
        # The bot token goes only to Slack's own file host (or the API's, for a self-hosted or test one).
        trusted = urlsplit(url).hostname in {"files.slack.com", urlsplit(self.api_base_url).hostname}
        if not trusted or not url.startswith(("https://", "http://")):
            log.warning("not fetching a Slack file from %s", urlsplit(url).hostname)
            return None
        try:
            async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
                fetched = await http.get(url, headers={"Authorization": f"Bearer {self.token}"})
        except httpx.HTTPError as exc:
            log.info("could not fetch Slack file %s: %s", shared.get("id"), exc)
            return None
        if fetched.status_code != 200 or len(fetched.content) > limit:
            return None
        return fetched.content

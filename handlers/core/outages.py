"""The database being away, as the channels see it: an outage is answered "try again" (503, the update
left for Telegram to send again) rather than blamed on the delivery. Channels import no storage, so
they ask here."""

from __future__ import annotations

from storage.db import is_outage, log_failure

__all__ = ["is_outage", "log_failure"]

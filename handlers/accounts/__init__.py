"""One person on several channels: link codes."""

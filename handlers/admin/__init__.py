"""The admin commands: roles, the organisation, audit, exports, statistics, broadcast, settings."""

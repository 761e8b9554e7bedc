"""The engine and what every area shares: flows and steps, outbox, i18n, authz, audit, people, calendar."""

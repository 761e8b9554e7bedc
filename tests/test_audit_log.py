"""The audit log is append-only in the database itself, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from storage.db import Database
from storage.models import AuditEntry


async def test_audit_rows_can_be_added_but_never_changed_or_removed(db: Database) -> None:
    async with db.unit_of_work() as session:
        session.add(AuditEntry(action="role.grant", record="person:1", detail={"role": "admin"}))
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.unit_of_work() as session:
            await session.execute(update(AuditEntry).values(outcome="refused"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.unit_of_work() as session:
            await session.execute(delete(AuditEntry))

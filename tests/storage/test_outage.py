"""Which failures count as the database being unreachable (wait and retry) rather than a fault."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from storage.db import is_outage


def wrapped(orig: BaseException) -> DBAPIError:
    """As SQLAlchemy hands a driver error on: translated, with the original as its cause."""
    try:
        raise DBAPIError("SELECT 1", None, orig) from orig
    except DBAPIError as exc:
        return exc


@pytest.mark.parametrize(
    "orig",
    [
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_a_lost_connection_is_an_outage(orig: BaseException) -> None:
    assert is_outage(wrapped(orig))


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT", None, asyncpg.exceptions.UniqueViolationError("duplicate key")),
        ValueError("a fault in handling this update"),
        FileNotFoundError("missing.png"),
    ],
)
def test_a_fault_in_the_work_is_not(error: BaseException) -> None:
    assert not is_outage(error)

"""One cache of compiled SQL for every engine a test process builds.

A Houqin process builds one engine and compiles each statement once. A test process builds an engine
per test (a database of its own each time), and SQLAlchemy keys compiled statements by the engine's
dialect *instance*: every test compiled again every statement it ran (7–9 % of py-spy's samples over
`make check`; its tests' CPU fell by a quarter with this cache). Dialects of one kind compile alike,
so the cache here keys them by kind.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import LRUCache

import storage.db
from storage.models import Base


class ByDialectKind(LRUCache[Any, Any]):
    """SQLAlchemy's compiled cache (it only calls `get` and sets items), with each key's dialect
    replaced by the dialect's kind."""

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(_kind(key), default)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(_kind(key), value)


def _kind(key: tuple[Any, ...]) -> tuple[Any, ...]:
    dialect: Dialect = key[0]
    return (type(dialect), dialect.server_version_info, *key[1:])


def share_between_engines() -> None:
    """Every engine built from now on, and the ORM's flushes (a cache on each mapper), share one cache."""
    shared = ByDialectKind(5000)
    build = storage.db.make_engine

    def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
        engine = build(url, **kwargs)
        engine.sync_engine._compiled_cache = shared
        return engine

    storage.db.make_engine = make_engine
    for mapper in Base.registry.mappers:
        mapper.__dict__["_compiled_cache"] = ByDialectKind(5000)

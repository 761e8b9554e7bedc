"""After start-up, `houqin run` sets what is loaded aside from the garbage collector's full
collections (bot/service.py:settle_memory): those walked it all and paused every update ~100 ms."""

from __future__ import annotations

import gc

from bot.service import settle_memory


def test_what_start_up_loaded_is_frozen_out_of_full_collections() -> None:
    try:
        settle_memory()
        # The modules, catalogs and areas this process has loaded: tens of thousands of objects.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()  # a test process builds services by the hundred: freeze nothing for good here

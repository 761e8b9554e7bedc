"""The `houqin` command's entry point (pyproject's [project.scripts]): bot/cli.py, loaded with the
garbage collector held off."""

from __future__ import annotations

import gc


def main() -> int:
    # Loading Houqin allocates a few hundred thousand objects that live as long as the process
    # (modules, mapped classes, catalogs, the areas); the collector would walk them again and again
    # meanwhile, for nothing: a sixth of the loading time. bot/cli.py turns it back on once loaded.
    gc.disable()
    from bot import cli

    return cli.main()

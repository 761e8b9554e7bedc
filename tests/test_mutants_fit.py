"""`make mutate` breaks each rule by replacing a piece of text that must occur exactly once: when the
code moves on, the break must move with it, or the mutation run stops before judging anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from mutation.mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_every_deliberate_break_still_fits_the_code_it_breaks(mutant: Mutant) -> None:
    assert (ROOT / mutant.path).read_text(encoding="utf-8").count(mutant.old) == 1
    for test in mutant.tests:
        assert (ROOT / test.split("::", 1)[0]).is_file(), test

"""Deliberate breaks of the rules the suite must guard: `python -m mutation` (`make mutate`)."""

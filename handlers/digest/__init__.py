"""The weekly digest area: who gets which, once each, and its buttons (its figures: handlers/core/digest.py)."""

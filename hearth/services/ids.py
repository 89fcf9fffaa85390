"""Ids as clients send them (strings of digits, JSON numbers) -> database ids.

Every id column is a signed 64-bit integer, so anything outside 1 .. 2^63 - 1 names no row:
a lookup answers "not found" rather than letting the database driver overflow, and a page
bound is clamped into range (max_id=2^64 still means "everything").
"""

from __future__ import annotations

MAX_ID = 2**63 - 1


def parse_id(value: int | str | None) -> int | None:
    """The id, or None when it is not an integer id that any row could have."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if 1 <= n <= MAX_ID else None


def clamp_id(n: int) -> int:
    """A page bound inside the id range (0 .. MAX_ID)."""
    return max(0, min(n, MAX_ID))

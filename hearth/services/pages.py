"""Id-based pagination as Mastodon clients use it: max_id (older than), since_id (newer
than, newest first), min_id (newer than, oldest first, for catching up)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select

from hearth.services.errors import Invalid
from hearth.services.ids import clamp_id

DEFAULT_LIMIT = 20
MAX_LIMIT = 40


def _opt_int(value: int | str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return clamp_id(int(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Invalid(f"{name} must be an id (an integer), not {value!r}") from None


@dataclass(frozen=True)
class Page:
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = DEFAULT_LIMIT

    @classmethod
    def parse(cls, max_id: int | str | None = None, since_id: int | str | None = None,
              min_id: int | str | None = None, limit: int | str | None = None, max_limit: int = MAX_LIMIT) -> Page:
        n = _opt_int(limit, "limit")
        n = DEFAULT_LIMIT if n is None else max(1, min(n, max_limit))
        return cls(_opt_int(max_id, "max_id"), _opt_int(since_id, "since_id"), _opt_int(min_id, "min_id"), n)

    def apply(self, query: Select, column) -> Select:  # noqa: ANN001 - an id column
        if self.max_id is not None:
            query = query.where(column < self.max_id)
        if self.since_id is not None:
            query = query.where(column > self.since_id)
        if self.min_id is not None:
            return query.where(column > self.min_id).order_by(column.asc()).limit(self.limit)
        return query.order_by(column.desc()).limit(self.limit)

    def finish(self, rows: list) -> list:
        """Rows newest first, whichever direction the query ran in."""
        return list(reversed(rows)) if self.min_id is not None else rows

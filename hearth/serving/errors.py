"""Errors of the recommendation layer: a request it cannot serve as asked. The app turns them
into 422 answers; nothing here knows about HTTP."""

from __future__ import annotations


class InvalidRequest(ValueError):
    """A limit out of range, a cursor that was edited or belongs to someone else."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

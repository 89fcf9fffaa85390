"""The one exception type for data problems a user can fix (missing, corrupt or malformed files).

Callers (the CLI, the trainer) catch `DataError` and print its message as is, so every message
says what is wrong, with which file, and what to do about it.
"""

from __future__ import annotations


class DataError(Exception):
    """A dataset file is missing, corrupt, malformed or could not be downloaded."""

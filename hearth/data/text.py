"""Fast text parsing shared by the loaders: whole-file reads and column splits, no pandas.

A million-line file is read in one go and split with `str.split` (C speed); only when the
token count does not add up is it scanned line by line, to name the first bad line.
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hearth.data.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of small lists are built (3-4x faster).

    Row lists hold only strings, so they form no cycles and nothing is leaked by pausing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The whole file as text with LF line endings; gzip is detected by its magic bytes.

    encoding "auto" tries UTF-8 (a BOM is dropped) and falls back to latin-1, which never fails.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{path}: not a valid gzip file ({e})") from e
    if encoding == "auto":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    else:
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not valid {encoding} text ({e})") from e
    return text.replace("\r\n", "\n") if "\r" in text else text


def drop_first_line(text: str) -> str:
    """Text after its first line (a header)."""
    cut = text.find("\n")
    return "" if cut < 0 else text[cut + 1:]


def malformed(path: Path, lineno: int, line: str, why: str) -> DataError:
    """The error for a bad line: file, 1-based line number, the problem and the line itself."""
    shown = line if len(line) <= 200 else line[:200] + "..."
    return DataError(f"{path}, line {lineno}: {why}: {shown!r}")


def columns(
    path: Path, text: str, n_fields: int, sep: str | None = None, first_lineno: int = 1
) -> list[list[str]]:
    """Split text of `n_fields` fields per line into `n_fields` columns of strings.

    `sep` None means any whitespace; otherwise `sep` (e.g. "::" or "\\t") separates fields and
    fields themselves contain no whitespace. Blank lines are skipped. `first_lineno` is the
    file's line number of the text's first line (2 after a dropped header), for messages.
    Only the total token count is checked on the fast path (enough for checksum-verified
    files); user files go through `generic.read_rows`, which checks every line.
    """
    flat = text.replace(sep, " ") if sep else text
    tokens = flat.split()
    n_lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if len(tokens) != n_lines * n_fields:
        rows = [ln.split(sep) if sep else ln.split() for ln in text.split("\n")]
        for i, row in enumerate(rows):
            if row == [""] or not row:  # blank line
                continue
            if len(row) != n_fields or any(not f or f.isspace() for f in row):
                raise malformed(path, first_lineno + i, text.split("\n")[i],
                                f"expected {n_fields} fields, found {len(row)}")
        if len(tokens) % n_fields:  # every line fine yet the count is off: should not happen
            raise DataError(f"{path}: could not split into {n_fields} columns")
    return [tokens[i::n_fields] for i in range(n_fields)]


def numbers(path: Path, column: list[str], dtype: type | np.dtype, what: str, text: str,
            first_lineno: int = 1) -> np.ndarray:
    """A column (split from `text` by `columns`) as numbers; a bad value -> DataError with its line."""
    try:
        return np.array(column, dtype=dtype)
    except (ValueError, OverflowError):
        pass
    for i, v in enumerate(column):
        try:
            np.array([v], dtype=dtype)
        except (ValueError, OverflowError):
            idx = _nth_line_index(text, i)
            line = text.split("\n")[idx]
            raise malformed(path, first_lineno + idx, line, f"{what} {v!r} is not a number") from None
    raise DataError(f"{path}: the {what} column is not numeric")


def _nth_line_index(text: str, n: int) -> int:
    """Index (0-based, counting blank lines) of the n-th non-blank line of text."""
    seen = -1
    for i, line in enumerate(text.split("\n")):
        if line.strip():
            seen += 1
            if seen == n:
                return i
    return seen


def numeric_ids_sorted(*cols: list[str]) -> list[str]:
    """Distinct ids of the given columns, in numeric order when all are integers, else first-seen order."""
    distinct = list(dict.fromkeys(v for col in cols for v in col))
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return distinct


class Steps:
    """A tqdm bar over a loader's named steps (parse, index, ...), so a slow load shows where it is."""

    def __init__(self, desc: str, names: list[str], progress: bool) -> None:
        self.bar = tqdm(total=len(names), desc=desc, unit="step", disable=not progress, leave=False)
        self.names = names
        self.done = 0
        if progress:
            self.bar.set_postfix_str(names[0])

    def next(self) -> None:
        self.done += 1
        self.bar.update(1)
        if self.done < len(self.names):
            self.bar.set_postfix_str(self.names[self.done])

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Any `user item [timestamp]` file (and optionally a `a b` follow edge list) as an EventLog.

This is how people bring their own data: one interaction per line, fields separated by tabs,
commas or spaces, an optional header line, optionally gzipped. Interactions become `like`
events on items; edges become directed `follow` events between users.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import methodcaller
from pathlib import Path

import numpy as np

from hearth.data.errors import DataError
from hearth.data.text import Steps, gc_paused, malformed, read_text
from hearth.events import ACCOUNT, ITEM, VERB_INDEX, EventLog, build_event_log

# A first line made only of these (case-insensitive) is a header.
HEADER_NAMES = frozenset({
    "user", "user_id", "userid", "uid", "users", "item", "item_id", "itemid", "iid", "items", "target",
    "target_id", "timestamp", "time", "ts", "unix_time", "datetime", "date",
    "source", "src", "source_id", "dst", "destination", "from", "to", "follower", "followee",
    "follower_id", "followee_id", "friend", "friend_id", "truster", "trustee", "truster_id", "trustee_id",
    "node1", "node2", "user1", "user2", "user_a", "user_b", "a", "b", "u", "v",
})


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _separator(line: str) -> str | None:
    """Tab, comma or "::" when the line has one; else None (any run of spaces)."""
    for sep in ("\t", ",", "::"):
        if sep in line:
            return sep
    return None


def _is_header(first: list[str], second: list[str] | None) -> bool:
    """Is `first` a header: known column names, or words where the next line has numbers?

    With 3 fields only the timestamp column is compared (ids may well be words); with 2 fields
    all of them are.
    """
    if all(f.strip("\"' ").lower() in HEADER_NAMES for f in first):
        return True
    if second is None or len(second) != len(first):
        return False
    if len(first) == 3:
        return not _is_number(first[2]) and _is_number(second[2])
    return not any(_is_number(f) for f in first) and all(_is_number(f) for f in second)


def read_rows(
    path: Path, allowed: tuple[int, ...], layout: str
) -> tuple[list[list[str]], Sequence[int], list[str]]:
    """(columns of strings, each row's 0-based line index, the file's lines) for a delimited file.

    Every row must have the same field count, one of `allowed`. Blank lines and lines starting
    with '#' are skipped; a header line is detected and dropped. A bad row -> DataError naming
    the file, the 1-based line number and the line. Per-line work is done with C-level
    map/split calls, so a million lines take about a second.
    """
    text = read_text(path, "auto")
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    data: Sequence[int] = range(len(lines))
    if "#" in text or not all(map(str.strip, lines)):
        data = [i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")]
    if not data:
        raise DataError(f"{path}: no data lines (expected {layout} per line)")
    sep = _separator(lines[data[0]])
    split = str.split if sep is None else methodcaller("split", sep)
    selected = lines if isinstance(data, range) else [lines[i] for i in data]
    with gc_paused():
        rows: list[list[str]] = list(map(split, selected))
    if sep is not None:
        rows[:2] = [[f.strip() for f in row] for row in rows[:2]]
    if _is_header(rows[0], rows[1] if len(rows) > 1 else None):
        rows, data = rows[1:], data[1:]
        if not rows:
            raise DataError(f"{path}: only a header line, no data (expected {layout} per line)")
    counts = list(map(len, rows))
    n_fields = counts[0]
    if n_fields not in allowed or counts.count(n_fields) != len(counts):
        bad = 0 if n_fields not in allowed else next(j for j, c in enumerate(counts) if c != n_fields)
        want = " or ".join(map(str, allowed)) if n_fields not in allowed else str(n_fields)
        i = data[bad]
        raise malformed(path, i + 1, lines[i], f"expected {want} fields ({layout}), found {counts[bad]}")
    with gc_paused():
        cols = [list(c) for c in zip(*rows, strict=True)]
    del rows
    if sep is not None:
        cols = [list(map(str.strip, c)) for c in cols]
    for col in cols:
        if "" in col:
            i = data[col.index("")]
            raise malformed(path, i + 1, lines[i], f"empty field (expected {layout})")
    return cols, data, lines


def _timestamps(path: Path, values: list[str], line_index: Sequence[int], lines: list[str]) -> np.ndarray:
    """Timestamps as float64; a value that is not a finite number -> DataError with its line."""
    try:
        ts = np.array(values, dtype=np.float64)
        if np.isfinite(ts).all():
            return ts
    except ValueError:
        pass
    for v, i in zip(values, line_index, strict=True):
        if not _is_number(v) or not np.isfinite(float(v)):
            raise malformed(path, i + 1, lines[i], f"timestamp {v!r} is not a number")
    raise DataError(f"{path}: bad timestamps")  # unreachable: some value failed above


def load_generic(path: Path, edges: Path | None = None, *, progress: bool = True) -> EventLog:
    """Interactions `user item [timestamp]` (-> `like` on items) plus optional edges `a b` (-> `follow`).

    With timestamps, each user's events are stably sorted by time (file order breaks ties);
    without, file order is each user's sequence order. Edges are directed and unordered. Ids
    are kept as strings and numbered in first-seen order. `.gz` files are read transparently.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected `user item [timestamp]` per line)")
    with Steps(path.name, ["parse", "index"], progress) as steps:
        cols, line_index, lines = read_rows(path, (2, 3), "user item [timestamp]")
        users, items = cols[0], cols[1]
        n = len(users)
        ts = _timestamps(path, cols[2], line_index, lines) if len(cols) == 3 else np.full(n, np.nan)
        verbs = [np.full(n, VERB_INDEX["like"])]
        kinds = [np.full(n, ITEM)]
        ordered = [np.ones(n, dtype=bool)]
        sources = [path.name]
        targets = list(items)
        users = list(users)
        if edges is not None:
            edges = Path(edges)
            if not edges.is_file():
                raise DataError(f"{edges}: no such file (expected a follow edge list, `a b` per line)")
            (a, b), _, _ = read_rows(edges, (2,), "follower followee")
            users += a
            targets += b
            verbs.append(np.full(len(a), VERB_INDEX["follow"]))
            kinds.append(np.full(len(a), ACCOUNT))
            ordered.append(np.zeros(len(a), dtype=bool))
            ts = np.concatenate([ts, np.full(len(a), np.nan)])
            sources.append(edges.name)
        steps.next()
        log = build_event_log(
            dataset_name(path), sources, users, np.concatenate(verbs).astype(np.int8),
            np.concatenate(kinds).astype(np.int8), targets, ts=ts, ordered=np.concatenate(ordered),
            symmetric_follows=False)
        steps.next()
    return log


def dataset_name(path: Path) -> str:
    """A file's name without .gz and its extension: "clicks.csv.gz" -> "clicks"."""
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return Path(name).stem or name

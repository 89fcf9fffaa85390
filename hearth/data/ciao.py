"""Ciao: dated product ratings plus a directed trust network over the same users.

Ratings are a sequential benchmark (`rate`, value = stars, in time order); trust statements
are `follow` events (directed: a trusts b says nothing about b trusting a).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hearth.data.errors import DataError
from hearth.data.files import Download, KnownFile, locate
from hearth.data.text import Steps, columns, drop_first_line, numbers, read_text
from hearth.events import ACCOUNT, ITEM, VERB_INDEX, EventLog, build_event_log

logger = logging.getLogger(__name__)

CIAO_URL = "https://www.cse.msu.edu/~tangjili/datasetcode/ciao_with_rating_timestamp.zip"
CIAO_FILES: dict[str, KnownFile] = {f.name: f for f in (
    KnownFile("ratings.tsv", None, sha256="e5e83d2f33d5f68350dbb3d990f73fecac0246233e7e211a78b11f34f404689b"),
    KnownFile("rating_with_timestamp.mat", CIAO_URL,
              sha256="488e9aa5f60e6a52a972795b6402f922fc0d9d273152f4d124a5c5bdefb86a71"),
    KnownFile("trust.tsv", None,
              sha256="4c1775acab15036198b1ea145f2030ad56e069b67b62deb4c2a7e2d2910d8e94"),
    KnownFile("trust.mat", CIAO_URL,
              sha256="97c8617b015a29e8a2d53dadec1279b575551c0a0949951e84affc0e598e7a1a"),
)}
CIAO_DOWNLOADS = (Download(CIAO_URL, "zip", ("rating_with_timestamp.mat", "trust.mat")),)

# Columns of the `rating` matrix (and of ratings.tsv): user, item, category, rating, helpfulness, time.
USER, ITEM_COL, RATING, TIME = 0, 1, 3, 5


def load_ciao(folder: Path, *, progress: bool = True, verify: bool = True) -> EventLog:
    """Ratings of 7,375 users as ordered `rate` events, and 57,544 directed trust `follow` events.

    Cleaning, applied in this order and logged: the 34 ratings of 0 stars are dropped (not a
    valid rating), then of a (user, item) pair rated more than once only the first rating in
    file (= time) order is kept, which drops 1,433 more; 282,619 ratings on 105,096 items
    remain. Timestamps have day granularity, so ties are common: file order breaks them.
    Reads ratings.tsv / trust.tsv when present, else the original .mat files (scipy).
    """
    def want(label: str, tsv: str, mat: str) -> tuple[str, tuple[str, ...]]:
        # The .tsv conversion is preferred when present; a missing file is asked for as the original .mat.
        return (label, (tsv,) if (folder / tsv).is_file() else (mat, tsv))

    ratings_path, trust_path = locate(
        folder, "ciao", [want("ratings", "ratings.tsv", "rating_with_timestamp.mat"),
                         want("trust network", "trust.tsv", "trust.mat")], CIAO_FILES, verify=verify)
    with Steps("ciao", ["parse", "clean", "index"], progress) as steps:
        rating = _matrix(ratings_path, "rating", 6)
        trust = _matrix(trust_path, "trust", 2)
        steps.next()
        stars = rating[:, RATING]
        valid = stars > 0
        key = rating[:, USER].astype(np.int64) * (int(rating[:, ITEM_COL].max()) + 1) + rating[:, ITEM_COL]
        first = np.zeros(len(rating), dtype=bool)
        first[np.unique(np.where(valid, key, -1), return_index=True)[1]] = True
        keep = valid & first
        logger.info("ciao: dropped %d ratings of 0 stars and %d repeated (user, item) ratings; %d remain",
                  int((~valid).sum()), int((valid & ~first).sum()), int(keep.sum()))
        rating = rating[keep]
        steps.next()
        n_r, n_t = len(rating), len(trust)
        users = rating[:, USER].tolist() + trust[:, 0].tolist()
        targets = rating[:, ITEM_COL].tolist() + trust[:, 1].tolist()
        user_order = np.unique(np.concatenate([rating[:, USER], trust.ravel()])).tolist()
        verbs = np.concatenate([np.full(n_r, VERB_INDEX["rate"]), np.full(n_t, VERB_INDEX["follow"])])
        log = build_event_log(
            "ciao", [ratings_path.name, trust_path.name], users, verbs.astype(np.int8),
            np.concatenate([np.full(n_r, ITEM), np.full(n_t, ACCOUNT)]).astype(np.int8), targets,
            ts=np.concatenate([rating[:, TIME].astype(np.float64), np.full(n_t, np.nan)]),
            values=np.concatenate([rating[:, RATING], np.ones(n_t)]).astype(np.float32),
            ordered=np.concatenate([np.ones(n_r, dtype=bool), np.zeros(n_t, dtype=bool)]),
            symmetric_follows=False, user_order=user_order,
            item_order=np.unique(rating[:, ITEM_COL]).tolist())
        steps.next()
    return log


def _matrix(path: Path, variable: str, n_cols: int) -> np.ndarray:
    """An int64 [n, n_cols] matrix from a .tsv with a header, or variable `variable` of a .mat file."""
    if path.suffix == ".mat":
        import scipy.io

        try:
            matrix = scipy.io.loadmat(str(path), variable_names=[variable]).get(variable)
        except (ValueError, OSError, TypeError) as e:
            raise DataError(f"{path}: not a readable MATLAB file ({e})") from e
        if matrix is None or matrix.ndim != 2 or matrix.shape[1] != n_cols:
            raise DataError(f"{path}: expected a variable {variable!r} with {n_cols} columns")
        return matrix.astype(np.int64)
    text = drop_first_line(read_text(path, "ascii"))
    cols = columns(path, text, n_cols, first_lineno=2)
    return np.stack([numbers(path, c, np.int64, "value", text, first_lineno=2) for c in cols], axis=1)

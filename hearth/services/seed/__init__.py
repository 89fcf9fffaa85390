"""Seeding a demo community into the database, fast: LastFM-2k (real listeners, friendships and
artists; see `lastfm.py` for the mapping) or a labelled synthetic one (`synthetic.py`), written
by `community.py` with bulk inserts, counters and the event log consistent with what the
services would have written. Seeding is deterministic for a given seed and anchor time, and a
second run on a complete seed writes nothing."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from hearth.services.seed.community import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    Community,
    DatabaseState,
    Progress,
    SeedError,
    SeedResult,
    check_writable,
    database_state,
    reset_database,
    write_community,
)
from hearth.services.seed.lastfm import BANNER as LASTFM_BANNER
from hearth.services.seed.lastfm import DEFAULT_TOP_ARTISTS, build_lastfm, lastfm_files
from hearth.services.seed.synthetic import BANNER as SYNTHETIC_BANNER
from hearth.services.seed.synthetic import DEFAULT_ACCOUNTS, DEFAULT_EVENTS, DEFAULT_POSTS, build_synthetic
from hearth.storage.db import migrate

__all__ = ["DEMO_PASSWORD", "DEMO_USERNAME", "Community", "DatabaseState", "SeedError", "SeedResult",
           "database_state", "lastfm_available", "reset_database", "seed_lastfm", "seed_synthetic"]


def lastfm_available(data_dir: Path | None) -> bool:
    """Whether LastFM-2k's files are in the data directory (and intact)."""
    from hearth.data import DataError
    try:
        lastfm_files(data_dir)
    except DataError:
        return False
    return True


def seed_lastfm(url: str, data_dir: Path | None = None, top_artists: int = DEFAULT_TOP_ARTISTS,
                anchor: dt.datetime | None = None, seed: int = 0, progress: Progress | None = None) -> SeedResult:
    """Migrate, then seed LastFM-2k (DataError when its files are missing, SeedError when the
    database holds other data); a complete earlier seed is kept and reported as skipped."""
    migrate(url)
    done = check_writable(url, "lastfm-2k")
    if done is not None:
        done.banner = LASTFM_BANNER
        return done
    started = time.perf_counter()
    result = write_community(url, build_lastfm(data_dir, top_artists, anchor, seed), progress)
    result.seconds = time.perf_counter() - started  # reading the files included
    return result


def seed_synthetic(url: str, accounts: int = DEFAULT_ACCOUNTS, posts: int = DEFAULT_POSTS,
                   events: int = DEFAULT_EVENTS, anchor: dt.datetime | None = None, seed: int = 0,
                   progress: Progress | None = None) -> SeedResult:
    """Migrate, then seed a synthetic community of this size (see synthetic.py)."""
    migrate(url)
    done = check_writable(url, "synthetic")
    if done is not None:
        done.banner = SYNTHETIC_BANNER
        return done
    started = time.perf_counter()
    result = write_community(url, build_synthetic(accounts, posts, events, anchor, seed), progress)
    result.seconds = time.perf_counter() - started  # generating included
    return result

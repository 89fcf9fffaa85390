"""HetRec 2011 Last.fm 2K: who listens to which artists, and who is friends with whom.

Listening counts have no time, so they are an unordered set per user (`listen`, value = play
count), evaluated with a per-user random split; friendships are `follow` events in both
directions. Tag assignments carry a month and are only loaded on request, because tagged
artists are mostly artists the user also listens to and would leak into the listening split.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from hearth.data.errors import DataError
from hearth.data.files import Download, KnownFile, locate
from hearth.data.text import Steps, columns, drop_first_line, numbers, numeric_ids_sorted, read_text
from hearth.events import ACCOUNT, ITEM, VERB_INDEX, EventLog, build_event_log

LASTFM_URL = "https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip"

LASTFM_FILES: dict[str, KnownFile] = {f.name: f for f in (
    KnownFile("user_artists.dat", LASTFM_URL,
              sha256="001400dc3c7d2667fca6e4ea6dc6acc31a9dd28ad5cd0f74cea988c019934d3b"),
    KnownFile("user_friends.dat", LASTFM_URL,
              sha256="9a3a8f7fa5f5ec832335e5b58ed69a4cf27c6f6f6afcde62134810eea46445a7"),
    KnownFile("artists.dat", LASTFM_URL,
              sha256="c173881362c6b28551368fecb3c0be5a6a30a6cd859e1f5775413dfe46d48648"),
    KnownFile("user_taggedartists.dat", LASTFM_URL,
              sha256="d31fe938fcfeed6f0059f37a36b156f63674d073fc2553e5cc9dc1595e365bc7"),
    KnownFile("tags.dat", LASTFM_URL,
              sha256="e95175f259be4c0c47644ae23d66131cd6d5767142a1405000e79f5584691d70"),
)}
LASTFM_DOWNLOADS = (Download(LASTFM_URL, "zip", tuple(LASTFM_FILES)),)


def load_lastfm(folder: Path, *, tags: bool = False, progress: bool = True, verify: bool = True) -> EventLog:
    """92,834 `listen` events (1,892 users, 17,632 artists) and 25,434 `follow` events.

    Listens and follows are unordered (ts NaN); `symmetric_follows` is set since every
    friendship is listed both ways. With `tags=True`, user_taggedartists.dat adds 186,479
    `tag` events, ordered, at local midnight (Europe/Madrid, as in the dataset's own
    timestamps file) of their day/month/year; 390 tagged artists are not in artists.dat, so
    the catalogue grows to 18,022. Artists are numbered in ascending id order; `item_meta`
    has "artist_id", "name" and "url" from artists.dat (UTF-8).
    """
    wants = [("listening counts", ("user_artists.dat",)), ("friend list", ("user_friends.dat",)),
             ("artist list", ("artists.dat",))]
    if tags:
        wants.append(("tag assignments", ("user_taggedartists.dat",)))
    paths = locate(folder, "lastfm-2k", wants, LASTFM_FILES, verify=verify)
    listens_path, friends_path, artists_path = paths[:3]
    with Steps("lastfm-2k", ["parse", "index"], progress) as steps:
        text = drop_first_line(read_text(listens_path, "ascii"))
        lu, la, lw = columns(listens_path, text, 3, first_lineno=2)
        weight = numbers(listens_path, lw, np.float32, "weight", text, first_lineno=2)
        text = drop_first_line(read_text(friends_path, "ascii"))
        fu, fv = columns(friends_path, text, 2, first_lineno=2)
        users, targets = lu + fu, la + fv
        verbs = [np.full(len(lu), VERB_INDEX["listen"]), np.full(len(fu), VERB_INDEX["follow"])]
        kinds = [np.full(len(lu), ITEM), np.full(len(fu), ACCOUNT)]
        ts = [np.full(len(lu) + len(fu), np.nan)]
        values = [weight, np.ones(len(fu), dtype=np.float32)]
        ordered = [np.zeros(len(lu) + len(fu), dtype=bool)]
        tag_users: list[str] = []
        tag_artists: list[str] = []
        if tags:
            tags_path = paths[3]
            text = drop_first_line(read_text(tags_path, "ascii"))
            tag_users, tag_artists, _, day, month, year = columns(tags_path, text, 6, first_lineno=2)
            n_tags = len(tag_users)
            users += tag_users
            targets += tag_artists
            verbs.append(np.full(n_tags, VERB_INDEX["tag"]))
            kinds.append(np.full(n_tags, ITEM))
            ts.append(_midnights(tags_path, day, month, year))
            values.append(np.ones(n_tags, dtype=np.float32))
            ordered.append(np.ones(n_tags, dtype=bool))
        steps.next()
        log = build_event_log(
            "lastfm-2k", [p.name for p in paths], users, np.concatenate(verbs).astype(np.int8),
            np.concatenate(kinds).astype(np.int8), targets, ts=np.concatenate(ts),
            values=np.concatenate(values),
            ordered=np.concatenate(ordered), symmetric_follows=True,
            user_order=numeric_ids_sorted(lu, fu, fv, tag_users),
            item_order=numeric_ids_sorted(la, tag_artists))
        log.item_meta = _artist_meta(artists_path, log.item_ids.tolist())
        steps.next()
    return log


def _midnights(path: Path, day: list[str], month: list[str], year: list[str]) -> np.ndarray:
    """Unix seconds of local midnight in Madrid for each date (UTC if no time zone database)."""
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            tz: dt.tzinfo = ZoneInfo("Europe/Madrid")
        except ZoneInfoNotFoundError:
            tz = dt.UTC
    except ImportError:  # pragma: no cover - zoneinfo is in the standard library since 3.9
        tz = dt.UTC
    cache: dict[tuple[str, str, str], float] = {}
    out = np.empty(len(day), dtype=np.float64)
    for i, key in enumerate(zip(day, month, year, strict=True)):
        if (t := cache.get(key)) is None:
            try:
                d, m, y = (int(v) for v in key)
                t = cache[key] = dt.datetime(y, m, d, tzinfo=tz).timestamp()
            except ValueError as e:
                raise DataError(f"{path}, line {i + 2}: no such date: "
                                f"day {key[0]}, month {key[1]}, year {key[2]}") from e
        out[i] = t
    return out


def _artist_meta(artists_path: Path, artist_ids: list[str]) -> dict[str, list[str]]:
    known: dict[str, tuple[str, str]] = {}
    for line in drop_first_line(read_text(artists_path, "utf-8")).split("\n"):
        if line:
            fields = line.split("\t")
            known[fields[0]] = (fields[1] if len(fields) > 1 else "", fields[2] if len(fields) > 2 else "")
    meta = [known.get(a, ("", "")) for a in artist_ids]
    return {"artist_id": list(artist_ids), "name": [n for n, _ in meta], "url": [u for _, u in meta]}

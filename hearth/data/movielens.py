"""MovieLens 1M: the full 1,000,209 ratings (`ml-1m`) and SASRec's filtered copy (`ml-1m-sasrec`).

Both are sequential benchmarks: each user's ratings in time order, every rating a `rate` event
on an item with the stars as value. `ml-1m` keeps all 3,706 rated movies; SASRec's file keeps
the 3,416 movies with at least 5 ratings and renumbers users and items, so its numbers are
the ones to compare with published SASRec/BERT4Rec results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hearth.data.files import Download, KnownFile, locate
from hearth.data.text import Steps, columns, numbers, numeric_ids_sorted, read_text
from hearth.events import ITEM, VERB_INDEX, EventLog, build_event_log

ML1M_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
SASREC_URL = "https://raw.githubusercontent.com/kang205/SASRec/master/data/ml-1m.txt"
SAS_MAP_URL = "https://github.com/asash/ml1m-sas-mapping"
BY_TIME = "ratings_no_timestamps_by_time.dat.gz"

ML1M_FILES: dict[str, KnownFile] = {f.name: f for f in (
    # GroupLens publishes no checksum; the original ratings.dat's git blob id is well known.
    KnownFile("ratings.dat", ML1M_URL, git_blob="77a7c4b150f588c23bb9e1f068aa996c0b413695"),
    KnownFile("movies.dat", ML1M_URL,
              sha256="0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9"),
    KnownFile("users.dat", ML1M_URL,
              sha256="1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3"),
    KnownFile("README", ML1M_URL,
              sha256="2d5ddce86ccbd247207456165827b4b9ddf27282bca93807d4c763e28414f133"),
    # Rebuilt without timestamps but in each user's time order (see the data README); no public URL.
    KnownFile(BY_TIME, None, sha256="1e4e944338a4d792e8a88e1065713ebbbc47c7fcd3ef1e9a9c87f3709d95a2f0"),
)}
ML1M_DOWNLOADS = (Download(ML1M_URL, "zip", ("ratings.dat", "movies.dat", "users.dat", "README")),)

SASREC_FILES: dict[str, KnownFile] = {f.name: f for f in (
    KnownFile("ml-1m.txt", SASREC_URL,
              sha256="b725f3acb3986fe3130bffd1e77a74d182a1f51799567a236dbd60270f95b0a2"),
    KnownFile("sasrec_ml-1m.txt.gz", SASREC_URL,
              sha256="7c5d534ef3a363c21c424a260fa8e4e0dd0237d8370eb1a250280afbf03fd7dd"),
    KnownFile("sas_to_original_items.txt", SAS_MAP_URL,
              sha256="9ae42c23af0b0fe2f189b9d5acc6cf3936bffe1a9568390cf5d100c0c1b1fca1"),
    ML1M_FILES["movies.dat"],
)}
SASREC_DOWNLOADS = (Download(SASREC_URL, "file", ("ml-1m.txt",)),)


def load_ml1m(folder: Path, *, progress: bool = True, verify: bool = True) -> EventLog:
    """All 1,000,209 ratings of 6,040 users on 3,706 movies, each user's in time order.

    Reads the original `ratings.dat` when present (real timestamps; a stable sort by time,
    ties in file order), else `ratings_no_timestamps_by_time.dat.gz`, whose line order is each
    user's time order (ts = NaN). Items are numbered in ascending MovieID order;
    `item_meta` has "movie_id", "title" and "genres" (a list per movie) from movies.dat.
    """
    ratings_path, movies_path = locate(
        folder, "ml-1m", [("ratings file", ("ratings.dat", BY_TIME)), ("movie list", ("movies.dat",))],
        ML1M_FILES, verify=verify)
    timed = ratings_path.name == "ratings.dat"
    with Steps("ml-1m", ["read", "parse", "index", "titles"], progress) as steps:
        text = read_text(ratings_path, "latin-1")
        steps.next()
        cols = columns(ratings_path, text, 4 if timed else 3, sep="::")
        stars = numbers(ratings_path, cols[2], np.float32, "rating", text)
        ts = numbers(ratings_path, cols[3], np.float64, "timestamp", text) if timed else None
        steps.next()
        n = len(cols[0])
        log = build_event_log(
            "ml-1m", [ratings_path.name, movies_path.name], cols[0],
            np.full(n, VERB_INDEX["rate"], dtype=np.int8), np.full(n, ITEM, dtype=np.int8), cols[1],
            ts=ts, values=stars, ordered=True,
            user_order=numeric_ids_sorted(cols[0]), item_order=numeric_ids_sorted(cols[1]))
        steps.next()
        log.item_meta = movie_meta(movies_path, log.item_ids.tolist())
        steps.next()
    return log


def load_ml1m_sasrec(folder: Path, *, progress: bool = True, verify: bool = True) -> EventLog:
    """SASRec's `ml-1m.txt`: 999,611 `user item` lines, file order = each user's time order.

    Ids are SASRec's own (users 1..6040, items 1..3416), kept as they are so results line up
    with published SASRec/BERT4Rec numbers. When `sas_to_original_items.txt` and movies.dat
    are in the folder, `item_meta` gets each item's MovieLens "movie_id", "title", "genres".
    """
    (path,) = locate(folder, "ml-1m-sasrec", [("SASRec file", ("ml-1m.txt", "sasrec_ml-1m.txt.gz"))],
                     SASREC_FILES, verify=verify)
    with Steps("ml-1m-sasrec", ["read", "parse", "index"], progress) as steps:
        text = read_text(path, "ascii")
        steps.next()
        users, items = columns(path, text, 2)
        steps.next()
        n = len(users)
        sources = [path.name]
        log = build_event_log(
            "ml-1m-sasrec", sources, users, np.full(n, VERB_INDEX["rate"], dtype=np.int8),
            np.full(n, ITEM, dtype=np.int8), items, ordered=True,
            user_order=numeric_ids_sorted(users), item_order=numeric_ids_sorted(items))
        steps.next()
    map_path, movies_path = folder / "sas_to_original_items.txt", folder / "movies.dat"
    if map_path.is_file() and movies_path.is_file():
        locate(folder, "ml-1m-sasrec", [("item map", (map_path.name,)), ("movie list", (movies_path.name,))],
               SASREC_FILES, verify=verify)
        map_text = read_text(map_path, "ascii")
        sas_ids, movie_ids = columns(map_path, map_text, 2)
        to_movie = dict(zip(sas_ids, movie_ids, strict=True))
        originals = [to_movie.get(i, "") for i in log.item_ids.tolist()]
        log.item_meta = movie_meta(movies_path, originals)
        log.sources += [map_path.name, movies_path.name]
    return log


def movie_meta(movies_path: Path, movie_ids: list[str]) -> dict[str, list]:
    """"movie_id", "title" and "genres" for each of `movie_ids` (movies.dat is latin-1; unknown -> empty)."""
    titles: dict[str, tuple[str, list[str]]] = {}
    for line in read_text(movies_path, "latin-1").split("\n"):
        if line:
            movie_id, title, genres = line.split("::", 2)
            titles[movie_id] = (title, genres.split("|") if genres else [])
    meta = [titles.get(m, ("", [])) for m in movie_ids]
    return {"movie_id": list(movie_ids), "title": [t for t, _ in meta], "genres": [g for _, g in meta]}

"""The known datasets by name, and the two entry points: `load_dataset` and `download_dataset`.

A dataset name maps to a spec: its folder under the data directory, the files it may read
with their checksums, where to download them, its loader, and the evaluation protocol each
task uses by default (so every published number can say which protocol it used).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hearth.data.ciao import CIAO_DOWNLOADS, CIAO_FILES, load_ciao
from hearth.data.errors import DataError
from hearth.data.facebook import FACEBOOK_DOWNLOADS, FACEBOOK_FILES, load_facebook
from hearth.data.files import Download, KnownFile, check_known, fetch, resolve_data_dir
from hearth.data.generic import load_generic
from hearth.data.lastfm import LASTFM_DOWNLOADS, LASTFM_FILES, load_lastfm
from hearth.data.movielens import (
    ML1M_DOWNLOADS,
    ML1M_FILES,
    SASREC_DOWNLOADS,
    SASREC_FILES,
    load_ml1m,
    load_ml1m_sasrec,
)
from hearth.events import EventLog

# Tasks and evaluation protocols (see README.md, "Evaluation protocols").
ITEMS, PEOPLE = "items", "people"
SEQUENTIAL_LOO = "sequential-loo"  # per user: last event test, second last validation
RANDOM_80_10_10 = "random-80-10-10"  # per user random split of an unordered set
PEOPLE_HOLDOUT = "people-holdout"  # per user with >= 3 edges: 10% test, 10% validation


@dataclass(frozen=True)
class DatasetSpec:
    """Everything known about one dataset: where it lives, what it reads, how it is evaluated."""

    name: str
    folder: str  # under the data directory
    description: str
    loader: Callable[..., EventLog]  # loader(folder, *, progress, verify, **options)
    protocols: Mapping[str, str]  # task -> protocol
    files: Mapping[str, KnownFile] = field(default_factory=dict)
    downloads: tuple[Download, ...] = ()


DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (
    DatasetSpec("ml-1m", "ml-1m", "MovieLens 1M: 1,000,209 ratings, 6,040 users, 3,706 movies",
                load_ml1m, {ITEMS: SEQUENTIAL_LOO}, ML1M_FILES, ML1M_DOWNLOADS),
    DatasetSpec("ml-1m-sasrec", "ml-1m", "SASRec's ML-1M: 999,611 ratings, 6,040 users, 3,416 movies",
                load_ml1m_sasrec, {ITEMS: SEQUENTIAL_LOO}, SASREC_FILES, SASREC_DOWNLOADS),
    DatasetSpec("lastfm-2k", "lastfm-2k", "HetRec Last.fm: 92,834 listening counts, 25,434 friend rows",
                load_lastfm, {ITEMS: RANDOM_80_10_10, PEOPLE: PEOPLE_HOLDOUT},
                LASTFM_FILES, LASTFM_DOWNLOADS),
    DatasetSpec("ego-facebook", "ego-facebook", "SNAP ego-Facebook: 88,234 friendships among 4,039 people",
                load_facebook, {PEOPLE: PEOPLE_HOLDOUT}, FACEBOOK_FILES, FACEBOOK_DOWNLOADS),
    DatasetSpec("ciao", "ciao", "Ciao: dated product ratings of 7,375 users and a directed trust network",
                load_ciao, {ITEMS: SEQUENTIAL_LOO, PEOPLE: PEOPLE_HOLDOUT}, CIAO_FILES, CIAO_DOWNLOADS),
)}


def _spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def dataset_folder(name: str, data_dir: Path | None = None) -> Path:
    """The folder a named dataset is read from: <data dir>/<folder>.

    A data_dir that is itself the dataset's folder (e.g. ~/data/ml-1m) is accepted too.
    """
    spec = _spec(name)
    root = resolve_data_dir(data_dir)
    folder = root / spec.folder
    if not folder.is_dir() and root.name == spec.folder and root.is_dir():
        return root
    return folder


def load_dataset(
    name_or_path: str | Path,
    data_dir: Path | None = None,
    *,
    progress: bool = True,
    verify: bool = True,
    **options: Any,
) -> EventLog:
    """Load a dataset by name (see DATASETS), or any `user item [timestamp]` file by path.

    `options` go to the loader: `tags=True` for lastfm-2k, `edges=<path>` for a file. Files
    are checked against their published sha256 unless verify=False. Problems -> DataError.
    """
    key = str(name_or_path)
    if key in DATASETS:
        spec = DATASETS[key]
        return spec.loader(dataset_folder(key, data_dir), progress=progress, verify=verify, **options)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        unknown = set(options) - {"edges"}
        if unknown:
            raise DataError(f"{path}: unknown option(s) {', '.join(sorted(unknown))} "
                            "for a file (it takes only edges=)")
        return load_generic(path, options.get("edges"), progress=progress)
    raise DataError(f"{key!r} is neither a known dataset ({', '.join(DATASETS)}) nor an existing file")


def default_protocols(name_or_path: str | Path, *, with_edges: bool = False) -> dict[str, str]:
    """Task -> evaluation protocol for a dataset name, or for a file (people too when it has edges)."""
    key = str(name_or_path)
    if key in DATASETS:
        return dict(DATASETS[key].protocols)
    return {ITEMS: SEQUENTIAL_LOO, PEOPLE: PEOPLE_HOLDOUT} if with_edges else {ITEMS: SEQUENTIAL_LOO}


def download_dataset(
    name: str,
    data_dir: Path | None = None,
    *,
    base_url: str | None = None,
    progress: bool = True,
    force: bool = False,
    verify: bool = True,
) -> Path:
    """Download a named dataset's files into its folder and verify them; intact files are kept.

    `base_url` replaces the directory part of every download URL (a mirror, or a local test
    server). Returns the folder. Network or archive problems -> DataError saying what to
    download by hand and where to put it.
    """
    spec = _spec(name)
    folder = dataset_folder(name, data_dir)
    for download in spec.downloads:
        present = all((folder / f).is_file() for f in download.files)
        if present and not force and not (
                verify and any(check_known(folder / f, spec.files.get(f)) for f in download.files)):
            continue  # already there and intact; a corrupt copy is fetched again
        fetch(download, folder, name, spec.files, base_url=base_url, progress=progress, verify=verify)
    return folder

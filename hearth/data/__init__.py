"""Datasets as EventLogs: named benchmarks (checked, downloadable) and any user/item/time file.

    log = load_dataset("ml-1m")                 # from $HEARTH_DATA_DIR or ~/.local/share/hearth/data
    log = load_dataset("my_clicks.csv.gz")      # a file: user item [timestamp] per line
    default_protocols("lastfm-2k")              # {"items": "random-80-10-10", "people": "people-holdout"}
"""

from hearth.data.errors import DataError
from hearth.data.files import resolve_data_dir
from hearth.data.generic import load_generic
from hearth.data.registry import DATASETS, DatasetSpec, default_protocols, download_dataset, load_dataset

__all__ = [
    "DATASETS",
    "DataError",
    "DatasetSpec",
    "default_protocols",
    "download_dataset",
    "load_dataset",
    "load_generic",
    "resolve_data_dir",
]

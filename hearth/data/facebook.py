"""SNAP ego-Facebook: an undirected friendship graph, loaded as `follow` events both ways.

There are no items: this dataset exercises the people task (who will befriend whom) only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hearth.data.files import Download, KnownFile, locate
from hearth.data.text import Steps, columns, numeric_ids_sorted, read_text
from hearth.events import ACCOUNT, VERB_INDEX, EventLog, build_event_log

FACEBOOK_URL = "https://snap.stanford.edu/data/facebook_combined.txt.gz"
FACEBOOK_FILES: dict[str, KnownFile] = {
    "facebook_combined.txt": KnownFile(
        "facebook_combined.txt", FACEBOOK_URL,
        sha256="f41c026ed8af3cc3359f1ca5573d0605fb09ae0eefa34544b820fd8c6e2ef296"),
}
FACEBOOK_DOWNLOADS = (Download(FACEBOOK_URL, "gz", ("facebook_combined.txt",)),)


def load_facebook(folder: Path, *, progress: bool = True, verify: bool = True) -> EventLog:
    """88,234 undirected edges `u v` -> 176,468 unordered `follow` events among 4,039 users.

    Each edge becomes u->v and v->u (`symmetric_follows=True`); users are numbered by node id.
    """
    (path,) = locate(folder, "ego-facebook", [("edge list", ("facebook_combined.txt",))],
                     FACEBOOK_FILES, verify=verify)
    with Steps("ego-facebook", ["parse", "index"], progress) as steps:
        text = read_text(path, "ascii")
        a, b = columns(path, text, 2)
        steps.next()
        n = 2 * len(a)
        log = build_event_log(
            "ego-facebook", [path.name], a + b, np.full(n, VERB_INDEX["follow"], dtype=np.int8),
            np.full(n, ACCOUNT, dtype=np.int8), b + a, ordered=False, symmetric_follows=True,
            user_order=numeric_ids_sorted(a, b), item_order=[])
        steps.next()
    return log

"""`<snapshot_dir>/TRAINING.json`: a training run on this server's data is under way.

Written when a run starts and removed when it ends, however it ends; a marker whose process
is gone (killed with -9, machine restarted) counts as no run. The app reads it to say "the
model is training" next to the ranker that serves meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MARKER = "TRAINING.json"


@contextlib.contextmanager
def training_marker(root: Path) -> Iterator[Path]:
    root.mkdir(parents=True, exist_ok=True)
    path = root / MARKER
    tmp = root / f".{MARKER}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"pid": os.getpid(), "started_at": datetime.now(UTC).isoformat()}))
    os.replace(tmp, path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            if json.loads(path.read_text()).get("pid") == os.getpid():  # not another run's marker
                path.unlink()


def training_status(root: Path) -> dict[str, Any] | None:
    """{"pid", "started_at"} of the run under way, or None."""
    try:
        marker = json.loads((Path(root) / MARKER).read_text())
        os.kill(int(marker["pid"]), 0)  # is it still running?
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return marker

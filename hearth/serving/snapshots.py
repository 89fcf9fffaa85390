"""Hot reload of model snapshots: a running server picks up what `hearth train --from-db`
writes, without a restart.

A background task looks at `settings.snapshot_dir` every `snapshot_poll_seconds`; when LATEST
(else the highest version) names a folder other than the one serving, it is loaded in a worker
thread and swapped in with one assignment, so a request holds either the old scorer or the new
one, never half of each. A snapshot that fails to load is logged, reported in `last_error`
and not retried until it changes; the previous one keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from hearth.model.snapshot import SnapshotError, resolve
from hearth.serving.model_scorer import SnapshotScorer

log = logging.getLogger("hearth.serving")


def _fingerprint(folder: Path) -> tuple[str, float]:
    """Which snapshot, and when its files last changed (a rewritten folder is retried)."""
    mtimes = [p.stat().st_mtime for p in (folder / "config.json", folder / "weights.safetensors") if p.exists()]
    return str(folder.resolve()), max(mtimes, default=0.0)


class SnapshotWatcher:
    def __init__(self, root: Path, poll_seconds: float, loader: Callable[[Path], SnapshotScorer] | None = None):
        self.root = Path(root)
        self.poll_seconds = poll_seconds
        self.loader = loader or SnapshotScorer.load
        self.current: SnapshotScorer | None = None
        self.last_error: str | None = None
        self._current_key: tuple[str, float] | None = None
        self._failed_key: tuple[str, float] | None = None
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self.on_swap: Callable[[], None] | None = None  # called after a new snapshot is swapped in

    def newest(self) -> Path | None:
        """The snapshot folder LATEST names (else the highest version), or None when there is none."""
        if not self.root.is_dir():
            return None
        try:
            return resolve(self.root)
        except SnapshotError:
            return None

    async def check(self) -> bool:
        """Load the newest snapshot if it is new; True when a new one was swapped in."""
        async with self._lock:
            folder = self.newest()
            if folder is None:
                return False
            key = _fingerprint(folder)
            if key in (self._current_key, self._failed_key):
                return False
            try:
                scorer = await asyncio.to_thread(self.loader, folder)
            except Exception as e:  # any failure: keep serving what we have
                self._failed_key = key
                self.last_error = f"could not load snapshot {folder}: {e}"
                log.error("%s; still serving %s", self.last_error,
                          self.current.version if self.current else "the heuristic ranker")
                return False
            self.current, self._current_key, self.last_error = scorer, key, None
            log.info("serving model snapshot %s", folder)
            if self.on_swap is not None:
                self.on_swap()
            return True

    async def _poll(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # never let the watcher die
                log.exception("snapshot watcher failed; retrying")
            await asyncio.sleep(self.poll_seconds)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._poll(), name="hearth-snapshot-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

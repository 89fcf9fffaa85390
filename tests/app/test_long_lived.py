"""The server freezes its long-lived objects out of the garbage collector's full passes, at
start-up and after every snapshot swap, and makes full passes rare (hearth/app/long_lived.py)."""

from __future__ import annotations

import gc
import os

import pytest
from fastapi.testclient import TestClient

from hearth.app import long_lived
from hearth.app.main import create_app
from hearth.serving.snapshots import SnapshotWatcher
from hearth.settings import Settings


@pytest.fixture
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_start_up_freezes_what_lives_long_and_makes_full_passes_rare(tmp_path, restore_gc):
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", snapshot_dir=tmp_path / "snaps"))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() > 10_000  # modules, app, settings: out of the full passes
        assert gc.get_threshold()[2] == long_lived.FULL_PASS_AFTER
        assert app.state.serving.watcher.on_swap is long_lived.settle


async def test_a_snapshot_swap_calls_the_hook_and_a_failed_load_does_not(tmp_path):
    calls = []
    folder = tmp_path / "v0001"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    outcomes = iter([RuntimeError("truncated"), object()])

    def loader(path):  # noqa: ANN001, ANN202 - the watcher's loader signature
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    watcher = SnapshotWatcher(tmp_path, 60, loader=loader)
    watcher.on_swap = lambda: calls.append(watcher.current)
    assert not await watcher.check() and calls == []
    (folder / "config.json").write_text('{"v": 2}')  # rewritten: tried again
    os.utime(folder / "config.json", (1e9 + 5, 1e9 + 5))
    assert await watcher.check()
    assert calls == [watcher.current] and watcher.current is not None


async def test_cyclic_garbage_in_the_old_generation_is_collected_on_the_clock(restore_gc):
    """With full passes rare, a cycle that died after reaching the old generation would wait for
    one; the clock's full pass frees it."""
    import asyncio
    import contextlib
    import weakref

    class Node:
        pass

    gc.collect()
    gc.set_threshold(700, 10, long_lived.FULL_PASS_AFTER)
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    gc.collect(1)
    gc.collect(1)  # survived both young generations: now in the old one
    del a, b
    gc.collect(1)  # the young passes do not see it
    assert gone() is not None
    task = asyncio.create_task(long_lived.collect_regularly(every=0.05))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if gone() is None:
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert gone() is None

"""Training from the app's own event log and hot reload: a small community seeded through the
services, `train --from-db` in quick mode, a running ServingState that switches to the new
snapshot without a restart, and a feed that still obeys its policy under the model."""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from hearth.cli import app as cli
from hearth.events import VERB_INDEX
from hearth.model.snapshot import versions
from hearth.offline.applog import load_app_log
from hearth.offline.train_app import train_from_db
from hearth.services import accounts, events, graph, posts
from hearth.serving import candidates as src
from hearth.serving.candidates import PostFacts
from hearth.serving.service import ServingState
from hearth.storage.db import make_engine, make_sessionmaker, make_sync_engine
from hearth.storage.models import Favourite, ModelRun


async def _seed(db, n=30, seed=0):
    """n accounts in two taste groups; each follows a few, posts, and likes mostly its group's posts."""
    rng = random.Random(seed)
    people = []
    for i in range(n):
        people.append(await accounts.create_profile(db, f"user{i}"))
    await db.commit()
    for a in people:
        for b in rng.sample(people, 5):
            if b.id != a.id:
                await graph.follow(db, a, b.id)
    made = []
    for a in people:
        for j in range(2):
            made.append(await posts.create_post(db, a, f"{a.username} says {j}"))
    for a in people:
        group = [p for p in made if (p.account_id % 2) == (a.id % 2) and p.account_id != a.id]
        for p in rng.sample(group, 6):
            await posts.favourite(db, a, p.id)
    return people, made


async def _wait_for_model(serving, seconds=60.0):
    for _ in range(int(seconds / 0.05)):
        if serving.status()["ranker"] == "model":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server did not pick up the snapshot: {serving.status()}")


async def test_train_from_db_and_hot_reload(settings, db):
    people, made = await _seed(db)
    settings = settings.model_copy(update={"snapshot_poll_seconds": 0.05})
    engine = make_engine(settings.database_url)
    serving = ServingState(settings, make_sessionmaker(engine))
    await serving.start()  # running before any snapshot exists
    try:
        assert serving.status()["ranker"] == "heuristic"
        result = await asyncio.to_thread(train_from_db, settings, quick=True, progress=False)
        assert versions(settings.snapshot_dir) == [result.snapshot]
        assert (settings.snapshot_dir / "LATEST").read_text().strip() == result.snapshot.name
        assert "items" in result.tasks and "people" in result.tasks
        run = await db.scalar(select(ModelRun).where(ModelRun.id == result.run_id))
        assert run.snapshot_path == str(result.snapshot) and run.finished_at is not None
        assert run.events_used == result.events > 0

        await _wait_for_model(serving)  # no restart
        status = serving.status()
        assert status["snapshot"] == str(result.snapshot) and status["version"] == result.snapshot.name
        assert status["events_trained_on"] == result.events and status["trained_at"] and status["loaded_at"]

        viewer = people[0]
        page = await serving.feed(db, viewer, limit=20)
        assert page.ranker == f"model:{result.snapshot.name}"
        assert page.entries and all(e.reason for e in page.entries)
        shown = {e.author_id for e in page.entries}
        assert viewer.id not in shown
        # policy under the model: block, mute and hide three shown authors / posts
        by_author = {}
        for e in page.entries:
            by_author.setdefault(e.author_id, e)
        blocked, muted, hidden_post = list(by_author)[:2] + [page.entries[-1].post_id]
        await graph.block(db, viewer, blocked)
        await graph.mute(db, viewer, muted)
        await posts.hide(db, viewer, hidden_post)
        again = await serving.feed(db, viewer, limit=20)
        assert again.entries
        assert not {e.author_id for e in again.entries} & {blocked, muted}
        assert hidden_post not in {e.post_id for e in again.entries}

        # a post written after training is scored through its author; one by a new account is not
        known_author = next(p for p in people if p.id not in (viewer.id, blocked, muted))
        fresh = await posts.create_post(db, known_author, "written after the snapshot")
        newcomer = await accounts.create_profile(db, "newcomer")
        await db.commit()
        stranger = await posts.create_post(db, newcomer, "by an account the model never saw")
        scorer = serving.watcher.current
        assert not scorer.knows_post(fresh.id)
        history = scorer.history(viewer.id, await src.recent_history(db, viewer.id, scorer.max_len))
        assert history
        scores = scorer.score_posts(history, [PostFacts(fresh.id, known_author.id, 0.0),
                                              PostFacts(stranger.id, newcomer.id, 0.0)])
        assert set(scores) == {fresh.id}
        assert abs(sum(scores[fresh.id].verbs.values()) - 1.0) < 1e-4
        await graph.follow(db, viewer, newcomer.id)
        await graph.follow(db, viewer, known_author.id)
        ids = {e.post_id for e in (await serving.feed(db, viewer, limit=40)).entries}
        assert {fresh.id, stranger.id} <= ids  # both served: the stranger's by the heuristic

        people_page = await serving.people(db, viewer, limit=5)
        assert people_page and all(s.reason for s in people_page)
        assert all(s.source in ("model", "friends_of_friends", "popular") for s in people_page)

        # a broken newer snapshot is reported, and the one that works keeps serving
        broken = settings.snapshot_dir / "v0002"
        broken.mkdir()
        (broken / "config.json").write_text('{"format": 1, "model": {"n_items": -1}}')
        (broken / "weights.safetensors").write_bytes(b"not weights")
        (settings.snapshot_dir / "LATEST").write_text("v0002\n")
        assert await serving.reload() is False
        status = serving.status()
        assert status["version"] == result.snapshot.name and "v0002" in status["last_error"]
        assert (await serving.feed(db, viewer, limit=5)).ranker == f"model:{result.snapshot.name}"
        # a real snapshot whose weights were cut short (a full disk, a copy interrupted), picked up
        # by the background watcher rather than an explicit reload: reported, the old one serves on
        truncated = settings.snapshot_dir / "v0003"
        shutil.copytree(result.snapshot, truncated)
        weights = (truncated / "weights.safetensors").read_bytes()
        (truncated / "weights.safetensors").write_bytes(weights[: len(weights) // 2])
        (settings.snapshot_dir / "LATEST").write_text("v0003\n")
        for _ in range(200):
            if "v0003" in (serving.status()["last_error"] or ""):
                break
            await asyncio.sleep(0.05)
        assert "v0003" in serving.status()["last_error"]
        assert serving.watcher._task is not None and not serving.watcher._task.done()  # the watcher lives on
        assert (await serving.feed(db, viewer, limit=5)).ranker == f"model:{result.snapshot.name}"
    finally:
        await serving.stop()
        await engine.dispose()


async def test_app_log_has_authors_and_no_impressions(settings, db):
    people, made = await _seed(db, n=8)
    events.record(db, people[0].id, "impression", "item", made[3].id)
    await db.commit()
    engine = make_sync_engine(settings.database_url)
    try:
        log = load_app_log(engine)
    finally:
        engine.dispose()
    verbs = set(log.verb.tolist())
    assert VERB_INDEX["impression"] not in verbs and VERB_INDEX["post"] not in verbs  # not what people chose
    liked = {str(pid) for (pid,) in await db.execute(select(Favourite.post_id))}
    assert set(log.item_ids.tolist()) == liked
    authors = log.item_meta["author"]
    for p in made:
        if str(p.id) in liked:
            item = log.item_ids.tolist().index(str(p.id))
            assert log.user_ids[authors[item]] == str(p.account_id)
    likes = int((log.verb == VERB_INDEX["like"]).sum())
    assert likes == 8 * 6 and np.all(np.diff(log.user) >= 0)


def test_cli_train_from_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    from hearth.storage.db import migrate
    migrate(url)
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "--from-db", "--database-url", url, "--quick", "--out", str(tmp_path / "s")])
    assert res.exit_code == 2 and "no events on posts" in res.output  # an empty app: a clear error

    async def seed():
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as db:
            await _seed(db, n=12)
        await engine.dispose()

    asyncio.run(seed())
    res = runner.invoke(cli, ["train", "--from-db", "--database-url", url, "--quick", "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "s" / "v0001" / "weights.safetensors").exists() and "snapshot written" in res.output
    res = runner.invoke(cli, ["train", "--quick"])
    assert res.exit_code == 2 and "--dataset is required" in res.output


@pytest.mark.parametrize("bad", ["mysql://x/y"])
def test_cli_train_from_db_rejects_a_bad_url(bad):
    res = CliRunner().invoke(cli, ["train", "--from-db", "--database-url", bad, "--quick"])
    assert res.exit_code == 2 and "database URL" in res.output


async def test_require_better_keeps_a_model_that_learned_nothing_unpublished(settings, db):
    from hearth.offline.train_app import NotBetterError
    await _seed(db)
    await db.commit()
    with pytest.raises(NotBetterError, match="does not beat popularity"):  # lr 0: the random initial weights
        await asyncio.to_thread(train_from_db, settings, quick=True, progress=False, require_better=True,
                                overrides={"lr": 0.0})
    assert versions(settings.snapshot_dir) == []  # nothing for the server to switch to
    assert not (settings.snapshot_dir / "TRAINING.json").exists()
    run = await db.scalar(select(ModelRun).order_by(ModelRun.id.desc()))
    assert run.finished_at is not None and "popularity" in run.metrics["error"]
    # The same data, trained for real: published.
    result = await asyncio.to_thread(train_from_db, settings, progress=False, require_better=True,
                                     overrides={"max_minutes": 2.0, "bf16": False})
    assert versions(settings.snapshot_dir) == [result.snapshot]


def test_training_marker_says_a_run_is_under_way_until_it_ends(tmp_path):
    import json
    import os

    from hearth.app.web.render import ranker_label
    from hearth.serving.training_marker import training_marker, training_status
    assert training_status(tmp_path) is None
    with training_marker(tmp_path):
        assert training_status(tmp_path)["pid"] == os.getpid()
        assert "while the Hearth model trains" in ranker_label("heuristic", training=True)
    assert training_status(tmp_path) is None and not (tmp_path / "TRAINING.json").exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "TRAINING.json").write_text(json.dumps({"pid": dead.pid, "started_at": "x"}))
    assert training_status(tmp_path) is None  # killed runs leave a marker that no longer counts
    assert ranker_label("heuristic") == "Ranked by recency and engagement until a model is trained"

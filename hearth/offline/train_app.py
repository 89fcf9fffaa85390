"""`hearth train --from-db`: train the unified model on the app's own event log and write a
snapshot where the running server looks for one (settings.snapshot_dir), recording the run
in `model_runs`.

The model is the `hstu` variant with `use_authors` (so posts written after training are
scored through their author) and the verb head weighted in (the feed ranks by per-verb
probabilities). Tasks: next item (sequential leave-one-out on each account's timed events)
and, where accounts follow each other, next account (people holdout). Early stopping uses
the validation stage only.

With `require_better`, a snapshot is published only when the model beats popularity on the
same validation users (mean NDCG@10 over its tasks): a server that already serves something
sensible is never switched to a model that has not learned enough yet. While a run is under
way, `<snapshot_dir>/TRAINING.json` says so (its PID and start), which the app shows.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import update

from hearth.baselines import BASELINES
from hearth.bench.presets import QUICK, VARIANTS
from hearth.eval.evaluate import evaluate
from hearth.eval.split import Split, make_split
from hearth.events import ACCOUNT, ITEM, EventLog
from hearth.model.fit import fit, write_snapshot
from hearth.offline.applog import load_app_log
from hearth.serving.training_marker import training_marker
from hearth.settings import Settings
from hearth.storage.db import make_sync_engine
from hearth.storage.models import ModelRun

APP_PRESET: dict[str, dict[str, Any]] = {
    "model": {"d": 64, "n_layers": 2, "n_heads": 1, "max_len": 200, "dropout": 0.2, "use_authors": True,
              "loss_weights": {"item": 1.0, "account": 1.0, "verb": 0.5, "horizon": 0.2}},
    "train": {"lr": 2e-3, "batch_size": 32, "max_minutes": 30.0, "patience": 3},
}
QUICK_APP: dict[str, dict[str, Any]] = {"model": dict(QUICK["model"]),
                                        "train": {**QUICK["train"], "epochs": 3, "max_steps_per_epoch": 50}}
MIN_FOLLOWS_FOR_PEOPLE = 10


class NotBetterError(ValueError):
    """The trained model did not beat the popularity baseline on validation: not published."""


@dataclass
class AppTrainResult:
    snapshot: Path
    events: int
    tasks: list[str]
    valid: dict[str, dict[str, float]]
    run_id: int


def app_settings(quick: bool, seed: int, tasks: list[str], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    p = deepcopy(APP_PRESET)
    if quick:
        p["model"].update(QUICK_APP["model"])
        p["train"].update(QUICK_APP["train"])
    return {**p["model"], **p["train"], **VARIANTS["hstu"], "use_authors": True, "tasks": tasks, "seed": seed,
            **(overrides or {})}


def app_protocols(log: EventLog) -> dict[str, str]:
    protocols = {"items": "sequential-loo"}
    if int((log.kind == ACCOUNT).sum()) >= MIN_FOLLOWS_FOR_PEOPLE:
        protocols["people"] = "people-holdout"
    return protocols


def popularity_valid(split: Split, tasks: list[str]) -> dict[str, dict[str, float]]:
    pop = BASELINES["pop"]()
    pop.fit(split)
    return {t: evaluate(pop, split, t, "valid", (10,)) for t in tasks}


def mean_ndcg(valid: dict[str, dict[str, float]]) -> float:
    return float(np.mean([m.get("ndcg@10", 0.0) for m in valid.values()])) if valid else 0.0


def train_on_log(log: EventLog, root: Path, *, quick: bool = False, seed: int = 0, progress: bool = True,
                 overrides: dict[str, Any] | None = None,
                 require_better: bool = False) -> tuple[Path, list[str], dict]:
    """Split, fit and snapshot an app log; (snapshot folder, tasks trained, validation metrics).
    With `require_better`, NotBetterError (and no snapshot) unless it beats popularity on validation."""
    if int((log.kind == ITEM).sum()) == 0:
        raise ValueError("the event log has no events on posts yet: nothing to train on")
    split = make_split(log, app_protocols(log), seed)
    tasks = [t for t in split.protocols if len(split.queries(t, "valid"))]
    if not tasks:
        raise ValueError("not enough events to train: the model needs accounts with at least 3 events on posts "
                         "(or 3 follows) so one can be held out for validation")
    settings = {**app_settings(quick, seed, tasks, overrides), "progress": progress}
    fitted = fit(split, settings)
    if require_better:
        baseline = popularity_valid(split, tasks)
        model, pop = mean_ndcg(fitted.result.best_valid), mean_ndcg(baseline)
        if not model > pop:
            raise NotBetterError(f"the model's validation NDCG@10 {model:.4f} does not beat popularity's "
                                 f"{pop:.4f}: not published, the current ranker keeps serving")
    info = {"model_name": "hstu", "dataset_source": "app-db", "trained_at": datetime.now(UTC).isoformat(),
            "events_trained_on": len(log), "accounts": log.n_users, "posts": log.n_items}
    path = write_snapshot(fitted, split, Path(root), info)
    return path, tasks, fitted.result.best_valid


def train_from_db(settings: Settings, *, quick: bool = False, seed: int = 0, progress: bool = True,
                  out: Path | None = None, until: datetime | None = None,
                  overrides: dict[str, Any] | None = None, require_better: bool = False) -> AppTrainResult:
    """Train on the database at settings.database_url; the snapshot goes to `out` or settings.snapshot_dir."""
    engine = make_sync_engine(settings.database_url)
    root = Path(out or settings.snapshot_dir)
    with training_marker(root):
        return _train_from_db(engine, root, quick, seed, progress, until, overrides, require_better)


def _train_from_db(engine, root: Path, quick: bool, seed: int, progress: bool,  # noqa: ANN001 - an Engine
                   until: datetime | None, overrides: dict[str, Any] | None, require_better: bool) -> AppTrainResult:
    try:
        with engine.begin() as conn:
            run_id = conn.execute(ModelRun.__table__.insert().values(
                snapshot_path="", started_at=datetime.now(UTC), events_used=0, metrics={})).inserted_primary_key[0]
        log = load_app_log(engine, until=until)
        try:
            path, tasks, valid = train_on_log(log, root, quick=quick, seed=seed, progress=progress,
                                              overrides=overrides, require_better=require_better)
        except Exception as e:
            with engine.begin() as conn:
                conn.execute(update(ModelRun).where(ModelRun.id == run_id).values(
                    finished_at=datetime.now(UTC), events_used=len(log), metrics={"error": str(e)}))
            raise
        with engine.begin() as conn:
            conn.execute(update(ModelRun).where(ModelRun.id == run_id).values(
                snapshot_path=str(path), finished_at=datetime.now(UTC), events_used=len(log),
                metrics={"tasks": tasks, "valid": _plain(valid)}))
    finally:
        engine.dispose()
    return AppTrainResult(path, len(log), tasks, valid, int(run_id))


def _plain(valid: dict[str, dict[str, float]]) -> dict[str, dict[str, float | None]]:
    """JSON-safe metrics (NaN becomes null)."""
    return {t: {k: (None if isinstance(v, float) and np.isnan(v) else float(v)) for k, v in m.items()}
            for t, m in valid.items()}

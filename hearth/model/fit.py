"""Train one named sequence model on a split and turn it into a snapshot: the one path
that `hearth train`, `hearth bench quality` and the app's retraining share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hearth.eval.split import TASK_KIND, Split
from hearth.events import ACCOUNT, ITEM, VERBS
from hearth.model.curves import try_plot_history
from hearth.model.neighbours import item_similarity
from hearth.model.scorer import ModelScorer
from hearth.model.sequences import SequenceBatcher
from hearth.model.snapshot import save_snapshot
from hearth.model.text import embed_texts, item_texts
from hearth.model.train import TrainConfig, TrainResult, train
from hearth.model.unified import ModelConfig, UnifiedModel

_TRAIN_KEYS = set(TrainConfig.__dataclass_fields__)
_MODEL_KEYS = set(ModelConfig.__dataclass_fields__)


@dataclass
class Fitted:
    result: TrainResult
    scorer: ModelScorer
    model_cfg: ModelConfig
    train_cfg: TrainConfig


def build_configs(split: Split, settings: dict[str, Any]) -> tuple[ModelConfig, TrainConfig]:
    """Flat or {"model": ..., "train": ...} settings -> the two config objects."""
    flat = {**settings.get("model", {}), **settings.get("train", {}),
            **{k: v for k, v in settings.items() if k not in ("model", "train")}}
    flat.pop("text_model", None)
    unknown = set(flat) - _TRAIN_KEYS - _MODEL_KEYS - {"n_items", "n_accounts"}
    if unknown:
        raise ValueError(f"unknown model/training settings: {', '.join(sorted(unknown))}")
    tasks = flat.pop("tasks", None) or [t for t in ("items", "people") if t in split.protocols]
    model_cfg = ModelConfig(n_items=split.log.n_items, n_accounts=split.log.n_users,
                            **{k: v for k, v in flat.items() if k in _MODEL_KEYS})
    train_cfg = TrainConfig(tasks=tasks, **{k: v for k, v in flat.items() if k in _TRAIN_KEYS})
    return model_cfg, train_cfg


def side_features(split: Split, settings: dict[str, Any]) -> dict[str, np.ndarray]:
    """Item side features the settings ask for: text embeddings (`text_model`: a
    sentence-transformers name or directory) and authors (`use_authors`)."""
    flat = {**settings.get("model", {}), **settings}
    side: dict[str, np.ndarray] = {}
    meta = split.log.item_meta
    if flat.get("text_model"):
        side["item_text"] = embed_texts(item_texts(meta, split.log.n_items), flat["text_model"])
    if flat.get("use_authors"):
        if "author" not in meta:
            raise ValueError("use_authors needs item authors (item_meta['author']) in the event log")
        side["item_author"] = np.asarray(meta["author"], dtype=np.int64)
    if flat.get("item_cooccurrence") and split.log.n_items:
        side["item_similarity"] = item_similarity(split)
    if flat.get("graph_context") or flat.get("graph_features"):
        log = split.log
        edges = (split.part == 0) & (log.kind == ACCOUNT)  # TRAIN follows only: held-out edges stay hidden
        side["graph"] = (log.user[edges].astype(np.int64), log.target[edges].astype(np.int64))
    return side


def fit(split: Split, settings: dict[str, Any], out_dir: Path | None = None, resume: bool = False,
        teacher: UnifiedModel | None = None) -> Fitted:
    side = side_features(split, settings)
    if teacher is not None:  # a student reads the items as its teacher did
        if teacher.cfg.text_dim and "item_text" not in side:
            side["item_text"] = teacher.item_text.cpu().numpy()
        if teacher.cfg.use_authors and "item_author" not in side:
            side["item_author"] = teacher.item_author.cpu().numpy()
    if "item_text" in side:
        settings = {**settings, "text_dim": side["item_text"].shape[1]}
    model_cfg, train_cfg = build_configs(split, settings)
    result = train(split, model_cfg, train_cfg, out_dir=out_dir, resume=resume, side=side, teacher=teacher)
    batcher = SequenceBatcher(split.log, model_cfg.max_len, model_cfg.horizon)
    scorer = ModelScorer(result.model, split, batcher, seed=train_cfg.seed, input_kinds=train_cfg.input_kinds)
    return Fitted(result, scorer, model_cfg, train_cfg)


def write_snapshot(fitted: Fitted, split: Split, root: Path, info: dict[str, Any]) -> Path:
    """Save the fitted model with vocabularies and the cold-start priors of its TRAIN rows."""
    log = split.log
    train = split.part == 0
    item_pop = np.bincount(log.target[train & (log.kind == ITEM)], minlength=log.n_items)
    account_pop = np.bincount(log.target[train & (log.kind == ACCOUNT)], minlength=log.n_users)
    verb_prior = np.bincount(log.verb[train], minlength=len(VERBS)).astype(np.float64)
    verb_prior = verb_prior / max(verb_prior.sum(), 1.0)
    path = save_snapshot(root, fitted.result.model, user_ids=list(log.user_ids), item_ids=list(log.item_ids),
                         item_popularity=item_pop, account_popularity=account_pop, verb_prior=verb_prior,
                         info={"dataset": log.name, "sources": log.sources, "protocols": split.protocols,
                               "seed": split.seed, "train": fitted.train_cfg.__dict__,
                               "best_epoch": fitted.result.best_epoch, "valid": fitted.result.best_valid,
                               "train_seconds": fitted.result.train_seconds, **info})
    title = " / ".join(str(x) for x in (log.name, info.get("model_name"), path.name) if x)
    try_plot_history(fitted.result.history, path / "curve.png", title=title, metric=fitted.train_cfg.metric,
                     best_epoch=fitted.result.best_epoch)
    return path


__all__ = ["Fitted", "build_configs", "fit", "write_snapshot", "TASK_KIND"]

"""Training loop for the unified model: a plain PyTorch loop that also runs under torchrun.

Seeded; early stopping on the validation stage only (test is never read here);
resumable from `<out>/train_state.pt`; DDP with gloo on CPU and nccl on GPU when
WORLD_SIZE > 1. Rank 0 evaluates and decides when to stop; the others follow.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from hearth.eval.evaluate import evaluate
from hearth.eval.split import Split
from hearth.events import ACCOUNT, ITEM
from hearth.model.distill import Distillation
from hearth.model.neighbours import KnownSets, uses_neighbours
from hearth.model.scorer import ModelScorer, visible_rows
from hearth.model.sequences import SequenceBatcher, UserRows
from hearth.model.unified import ModelConfig, UnifiedModel


@dataclass
class TrainConfig:
    epochs: int = 200
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    eval_every: int = 1
    patience: int = 5  # evaluations without improvement before stopping
    max_minutes: float = 30.0  # wall-clock budget for training + validation
    max_steps_per_epoch: int | None = None  # cap (quick runs); same on every rank
    all_windows: bool = True
    bf16: bool = True  # autocast matmuls to bfloat16 (AMX on recent Xeons, tensor cores on GPU)
    metric: str = "ndcg@10"
    tasks: list[str] = field(default_factory=lambda: ["items"])  # early stopping averages these
    input_kinds: list[str] | None = None  # e.g. ["item"]: the model sees only those events (ablations)
    valid_sample: int | None = None  # model selection on this many (fixed, seeded) validation users; None: all
    distill_mix: float = 0.5  # with a teacher: weight of its soft targets against the true labels
    distill_temperature: float = 1.0  # with a teacher: softmax temperature of both models' scores
    progress: bool = True


@dataclass
class TrainResult:
    model: UnifiedModel
    best_epoch: int
    best_valid: dict[str, dict[str, float]]
    history: list[dict]
    train_seconds: float
    events_per_second: float
    epochs_run: int


def distributed_context() -> tuple[int, int, torch.device]:
    """(rank, world size, device); joins the process group when started by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    return rank, world, device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_batches(windows: list[np.ndarray], batch_size: int, rng: np.random.Generator) -> list[list[np.ndarray]]:
    """Shuffle, then sort by length inside chunks of 32 batches so padding stays small."""
    order = rng.permutation(len(windows))
    chunk = batch_size * 32
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: len(windows[i]))
        batches += [[windows[i] for i in part[b:b + batch_size]] for b in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def validate(scorer: ModelScorer, split: Split, cfg: TrainConfig) -> dict[str, dict[str, float]]:
    return {task: evaluate(scorer, split, task, "valid", ks=(10, 50), sample=cfg.valid_sample, seed=cfg.seed)
            for task in cfg.tasks}


def train(split: Split, model_cfg: ModelConfig, cfg: TrainConfig, out_dir: Path | None = None,
          resume: bool = False, side: dict[str, np.ndarray] | None = None,
          teacher: UnifiedModel | None = None) -> TrainResult:
    """Fit on the split's TRAIN rows, pick the epoch by validation `cfg.metric`.

    `side` holds the items' side features: "item_text" [n_items, text_dim] and
    "item_author" [n_items] (account index, -1 for none), "graph" (src, dst) follow edges.
    With a `teacher`, the model is a student distilled from it (distill.py)."""
    rank, world, device = distributed_context()
    seed_everything(cfg.seed)
    model = UnifiedModel(model_cfg)
    for name, values in (side or {}).items():
        if name == "graph":
            model.set_graph(*values)
        elif name == "item_similarity":
            model.set_item_similarity(values)
        else:
            getattr(model, name).copy_(torch.as_tensor(values))
    model = model.to(device)
    objective: torch.nn.Module = model
    if teacher is not None:
        objective = Distillation(model, teacher.to(device), cfg.distill_mix, cfg.distill_temperature)
    ddp = torch.nn.parallel.DistributedDataParallel(objective, find_unused_parameters=True) if world > 1 else objective
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay)
    batcher = SequenceBatcher(split.log, model_cfg.max_len, model_cfg.horizon)
    train_rows = UserRows.from_log(split.log, visible_rows(split, "valid", cfg.input_kinds))
    # One scorer for the run: it builds the users' validation histories once, not every epoch.
    valid_scorer = ModelScorer(model, split, batcher, seed=cfg.seed, input_kinds=cfg.input_kinds)
    users = np.arange(split.log.n_users)
    readers = [m for m in (model, teacher) if m is not None and uses_neighbours(m)]
    known = KnownSets(split, "valid") if readers else None  # what each user has in TRAIN
    seen_kinds = {name: kind for m in readers for name, kind, on in
                  (("item", ITEM, m.cfg.item_cooccurrence), ("account", ACCOUNT, m.cfg.graph_features)) if on}

    start_epoch, best, best_epoch, bad, history = 0, -math.inf, -1, 0, []
    best_state: dict[str, torch.Tensor] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best_valid: dict[str, dict[str, float]] = {}
    train_seconds, events_seen = 0.0, 0
    state_path = out_dir / "train_state.pt" if out_dir else None
    if resume and state_path and state_path.exists():
        st = torch.load(state_path, map_location=device, weights_only=False)
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        start_epoch, best, best_epoch, bad = st["epoch"] + 1, st["best"], st["best_epoch"], st["bad"]
        history, best_state, best_valid = st["history"], st["best_state"], st["best_valid"]
        train_seconds, events_seen = st["train_seconds"], st["events_seen"]

    wall_start = time.monotonic() - train_seconds
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    epoch = start_epoch - 1
    for epoch in range(start_epoch, cfg.epochs):
        rng = np.random.default_rng((cfg.seed, epoch))
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        windows = batcher.training_windows(train_rows, users, rng, cfg.all_windows)
        batches = make_batches(windows, cfg.batch_size, rng)
        batches = batches[: len(batches) // world * world][rank::world]  # same count on every rank
        if cfg.max_steps_per_epoch:
            batches = batches[: cfg.max_steps_per_epoch]
        model.train()
        t0 = time.monotonic()
        losses: list[float] = []
        bar = tqdm(batches, desc=f"epoch {epoch}", disable=not cfg.progress or rank != 0, leave=False)
        for wins in bar:
            batch = batcher.training_batch(wins, rng)
            if known is not None:
                owners = split.log.user[[w[0] for w in wins]]
                for name, kind in seen_kinds.items():
                    batch[f"seen_{name}"] = known.seen(owners, kind)
            batch = {k: v.to(device) for k, v in batch.items()}
            with amp:
                loss, _ = ddp(batch)  # forward = loss; through DDP when distributed
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            events_seen += int((batch["next_targets"] != 0).sum()) * world
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
            if world == 1 and time.monotonic() - wall_start > cfg.max_minutes * 60:
                break  # budget spent mid-epoch (with DDP, ranks must take the same steps: epoch ends)
        train_seconds += time.monotonic() - t0
        record = {"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"),
                  "train_seconds": round(train_seconds, 2)}
        stop = improved = False
        if (epoch + 1) % cfg.eval_every == 0 or epoch == cfg.epochs - 1:
            if rank == 0:
                model.eval()
                with torch.no_grad():  # float32, as the reported valid/test numbers
                    valid = validate(valid_scorer, split, cfg)
                value = float(np.mean([valid[t][cfg.metric] for t in cfg.tasks]))
                record["valid"] = valid
                improved = value > best
                if improved:
                    best, best_epoch, bad, best_valid = value, epoch, 0, valid
                else:
                    bad += 1
                out_of_time = time.monotonic() - wall_start > cfg.max_minutes * 60
                stop = bad >= cfg.patience or out_of_time
                if cfg.progress:
                    tqdm.write(f"epoch {epoch}: loss {record['loss']:.4f} valid {cfg.metric} {value:.4f}"
                               f" (best {best:.4f} @ {best_epoch}){' time budget reached' if out_of_time else ''}")
            if world > 1:  # rank 0 decides; every rank keeps its own (identical) best weights
                flags = torch.tensor([int(improved), int(stop), best_epoch], device=device)
                dist.broadcast(flags, src=0)
                improved, stop, best_epoch = bool(flags[0]), bool(flags[1]), int(flags[2])
            if improved:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            history.append(record)
            if rank == 0 and state_path:
                state_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = state_path.with_suffix(".tmp")
                torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                            "best": best, "best_epoch": best_epoch, "bad": bad, "history": history,
                            "best_state": best_state, "best_valid": best_valid,
                            "train_seconds": train_seconds, "events_seen": events_seen}, tmp)
                tmp.replace(state_path)  # never a half-written checkpoint
        else:
            history.append(record)
        if stop:
            break

    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model=model, best_epoch=best_epoch, best_valid=best_valid, history=history,
                       train_seconds=train_seconds, events_per_second=events_seen / max(train_seconds, 1e-9),
                       epochs_run=epoch + 1)


def config_dict(model_cfg: ModelConfig, cfg: TrainConfig) -> dict:
    return {"model": model_cfg.to_dict(), "train": asdict(cfg)}

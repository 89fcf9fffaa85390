"""Distillation: how much of a teacher's quality a small student keeps, and how much faster it scores.

    python benchmarks/distill.py --dataset ml-1m [--teacher SNAPSHOT] [--teacher-minutes 20]
        [--student-d 32] [--student-layers 1] [--student-max-len N] [--mix 0.5] [--temperature 1]
        [--student-minutes 15] [--threads 2] [--quick] [--out FILE]

In one run, on one split: the teacher (the dataset's preset HSTU, or a given snapshot of the
same dataset and split seed), the student distilled from it (`hearth distill`), and the same
small model trained on the true labels alone (is the teacher what helps?). Epochs are chosen
on validation; test is read once per model. Scoring throughput is candidates scored per
second on CPU (every catalogue target of the task for each user), for a batch of users and
for one user at a time, measured in this process on `--threads` threads. Prints a table and
writes benchmarks/results/distill-<dataset>.json with machine info.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from hearth.bench.machine import machine_info
from hearth.bench.presets import preset
from hearth.data import default_protocols, load_dataset
from hearth.eval.evaluate import evaluate
from hearth.eval.split import make_split
from hearth.model.distill import student_settings
from hearth.model.fit import fit
from hearth.model.scorer import ModelScorer
from hearth.model.sequences import SequenceBatcher
from hearth.model.snapshot import load_snapshot

REPO = Path(__file__).resolve().parents[1]
KS = (10, 50)


def throughput(scorer: ModelScorer, split, task: str, users: np.ndarray, batch: int, min_seconds: float) -> float:
    """Candidates scored per second: users x the task's catalogue, `batch` users per call."""
    n_catalogue = split.n_targets(task)
    chunks = [users[i:i + batch] for i in range(0, len(users), batch)]
    scorer.score(split, task, "test", chunks[0])  # warm-up: histories built, caches filled
    done, t0 = 0, time.perf_counter()
    with torch.no_grad():
        while True:
            for chunk in chunks:
                scorer.score(split, task, "test", chunk)
                done += len(chunk)
            if time.perf_counter() - t0 >= min_seconds:
                break
    return done * n_catalogue / (time.perf_counter() - t0)


def measure(fitted_or_model, split, task: str, args, seconds: float | None, extra: dict) -> dict:
    model = getattr(getattr(fitted_or_model, "result", None), "model", fitted_or_model)
    batcher = SequenceBatcher(split.log, model.cfg.max_len, model.cfg.horizon)
    scorer = ModelScorer(model, split, batcher)
    valid = evaluate(scorer, split, task, "valid", KS)
    test = evaluate(scorer, split, task, "test", KS)  # read once
    rng = np.random.default_rng(0)
    queries = split.queries(task, "test").users
    users = rng.choice(queries, size=min(args.users, len(queries)), replace=False)
    batch = throughput(scorer, split, task, users, 256, args.min_seconds)
    single = throughput(scorer, split, task, users[:64], 1, args.min_seconds)
    n_params = sum(p.numel() for p in model.parameters())
    return {"model": {k: model.cfg.to_dict()[k] for k in ("d", "n_layers", "max_len", "block")},
            "parameters": n_params, "train_seconds": None if seconds is None else round(seconds, 1),
            "valid": valid, "test": test, "candidates_per_s_batch": round(batch), "candidates_per_s_single":
            round(single), **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="ml-1m")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--teacher", type=Path, default=None, help="a snapshot of this dataset (else trained here)")
    ap.add_argument("--teacher-minutes", type=float, default=20.0)
    ap.add_argument("--student-minutes", type=float, default=15.0)
    ap.add_argument("--student-d", type=int, default=32)
    ap.add_argument("--student-layers", type=int, default=1)
    ap.add_argument("--student-max-len", type=int, default=None)
    ap.add_argument("--mix", type=float, default=0.5)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--task", default=None, help="items or people (default: people when the data has it)")
    ap.add_argument("--users", type=int, default=512, help="test users in the throughput runs")
    ap.add_argument("--min-seconds", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-plain", action="store_true", help="skip the small model trained without a teacher")
    ap.add_argument("--quick", action="store_true", help="a smoke run: tiny models, one epoch")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    console = Console(width=160)

    log = load_dataset(args.dataset, args.data_dir)
    protocols = default_protocols(args.dataset)
    split = make_split(log, protocols, 0)
    task = args.task or ("people" if "people" in protocols else "items")
    tasks = [t for t in ("items", "people") if t in protocols]
    base = preset(args.dataset if args.dataset in ("ml-1m", "lastfm-2k", "ego-facebook", "ciao") else "file",
                  args.quick)
    base["train"] |= {"tasks": tasks, "progress": False}
    results: dict[str, dict] = {}

    if args.teacher:
        snap = load_snapshot(args.teacher)
        if snap.info.get("seed", 0) != 0 or snap.info.get("protocols") != protocols:
            raise SystemExit(f"{snap.path} was trained on another split; train the teacher with seed 0")
        teacher, teacher_seconds = snap.model, snap.info.get("train_seconds")
    else:
        settings = {"model": base["model"], "train": {**base["train"], "max_minutes": args.teacher_minutes}}
        fitted = fit(split, settings)
        teacher, teacher_seconds = fitted.result.model, fitted.result.train_seconds
    console.print(f"teacher ready ({teacher_seconds or 0:.0f}s)")
    results["teacher"] = measure(teacher, split, task, args, teacher_seconds, {})

    train_settings = {**base["train"], "max_minutes": args.student_minutes}
    shape = {"d": args.student_d, "n_layers": args.student_layers, "max_len": args.student_max_len}
    student = student_settings(teacher, train_settings, **shape)
    student["train"] |= {"distill_mix": args.mix, "distill_temperature": args.temperature}
    fitted = fit(split, student, teacher=teacher)
    results["student"] = measure(fitted, split, task, args, fitted.result.train_seconds,
                                 {"distill": {"mix": args.mix, "temperature": args.temperature},
                                  "best_epoch": fitted.result.best_epoch})
    console.print("student ready")
    if not args.no_plain:
        plain = student_settings(teacher, train_settings, **shape)
        fitted = fit(split, plain)
        results["small, no teacher"] = measure(fitted, split, task, args, fitted.result.train_seconds,
                                               {"best_epoch": fitted.result.best_epoch})

    t = results["teacher"]
    table = Table(title=f"Distillation on {log.name} ({task}, test; throughput on {args.threads} CPU threads)")
    for col in ("model", "d x layers x len", "params", "NDCG@10", "Hits@10", "% of teacher NDCG",
                "cand/s batch", "x teacher", "cand/s single", "x teacher", "train s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, r in results.items():
        r["ndcg_vs_teacher"] = r["test"]["ndcg@10"] / max(t["test"]["ndcg@10"], 1e-12)
        r["speedup_batch"] = r["candidates_per_s_batch"] / t["candidates_per_s_batch"]
        r["speedup_single"] = r["candidates_per_s_single"] / t["candidates_per_s_single"]
        m = r["model"]
        table.add_row(name, f"{m['d']} x {m['n_layers']} x {m['max_len']}", f"{r['parameters']:,}",
                      f"{r['test']['ndcg@10']:.4f}", f"{r['test'].get('hits@10', r['test'].get('hr@10', 0.0)):.4f}",
                      f"{100 * r['ndcg_vs_teacher']:.1f}%",
                      f"{r['candidates_per_s_batch']:,}", f"{r['speedup_batch']:.1f}x",
                      f"{r['candidates_per_s_single']:,}", f"{r['speedup_single']:.1f}x", str(r["train_seconds"]))
    console.print(table)
    out = args.out or REPO / "benchmarks" / "results" / f"distill-{args.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/distill.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
        if v not in (None, False) and k not in ("out", "data_dir")).replace(" True", "")
    out.write_text(json.dumps({"dataset": log.name, "task": task, "protocol": protocols, "seed": 0,
                               "quick": args.quick, "command": command, "machine": machine_info(),
                               "threads": args.threads, "models": results}, indent=1))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()

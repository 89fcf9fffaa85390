"""Peer run: RecBole's SASRec against Hearth's on the same ML-1M split, same machine, same run.

Both train concurrently, one CPU thread each, for the same wall-clock budget, with the
same model size (d=64, 2 layers, 1 head, max length 200, full-softmax cross-entropy).
Each framework validates after every epoch on the same leave-one-out validation items
(full ranking, history excluded). Reported: validation NDCG@10 over time, training
throughput, and the time each needs to first reach the best validation NDCG@10 the
slower one reached within the budget.

RecBole is not a Hearth dependency. Install it in its own virtualenv beside torch 2.13:
    python3 -m venv /tmp/rb && /tmp/rb/bin/pip install torch==2.13.0 recbole
and run:
    python benchmarks/recbole_peer.py --recbole-python /tmp/rb/bin/python --minutes 20
It prints a table and writes benchmarks/results/peer-recbole-ml-1m.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

RECBOLE_WORKER = r'''
import json, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from recbole.config import Config
from recbole.data import create_dataset, data_preparation
from recbole.model.sequential_recommender import SASRec
from recbole.trainer import Trainer
from recbole.utils import init_seed

data_path, budget, out = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
cfg = {
    "data_path": data_path, "dataset": "ml1m", "device": "cpu", "use_gpu": False, "seed": 0, "reproducibility": True,
    "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
    "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, "MAX_ITEM_LIST_LENGTH": 200,
    "hidden_size": 64, "inner_size": 256, "n_layers": 2, "n_heads": 1, "hidden_dropout_prob": 0.2,
    "attn_dropout_prob": 0.0, "hidden_act": "gelu", "loss_type": "CE", "train_neg_sample_args": None,
    "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
    "metrics": ["NDCG", "Hit"], "topk": [10], "valid_metric": "NDCG@10", "eval_batch_size": 4096,
    "epochs": 1000, "stopping_step": 1000, "show_progress": False, "worker": 0, "state": "ERROR",
    "checkpoint_dir": str(out.parent / "recbole-saved"),
}
config = Config(model="SASRec", dataset="ml1m", config_dict=cfg)
init_seed(config["seed"], config["reproducibility"])
dataset = create_dataset(config)
train_data, valid_data, test_data = data_preparation(config, dataset)
model = SASRec(config, train_data.dataset)
trainer = Trainer(config, model)
log = {"settings": {k: cfg[k] for k in ("hidden_size", "n_layers", "n_heads", "MAX_ITEM_LIST_LENGTH", "loss_type")},
       "train_batch_size": config["train_batch_size"], "learning_rate": config["learning_rate"],
       "train_samples_per_epoch": len(train_data.dataset), "n_items": dataset.item_num - 1,
       "n_users": dataset.user_num - 1, "epochs": [], "batches": 0, "samples": 0}
start = time.monotonic()
train_seconds = [0.0]


class BudgetReached(Exception):
    pass


original = model.calculate_loss
def counted(interaction):
    if time.monotonic() - start > budget:
        raise BudgetReached
    log["batches"] += 1
    log["samples"] += len(interaction)
    return original(interaction)
model.calculate_loss = counted

def on_valid(epoch, score):
    log["epochs"].append({"epoch": epoch, "seconds": round(time.monotonic() - start, 1), "valid_ndcg@10": float(score)})
    out.write_text(json.dumps(log))

try:
    trainer.fit(train_data, valid_data, saved=False, show_progress=False, callback_fn=on_valid)
except BudgetReached:
    pass
log["seconds"] = round(time.monotonic() - start, 1)
log["samples_per_second"] = log["samples"] / max(log["seconds"], 1e-9)
out.write_text(json.dumps(log))
'''

HEARTH_WORKER = r'''
import json, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from hearth.bench.presets import VARIANTS, preset
from hearth.data import load_dataset
from hearth.eval.split import make_split
from hearth.model.fit import fit

budget, out = float(sys.argv[1]), Path(sys.argv[2])
log = load_dataset("ml-1m", sys.argv[3] if len(sys.argv) > 3 else None, progress=False)
split = make_split(log, {"items": "sequential-loo"}, 0)
p = preset("ml-1m")
settings = {**p["model"], **p["train"], **VARIANTS["sasrec"], "max_minutes": budget / 60, "patience": 1000,
            "progress": False}
start = time.monotonic()
fitted = fit(split, settings)
r = fitted.result
out.write_text(json.dumps({
    "settings": settings, "seconds": round(time.monotonic() - start, 1), "events_per_second": r.events_per_second,
    "epochs": [{"epoch": h["epoch"], "seconds": h["train_seconds"], "valid_ndcg@10": h["valid"]["items"]["ndcg@10"]}
               for h in r.history if "valid" in h]}))
'''


def export_split(folder: Path, data_dir: Path | None) -> None:
    """ML-1M (full set) as a RecBole atomic file; the per-user position is the timestamp,
    so RecBole's time-ordered leave-one-out split picks the same validation and test items."""
    sys.path.insert(0, str(REPO))
    from hearth.data import load_dataset

    log = load_dataset("ml-1m", data_dir, progress=False)
    bounds = log.user_bounds()
    (folder / "ml1m").mkdir(parents=True)
    with open(folder / "ml1m" / "ml1m.inter", "w") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for u in range(log.n_users):
            for pos, row in enumerate(range(bounds[u], bounds[u + 1])):
                f.write(f"{log.user_ids[u]}\t{log.item_ids[log.target[row]]}\t{pos}\n")


def time_to(epochs: list[dict], target: float) -> float | None:
    return next((e["seconds"] for e in epochs if e["valid_ndcg@10"] >= target), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recbole-python", required=True, help="python of a virtualenv with recbole installed")
    ap.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget of each framework")
    ap.add_argument("--data-dir", type=Path, default=None, help="data directory (else $HEARTH_DATA_DIR)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from hearth.bench.machine import machine_info

    budget = args.minutes * 60
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export_split(tmp / "data", args.data_dir)
        rb_out, hr_out = tmp / "recbole.json", tmp / "hearth.json"
        (tmp / "rb.py").write_text(RECBOLE_WORKER)
        (tmp / "hr.py").write_text(HEARTH_WORKER)
        rb = subprocess.Popen([args.recbole_python, str(tmp / "rb.py"), str(tmp / "data"), str(budget), str(rb_out)],
                              env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # its logs
        hr_args = [str(budget), str(hr_out)] + ([str(args.data_dir)] if args.data_dir else [])
        hr = subprocess.Popen([sys.executable, str(tmp / "hr.py"), *hr_args], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        rb_log, hr_log = rb.communicate()[0], hr.communicate()[0]
        if rb.returncode != 0 or not rb_out.exists():
            sys.exit(f"RecBole run failed (exit {rb.returncode}):\n{rb_log[-4000:]}")
        if hr.returncode != 0 or not hr_out.exists():
            sys.exit(f"Hearth run failed (exit {hr.returncode}):\n{hr_log[-4000:]}")
        recbole, hearth = json.loads(rb_out.read_text()), json.loads(hr_out.read_text())

    best_rb = max((e["valid_ndcg@10"] for e in recbole["epochs"]), default=None)
    best_hr = max((e["valid_ndcg@10"] for e in hearth["epochs"]), default=None)
    target = min(x for x in (best_rb, best_hr) if x is not None) if best_rb is not None else None
    t_rb = time_to(recbole["epochs"], target) if target is not None else None
    t_hr = time_to(hearth["epochs"], target) if target is not None else None
    epoch_estimate = recbole["train_samples_per_epoch"] / max(recbole["samples_per_second"], 1e-9)
    result = {
        "dataset": "ml-1m", "sources": ["ratings_no_timestamps_by_time.dat.gz (or ratings.dat)"],
        "protocol": {"items": "sequential-loo"}, "machine": machine_info(), "budget_seconds": budget,
        "threads_each": 1, "recbole": recbole, "hearth": hearth,
        "target_valid_ndcg@10": target, "seconds_to_target": {"recbole": t_rb, "hearth": t_hr},
        "speedup": (t_rb / t_hr) if (t_rb and t_hr) else None,
        "recbole_seconds_per_epoch_estimate": round(epoch_estimate, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "peer-recbole-ml-1m.json").write_text(json.dumps(result, indent=1))
    print(f"{'':24}{'RecBole SASRec':>18}{'Hearth SASRec':>18}")
    print(f"{'epochs validated':24}{len(recbole['epochs']):>18}{len(hearth['epochs']):>18}")
    print(f"{'best valid NDCG@10':24}{best_rb or float('nan'):>18.4f}{best_hr or float('nan'):>18.4f}")
    print(f"{'labels / second':24}{recbole['samples_per_second']:>18.0f}{hearth['events_per_second']:>18.0f}")
    print(f"{'seconds per epoch':24}{epoch_estimate:>18.0f}"
          f"{(hearth['epochs'][-1]['seconds'] / len(hearth['epochs'])) if hearth['epochs'] else float('nan'):>18.0f}")
    print(f"{'seconds to target':24}{t_rb or float('nan'):>18}{t_hr or float('nan'):>18}")
    print(f"target = {target}; speedup = {result['speedup']}; wrote {RESULTS / 'peer-recbole-ml-1m.json'}")


if __name__ == "__main__":
    main()

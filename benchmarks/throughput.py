"""Training-step speed and memory of the unified model's parts, at ML-1M shapes, in one run.

Compares the HSTU block with the softmax-attention (SASRec) block, and the chunked
full-softmax loss with the dense one (logits matrix + F.cross_entropy), on the same
batches of real ML-1M sequences (full set, 3,706 items, windows of 200 events).

    python benchmarks/throughput.py [--data-dir DIR] [--steps 20] [--threads 2]

Prints a table and writes benchmarks/results/throughput.json with machine info.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(block: str, impl: str, args: argparse.Namespace) -> dict:
    """One configuration, in this (fresh) process, so peak RSS is its own."""
    from hearth.data import load_dataset
    from hearth.eval.split import make_split
    from hearth.model.sequences import SequenceBatcher, UserRows
    from hearth.model.unified import ModelConfig, UnifiedModel

    torch.set_num_threads(args.threads)
    log = load_dataset("ml-1m", args.data_dir, progress=False)
    split = make_split(log, {"items": "sequential-loo"}, 0)
    batcher = SequenceBatcher(log, 200)
    rows = UserRows.from_log(log, split.known("valid"))
    rng = np.random.default_rng(0)
    windows = [w for w in batcher.training_windows(rows, np.arange(log.n_users), rng) if len(w) == 201]
    batches = [batcher.training_batch(windows[i:i + args.batch_size], rng)
               for i in range(0, args.batch_size * (args.steps + 2), args.batch_size)]
    rss_data = peak_rss_mib()
    torch.manual_seed(0)
    cfg = ModelConfig(n_items=log.n_items, n_accounts=log.n_users, block=block, softmax_impl=impl,
                      pooled_context=False, loss_weights={"item": 1.0})
    model = UnifiedModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for i, batch in enumerate(batches):
        if i == 2:  # two warm-up steps
            t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = model(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = (time.perf_counter() - t0) / args.steps
    events = int((batches[0]["next_targets"] != 0).sum())
    return {"block": block, "softmax": impl, "ms_per_step": round(seconds * 1000, 1),
            "events_per_second": round(events / seconds), "peak_rss_mib": round(peak_rss_mib()),
            "training_rss_mib": round(peak_rss_mib() - rss_data), "sources": log.sources}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", nargs=2, metavar=("BLOCK", "SOFTMAX"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    if args.one:
        print(json.dumps(measure(*args.one, args)))
        return
    from hearth.bench.machine import machine_info

    rows_out = []
    passed = [f"--steps={args.steps}", f"--batch-size={args.batch_size}", f"--threads={args.threads}"]
    if args.data_dir:
        passed.append(f"--data-dir={args.data_dir}")
    for block in ("hstu", "softmax"):
        for impl in ("chunked", "dense"):
            out = subprocess.run([sys.executable, __file__, "--one", block, impl, *passed], check=True,
                                 capture_output=True, text=True).stdout
            rows_out.append(json.loads(out.strip().splitlines()[-1]))
    sources = rows_out[0].pop("sources")
    for r in rows_out[1:]:
        r.pop("sources")
    result = {"dataset": "ml-1m", "sources": sources, "batch": {"sequences": args.batch_size, "length": 200},
              "steps": args.steps, "threads": args.threads, "machine": machine_info(), "rows": rows_out}
    out_path = REPO / "benchmarks" / "results" / "throughput.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1))
    print(f"{'block':10}{'softmax':10}{'ms/step':>10}{'events/s':>12}{'training RSS MiB':>18}")
    for r in rows_out:
        print(f"{r['block']:10}{r['softmax']:10}{r['ms_per_step']:>10}{r['events_per_second']:>12,}"
              f"{r['training_rss_mib']:>18,}")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()

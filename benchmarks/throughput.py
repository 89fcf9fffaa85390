"""Training-step speed and memory of the unified model's parts, at ML-1M shapes, in one run.

Compares the HSTU block with the softmax-attention (SASRec) block, and the chunked
full-softmax loss with the dense one (logits matrix + F.cross_entropy), on the same
batches of real ML-1M sequences (full set, 3,706 items, windows of 200 events).

    python benchmarks/throughput.py [--data-dir DIR] [--steps 20] [--threads 2] [--quick] [--out FILE]

Also puts the steps against the machine: its measured matmul peak (fp32 and bf16, one large
square torch.matmul on the same threads) and each step's achieved GFLOP/s (FLOPs of one
forward+backward counted by torch's FlopCounterMode, over the measured step time), so a
speed-up can be told apart from a machine that was simply faster. `--quick` is a smoke run.
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
from torch.utils.benchmark import Timer
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_flops(fn) -> int:
    """FLOPs of what `fn` runs (matmuls, attention, convolutions: what FlopCounterMode counts)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_peak_gflops(dtype: torch.dtype, threads: int, n: int, min_seconds: float) -> float:
    """This machine's practical peak: GFLOP/s of an n x n x n torch.matmul (median time) on `threads` threads."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(dtype) for _ in range(2))
    timer = Timer("torch.matmul(a, b)", globals={"torch": torch, "a": a, "b": b}, num_threads=threads)
    return 2 * n**3 / timer.blocked_autorange(min_run_time=min_seconds).median / 1e9


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

    def forward_backward():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = model(batches[0])
        loss.backward()

    flops = count_flops(forward_backward)  # every batch has the same shape: one count serves all steps
    events = int((batches[0]["next_targets"] != 0).sum())
    return {"block": block, "softmax": impl, "ms_per_step": round(seconds * 1000, 1),
            "events_per_second": round(events / seconds), "peak_rss_mib": round(peak_rss_mib()),
            "training_rss_mib": round(peak_rss_mib() - rss_data), "gflop_per_step": round(flops / 1e9, 3),
            "gflops": round(flops / seconds / 1e9, 2), "sources": log.sources}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peak-size", type=int, default=2048, help="n of the n x n x n matmul that measures the peak")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 steps of 4 sequences, a small peak matmul")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "throughput.json")
    ap.add_argument("--one", nargs=2, metavar=("BLOCK", "SOFTMAX"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.batch_size, args.peak_size = 2, 4, 512
    sys.path.insert(0, str(REPO))
    if args.one:
        print(json.dumps(measure(*args.one, args)))
        return {}
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
    torch.set_num_threads(args.threads)
    min_seconds = 0.2 if args.quick else 1.0
    peak = {"float32": round(matmul_peak_gflops(torch.float32, args.threads, args.peak_size, min_seconds), 1),
            "bfloat16": round(matmul_peak_gflops(torch.bfloat16, args.threads, args.peak_size, min_seconds), 1)}
    sources = rows_out[0].pop("sources")
    for r in rows_out[1:]:
        r.pop("sources")
    for r in rows_out:  # the steps run under bf16 autocast: their matmuls are held to the bf16 peak
        r["pct_of_peak"] = round(100 * r["gflops"] / peak["bfloat16"], 1)
    result = {"dataset": "ml-1m", "sources": sources, "batch": {"sequences": args.batch_size, "length": 200},
              "steps": args.steps, "threads": args.threads, "machine": machine_info(),
              "matmul_peak_gflops": {**peak, "size": args.peak_size, "threads": args.threads},
              "pct_of_peak_against": "bfloat16", "rows": rows_out}
    out_path = args.out
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1))
    print(f"matmul peak ({args.peak_size}^3, {args.threads} threads): fp32 {peak['float32']:,} GFLOP/s, "
          f"bf16 {peak['bfloat16']:,} GFLOP/s")
    print(f"{'block':10}{'softmax':10}{'ms/step':>10}{'events/s':>12}{'training RSS MiB':>18}{'GFLOP/s':>10}"
          f"{'% of peak':>11}")
    for r in rows_out:
        print(f"{r['block']:10}{r['softmax']:10}{r['ms_per_step']:>10}{r['events_per_second']:>12,}"
              f"{r['training_rss_mib']:>18,}{r['gflops']:>10,}{r['pct_of_peak']:>11}")
    print(f"wrote {out_path}")
    return result


if __name__ == "__main__":
    main()

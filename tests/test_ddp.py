"""Training also runs under torchrun: two CPU processes (gloo) end with the same weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hearth.model.snapshot import load_snapshot

REPO = Path(__file__).resolve().parents[1]


def test_torchrun_two_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO / "tests" / "ddp_worker.py"), str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    # DDP all-reduces gradients: both replicas hold identical weights after training.
    assert ranks[0]["sum"] == ranks[1]["sum"] and ranks[0]["norm"] == ranks[1]["norm"]
    assert [h["epoch"] for h in ranks[0]["history"]] == [0, 1]
    snap = load_snapshot(tmp_path / "snapshots")
    assert snap.model.cfg.d == 16

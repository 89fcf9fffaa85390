"""Run by tests/test_ddp.py under `torchrun --nproc_per_node=2`: train on the planted
log with DDP (gloo), then every rank writes a fingerprint of its weights."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hearth.eval.split import make_split  # noqa: E402
from hearth.model.fit import fit, write_snapshot  # noqa: E402
from tests.synthetic import planted_log  # noqa: E402


def main(out: Path) -> None:
    torch.set_num_threads(1)
    log = planted_log(n_users=80)
    split = make_split(log, {"items": "sequential-loo", "people": "people-holdout"}, seed=0)
    fitted = fit(split, {"d": 16, "n_layers": 1, "max_len": 32, "epochs": 2, "batch_size": 8, "progress": False,
                         "bf16": False, "patience": 5})
    rank = dist.get_rank()
    weights = torch.cat([p.detach().flatten() for p in fitted.result.model.parameters()])
    (out / f"rank{rank}.json").write_text(json.dumps({
        "world": dist.get_world_size(), "sum": float(weights.sum()), "norm": float(weights.norm()),
        "history": fitted.result.history}))
    if rank == 0:
        write_snapshot(fitted, split, out / "snapshots", {})
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    assert int(os.environ["WORLD_SIZE"]) == 2
    main(Path(sys.argv[1]))

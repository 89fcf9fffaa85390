"""Most-popular baseline: every user gets the same ranking, by TRAIN row count per target.

For people this is in-degree (most-followed accounts). The floor any model has to clear.
"""

from __future__ import annotations

import numpy as np
import torch

from hearth.eval.split import TASK_KIND, TRAIN, Split


class Popularity:
    name = "pop"
    tasks = {"items", "people"}

    def __init__(self) -> None:
        self.counts: dict[str, torch.Tensor] = {}

    def fit(self, split: Split) -> None:
        train = split.part == TRAIN
        for task, kind in TASK_KIND.items():
            t = split.log.target[train & (split.log.kind == kind)]
            self.counts[task] = torch.from_numpy(
                np.bincount(t, minlength=split.n_targets(task)).astype(np.float32))

    def score(self, split: Split, task: str, stage: str, users: np.ndarray) -> torch.Tensor:
        if task not in self.counts:
            raise RuntimeError("Popularity: call fit(split) before score()")
        return self.counts[task].expand(len(users), -1)

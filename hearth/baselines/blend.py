"""People you may know as serving ranks them: the unified model's account scores blended
with a graph heuristic (Adamic-Adar). The blend weight is chosen on the validation stage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hearth.eval.evaluate import Scorer, evaluate
from hearth.eval.split import Split

WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


class BlendScorer:
    """score = standardised model score + weight * log(1 + graph score); items pass through."""

    def __init__(self, model: Scorer, graph: Scorer, weight: float = 1.0):
        self.model, self.graph, self.weight = model, graph, weight

    def score(self, split: Split, task: str, stage: str, users: np.ndarray) -> torch.Tensor:
        m = torch.as_tensor(self.model.score(split, task, stage, users)).float()
        if task != "people":
            return m
        m = (m - m.mean(1, keepdim=True)) / m.std(1, keepdim=True).clamp(min=1e-6)
        g = torch.as_tensor(self.graph.score(split, task, stage, users)).float()
        return m + self.weight * torch.log1p(g.clamp(min=0))

    def choose_weight(self, split: Split, weights: Sequence[float] = WEIGHTS, metric: str = "ndcg@10") -> dict:
        """Pick the weight with the best validation `metric` (never looks at test)."""
        found = {}
        for w in weights:
            self.weight = w
            found[w] = evaluate(self, split, "people", "valid", ks=(10,))[metric]
        self.weight = max(found, key=found.get)
        return {"weight": self.weight, "valid_by_weight": found}

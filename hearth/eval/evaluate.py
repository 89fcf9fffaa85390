"""Full-ranking evaluation of any scorer on a split: one loop for the model and every baseline.

The harness owns what is not the scorer's to decide: which users are asked, which candidates
are excluded (the user's known targets of the task kind at that stage, and the user itself for
people) and how ties are ranked. What the scorer may look at is `split.known(stage)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from hearth.eval.metrics import compute_metrics, rank_targets
from hearth.eval.split import TASK_KIND, Queries, Split
from hearth.events import ACCOUNT


class Scorer(Protocol):
    def score(self, split: Split, task: str, stage: str, users: np.ndarray) -> np.ndarray | torch.Tensor:
        """[len(users), n_targets] scores, higher is better, from `split.known(stage)` rows only."""
        ...


def _as_scores(raw: np.ndarray | torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A private, contiguous float copy (we write -inf into it), NaN turned into -inf."""
    t = torch.as_tensor(raw).detach()
    if tuple(t.shape) != shape:
        raise ValueError(f"scorer returned shape {tuple(t.shape)}, expected {shape}")
    if not t.is_floating_point():
        t = t.float()
    t = t.clone(memory_format=torch.contiguous_format)
    return t.nan_to_num_(nan=float("-inf"), posinf=float("inf"), neginf=float("-inf"))


def sample_queries(queries: Queries, sample: int | None, seed: int = 0) -> Queries:
    """The same `sample` users every time for a seed (all of them when there are not more)."""
    if sample is None or sample >= len(queries.users):
        return queries
    keep = np.sort(np.random.default_rng(seed).choice(len(queries.users), sample, replace=False))
    counts = np.diff(queries.offsets)[keep]
    starts = queries.offsets[keep]
    targets = np.concatenate([queries.targets[s:s + c] for s, c in zip(starts, counts, strict=True)])
    return Queries(users=queries.users[keep], offsets=np.append(0, np.cumsum(counts)).astype(np.int64),
                   targets=targets)


def evaluate(scorer: Scorer, split: Split, task: str, stage: str, ks: Sequence[int] = (10, 20, 50, 200),
             batch_size: int = 1024, progress: bool = False, sample: int | None = None,
             seed: int = 0) -> dict[str, float]:
    """Rank all candidates for each query user of (task, stage); metrics averaged over users + "users".
    `sample`: a fixed (seeded) subset of that many query users, for cheap model selection."""
    queries = sample_queries(split.queries(task, stage), sample, seed)
    n_t = split.n_targets(task)
    people = TASK_KIND[task] == ACCOUNT
    ranks: list[np.ndarray] = []
    starts = range(0, len(queries.users), batch_size)
    for start in tqdm(starts, disable=not progress, desc=f"eval {task}/{stage}", unit="batch"):
        users = queries.users[start:start + batch_size]
        b = len(users)
        offsets = queries.offsets[start:start + b + 1]
        targets = queries.targets[offsets[0]:offsets[-1]]
        offsets = offsets - offsets[0]
        scores = _as_scores(scorer.score(split, task, stage, users), (b, n_t))

        hist = split.history_targets(task, stage, users)
        m_rows = np.repeat(np.arange(b), np.diff(hist.indptr))
        m_cols = hist.indices.astype(np.int64)
        if people:
            m_rows, m_cols = np.concatenate([m_rows, np.arange(b)]), np.concatenate([m_cols, users])
        masked = np.unique(m_rows * n_t + m_cols)
        t_rows = np.repeat(np.arange(b), np.diff(offsets))
        if np.isin(t_rows * n_t + targets, masked).any():
            raise RuntimeError("a target is among the user's excluded candidates: inconsistent split")
        m_rows, m_cols = masked // n_t, masked % n_t
        dev = scores.device
        scores[torch.as_tensor(m_rows, device=dev), torch.as_tensor(m_cols, device=dev)] = float("-inf")
        ranks.append(rank_targets(scores, offsets, targets, n_masked=np.bincount(m_rows, minlength=b)))

    all_ranks = np.concatenate(ranks) if ranks else np.zeros(0, dtype=np.int64)
    metrics: dict[str, float] = compute_metrics(all_ranks, queries.offsets, ks, hits=people)
    metrics["users"] = len(queries.users)
    return metrics

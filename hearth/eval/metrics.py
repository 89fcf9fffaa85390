"""Full-ranking metrics from target ranks: HR / Hits, Recall, NDCG at k, and MRR, averaged over users.

Ranks are 1-based. A target's rank counts the candidates scoring strictly higher, plus the
non-target candidates scoring exactly the same: ties go against the target, so a scorer that
gives many candidates the same score (popularity, graph counts) is not flattered. The user's
other targets never count against a target on an exact tie.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def rank_targets(scores: torch.Tensor, offsets: np.ndarray, targets: np.ndarray,
                 n_masked: np.ndarray | None = None, chunk_elems: int = 1 << 24) -> np.ndarray:
    """1-based rank of each target among its row's candidates.

    scores: [b, n] with non-candidates set to -inf (and no NaN); offsets: int [b+1] CSR into
    `targets` (column indices); n_masked: int [b], how many entries of each row were set to -inf
    as non-candidates, so a target that itself scores -inf is not tied with them.
    """
    b, n = scores.shape
    offsets = np.asarray(offsets, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    rows = np.repeat(np.arange(b), np.diff(offsets))
    if len(targets) == 0:
        return np.zeros(0, dtype=np.int64)
    dev = scores.device
    rows_t = torch.as_tensor(rows, device=dev)
    s_t = scores[rows_t, torch.as_tensor(targets, device=dev)]
    greater = torch.empty(len(targets), dtype=torch.int64, device=dev)
    equal = torch.empty_like(greater)
    step = max(1, chunk_elems // max(n, 1))
    one_each = len(targets) == b and bool((rows == np.arange(b)).all())  # leave-one-out: no gather copy
    for a in range(0, len(targets), step):
        block = scores[a:a + step] if one_each else scores[rows_t[a:a + step]]
        st = s_t[a:a + step, None]
        greater[a:a + step] = (block > st).sum(1)
        equal[a:a + step] = (block == st).sum(1)
    g, e, s = greater.cpu().numpy(), equal.cpu().numpy(), s_t.double().cpu().numpy()

    # targets of the same row with exactly the same score (itself included) are not ties against it
    order = np.lexsort((s, rows))
    rs, ss = rows[order], s[order]
    new_run = np.ones(len(order), dtype=bool)
    new_run[1:] = (rs[1:] != rs[:-1]) | (ss[1:] != ss[:-1])
    run = np.cumsum(new_run) - 1
    same = np.empty(len(order), dtype=np.int64)
    same[order] = np.bincount(run)[run]
    tied = e - same
    if n_masked is not None:
        tied -= np.where(np.isneginf(s), np.asarray(n_masked, dtype=np.int64)[rows], 0)
    return 1 + g + tied


def compute_metrics(ranks: np.ndarray, offsets: np.ndarray, ks: Sequence[int] = (10, 20, 50, 200),
                    hits: bool = False) -> dict[str, float]:
    """Per-user metrics averaged over users, from 1-based ranks grouped by user (CSR `offsets`).

    hr@k: any target in the top k (also as hits@k when `hits`, the people-task name);
    recall@k: share of the user's targets in the top k; ndcg@k: binary gains 1/log2(1 + rank)
    over the top k divided by the ideal DCG of min(|targets|, k) hits; mrr: 1 / best rank.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.diff(offsets)
    names = [f"{m}@{k}" for m in ("hr", "hits", "recall", "ndcg") if hits or m != "hits" for k in ks]
    if len(counts) == 0:
        return {name: float("nan") for name in [*names, "mrr"]}
    if (counts <= 0).any() or np.any(ranks < 1):
        raise ValueError("every user needs at least one target and ranks are 1-based")
    starts = offsets[:-1]
    gain = 1.0 / np.log2(ranks + 1.0)
    top = min(int(counts.max()), max(ks)) if ks else 0
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, top + 2)))])
    out: dict[str, float] = {}
    for k in ks:
        in_top = ranks <= k
        n_hit = np.add.reduceat(in_top.astype(np.int64), starts)
        dcg = np.add.reduceat(np.where(in_top, gain, 0.0), starts)
        out[f"hr@{k}"] = float(np.mean(n_hit > 0))
        if hits:
            out[f"hits@{k}"] = out[f"hr@{k}"]
        out[f"recall@{k}"] = float(np.mean(n_hit / counts))
        out[f"ndcg@{k}"] = float(np.mean(dcg / ideal[np.minimum(counts, k)]))
    out = {name: out[name] for name in names}
    out["mrr"] = float(np.mean(1.0 / np.minimum.reduceat(ranks, starts)))
    return out

"""Item-kNN: shrunk cosine item-item similarity, each item keeping its k nearest neighbours.

Sparse throughout (scipy), built block by block, so it runs on 100k+ item catalogues where
EASE's dense inverse cannot. sim(i, j) = |U_i & U_j| / (sqrt(|U_i| |U_j|) + shrink) over TRAIN
item rows; a user's score for j is the sum of sim(i, j) over the known items i in j's top k.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from hearth.eval.split import TRAIN, Split, interaction_matrix


def knn_similarity(x: sp.csr_matrix, k: int, shrink: float, block: int = 2048) -> sp.csr_matrix:
    """[n_items, n_items] W with W[i, j] = sim(i, j) for the k items i most similar to each item j."""
    n_items = x.shape[1]
    norms = np.sqrt(np.asarray(x.sum(0), dtype=np.float64).ravel())
    xt = x.T.tocsr()
    keep_i, keep_j, keep_v = [], [], []
    for a in range(0, n_items, block):
        c = (xt[a:a + block] @ x).tocoo()  # co-occurrence counts: row = item j - a, col = item i
        j, i = c.row.astype(np.int64) + a, c.col.astype(np.int64)
        off_diag = i != j
        j, i, v = j[off_diag], i[off_diag], c.data[off_diag]
        sim = v / (norms[j] * norms[i] + shrink)
        order = np.lexsort((-sim, j))
        j, i, sim = j[order], i[order], sim[order]
        first = np.searchsorted(j, j, side="left")
        top = np.arange(len(j)) - first < k
        keep_i.append(i[top])
        keep_j.append(j[top])
        keep_v.append(sim[top].astype(np.float32))
    return sp.csr_matrix((np.concatenate(keep_v), (np.concatenate(keep_i), np.concatenate(keep_j))),
                         shape=(n_items, n_items))


class ItemKNN:
    name = "itemknn"
    tasks = {"items"}

    def __init__(self, k: int = 100, shrink: float = 10.0) -> None:
        self.k = k
        self.shrink = shrink
        self.weights: sp.csr_matrix | None = None

    def fit(self, split: Split) -> None:
        x = interaction_matrix(split.log, "items", split.part == TRAIN)
        self.weights = knn_similarity(x, self.k, self.shrink)

    def score(self, split: Split, task: str, stage: str, users: np.ndarray) -> torch.Tensor:
        if self.weights is None:
            raise RuntimeError("ItemKNN: call fit(split) before score()")
        x = split.history_targets("items", stage, users)
        return torch.from_numpy((x @ self.weights).toarray().astype(np.float32, copy=False))

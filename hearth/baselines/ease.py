"""EASE (Steck 2019): a closed-form item-item linear autoencoder, the strong simple baseline for items.

B = I - P diagMat(1 / diag(P)) with P = (X^T X + l2 I)^-1, X the binary user-item matrix of TRAIN
item rows; a user's scores are x_u B with x_u from the rows known at the stage. Needs a dense
n_items^2 inverse, so it refuses large catalogues (item-kNN scales instead).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from hearth.eval.split import TRAIN, Split, interaction_matrix


def gram(x: sp.csr_matrix, chunk_elems: int = 1 << 25) -> torch.Tensor:
    """Dense float32 X^T X, by sparse product or dense blocks, whichever is cheaper for this density."""
    n_users, n_items = x.shape
    nnz_per_user = np.diff(x.indptr).astype(np.float64)
    sparse_cost = float((nnz_per_user ** 2).sum())
    dense_cost = float(n_users) * n_items * n_items / 50.0  # BLAS is ~50x faster per multiply-add
    if sparse_cost <= dense_cost:
        return torch.from_numpy((x.T @ x).toarray().astype(np.float32))
    g = torch.zeros(n_items, n_items)
    step = max(1, chunk_elems // max(n_items, 1))
    for a in range(0, n_users, step):
        d = torch.from_numpy(x[a:a + step].toarray().astype(np.float32))
        g.addmm_(d.T, d)
    return g


class EASE:
    name = "ease"
    tasks = {"items"}

    def __init__(self, l2: float = 500.0, max_items: int = 40_000) -> None:
        self.l2 = l2
        self.max_items = max_items
        self.weights: torch.Tensor | None = None

    def fit(self, split: Split) -> None:
        n = split.log.n_items
        if n > self.max_items:
            raise ValueError(f"EASE needs a dense {n} x {n} inverse; {n} items is over {self.max_items}: "
                             "use item-kNN")
        g = gram(interaction_matrix(split.log, "items", split.part == TRAIN))
        g.diagonal().add_(self.l2)
        p = torch.linalg.inv(g)
        b = p / (-p.diagonal())  # column j divided by -P_jj
        b.fill_diagonal_(0.0)
        self.weights = b

    def score(self, split: Split, task: str, stage: str, users: np.ndarray) -> torch.Tensor:
        if self.weights is None:
            raise RuntimeError("EASE: call fit(split) before score()")
        x = split.history_targets("items", stage, users)
        return torch.from_numpy(x.toarray()) @ self.weights

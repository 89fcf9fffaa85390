"""Link-prediction baselines for people: common neighbours and Adamic-Adar.

Both read the undirected view of the follow graph known at the stage (TRAIN rows for "valid",
TRAIN + VALID for "test"), so they close triangles: friends of friends score high, and a
friend shared with few others counts more under Adamic-Adar (weight 1 / log degree).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from hearth.eval.split import Split, interaction_matrix


def undirected_graph(split: Split, stage: str) -> sp.csr_matrix:
    """Binary symmetric [n_users, n_users] adjacency of the known follow rows, no self-loops."""
    a = interaction_matrix(split.log, "people", split.known(stage))
    a = (a + a.T).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    a.data[:] = 1.0
    return a


class _Neighbourhood:
    tasks = {"people"}

    def __init__(self) -> None:
        self._graphs: dict[tuple[int, str], tuple[sp.csr_matrix, sp.csr_matrix]] = {}

    def _weigh(self, a: sp.csr_matrix) -> sp.csr_matrix:
        raise NotImplementedError

    def _graph(self, split: Split, stage: str) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        key = (id(split), stage)
        if key not in self._graphs:
            a = undirected_graph(split, stage)
            self._graphs[key] = (a, self._weigh(a))
        return self._graphs[key]

    def fit(self, split: Split) -> None:
        """Nothing to learn: build the TRAIN-only graph now, the stage-"test" one on first use."""
        self._graphs = {}
        self._graph(split, "valid")

    def score(self, split: Split, task: str, stage: str, users: np.ndarray) -> torch.Tensor:
        a, weighted = self._graph(split, stage)
        s = a[np.asarray(users, dtype=np.int64)] @ weighted
        return torch.from_numpy(s.toarray().astype(np.float32, copy=False))


class CommonNeighbours(_Neighbourhood):
    name = "cn"

    def _weigh(self, a: sp.csr_matrix) -> sp.csr_matrix:
        return a


class AdamicAdar(_Neighbourhood):
    name = "aa"

    def _weigh(self, a: sp.csr_matrix) -> sp.csr_matrix:
        deg = np.asarray(a.sum(1)).ravel()
        w = np.zeros_like(deg, dtype=np.float64)
        w[deg > 1] = 1.0 / np.log(deg[deg > 1])  # degree-1 nodes are nobody's common neighbour
        return sp.diags(w.astype(np.float32)) @ a

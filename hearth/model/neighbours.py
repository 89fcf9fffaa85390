"""What each user already has at a stage, as 0/1 rows: the input of the model's
neighbourhood features (`graph_features`, `item_cooccurrence` in unified.py).

Accounts are the user's neighbours in the undirected follow graph (whom they follow and
who follows them), as Adamic-Adar reads it; items are the items they have. Only rows
visible at the stage are used: TRAIN for "valid", TRAIN + VALID for "test".
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from hearth.baselines.itemknn import knn_similarity
from hearth.eval.split import TRAIN, Split, interaction_matrix
from hearth.events import ACCOUNT, ITEM
from hearth.model.unified import UnifiedModel


def uses_neighbours(model: UnifiedModel) -> bool:
    return model.feature_gate is not None


class KnownSets:
    def __init__(self, split: Split, stage: str):
        known = split.known(stage)
        log = split.log
        self.items = interaction_matrix(log, "items", known)
        follows = interaction_matrix(log, "people", known)
        graph = (follows + follows.T).tocsr()
        graph.setdiag(0)
        graph.eliminate_zeros()
        graph.data[:] = 1.0
        self.accounts = graph
        rows = known & (log.kind == ACCOUNT)
        self.edges = (log.user[rows].astype(np.int64), log.target[rows].astype(np.int64))

    def seen(self, users: np.ndarray, kind: int) -> torch.Tensor:
        """Dense float [len(users), n_kind] 0/1 rows."""
        mat = self.items if kind == ITEM else self.accounts
        return torch.from_numpy(mat[np.asarray(users, dtype=np.int64)].toarray().astype(np.float32, copy=False))


def item_similarity(split: Split, k: int = 100, shrink: float = 10.0) -> sp.csr_matrix:
    """Item-kNN similarity over TRAIN item rows (the `itemknn` baseline's), for `item_cooccurrence`."""
    return knn_similarity(interaction_matrix(split.log, "items", split.part == TRAIN), k, shrink)

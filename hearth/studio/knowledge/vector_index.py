"""One AI's passages as vectors in FAISS: exact inner-product search over unit vectors (cosine),
keyed by chunk id so passages are added and removed one by one as the knowledge changes."""

from __future__ import annotations

import threading

import faiss
import numpy as np


class VectorIndex:
    """`IndexIDMap2` over `IndexFlatIP`; thread-safe (searches run in worker threads)."""

    def __init__(self, dim: int):
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: list[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) these chunks' vectors."""
        keys = np.asarray(ids, dtype=np.int64)
        if not len(keys):
            return
        vecs = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(keys), self.dim)
        with self._lock:
            self._index.remove_ids(keys)  # IndexIDMap2 would otherwise keep both copies
            self._index.add_with_ids(vecs, keys)

    def remove(self, ids: list[int] | np.ndarray) -> None:
        keys = np.asarray(ids, dtype=np.int64)
        if len(keys):
            with self._lock:
                self._index.remove_ids(keys)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The k nearest chunks as (chunk id, cosine), best first."""
        with self._lock:
            k = min(k, int(self._index.ntotal))
            if k <= 0:
                return []
            scores, ids = self._index.search(np.ascontiguousarray(vector, dtype=np.float32).reshape(1, self.dim), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

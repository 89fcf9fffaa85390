"""BM25 over one AI's passages (bm25s): a simple lower-case word tokeniser without English stop
words. Rebuilt whole when the passages change; cheap at the size of one creator's posts and notes."""

from __future__ import annotations

import re
from collections.abc import Sequence

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

WORD_RE = re.compile(r"\w+")
STOP_WORDS = frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lower-case words (a hashtag is its word), stop words left out."""
    return [w for w in WORD_RE.findall(text.lower()) if w not in STOP_WORDS]


class KeywordIndex:
    """BM25 (bm25s, Lucene variant) over the given passages, keyed by chunk id."""

    def __init__(self, ids: Sequence[int], texts: Sequence[str]):
        self.ids = np.asarray(ids, dtype=np.int64)
        self._bm25: bm25s.BM25 | None = None
        if len(self.ids):
            self._bm25 = bm25s.BM25()
            self._bm25.index([tokenize(t) for t in texts], show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to k chunks sharing a word with the query, as (chunk id, BM25 score), best first."""
        tokens = tokenize(query)
        if self._bm25 is None or not tokens or k <= 0:
            return []
        scores = self._bm25.get_scores(tokens)
        hits = np.flatnonzero(scores > 0)
        top = hits[np.lexsort((self.ids[hits], -scores[hits]))][:k]  # ties: the older chunk first
        return [(int(self.ids[i]), float(scores[i])) for i in top]

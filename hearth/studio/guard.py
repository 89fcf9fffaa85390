"""Topics a creator told their AI to avoid, enforced outside the model: the question is checked
before generation and the answer while it streams. A match by words (the topic's words, plurals
included) or, when an embedder is configured, by meaning (the question close to the topic)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hearth.assistant.profile import Screened

log = logging.getLogger("hearth.studio")
# Cosine of question and topic that counts as the topic (all-MiniLM-L6-v2). On a handful of
# hand-written questions, on-topic ones scored 0.31-0.37 and off-topic ones at most 0.17.
SIMILARITY = 0.28


def _pattern(topic: str) -> re.Pattern[str] | None:
    words = re.findall(r"\w+", topic.lower())
    if not words:
        return None
    body = r"\W+".join(re.escape(w) + r"(?:s|es)?" for w in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


@dataclass
class TopicGuard:
    name: str  # the AI's name, for the polite refusal
    topics: Sequence[str]
    encode: Callable[[list[str]], np.ndarray] | None = None  # normalised sentence embeddings

    def __post_init__(self) -> None:
        self.patterns = [(t, p) for t in self.topics if (p := _pattern(t)) is not None]
        self._topic_vectors: np.ndarray | None = None

    def decline(self, topic: str, where: str) -> Screened:
        return Screened(f"avoided topic “{topic}” ({where})",
                        f"I'd rather not talk about {topic} — my creator asked me to stay away from it. "
                        "Is there something else I can help with?")

    def by_words(self, text: str) -> str | None:
        for topic, pattern in self.patterns:
            if pattern.search(text):
                return topic
        return None

    def by_meaning(self, text: str) -> str | None:
        """Blocking (a sentence-embedding model): call it from a worker thread."""
        if self.encode is None or not self.topics:
            return None
        try:
            if self._topic_vectors is None:
                self._topic_vectors = self.encode(list(self.topics))
            scores = self._topic_vectors @ self.encode([text])[0]
        except Exception:  # a model that cannot load: the word check still stands
            log.warning("topic check by meaning unavailable", exc_info=True)
            self.encode = None
            return None
        best = int(np.argmax(scores))
        return self.topics[best] if scores[best] >= SIMILARITY else None

    async def question(self, text: str) -> Screened | None:
        """Before generation: by words, then by meaning."""
        if (topic := self.by_words(text)) is not None:
            return self.decline(topic, "in the question")
        if (topic := await asyncio.to_thread(self.by_meaning, text)) is not None:
            return self.decline(topic, "the question is about it")
        return None

    def answer(self, text: str) -> Screened | None:
        """While the answer streams: by words (cheap enough for every delta)."""
        if (topic := self.by_words(text)) is not None:
            return self.decline(topic, "in the answer")
        return None

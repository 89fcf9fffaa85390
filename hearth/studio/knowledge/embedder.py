"""Sentence embeddings for the knowledge base, through sentence-transformers on the CPU: the model
(a hub name or a local folder) is loaded once per process, on first use, whichever thread asks first; a model
that cannot be loaded is an `EmbedderError` saying why, which the knowledge base turns into
keyword-only search rather than a crash."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from hearth.settings import Settings

_MODELS: dict[str, Any] = {}  # loaded models by name: every Embedder of one model shares its weights
_MODELS_LOCK = threading.Lock()


class EmbedderError(RuntimeError):
    """sentence-transformers is missing, or the model cannot be loaded."""


class Embedder:
    """Unit-length float32 sentence embeddings from one sentence-transformers model."""

    def __init__(self, name: str, batch_size: int = 64):
        self.name = name
        self.batch_size = batch_size
        self._model: Any = None
        self._error: EmbedderError | None = None
        self._load_lock = threading.Lock()
        self._encode_lock = threading.Lock()  # one forward pass at a time: the CPU is shared anyway

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is None:
                if self._error is not None:  # failed once: say so again without retrying every call
                    raise self._error
                self._model = self._open()
        return self._model

    def _open(self) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            self._error = EmbedderError("sentence embeddings need sentence-transformers: pip install 'hearth[text]'")
            raise self._error from e
        try:
            with _MODELS_LOCK:
                if self.name not in _MODELS:
                    _MODELS[self.name] = SentenceTransformer(self.name, device="cpu")
                return _MODELS[self.name]
        except Exception as e:  # noqa: BLE001 - any load failure is one message to the admin
            self._error = EmbedderError(
                f"cannot load the embedding model {self.name!r} ({type(e).__name__}: {e}); set "
                "HEARTH_STUDIO_EMBEDDING_MODEL to a local sentence-transformers folder or a hub name this machine "
                "can reach")
            raise self._error from e

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def dim(self) -> int:
        """The embedding size (loads the model)."""
        model = self._load()
        return int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                   else model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """[len(texts), dim] float32, each row of unit length (cosine = inner product)."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._encode_lock:
            vectors = model.encode(list(texts), batch_size=self.batch_size, show_progress_bar=False,
                                   normalize_embeddings=True, convert_to_numpy=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def embedder_from_settings(settings: Settings) -> Embedder | None:
    """The configured model (not loaded yet), or None: keyword search only."""
    name = (settings.studio_embedding_model or "").strip()
    return Embedder(name) if name else None

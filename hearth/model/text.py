"""Text embeddings of targets (post text, movie titles, artist names) for the model's side
features, through sentence-transformers: a model name from the Hugging Face hub or a local
directory. Optional: install with `pip install hearth[text]`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class TextModelError(RuntimeError):
    """sentence-transformers is missing, or the model cannot be loaded."""


def embed_texts(texts: Sequence[str], model: str = DEFAULT_TEXT_MODEL, batch_size: int = 256,
                progress: bool = False) -> np.ndarray:
    """Unit-length float32 embeddings [len(texts), dim]."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise TextModelError("text embeddings need sentence-transformers: pip install 'hearth[text]'") from e
    try:
        encoder = SentenceTransformer(model, device="cpu")
    except Exception as e:  # noqa: BLE001 - any load failure is the same message to the user
        raise TextModelError(f"cannot load text model {model!r} ({e}); give a local model directory "
                             "or a hub name reachable from this machine") from e
    vectors = encoder.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                             normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


def item_texts(item_meta: dict, n_items: int) -> list[str]:
    """The text of each item from a loader's item_meta (title + genres, or name)."""
    for key in ("text", "title", "name"):
        if key in item_meta:
            texts = [str(t) for t in item_meta[key]]
            if "genres" in item_meta:
                genres = [", ".join(g) if isinstance(g, list | tuple) else str(g).replace("|", ", ")
                          for g in item_meta["genres"]]
                texts = [f"{t} ({g})" for t, g in zip(texts, genres, strict=True)]
            if len(texts) != n_items:
                raise ValueError(f"item_meta[{key!r}] has {len(texts)} entries for {n_items} items")
            return texts
    raise ValueError("this dataset has no item text (item_meta needs 'text', 'title' or 'name')")

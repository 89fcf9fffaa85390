"""What the app holds for the AIs' knowledge (`app.state.knowledge`): keeps each AI's sources in
step with its creator's posts and notes, and answers a question with the passages that match it.

Search is hybrid: BM25 finds rare words (a name, a tag), sentence embeddings find paraphrases;
their rankings are fused by reciprocal rank (no score scales to calibrate), then the best passage
of each source is kept, so five results cite five different posts or notes. Without an embedding
model (none configured, or it cannot be loaded) search is keyword-only and `status()` says why.

Each AI's indexes live in memory, built on first use from the rows (stored embeddings are
reused, never recomputed) and updated in place as sources come and go; a count of the AI's
chunks, checked before each use, catches changes made elsewhere (a deleted post's cascade).
Writes go through hearth/services/studio/knowledge.py; blocking work runs in threads."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth.services.errors import NotFound
from hearth.services.studio import knowledge as records
from hearth.services.studio.knowledge import AIBrief, SourceDraft, Written
from hearth.settings import Settings
from hearth.storage.models import AIKnowledge, Post
from hearth.studio.knowledge.chunking import note_passages, post_passages
from hearth.studio.knowledge.embedder import Embedder, EmbedderError, embedder_from_settings
from hearth.studio.knowledge.keyword import KeywordIndex
from hearth.studio.knowledge.vector_index import VectorIndex

log = logging.getLogger("hearth.studio.knowledge")

RRF_K = 60  # reciprocal-rank fusion constant (Cormack et al. 2009): 1 / (60 + rank)
MIN_SIMILARITY = 0.2  # a passage less similar than this is not a vector match (all-MiniLM-L6-v2 cosine)
SYNC_BATCH = 256  # posts read, embedded and written per transaction
EMBED_BATCH = 256  # texts per trip to the embedding thread
Mode = Literal["hybrid", "keyword", "vector"]


@dataclass(frozen=True)
class Passage:
    """A passage that matches a question, with where it comes from and why it was picked."""

    knowledge_id: int
    kind: str  # post | note
    post_id: int | None
    title: str
    text: str
    url: str  # the post's web page, or the note's
    score: float  # fused reciprocal-rank score
    why: dict[str, int | None]  # each retriever's rank of this passage (1 = best; None: not found by it)


@dataclass
class SyncReport:
    added: int = 0
    updated: int = 0
    removed: int = 0


@dataclass
class _Source:
    kind: str
    post_id: int | None
    title: str


@dataclass
class _AIState:
    """One AI's passages and indexes in memory."""

    brief: AIBrief
    fingerprint: tuple[int, int]
    chunks: dict[int, tuple[int, str]] = field(default_factory=dict)  # chunk id -> (knowledge id, text)
    sources: dict[int, _Source] = field(default_factory=dict)
    vectors: VectorIndex | None = None
    keyword: KeywordIndex | None = None  # None: rebuild on next search

    def local_fingerprint(self) -> tuple[int, int]:
        return len(self.chunks), max(self.chunks, default=0)


def _post_title(post: Post) -> str:
    """A post's first words, as its title in citations."""
    words = " ".join((post.spoiler_text or post.text).split())
    return words if len(words) <= 80 else words[:79].rsplit(" ", 1)[0] + "…"


def _to_bytes(vectors: np.ndarray | None, n: int) -> list[bytes | None]:
    if vectors is None:
        return [None] * n
    return [np.asarray(v, dtype="<f4").tobytes() for v in vectors]


class KnowledgeBase:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
                 embedder: Embedder | None = None):
        """`embedder` overrides the one from settings (tests share a loaded model)."""
        self.sessionmaker = sessionmaker
        self.settings = settings
        self._embedder = embedder if embedder is not None else embedder_from_settings(settings)
        self._embed_error: str | None = None
        self._states: dict[int, _AIState] = {}
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    # ---- the embedding model --------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder | None:
        """The embedding model, unless none is configured or it failed to load."""
        return None if self._embed_error is not None else self._embedder

    def _failed(self, e: EmbedderError) -> None:
        if self._embed_error is None:
            log.warning("%s: AI knowledge is searched by keywords only", e)
        self._embed_error = str(e)
        for state in self._states.values():
            state.vectors = None

    async def _dim(self) -> int | None:
        """The model's embedding size (loading it on first use); None without a usable model."""
        embedder = self.embedder
        if embedder is None:
            return None
        try:
            return await asyncio.to_thread(lambda: embedder.dim)
        except EmbedderError as e:
            self._failed(e)
            return None

    async def _encode(self, texts: Sequence[str]) -> np.ndarray | None:
        """Embeddings in batches, off the event loop; None without a usable model."""
        embedder = self.embedder
        if embedder is None or not texts:
            return None
        try:
            parts = [await asyncio.to_thread(embedder.encode, list(texts[i:i + EMBED_BATCH]))
                     for i in range(0, len(texts), EMBED_BATCH)]
        except EmbedderError as e:
            self._failed(e)
            return None
        return np.concatenate(parts)

    @property
    def _model_name(self) -> str | None:
        return self.embedder.name if self.embedder is not None else None

    def status(self) -> dict[str, Any]:
        """How search works right now, and why when it is keyword-only."""
        usable = self.embedder is not None
        reason = None
        if self._embedder is None:
            reason = "no embedding model is configured (HEARTH_STUDIO_EMBEDDING_MODEL): keyword search only"
        elif self._embed_error is not None:
            reason = f"{self._embed_error}: keyword search only"
        return {"retrieval": "hybrid" if usable else "keyword",
                "embedding_model": self._embedder.name if self._embedder is not None else None,
                "model_loaded": bool(usable and self._embedder.loaded),
                "reason": reason,
                "keyword_index": "BM25 (bm25s)",
                "vector_index": "FAISS IndexFlatIP" if usable else None,
                "ais_in_memory": len(self._states)}

    # ---- in-memory state ------------------------------------------------------------------------
    async def _cached(self, db: AsyncSession, ai_id: int) -> _AIState | None:
        """The AI's state if it still matches the rows; a stale one is dropped."""
        state = self._states.get(ai_id)
        if state is not None and await records.chunk_fingerprint(db, ai_id) != state.fingerprint:
            del self._states[ai_id]
            return None
        return state

    async def _load(self, ai_id: int) -> _AIState | None:
        """The AI's state, built from the rows when missing or stale (call with the AI's lock)."""
        async with self.sessionmaker() as db:
            brief = await records.ai_brief(db, ai_id)
            if brief is None:
                self._states.pop(ai_id, None)
                return None
            state = await self._cached(db, ai_id)
            if state is not None:
                state.brief = brief
                return state
            heads = await records.source_heads(db, ai_id)
            rows = await records.all_chunks(db, ai_id)
        state = _AIState(brief, (0, 0), {cid: (kid, text) for cid, kid, text, _, _ in rows},
                         {kid: _Source(kind, pid, title) for kid, kind, pid, title in heads})
        state.fingerprint = state.local_fingerprint()
        dim = await self._dim()
        if dim is not None:
            state.vectors = await self._vectors(ai_id, rows, dim)
        self._states[ai_id] = state
        return state

    async def _vectors(self, ai_id: int, rows: list[tuple[int, int, str, bytes | None, str | None]],
                       dim: int) -> VectorIndex | None:
        """FAISS from the stored embeddings; chunks without one for this model are embedded (and kept) now."""
        name = self._model_name
        have = [(cid, emb) for cid, _, _, emb, model in rows if emb is not None and model == name
                and len(emb) == 4 * dim]
        have_ids = {cid for cid, _ in have}
        missing = [(cid, text) for cid, _, text, _, _ in rows if cid not in have_ids]
        index = VectorIndex(dim)
        if have:
            matrix = np.frombuffer(b"".join(emb for _, emb in have), dtype="<f4").reshape(len(have), dim)
            await asyncio.to_thread(index.add, [cid for cid, _ in have], matrix)
        if missing:
            computed = await self._encode([text for _, text in missing])
            if computed is None or name is None:
                return None
            stored = list(zip([cid for cid, _ in missing], _to_bytes(computed, len(missing)), strict=True))
            async with self.sessionmaker() as db:
                await records.store_embeddings(db, stored, name)
            await asyncio.to_thread(index.add, [cid for cid, _ in missing], computed)
        return index

    def _apply(self, state: _AIState | None, written: Written, removed_sources: Sequence[int]) -> None:
        """Bring a loaded state up to date with a write (incrementally: no rebuild of FAISS)."""
        if state is None:
            return
        for cid in written.removed_chunk_ids:
            state.chunks.pop(cid, None)
        for kid in removed_sources:
            state.sources.pop(kid, None)
        if state.vectors is not None:
            state.vectors.remove(written.removed_chunk_ids)
        for source in written.sources:
            state.sources[source.id] = _Source(source.kind, source.post_id, source.title)
        for chunk in written.chunks:
            state.chunks[chunk.id] = (chunk.knowledge_id, chunk.text)
        if state.vectors is not None and written.chunks:
            size = 4 * state.vectors.dim
            if any(c.embedding is None or len(c.embedding) != size for c in written.chunks):
                self._states.pop(state.brief.id, None)  # written without embeddings: rebuilt on next use
                return
            matrix = np.frombuffer(b"".join(c.embedding for c in written.chunks), dtype="<f4")
            state.vectors.add([c.id for c in written.chunks], matrix.reshape(len(written.chunks), -1))
        state.keyword = None
        state.fingerprint = state.local_fingerprint()

    async def _write(self, ai_id: int, state: _AIState | None, drafts: Sequence[SourceDraft],
                     changed: Sequence[tuple[int, SourceDraft]] = (), removed: Sequence[int] = ()) -> Written:
        """Embed the drafts' passages, write them through the services, update the loaded indexes."""
        drafts_all = [*drafts, *(d for _, d in changed)]
        texts = [p for d in drafts_all for p in d.passages]
        computed = await self._encode(texts)
        at = 0
        for d in drafts_all:
            d.embeddings = _to_bytes(computed[at:at + len(d.passages)] if computed is not None else None,
                                     len(d.passages))
            at += len(d.passages)
        async with self.sessionmaker() as db:
            written = await records.write_sources(db, ai_id, drafts, changed, removed, self._model_name)
        self._apply(state, written, removed)
        return written

    # ---- posts ----------------------------------------------------------------------------------
    async def sync_posts(self, ai_id: int) -> SyncReport:
        """Bring the AI's copy of its creator's posts up to date: new public/unlisted originals in,
        edited ones re-indexed, deleted or no-longer-public ones out. Cheap when nothing changed."""
        report = SyncReport()
        async with self._locks[ai_id]:
            async with self.sessionmaker() as db:
                brief = await records.ai_brief(db, ai_id)
                if brief is None:
                    self._states.pop(ai_id, None)
                    return report
                versions = await records.post_versions(db, brief.owner_id) if brief.of_creator else {}
                known = await records.indexed_posts(db, ai_id)
                new = sorted(set(versions) - set(known))
                edited = sorted(pid for pid, (_, at) in known.items() if versions.get(pid) is not None
                                and (at is None or versions[pid] > at))
                gone = sorted(kid for pid, (kid, _) in known.items() if pid not in versions)
                if not (new or edited or gone):
                    return report
                state = await self._cached(db, ai_id)
            todo = new + edited
            try:
                if gone:
                    await self._write(ai_id, state, [], removed=gone)
                    report.removed = len(gone)
                for i in range(0, len(todo), SYNC_BATCH):
                    async with self.sessionmaker() as db:
                        posts = await records.posts_by_id(db, todo[i:i + SYNC_BATCH])
                    added: list[SourceDraft] = []
                    changed: list[tuple[int, SourceDraft]] = []
                    for post in posts:
                        passages = post_passages(post.text, post.spoiler_text)
                        draft = SourceDraft("post", _post_title(post), post.text, passages, post_id=post.id,
                                            source_updated_at=post.edited_at)
                        if post.id in known:
                            changed.append((known[post.id][0], draft))
                        elif passages:
                            added.append(draft)
                    await self._write(ai_id, state, added, changed)
                    report.added += len(added)
                    report.updated += len(changed)
            except IntegrityError:  # another process synced the same posts meanwhile
                log.info("AI %s: knowledge changed while syncing; the next sync finishes it", ai_id)
                self._states.pop(ai_id, None)
        return report

    async def sync_all(self) -> dict[int, SyncReport]:
        """Sync every AI of its creator (the app calls this at start); loads the model first when
        there is one, so a model that cannot be loaded shows in status() before anyone asks."""
        async with self.sessionmaker() as db:
            ids = await records.of_creator_ids(db)
        if ids:
            await self._dim()
        return {ai_id: await self.sync_posts(ai_id) for ai_id in ids}

    # ---- notes ----------------------------------------------------------------------------------
    async def add_note(self, ai_id: int, title: str, text: str) -> AIKnowledge:
        """A note (text or Markdown) the AI will know, cut into passages (Invalid when unfit)."""
        title, text = records.clean_note(title, text)
        passages = note_passages(title, text)
        async with self._locks[ai_id]:
            async with self.sessionmaker() as db:
                if await records.ai_brief(db, ai_id) is None:
                    raise NotFound(f"AI {ai_id} not found")
                state = await self._cached(db, ai_id)
            written = await self._write(ai_id, state, [SourceDraft("note", title, text, passages)])
        return written.sources[0]

    async def delete_note(self, ai_id: int, knowledge_id: int) -> None:
        """Forget one of the AI's notes (NotFound when it has no such note)."""
        async with self._locks[ai_id]:
            async with self.sessionmaker() as db:
                state = await self._cached(db, ai_id)
                removed = await records.delete_note(db, ai_id, knowledge_id)
            self._apply(state, Written(removed_chunk_ids=removed), [knowledge_id])

    async def list_sources(self, ai_id: int, kind: str | None = None) -> list[AIKnowledge]:
        """The AI's posts and notes (or one kind), newest first."""
        async with self.sessionmaker() as db:
            return await records.list_sources(db, ai_id, kind)

    # ---- search ---------------------------------------------------------------------------------
    async def search(self, ai_id: int, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Passage]:
        """The k sources that best match the question, one passage each, best first. `mode` picks
        the retrievers (hybrid falls back to keywords without a model)."""
        query = " ".join((query or "").split())
        if not query or k <= 0:
            return []
        pool = max(50, 10 * k)  # candidates per retriever: enough to fill k distinct sources
        async with self._locks[ai_id]:
            state = await self._load(ai_id)
            if state is None or not state.chunks:
                return []
            ranked: dict[str, list[int]] = {}
            if mode in ("hybrid", "keyword"):
                if state.keyword is None:
                    ids = list(state.chunks)
                    state.keyword = await asyncio.to_thread(KeywordIndex, ids, [state.chunks[c][1] for c in ids])
                ranked["keyword"] = [cid for cid, _ in await asyncio.to_thread(state.keyword.search, query, pool)]
            if mode in ("hybrid", "vector") and state.vectors is not None:
                found = await self._encode([query])
                if found is not None and state.vectors is not None:
                    hits = await asyncio.to_thread(state.vectors.search, found[0], pool)
                    ranked["vector"] = [cid for cid, sim in hits if sim >= MIN_SIMILARITY]
            return self._fuse(state, ranked, k)

    @staticmethod
    def _fuse(state: _AIState, ranked: dict[str, list[int]], k: int) -> list[Passage]:
        fused: dict[int, float] = defaultdict(float)
        ranks: dict[int, dict[str, int]] = defaultdict(dict)
        for retriever, ids in ranked.items():
            for rank, cid in enumerate(ids, 1):
                fused[cid] += 1.0 / (RRF_K + rank)
                ranks[cid][retriever] = rank
        out: list[Passage] = []
        seen: set[int] = set()
        for cid in sorted(fused, key=lambda c: (-fused[c], c)):
            if cid not in state.chunks:
                continue
            kid, text = state.chunks[cid]
            source = state.sources.get(kid)
            if kid in seen or source is None:
                continue
            seen.add(kid)
            url = (f"/@{state.brief.owner_username}/{source.post_id}" if source.kind == "post"
                   else f"/@{state.brief.username}/notes/{kid}")
            out.append(Passage(kid, source.kind, source.post_id, source.title, text, url, round(fused[cid], 6),
                               {r: ranks[cid].get(r) for r in ("keyword", "vector")}))
            if len(out) == k:
                break
        return out

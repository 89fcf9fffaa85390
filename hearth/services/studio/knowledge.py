"""What creators' AIs know, as rows: sources (a post of the creator, or a note they uploaded) and
their passages with stored embeddings, so a restart never recomputes them. The knowledge base
(hearth/studio/knowledge) decides what to write; the SQL lives here."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hearth.services.errors import Invalid, NotFound
from hearth.storage.models import Account, AIKnowledge, AIKnowledgeChunk, CreatorAI, Post

MAX_NOTE_CHARS = 200_000
MAX_TITLE_CHARS = 200
KNOWN_VISIBILITIES = ("public", "unlisted")  # what an AI may quote to anyone who talks to it
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")  # not in text: \t \n \f \r are fine


def clean_note(title: str, text: str) -> tuple[str, str]:
    """A note is non-empty text or Markdown of at most 200,000 characters, titled in at most 200."""
    if not isinstance(text, str) or not isinstance(title, str):
        raise Invalid("a note is text or Markdown")
    text = text.replace("\r\n", "\n").strip()
    title = " ".join(title.split())
    if not text:
        raise Invalid("the note is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise Invalid(f"the note is {len(text):,} characters; at most {MAX_NOTE_CHARS:,}")
    if len(title) > MAX_TITLE_CHARS:
        raise Invalid(f"a note's title is at most {MAX_TITLE_CHARS} characters")
    if CONTROL_RE.search(text) or CONTROL_RE.search(title):
        raise Invalid("a note is text or Markdown; this looks like binary data")
    return title or "Note", text


@dataclass
class SourceDraft:
    """A source to write: its passages and (when computed) their embeddings as float32 bytes."""

    kind: str  # post | note
    title: str
    text: str
    passages: list[str]
    embeddings: Sequence[bytes | None] | None = None
    post_id: int | None = None
    source_updated_at: datetime | None = None


@dataclass
class Written:
    """What a write changed, for the in-memory indexes."""

    sources: list[AIKnowledge] = field(default_factory=list)
    chunks: list[AIKnowledgeChunk] = field(default_factory=list)
    removed_chunk_ids: list[int] = field(default_factory=list)


@dataclass
class AIBrief:
    """What the knowledge base needs of an AI: whose posts it knows and the handles for links."""

    id: int
    owner_id: int
    of_creator: bool
    owner_username: str
    username: str


# ---- reads ----------------------------------------------------------------------------------------
async def ai_brief(db: AsyncSession, ai_id: int) -> AIBrief | None:
    owner, bot = aliased(Account), aliased(Account)
    row = (await db.execute(select(CreatorAI.id, CreatorAI.owner_id, CreatorAI.of_creator, owner.username,
                                   bot.username)
                            .join(owner, owner.id == CreatorAI.owner_id).join(bot, bot.id == CreatorAI.account_id)
                            .where(CreatorAI.id == ai_id))).first()
    return AIBrief(*row) if row is not None else None


async def of_creator_ids(db: AsyncSession) -> list[int]:
    """Every AI that knows its creator's posts."""
    return list(await db.scalars(select(CreatorAI.id).where(CreatorAI.of_creator.is_(True)).order_by(CreatorAI.id)))


async def post_versions(db: AsyncSession, owner_id: int) -> dict[int, datetime | None]:
    """The creator's posts an AI may know (public or unlisted, not reblogs): post id -> edited_at."""
    rows = await db.execute(select(Post.id, Post.edited_at).where(
        Post.account_id == owner_id, Post.reblog_of_id.is_(None), Post.visibility.in_(KNOWN_VISIBILITIES)))
    return {pid: edited for pid, edited in rows}


async def indexed_posts(db: AsyncSession, ai_id: int) -> dict[int, tuple[int, datetime | None]]:
    """Post id -> (knowledge id, the edited_at it was indexed at)."""
    rows = await db.execute(select(AIKnowledge.post_id, AIKnowledge.id, AIKnowledge.source_updated_at).where(
        AIKnowledge.ai_id == ai_id, AIKnowledge.kind == "post"))
    return {pid: (kid, at) for pid, kid, at in rows if pid is not None}


async def posts_by_id(db: AsyncSession, ids: Sequence[int]) -> list[Post]:
    return list(await db.scalars(select(Post).where(Post.id.in_(list(ids))).order_by(Post.id)))


async def list_sources(db: AsyncSession, ai_id: int, kind: str | None = None) -> list[AIKnowledge]:
    """The AI's sources, newest first."""
    q = select(AIKnowledge).where(AIKnowledge.ai_id == ai_id)
    if kind is not None:
        q = q.where(AIKnowledge.kind == kind)
    return list(await db.scalars(q.order_by(AIKnowledge.id.desc())))


async def source_heads(db: AsyncSession, ai_id: int) -> list[tuple[int, str, int | None, str]]:
    """(id, kind, post id, title) of every source of the AI, without the texts."""
    rows = await db.execute(select(AIKnowledge.id, AIKnowledge.kind, AIKnowledge.post_id, AIKnowledge.title)
                            .where(AIKnowledge.ai_id == ai_id))
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def chunk_fingerprint(db: AsyncSession, ai_id: int) -> tuple[int, int]:
    """(count, highest id) of the AI's chunks: changes when anything (a cascade too) adds or drops one."""
    count, top = (await db.execute(select(func.count(AIKnowledgeChunk.id), func.max(AIKnowledgeChunk.id))
                                   .where(AIKnowledgeChunk.ai_id == ai_id))).one()
    return int(count or 0), int(top or 0)


async def all_chunks(db: AsyncSession, ai_id: int) -> list[tuple[int, int, str, bytes | None, str | None]]:
    """(id, knowledge id, text, embedding, embed model) of every chunk of the AI."""
    rows = await db.execute(select(AIKnowledgeChunk.id, AIKnowledgeChunk.knowledge_id, AIKnowledgeChunk.text,
                                   AIKnowledgeChunk.embedding, AIKnowledgeChunk.embed_model)
                            .where(AIKnowledgeChunk.ai_id == ai_id).order_by(AIKnowledgeChunk.id))
    return [tuple(r) for r in rows]  # type: ignore[misc]


# ---- writes ---------------------------------------------------------------------------------------
def _chunks(ai_id: int, knowledge_id: int, draft: SourceDraft, embed_model: str | None) -> list[AIKnowledgeChunk]:
    embeddings = list(draft.embeddings or [None] * len(draft.passages))
    return [AIKnowledgeChunk(ai_id=ai_id, knowledge_id=knowledge_id, seq=i, text=text, embedding=emb,
                             embed_model=embed_model[:200] if emb is not None and embed_model else None)
            for i, (text, emb) in enumerate(zip(draft.passages, embeddings, strict=True))]


async def _chunk_ids(db: AsyncSession, knowledge_ids: Sequence[int]) -> list[int]:
    if not knowledge_ids:
        return []
    return list(await db.scalars(select(AIKnowledgeChunk.id).where(
        AIKnowledgeChunk.knowledge_id.in_(list(knowledge_ids)))))


async def write_sources(db: AsyncSession, ai_id: int, added: Sequence[SourceDraft] = (),
                        changed: Sequence[tuple[int, SourceDraft]] = (), removed: Sequence[int] = (),
                        embed_model: str | None = None) -> Written:
    """In one transaction: add sources, rewrite changed ones in place ((knowledge id, draft): new
    text and passages, same id), and delete removed ones (knowledge ids) with their chunks."""
    out = Written()
    stale = [kid for kid, _ in changed] + list(removed)
    out.removed_chunk_ids = await _chunk_ids(db, stale)
    if stale:
        await db.execute(delete(AIKnowledgeChunk).where(AIKnowledgeChunk.knowledge_id.in_(stale)))
    if removed:
        await db.execute(delete(AIKnowledge).where(AIKnowledge.ai_id == ai_id, AIKnowledge.id.in_(list(removed))))
    pairs: list[tuple[AIKnowledge, SourceDraft]] = []
    for kid, draft in changed:
        source = await db.get(AIKnowledge, kid)
        if source is None or source.ai_id != ai_id:
            continue
        source.title, source.text, source.source_updated_at = draft.title, draft.text, draft.source_updated_at
        pairs.append((source, draft))
    for draft in added:
        source = AIKnowledge(ai_id=ai_id, kind=draft.kind, post_id=draft.post_id, title=draft.title[:200],
                             text=draft.text, source_updated_at=draft.source_updated_at)
        db.add(source)
        pairs.append((source, draft))
    await db.flush()
    for source, draft in pairs:
        chunks = _chunks(ai_id, source.id, draft, embed_model)
        db.add_all(chunks)
        out.sources.append(source)
        out.chunks.extend(chunks)
    await db.flush()
    await db.commit()
    return out


async def delete_note(db: AsyncSession, ai_id: int, knowledge_id: int) -> list[int]:
    """Delete one of the AI's notes; the ids of the chunks that went with it."""
    note = await db.get(AIKnowledge, knowledge_id)
    if note is None or note.ai_id != ai_id or note.kind != "note":
        raise NotFound(f"note {knowledge_id} not found")
    return (await write_sources(db, ai_id, removed=[knowledge_id])).removed_chunk_ids


async def store_embeddings(db: AsyncSession, embeddings: Sequence[tuple[int, bytes]], embed_model: str) -> None:
    """Keep computed embeddings (chunk id, float32 bytes) so they are never computed again."""
    if embeddings:
        await db.execute(update(AIKnowledgeChunk), [  # bulk UPDATE by primary key
            {"id": chunk_id, "embedding": emb, "embed_model": embed_model[:200]} for chunk_id, emb in embeddings])
    await db.commit()

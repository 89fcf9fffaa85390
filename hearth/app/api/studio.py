"""AI Studio's API (`/api/hearth/v1/studio` for creators, `/api/hearth/v1/ais` for fans).

Creators make and edit their AIs, import and export them as Character Card V2 JSON, upload
notes to their knowledge, and watch, take over and hand back their AIs' direct-message threads.
Fans list the AIs they may talk to and start conversations with them; the messages themselves
go through the assistant API's conversation endpoints (same streaming, stop and regenerate)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.api.assistant import conversation_json
from hearth.app.api.hearth import caller
from hearth.services.assistant import conversations
from hearth.services.errors import Invalid, NotFound
from hearth.services.ids import parse_id
from hearth.services.studio import ais, direct
from hearth.storage.models import Account, CreatorAI
from hearth.studio import cards
from hearth.studio.persona import disclosure

router = APIRouter(prefix="/api/hearth/v1", tags=["ai studio"])
Reader = Annotated[Account, Depends(caller("read"))]
Writer = Annotated[Account, Depends(caller("write", write=True))]
Db = Annotated[AsyncSession, Depends(deps.get_db)]
MAX_NOTE_BYTES = 1_000_000


class AIFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=80)
    tagline: str | None = None
    greeting: str | None = None
    suggested_questions: list[str] | None = None
    personality: str | None = None
    instructions: str | None = None
    example_dialogues: str | None = None
    avoid_topics: list[str] | None = None
    links: list[dict[str, str]] | None = None
    audience: Literal["public", "followers", "only_me"] | None = None
    runtime: str | None = None
    model: str | None = None
    auto_reply: bool | None = None
    of_creator: bool | None = Field(None, description="an AI of yourself: it learns from your posts")


class NewAI(AIFields):
    name: str = Field(min_length=1, max_length=80)
    handle: str = Field(min_length=1, max_length=30, description="the AI's own @username")


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1)


class ReplyAsAI(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=5000)


def public_json(ai: CreatorAI) -> dict[str, Any]:
    """What anyone who may talk to the AI sees."""
    return {"id": str(ai.id), "handle": ai.account.username, "account_id": str(ai.account_id),
            "name": ais.display_name(ai), "ai": True, "tagline": ai.tagline, "greeting": ai.greeting,
            "suggested_questions": ai.suggested_questions, "links": ai.links, "audience": ai.audience,
            "creator": {"id": str(ai.owner_id), "username": ai.owner.username}, "disclosure": disclosure(ai),
            "avatar": f"/api/hearth/v1/ais/{ai.account.username}/avatar" if ai.avatar else None,
            "url": f"/@{ai.account.username}"}


def owner_json(ai: CreatorAI) -> dict[str, Any]:
    return {**public_json(ai), "personality": ai.personality, "instructions": ai.instructions,
            "example_dialogues": ai.example_dialogues, "avoid_topics": ai.avoid_topics, "runtime": ai.runtime,
            "model": ai.model, "auto_reply": ai.auto_reply, "of_creator": ai.of_creator,
            "created_at": ai.created_at.isoformat(), "updated_at": ai.updated_at.isoformat()}


def _fields(body: AIFields) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    return {k: v for k, v in values.items() if k not in ("name", "handle") and v is not None}


# ---- creators --------------------------------------------------------------------------------
@router.get("/studio/ais")
async def my_ais(db: Db, viewer: Reader) -> list[dict]:
    return [owner_json(a) for a in await ais.list_owned(db, viewer)]


@router.post("/studio/ais", status_code=201)
async def create_ai(body: NewAI, request: Request, db: Db, viewer: Writer) -> dict:
    request.app.state.limits.write(viewer.id, deps.client_ip(request))
    return owner_json(await ais.create(db, viewer, body.name, body.handle, **_fields(body)))


@router.get("/studio/ais/{ai_id}")
async def get_ai(ai_id: str, db: Db, viewer: Reader) -> dict:
    return owner_json(await ais.owned(db, viewer, ai_id))


@router.patch("/studio/ais/{ai_id}")
async def update_ai(ai_id: str, body: AIFields, db: Db, viewer: Writer) -> dict:
    return owner_json(await ais.update(db, viewer, ai_id, body.name, **_fields(body)))


@router.delete("/studio/ais/{ai_id}", status_code=204)
async def delete_ai(ai_id: str, db: Db, viewer: Writer) -> Response:
    await ais.delete_ai(db, viewer, ai_id)
    return Response(status_code=204)


@router.put("/studio/ais/{ai_id}/avatar")
async def set_avatar(ai_id: str, db: Db, viewer: Writer, file: Annotated[UploadFile, File()]) -> dict:
    data = await file.read(ais.MAX_AVATAR_BYTES + 1)
    return owner_json(await ais.set_avatar(db, viewer, ai_id, data))


@router.get("/studio/ais/{ai_id}/card")
async def export(ai_id: str, db: Db, viewer: Reader) -> JSONResponse:
    """The AI as a Character Card V2 JSON file."""
    ai = await ais.owned(db, viewer, ai_id)
    return JSONResponse(cards.export_card(ai), headers={
        "Content-Disposition": f'attachment; filename="{ai.account.username}.card.json"'})


@router.post("/studio/import", status_code=201)
async def import_ai(request: Request, db: Db, viewer: Writer, file: Annotated[UploadFile, File()],
                      handle: Annotated[str | None, Form()] = None) -> dict:
    """A new AI from a Character Card V2 (or V1) JSON file; unknown extensions are kept."""
    request.app.state.limits.write(viewer.id, deps.client_ip(request))
    return owner_json(await cards.import_card(db, viewer, await file.read(cards.MAX_CARD_BYTES + 1), handle))


@router.get("/studio/ais/{ai_id}/knowledge")
async def knowledge(ai_id: str, request: Request, db: Db, viewer: Reader) -> dict:
    """What the AI knows: its creator's posts (when it is an AI of them) and the notes."""
    ai = await ais.owned(db, viewer, ai_id)
    kb = request.app.state.knowledge
    await kb.sync_posts(ai.id)
    sources = await kb.list_sources(ai.id)
    return {"status": kb.status(), "sources": [
        {"id": str(s.id), "kind": s.kind, "title": s.title, "post_id": str(s.post_id) if s.post_id else None,
         "chars": len(s.text), "created_at": s.created_at.isoformat()} for s in sources]}


@router.post("/studio/ais/{ai_id}/notes", status_code=201)
async def add_note(ai_id: str, request: Request, db: Db, viewer: Writer,
                   file: Annotated[UploadFile | None, File()] = None,
                   title: Annotated[str | None, Form()] = None, text: Annotated[str | None, Form()] = None) -> dict:
    """A note as an uploaded .txt/.md file, or as form fields `title` and `text`."""
    ai = await ais.owned(db, viewer, ai_id)
    if file is not None:
        if not (file.filename or "").lower().endswith((".txt", ".md", ".markdown")) and \
                (file.content_type or "") not in ("text/plain", "text/markdown"):
            raise Invalid("notes are text or Markdown files (.txt, .md)")
        raw = await file.read(MAX_NOTE_BYTES + 1)
        if len(raw) > MAX_NOTE_BYTES:
            raise Invalid("a note file is at most 1 MB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("the note is not UTF-8 text") from None
        title = title or (file.filename or "note").rsplit(".", 1)[0]
    if not text:
        raise Invalid("send a file, or a title and text")
    note = await request.app.state.knowledge.add_note(ai.id, title or "Note", text)
    return {"id": str(note.id), "kind": "note", "title": note.title, "chars": len(note.text)}


@router.delete("/studio/ais/{ai_id}/notes/{knowledge_id}", status_code=204)
async def delete_note(ai_id: str, knowledge_id: str, request: Request, db: Db, viewer: Writer) -> Response:
    ai = await ais.owned(db, viewer, ai_id)
    key = parse_id(knowledge_id)
    if key is None:
        raise NotFound(f"note {knowledge_id} not found")
    await request.app.state.knowledge.delete_note(ai.id, key)
    return Response(status_code=204)


@router.get("/studio/ais/{ai_id}/threads")
async def threads(ai_id: str, db: Db, viewer: Reader) -> list[dict]:
    """The AI's direct-message conversations and who answers each."""
    return [{"id": str(t.id), "root_post_id": str(t.root_post_id), "mode": t.mode,
             "fan": {"id": str(fan.id), "username": fan.username}, "updated_at": t.updated_at.isoformat()}
            for t, fan, _ in await direct.threads(db, viewer, ai_id)]


@router.post("/studio/ais/{ai_id}/threads/{thread_id}/reply", status_code=201)
async def reply_as_ai(ai_id: str, thread_id: str, body: ReplyAsAI, request: Request, db: Db,
                      viewer: Writer) -> dict:
    """Answer by hand as the AI (this takes the thread over)."""
    settings = request.app.state.settings
    post = await direct.reply_as_ai(db, viewer, ai_id, thread_id, body.text, settings.max_post_chars,
                                    settings.instance_domain)
    return {"id": str(post.id), "text": post.text}


@router.post("/studio/ais/{ai_id}/threads/{thread_id}/{action}")
async def thread_action(ai_id: str, thread_id: str, action: Literal["takeover", "handback"], db: Db,
                        viewer: Writer) -> dict:
    """takeover: the AI stays silent in this thread; handback: it answers again."""
    t = await direct.owned_thread(db, viewer, ai_id, thread_id)
    t = await direct.set_mode(db, t, "creator" if action == "takeover" else "ai")
    return {"id": str(t.id), "mode": t.mode}


# ---- fans ------------------------------------------------------------------------------------
@router.get("/ais")
async def directory(db: Db, viewer: Reader) -> list[dict]:
    """The AIs you may talk to."""
    return [public_json(a) for a in await ais.visible_to(db, viewer)]


@router.get("/ais/{handle}")
async def get_public(handle: str, db: Db, viewer: Reader) -> dict:
    ai = await ais.require_talk(db, viewer, await ais.by_handle(db, handle))
    return public_json(ai)


@router.get("/ais/{handle}/avatar", include_in_schema=False)
async def avatar(handle: str, db: Db) -> Response:
    ai = await ais.by_handle(db, handle)
    if not ai.avatar:
        return Response(status_code=404)
    return Response(ai.avatar, media_type=ai.avatar_type, headers={"Cache-Control": "public, max-age=300"})


@router.get("/ais/{handle}/conversations")
async def my_conversations(handle: str, db: Db, viewer: Reader) -> list[dict]:
    ai = await ais.require_talk(db, viewer, await ais.by_handle(db, handle))
    return [conversation_json(c) for c in await conversations.list_for(db, viewer, ai_id=ai.id)]


@router.post("/ais/{handle}/conversations", status_code=201)
async def start_conversation(handle: str, db: Db, viewer: Writer) -> dict:
    """A new conversation: it opens with the AI disclosure and the AI's greeting."""
    ai = await ais.require_talk(db, viewer, await ais.by_handle(db, handle))
    conv = await conversations.create(db, viewer, ai_id=ai.id)
    opening = disclosure(ai) + ("\n\n" + ai.greeting if ai.greeting else "")
    await conversations.append(db, viewer, conv.id, "assistant", opening, meta={"disclosure": True})
    return {**conversation_json(conv), "ai": public_json(ai)}

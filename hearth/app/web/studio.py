"""AI Studio in the web UI. Creators: their AIs (/studio), a new one (/studio/new, or imported from
a Character Card V2 file), and each AI's pages: its settings (/studio/<id>, with export and
delete), its knowledge (/studio/<id>/knowledge: the creator's posts and uploaded notes) and its
direct-message conversations (/studio/<id>/conversations: take over, hand back, reply as the AI).
Fans: the chat page of an AI (/@<handle>/chat, streamed by static/assistant.js through the
assistant API) and the notes its answers cite (/@<handle>/notes/<id>).

Every form is a plain form post with the session's CSRF token, calling the same services as the
JSON API (hearth/app/api/studio.py), so the Studio works without JavaScript."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile

from hearth.app.deps import WebUser, client_ip, get_db
from hearth.app.web.assistant import answer_html, entries_for, local_url
from hearth.app.web.render import error_headers, page
from hearth.app.web.session import csrf_user, form_user, redirect, require_user
from hearth.llm.types import LLMError
from hearth.services import posts as post_service
from hearth.services.assistant import conversations
from hearth.services.errors import Invalid, NotFound, ServiceError
from hearth.services.ids import parse_id
from hearth.services.studio import ais, direct
from hearth.storage.models import Account, AIDirectThread, AIKnowledge, AssistantConversation, CreatorAI, Post
from hearth.studio import cards
from hearth.studio.cards import MAX_CARD_BYTES, export_card
from hearth.studio.persona import disclosure

router = APIRouter(include_in_schema=False)

MAX_NOTE_BYTES = 1_000_000
QUESTIONS = 6
AUDIENCE_LABELS = {"public": "Public: anyone signed in", "followers": "Followers: people who follow you or the AI",
                   "only_me": "Only me"}
AUDIENCE_SHORT = {"public": "Public", "followers": "Followers", "only_me": "Only me"}
MODE_LABELS = {"ai": "The AI answers", "creator": "You answer (taken over)"}
TABS = (("settings", "Settings", ""), ("knowledge", "Knowledge", "/knowledge"),
        ("conversations", "Conversations (DMs)", "/conversations"))
CONVERSATIONS_SHOWN = 50
THREAD_MESSAGES = 6


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace("\r\n", "\n").split("\n") if line.strip()]


def parse_links(text: str) -> list[dict[str, str]]:
    """One link a line: 'Title | https://…', or 'https://…' alone (its own title)."""
    out = []
    for line in _lines(text):
        title, sep, url = line.rpartition("|")
        if not sep:
            title, url = "", line
        url, title = url.strip(), title.strip()
        out.append({"title": title or url, "url": url})
    return out


def links_text(links: list[dict[str, str]] | None) -> str:
    return "\n".join(x["url"] if x.get("title") in (None, "", x["url"]) else f"{x['title']} | {x['url']}"
                     for x in links or [])


def form_of(ai: CreatorAI | None) -> dict[str, Any]:
    """The form's values for an AI (or a new one)."""
    if ai is None:
        return {"name": "", "handle": "", "tagline": "", "greeting": "", "questions": [], "personality": "",
                "instructions": "", "example_dialogues": "", "avoid_topics": "", "links": "", "audience": "public",
                "runtime": "", "model": "", "of_creator": False, "auto_reply": True}
    return {"name": ais.display_name(ai), "handle": ai.account.username, "tagline": ai.tagline,
            "greeting": ai.greeting, "questions": list(ai.suggested_questions or []), "personality": ai.personality,
            "instructions": ai.instructions, "example_dialogues": ai.example_dialogues,
            "avoid_topics": "\n".join(ai.avoid_topics or []), "links": links_text(ai.links), "audience": ai.audience,
            "runtime": ai.runtime, "model": ai.model, "of_creator": ai.of_creator, "auto_reply": ai.auto_reply}


def form_from(data: FormData) -> dict[str, Any]:
    """What was typed, as the form shows it again."""
    def text(key: str) -> str:
        value = data.get(key)
        return value.replace("\r\n", "\n") if isinstance(value, str) else ""

    return {"name": text("name").strip(), "handle": text("handle").strip(), "tagline": text("tagline"),
            "greeting": text("greeting"), "questions": [q for q in data.getlist("question") if isinstance(q, str)],
            "personality": text("personality"), "instructions": text("instructions"),
            "example_dialogues": text("example_dialogues"), "avoid_topics": text("avoid_topics"),
            "links": text("links"), "audience": text("audience") or "public", "runtime": text("runtime"),
            "model": text("model"), "of_creator": data.get("of_creator") is not None,
            "auto_reply": data.get("auto_reply") is not None}


def fields_of(form: dict[str, Any]) -> dict[str, Any]:
    """The form's values as the services' fields (they validate them)."""
    return {"tagline": form["tagline"], "greeting": form["greeting"],
            "suggested_questions": [q for q in form["questions"] if q.strip()], "personality": form["personality"],
            "instructions": form["instructions"], "example_dialogues": form["example_dialogues"],
            "avoid_topics": _lines(form["avoid_topics"]), "links": parse_links(form["links"]),
            "audience": form["audience"], "runtime": form["runtime"], "model": form["model"],
            "of_creator": form["of_creator"], "auto_reply": form["auto_reply"]}


async def _upload(data: FormData, key: str, most: int) -> tuple[str, bytes] | None:
    """(file name, bytes) of an uploaded file, or None when none was chosen."""
    value = data.get(key)
    if not isinstance(value, UploadFile) or not (value.filename or value.size):
        return None
    raw = await value.read(most + 1)
    return (value.filename or "", raw) if raw or value.filename else None


def _context(**values: Any) -> dict[str, Any]:
    return {"audience_labels": AUDIENCE_LABELS, "audience_short": AUDIENCE_SHORT, "mode_labels": MODE_LABELS,
            "tabs": TABS, "max_questions": QUESTIONS, "limits": ais.LIMITS, "display_name": ais.display_name,
            "avatar_url": avatar_url, **values}


def avatar_url(ai: CreatorAI) -> str | None:
    return f"/api/hearth/v1/ais/{ai.account.username}/avatar?v={int(ai.updated_at.timestamp())}" if ai.avatar else None


async def _recover(db: AsyncSession, user: WebUser) -> None:
    """After a refused change: forget what the session half did, and reload what the page shows."""
    await db.rollback()
    await db.refresh(user.account)
    await db.refresh(user.session)


# ---- the creator's Studio ------------------------------------------------------------------------
@router.get("/studio")
async def studio_page(request: Request, db: AsyncSession = Depends(get_db),
                      user: WebUser = Depends(require_user)) -> Response:
    return await _studio(request, db, user)


async def _studio(request: Request, db: AsyncSession, user: WebUser, error: str | None = None, status: int = 200,
                  handle: str = "", headers: dict[str, str] | None = None) -> Response:
    mine = await ais.list_owned(db, user.account)
    return await page(request, db, "studio.html", _context(
        mine=mine, import_error=error, import_handle=handle, deleted=request.query_params.get("deleted")),
        status, headers)


@router.get("/studio/new")
async def new_page(request: Request, db: AsyncSession = Depends(get_db),
                   user: WebUser = Depends(require_user)) -> Response:
    return await _form_page(request, db, None, form_of(None))


async def _form_page(request: Request, db: AsyncSession, ai: CreatorAI | None, form: dict[str, Any],
                     error: str | None = None, saved: str | None = None, status: int = 200,
                     headers: dict[str, str] | None = None) -> Response:
    """The create form (ai None) or an AI's settings."""
    return await page(request, db, "studio_form.html", _context(
        ai=ai, form=form, error=error, saved=saved, tab="settings" if ai else None,
        assistant=request.app.state.assistant.status()), status, headers)


@router.post("/studio/new")
async def create(request: Request, db: AsyncSession = Depends(get_db),
                 user: WebUser = Depends(csrf_user)) -> Response:
    data = await request.form()
    form = form_from(data)
    try:
        request.app.state.limits.write(user.account.id, client_ip(request))
        avatar = await _upload(data, "avatar", ais.MAX_AVATAR_BYTES)
        if avatar is not None:
            ais.avatar_type(avatar[1])  # refused before the AI is made
        ai = await ais.create(db, user.account, form["name"], form["handle"], **fields_of(form))
        if avatar is not None:
            await ais.set_avatar(db, user.account, ai.id, avatar[1])
    except ServiceError as exc:
        await _recover(db, user)
        return await _form_page(request, db, None, form, exc.message, None, exc.status, error_headers(exc))
    return redirect(f"/studio/{ai.id}?created=1")


@router.post("/studio/import")
async def import_card(request: Request, db: AsyncSession = Depends(get_db),
                      user: WebUser = Depends(csrf_user)) -> Response:
    """A new AI from a Character Card V2 (or V1) JSON file; unknown fields and extensions are kept."""
    data = await request.form()
    handle = str(data.get("handle") or "").strip()
    try:
        request.app.state.limits.write(user.account.id, client_ip(request))
        upload = await _upload(data, "file", MAX_CARD_BYTES)
        if upload is None:
            raise Invalid("choose a character card file (.json) to import")
        ai = await cards.import_card(db, user.account, upload[1], handle)
    except ServiceError as exc:
        await _recover(db, user)
        return await _studio(request, db, user, exc.message, exc.status, handle, error_headers(exc))
    return redirect(f"/studio/{ai.id}?imported=1")


@router.get("/studio/{ai_id}")
async def edit_page(request: Request, ai_id: str, db: AsyncSession = Depends(get_db),
                    user: WebUser = Depends(require_user)) -> Response:
    ai = await ais.owned(db, user.account, ai_id)
    q = request.query_params
    saved = "Created." if q.get("created") else "Imported." if q.get("imported") else "Saved." if q.get("saved") \
        else None
    return await _form_page(request, db, ai, form_of(ai), saved=saved)


@router.post("/studio/{ai_id}")
async def update(request: Request, ai_id: str, db: AsyncSession = Depends(get_db),
                 user: WebUser = Depends(csrf_user)) -> Response:
    ai = await ais.owned(db, user.account, ai_id)
    data = await request.form()
    form = form_from(data)
    form["handle"] = ai.account.username  # the handle is the AI's account: it does not change
    try:
        request.app.state.limits.write(user.account.id, client_ip(request))
        avatar = await _upload(data, "avatar", ais.MAX_AVATAR_BYTES)
        if avatar is not None:
            ais.avatar_type(avatar[1])
        ai = await ais.update(db, user.account, ai.id, form["name"], **fields_of(form))
        if avatar is not None:
            await ais.set_avatar(db, user.account, ai.id, avatar[1])
        elif data.get("remove_avatar") is not None:
            await ais.set_avatar(db, user.account, ai.id, None)
    except ServiceError as exc:
        await _recover(db, user)
        ai = await ais.owned(db, user.account, ai_id)
        return await _form_page(request, db, ai, form, exc.message, None, exc.status, error_headers(exc))
    return redirect(f"/studio/{ai.id}?saved=1")


@router.post("/studio/{ai_id}/delete")
async def delete(request: Request, ai_id: str, db: AsyncSession = Depends(get_db),
                 user: WebUser = Depends(form_user)) -> Response:
    ai = await ais.owned(db, user.account, ai_id)
    if (await request.form()).get("confirm") != "yes":
        raise Invalid(f"tick “Yes, delete @{ai.account.username}” to delete it")
    handle = ai.account.username
    await ais.delete_ai(db, user.account, ai.id)
    return redirect(f"/studio?deleted={handle}")


@router.get("/studio/{ai_id}/card")
async def export(ai_id: str, db: AsyncSession = Depends(get_db), user: WebUser = Depends(require_user)) -> Response:
    """The AI as a Character Card V2 JSON file (a download)."""
    ai = await ais.owned(db, user.account, ai_id)
    return JSONResponse(export_card(ai), headers={
        "Content-Disposition": f'attachment; filename="{ai.account.username}.card.json"', "Cache-Control": "no-store"})


# ---- knowledge -----------------------------------------------------------------------------------
@router.get("/studio/{ai_id}/knowledge")
async def knowledge_page(request: Request, ai_id: str, db: AsyncSession = Depends(get_db),
                         user: WebUser = Depends(require_user)) -> Response:
    ai = await ais.owned(db, user.account, ai_id)
    return await _knowledge(request, db, ai)


async def _knowledge(request: Request, db: AsyncSession, ai: CreatorAI, error: str | None = None,
                     status: int = 200, note: dict[str, str] | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    kb = request.app.state.knowledge
    await kb.sync_posts(ai.id)
    sources = list(await kb.list_sources(ai.id))
    q = request.query_params
    done = "Note added." if q.get("added") else "Note deleted." if q.get("deleted") else None
    return await page(request, db, "studio_knowledge.html", _context(
        ai=ai, tab="knowledge", kb_status=kb.status(), notes=[s for s in sources if s.kind == "note"],
        posts=[s for s in sources if s.kind == "post"], error=error, note=note or {"title": "", "text": ""},
        done=done, max_note_kb=MAX_NOTE_BYTES // 1000), status, headers)


@router.post("/studio/{ai_id}/notes")
async def add_note(request: Request, ai_id: str, db: AsyncSession = Depends(get_db),
                   user: WebUser = Depends(csrf_user)) -> Response:
    """A note as an uploaded .txt/.md file, or typed as a title and text."""
    ai = await ais.owned(db, user.account, ai_id)
    data = await request.form()
    title = str(data.get("title") or "").strip()
    text = str(data.get("text") or "").replace("\r\n", "\n")
    try:
        request.app.state.limits.write(user.account.id, client_ip(request))
        upload = await _upload(data, "file", MAX_NOTE_BYTES)
        if upload is not None:
            name, raw = upload
            if not name.lower().endswith((".txt", ".md", ".markdown")):
                raise Invalid("notes are text or Markdown files (.txt, .md)")
            if len(raw) > MAX_NOTE_BYTES:
                raise Invalid("a note file is at most 1 MB")
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise Invalid("the note is not UTF-8 text") from None
            title = title or name.rsplit(".", 1)[0] or "Note"
        if not text.strip():
            raise Invalid("choose a .txt or .md file, or type the note's text")
        if len(title) > 200:
            raise Invalid("a note's title is at most 200 characters")
        await request.app.state.knowledge.add_note(ai.id, title or "Note", text)
    except ServiceError as exc:
        await _recover(db, user)
        ai = await ais.owned(db, user.account, ai_id)
        return await _knowledge(request, db, ai, exc.message, exc.status, {"title": title, "text": text},
                                error_headers(exc))
    return redirect(f"/studio/{ai.id}/knowledge?added=1")


@router.post("/studio/{ai_id}/notes/{knowledge_id}/delete")
async def delete_note(request: Request, ai_id: str, knowledge_id: str, db: AsyncSession = Depends(get_db),
                      user: WebUser = Depends(form_user)) -> Response:
    ai = await ais.owned(db, user.account, ai_id)
    key = parse_id(knowledge_id)
    if key is None:
        raise NotFound(f"note {knowledge_id} not found")
    await request.app.state.knowledge.delete_note(ai.id, key)
    return redirect(f"/studio/{ai.id}/knowledge?deleted=1")


# ---- direct-message conversations ------------------------------------------------------------------
async def _thread_messages(db: AsyncSession, ai: CreatorAI, t: AIDirectThread) -> list[Post]:
    """The last messages of a thread, oldest first (the reply chain ending at its newest post)."""
    last = await db.scalar(select(Post.id).where(Post.visibility == "direct",
                                                 Post.account_id.in_((t.fan_id, ai.account_id)),
                                                 Post.id >= t.root_post_id).order_by(Post.id.desc()).limit(1))
    chain: list[Post] = []
    post = await post_service.load_post(db, last) if last else None
    while post is not None and len(chain) < 60:
        chain.append(post)
        if post.id == t.root_post_id or post.in_reply_to_id is None:
            break
        post = await post_service.load_post(db, post.in_reply_to_id)
    if not chain or chain[-1].id != t.root_post_id:  # the newest post is in another thread: show the first
        root = await post_service.load_post(db, t.root_post_id)
        chain = [root] if root is not None else []
    return list(reversed(chain[:THREAD_MESSAGES]))


@router.get("/studio/{ai_id}/conversations")
async def threads_page(request: Request, ai_id: str, db: AsyncSession = Depends(get_db),
                       user: WebUser = Depends(require_user)) -> Response:
    ai = await ais.owned(db, user.account, ai_id)
    return await _threads(request, db, user, ai)


async def _threads(request: Request, db: AsyncSession, user: WebUser, ai: CreatorAI, error: str | None = None,
                   error_thread: str = "", draft: str = "", status: int = 200,
                   headers: dict[str, str] | None = None) -> Response:
    rows = await direct.threads(db, user.account, ai.id)
    threads = [{"thread": t, "fan": fan, "messages": await _thread_messages(db, ai, t)} for t, fan, _ in rows]
    return await page(request, db, "studio_threads.html", _context(
        ai=ai, tab="conversations", threads=threads, error=error, error_thread=error_thread, draft=draft,
        done=request.query_params.get("done")), status, headers)


@router.post("/studio/{ai_id}/threads/{thread_id}/{action}")
async def thread_action(request: Request, ai_id: str, thread_id: str, action: str,
                        db: AsyncSession = Depends(get_db), user: WebUser = Depends(csrf_user)) -> Response:
    """takeover (the AI stays silent in the thread), handback (it answers again), reply (by hand, as the AI)."""
    if action not in ("takeover", "handback", "reply"):
        raise NotFound(f"there is no conversation action {action!r}")
    ai = await ais.owned(db, user.account, ai_id)
    t = await direct.owned_thread(db, user.account, ai.id, thread_id)
    tid = t.id
    text = str((await request.form()).get("text") or "").replace("\r\n", "\n")
    try:
        request.app.state.limits.write(user.account.id, client_ip(request))
        if action == "reply":
            if not text.strip():
                raise Invalid("write the reply first")
            settings = request.app.state.settings
            await direct.reply_as_ai(db, user.account, ai.id, tid, text, settings.max_post_chars,
                                     settings.instance_domain)
        else:
            await direct.set_mode(db, t, "creator" if action == "takeover" else "ai")
    except ServiceError as exc:
        await _recover(db, user)
        ai = await ais.owned(db, user.account, ai_id)
        return await _threads(request, db, user, ai, exc.message, str(tid), text, exc.status, error_headers(exc))
    return redirect(f"/studio/{ai.id}/conversations?done={action}#thread-{tid}")


# ---- fans: the chat page and the notes it cites -------------------------------------------------------
def model_state(request: Request, ai: CreatorAI) -> dict[str, Any]:
    """Whether a model answers this AI; without one its answers are excerpts of the creator's posts."""
    try:
        runtime, model = request.app.state.studio.profile(ai).runtime(request.app.state.runtimes)
    except (LLMError, KeyError, ValueError):
        return {"available": False}
    return {"available": True, "model": model, "runtime": getattr(runtime, "name", "")}


@router.get("/@{handle}/chat")
async def chat_page(request: Request, handle: str, c: str | None = None, db: AsyncSession = Depends(get_db),
                    user: WebUser = Depends(require_user)) -> Response:
    viewer = user.account
    ai = await ais.require_talk(db, viewer, await ais.by_handle(db, handle))
    conv: AssistantConversation | None = None
    entries = []
    asked = False
    if c:
        conv = await conversations.get(db, viewer, c)
        if conv.ai_id != ai.id:
            raise NotFound(f"conversation {c} not found")
        msgs = await conversations.messages(db, viewer, conv.id)
        entries = entries_for(msgs, {})
        asked = any(m.role == "user" for m in msgs)
    convs = await conversations.list_for(db, viewer, CONVERSATIONS_SHOWN, ai_id=ai.id)
    return await page(request, db, "ai_chat.html", _context(
        ai=ai, ai_name=ais.display_name(ai), disclosure=disclosure(ai), model=model_state(request, ai),
        conversations=convs, conv=conv, entries=entries, asked=asked,
        streaming=conv is not None and conv.id in request.app.state.assistant.turns, answer_html=answer_html,
        local_url=local_url))


@router.get("/@{handle}/notes/{knowledge_id}")
async def note_page(request: Request, handle: str, knowledge_id: str, db: AsyncSession = Depends(get_db),
                    user: WebUser = Depends(require_user)) -> Response:
    """A note an AI's creator gave it, for anyone who may talk to the AI (its answers cite them)."""
    ai = await ais.require_talk(db, user.account, await ais.by_handle(db, handle))
    key = parse_id(knowledge_id)
    note = await db.get(AIKnowledge, key) if key is not None else None
    if note is None or note.ai_id != ai.id or note.kind != "note":
        raise NotFound(f"note {knowledge_id} not found")
    paragraphs = [p.strip("\n") for p in note.text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return await page(request, db, "ai_note.html", _context(ai=ai, note=note, paragraphs=paragraphs))


async def profile_context(db: AsyncSession, viewer: Account | None, account: Account) -> dict[str, Any]:
    """What an AI account's profile page shows about it (for hearth/app/web/people.py)."""
    if not account.is_ai:
        return {}
    ai = await ais.by_account(db, account.id)
    if ai is None:
        return {}
    return {"ai": ai, "ai_disclosure": disclosure(ai), "ai_may_talk": await ais.may_talk(db, viewer, ai),
            "ai_avatar": avatar_url(ai)}


"""The Assistant pages: a conversation with Hearth's assistant (/assistant, ?c=<id> opens one)
and what it remembers (/assistant/memory). Everything stored is rendered here, so the pages
show the conversation list, the messages, tool cards and proposals with their status without
JavaScript; static/assistant.js sends messages, streams replies and acts on proposals through
the assistant API (hearth/app/api/assistant.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app.deps import WebUser, get_db
from hearth.app.web.render import page
from hearth.app.web.session import require_user
from hearth.assistant.agent import proposal_json
from hearth.services.assistant import conversations, memory, proposals
from hearth.storage.models import AssistantConversation, AssistantMessage

router = APIRouter(include_in_schema=False)
CONVERSATIONS_SHOWN = 50

# [label](/path): a link only to a path on this site; anything else stays text as written.
LINK_RE = re.compile(r"\[([^\[\]\n]{1,300})\]\(([^()\s]{1,500})\)")
PROPOSAL_STATUS = {"pending": "Waiting for your approval", "approved": "Approved", "rejected": "Rejected",
                   "failed": "Failed"}


def local_url(url: Any) -> str | None:
    """`url` when it is a path on this site ('/@ann', '/posts/1'), else None."""
    if not isinstance(url, str) or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        return None
    return url


def answer_html(text: str | None) -> Markup:
    """The model's text, escaped; Markdown links to local paths become links (as assistant.js does)."""
    text = text or ""
    out: list[str] = []
    pos = 0
    for m in LINK_RE.finditer(text):
        url = local_url(m.group(2))
        if url is None:
            continue
        out.append(str(escape(text[pos:m.start()])))
        out.append(f'<a href="{escape(url)}">{escape(m.group(1))}</a>')
        pos = m.end()
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


@dataclass
class Entry:
    """One thing shown in the conversation: a question, an answer, a tool card, a proposal or a notice."""

    kind: str  # user | answer | tool | proposal | notice
    message: AssistantMessage
    card: dict[str, Any] = field(default_factory=dict)
    ok: bool = True
    proposal: dict[str, Any] | None = None


def entries_for(messages: list[AssistantMessage], props: dict[str, dict[str, Any]]) -> list[Entry]:
    """Messages as the person sees them. Notes (what they did with a proposal, said to the model)
    are left out: the proposal's card shows its status."""
    out: list[Entry] = []
    for m in messages:
        meta = m.meta or {}
        if m.role == "user":
            out.append(Entry("user", m))
        elif m.role == "assistant":
            if meta.get("notice"):
                out.append(Entry("notice", m))
            elif m.content or m.status != "complete" or not m.tool_calls:
                out.append(Entry("answer", m))
        elif m.role == "tool":
            card = meta.get("card") or {}
            proposal = props.get(str(card.get("proposal_id"))) if card.get("proposal_id") else None
            if proposal is not None:
                out.append(Entry("proposal", m, card, proposal=proposal))
            else:
                out.append(Entry("tool", m, card, bool(meta.get("ok", True))))
    return out


def readers(proposal: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(author, link) for each account whose content the model had read before proposing."""
    seen: dict[str, str | None] = {}
    for source in (proposal.get("provenance") or {}).get("after_reading") or []:
        author = str(source.get("author") or "someone")
        if author not in seen:
            seen[author] = local_url(source.get("url"))
    return list(seen.items())


def _context(**values: Any) -> dict[str, Any]:
    return {"answer_html": answer_html, "local_url": local_url, "proposal_status": PROPOSAL_STATUS,
            "readers": readers, **values}


@router.get("/assistant")
async def assistant_page(request: Request, c: str | None = None, db: AsyncSession = Depends(get_db),
                         user: WebUser = Depends(require_user)) -> Response:
    viewer = user.account
    assistant = request.app.state.assistant
    conv: AssistantConversation | None = None
    entries: list[Entry] = []
    asked = False
    if c:
        conv = await conversations.get(db, viewer, c)  # someone else's, or no such one: 404
        msgs = await conversations.messages(db, viewer, conv.id)
        props = {str(p.id): proposal_json(p) for p in await proposals.list_for(db, viewer, conv.id, limit=500)}
        entries = entries_for(msgs, props)
        asked = any(m.role == "user" for m in msgs)
    convs = await conversations.list_for(db, viewer, CONVERSATIONS_SHOWN)
    return await page(request, db, "assistant.html", _context(
        status=assistant.status(), conversations=convs, conv=conv, entries=entries, asked=asked,
        streaming=conv is not None and conv.id in assistant.turns))


@router.get("/assistant/memory")
async def memory_page(request: Request, db: AsyncSession = Depends(get_db),
                      user: WebUser = Depends(require_user)) -> Response:
    prefs = await memory.prefs(db, user.account)
    facts = await memory.list_facts(db, user.account)
    return await page(request, db, "assistant_memory.html", _context(
        enabled=prefs.memory_enabled, facts=facts, max_fact=memory.MAX_FACT))

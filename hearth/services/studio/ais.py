"""Creators' AIs: make one (it gets an account of its own, a bot labelled AI, owned by its
creator), change it, delete it, and decide who may talk to it (its audience)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hearth.services.accounts import check_username
from hearth.services.errors import Conflict, Forbidden, Invalid, NotFound
from hearth.services.ids import parse_id
from hearth.storage.models import AUDIENCES, Account, CreatorAI, Follow, utcnow

AI_SUFFIX = " · AI"  # on the display name, so every client shows it next to every post
MAX_AIS_PER_CREATOR = 20
MAX_AVATAR_BYTES = 512 * 1024
AVATAR_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif",
                b"GIF89a": "image/gif"}
URL_RE = re.compile(r"^https?://[^\s<>\"]{1,490}$")
LIMITS = {"name": 80, "tagline": 200, "greeting": 2000, "personality": 4000, "instructions": 8000,
          "example_dialogues": 8000, "question": 200, "topic": 100}
FIELDS = ("tagline", "greeting", "suggested_questions", "personality", "instructions", "example_dialogues",
          "avoid_topics", "links", "audience", "runtime", "model", "auto_reply", "of_creator")
LOAD = (selectinload(CreatorAI.account), selectinload(CreatorAI.owner))


def _text(value: Any, name: str) -> str:
    text = str(value or "").strip()
    if len(text) > LIMITS[name]:
        raise Invalid(f"{name.replace('_', ' ')} is at most {LIMITS[name]} characters")
    return text


def _list(values: Any, name: str, limit_each: str, most: int) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        raise Invalid(f"{name} must be a list")
    out = [_text(v, limit_each) for v in values if str(v or "").strip()]
    if len(out) > most:
        raise Invalid(f"at most {most} {name.replace('_', ' ')}")
    return out


def _links(values: Any) -> list[dict[str, str]]:
    out = []
    for v in values or []:
        if isinstance(v, str):
            v = {"title": v, "url": v}
        url = str((v or {}).get("url", "")).strip()
        if not URL_RE.match(url):
            raise Invalid(f"link {url!r} is not an http(s) URL")
        out.append({"title": str(v.get("title") or url).strip()[:100], "url": url})
    if len(out) > 10:
        raise Invalid("at most 10 links")
    return out


def avatar_type(data: bytes) -> str:
    """The image type from its first bytes (PNG, JPEG, GIF, WebP); anything else is refused."""
    if len(data) > MAX_AVATAR_BYTES:
        raise Invalid(f"the avatar is {len(data) // 1024} KB; at most {MAX_AVATAR_BYTES // 1024} KB")
    for magic, kind in AVATAR_TYPES.items():
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise Invalid("the avatar must be a PNG, JPEG, GIF or WebP image")


def clean(values: dict[str, Any]) -> dict[str, Any]:
    """Validate the editable fields (any subset); unknown keys are an error."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for key, v in values.items():
        if key in ("tagline", "greeting", "personality", "instructions", "example_dialogues"):
            out[key] = _text(v, key)
        elif key == "suggested_questions":
            out[key] = _list(v, key, "question", 6)
        elif key == "avoid_topics":
            out[key] = _list(v, key, "topic", 30)
        elif key == "links":
            out[key] = _links(v)
        elif key == "audience":
            if v not in AUDIENCES:
                raise Invalid(f"audience must be one of {', '.join(AUDIENCES)}")
            out[key] = v
        elif key in ("runtime", "model"):
            out[key] = str(v or "").strip()[:200]
        else:
            out[key] = bool(v)
    return out


async def create(db: AsyncSession, owner: Account, name: str, handle: str, **fields: Any) -> CreatorAI:
    """A new AI with its own bot account @handle, owned by `owner`."""
    if owner.is_ai:
        raise Forbidden("an AI cannot make AIs")
    name = _text(name, "name")
    if not name:
        raise Invalid("an AI needs a name")
    handle = check_username(handle)
    values = clean(fields)
    count = len(list(await db.scalars(select(CreatorAI.id).where(CreatorAI.owner_id == owner.id))))
    if count >= MAX_AIS_PER_CREATOR:
        raise Invalid(f"you have {count} AIs; the limit is {MAX_AIS_PER_CREATOR}")
    if await db.scalar(select(Account.id).where(Account.username_key == handle.lower())):
        raise Conflict(f"username {handle!r} is taken")
    account = Account(username=handle, username_key=handle.lower(), display_name=name + AI_SUFFIX,
                      note=values.get("tagline", ""), bot=True, is_ai=True)
    db.add(account)
    await db.flush()
    ai = CreatorAI(account_id=account.id, owner_id=owner.id, **values)
    db.add(ai)
    await db.commit()
    return await get(db, ai.id)


async def get(db: AsyncSession, ai_id: int | str) -> CreatorAI:
    key = parse_id(ai_id)
    if key is None:
        raise NotFound(f"AI {ai_id!r} not found")
    ai = await db.scalar(select(CreatorAI).where(CreatorAI.id == key).options(*LOAD))
    if ai is None:
        raise NotFound(f"AI {ai_id} not found")
    return ai


async def by_account(db: AsyncSession, account_id: int) -> CreatorAI | None:
    return await db.scalar(select(CreatorAI).where(CreatorAI.account_id == account_id).options(*LOAD))


async def by_handle(db: AsyncSession, handle: str) -> CreatorAI:
    name = (handle or "").strip().lstrip("@").lower()
    ai = await db.scalar(select(CreatorAI).join(Account, Account.id == CreatorAI.account_id)
                         .where(Account.username_key == name).options(*LOAD))
    if ai is None:
        raise NotFound(f"AI @{name} not found")
    return ai


async def owned(db: AsyncSession, owner: Account, ai_id: int | str) -> CreatorAI:
    """The owner's AI; anyone else's is 'not found'."""
    ai = await get(db, ai_id)
    if ai.owner_id != owner.id:
        raise NotFound(f"AI {ai_id} not found")
    return ai


async def list_owned(db: AsyncSession, owner: Account) -> list[CreatorAI]:
    return list(await db.scalars(select(CreatorAI).where(CreatorAI.owner_id == owner.id)
                                 .order_by(CreatorAI.id).options(*LOAD)))


async def may_talk(db: AsyncSession, viewer: Account | None, ai: CreatorAI) -> bool:
    """public: anyone signed in; followers: people who follow the creator or the AI; only_me: the creator."""
    if viewer is None:
        return False
    if viewer.id == ai.owner_id:
        return True
    if ai.audience == "public":
        return True
    if ai.audience == "followers":
        return bool(await db.scalar(select(Follow.id).where(
            Follow.account_id == viewer.id, Follow.target_account_id.in_((ai.owner_id, ai.account_id)))))
    return False


async def require_talk(db: AsyncSession, viewer: Account | None, ai: CreatorAI) -> CreatorAI:
    if not await may_talk(db, viewer, ai):
        if ai.audience == "followers":
            raise Forbidden(f"@{ai.account.username} talks only with people who follow @{ai.owner.username}")
        raise NotFound(f"AI @{ai.account.username} not found")
    return ai


async def visible_to(db: AsyncSession, viewer: Account | None, limit: int = 100) -> list[CreatorAI]:
    """The AIs a person may talk to (for /v1/models and the directory)."""
    q = select(CreatorAI).options(*LOAD).order_by(CreatorAI.id).limit(limit)
    if viewer is None:
        return []
    follows = select(Follow.target_account_id).where(Follow.account_id == viewer.id)
    q = q.where(or_(CreatorAI.owner_id == viewer.id, CreatorAI.audience == "public",
                    (CreatorAI.audience == "followers") & (CreatorAI.owner_id.in_(follows)
                                                           | CreatorAI.account_id.in_(follows))))
    return list(await db.scalars(q))


async def update(db: AsyncSession, owner: Account, ai_id: int | str, name: str | None = None,
                 **fields: Any) -> CreatorAI:
    ai = await owned(db, owner, ai_id)
    values = clean(fields)
    for key, v in values.items():
        setattr(ai, key, v)
    account = await db.get(Account, ai.account_id)
    if name is not None:
        name = _text(name, "name")
        if not name:
            raise Invalid("an AI needs a name")
        account.display_name = name + AI_SUFFIX
    if "tagline" in values:
        account.note = values["tagline"]
    ai.updated_at = utcnow()
    await db.commit()
    return await get(db, ai.id)


async def set_avatar(db: AsyncSession, owner: Account, ai_id: int | str, data: bytes | None) -> CreatorAI:
    ai = await owned(db, owner, ai_id)
    ai.avatar, ai.avatar_type = (data, avatar_type(data)) if data else (None, None)
    await db.commit()
    return ai


async def set_card_extras(db: AsyncSession, owner: Account, ai_id: int | str, extra: dict[str, Any],
                          extensions: dict[str, Any]) -> None:
    ai = await owned(db, owner, ai_id)
    ai.card_extra, ai.card_extensions = dict(extra), dict(extensions)
    await db.commit()


async def delete_ai(db: AsyncSession, owner: Account, ai_id: int | str) -> None:
    """The AI and its account go (its posts, knowledge and conversations with it too)."""
    ai = await owned(db, owner, ai_id)
    await db.execute(delete(Account).where(Account.id == ai.account_id))
    await db.commit()


def display_name(ai: CreatorAI) -> str:
    """The name without the AI suffix (for prompts and cards)."""
    name = ai.account.display_name
    return name[:-len(AI_SUFFIX)] if name.endswith(AI_SUFFIX) else name

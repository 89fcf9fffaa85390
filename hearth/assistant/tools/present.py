"""Posts and accounts as the model reads them (plain JSON-able dicts) and as the person sees
them on a tool card (with links into the web UI)."""

from __future__ import annotations

from typing import Any

from hearth.storage.models import Account, Post

MAX_TEXT = 600


def account_url(a: Account) -> str:
    return f"/@{a.username}"


def post_url(p: Post) -> str:
    return f"/@{p.account.username}/{p.id}"


def account_data(a: Account) -> dict[str, Any]:
    return {"username": "@" + a.username, "display_name": a.display_name or a.username,
            "bio": (a.note or "")[:MAX_TEXT], "followers": a.followers_count, "following": a.following_count,
            "posts": a.statuses_count, "bot": a.bot, "url": account_url(a)}


def post_data(p: Post) -> dict[str, Any]:
    """A reblog is shown as the original post, with who reblogged it."""
    original = p.reblog if p.reblog_of_id is not None and p.reblog is not None else p
    out = {"id": str(original.id), "author": "@" + original.account.username,
           "author_name": original.account.display_name or original.account.username,
           "text": original.text[:MAX_TEXT], "created_at": original.created_at.strftime("%Y-%m-%d %H:%M UTC"),
           "visibility": original.visibility, "favourites": original.favourites_count,
           "replies": original.replies_count, "reblogs": original.reblogs_count, "url": post_url(original)}
    if original.in_reply_to_id is not None:
        out["in_reply_to_id"] = str(original.in_reply_to_id)
    if original is not p:
        out["reblogged_by"] = "@" + p.account.username
    return out


def post_item(p: Post, note: str = "") -> dict[str, Any]:
    d = post_data(p)
    return {"kind": "post", "id": d["id"], "title": f"{d['author_name']} ({d['author']})", "text": d["text"][:280],
            "url": d["url"], "note": note}


def account_item(a: Account, note: str = "") -> dict[str, Any]:
    return {"kind": "account", "id": str(a.id), "title": f"{a.display_name or a.username} (@{a.username})",
            "text": (a.note or "")[:200], "url": account_url(a), "note": note}


def post_source(p: Post) -> dict[str, Any]:
    original = p.reblog if p.reblog_of_id is not None and p.reblog is not None else p
    return {"kind": "post", "id": str(original.id), "author": "@" + original.account.username,
            "url": post_url(original)}


def account_source(a: Account) -> dict[str, Any]:
    return {"kind": "account", "id": str(a.id), "author": "@" + a.username, "url": account_url(a)}

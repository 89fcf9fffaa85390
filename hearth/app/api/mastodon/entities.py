"""Hearth's rows as Mastodon JSON entities (https://docs.joinmastodon.org/entities/): Account,
CredentialAccount, Status, Relationship, Notification, Tag, Application, Token, Suggestion.
Ids are strings, times ISO 8601 with milliseconds and Z, text becomes escaped HTML."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import cachetools
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services import posts as post_service
from hearth.services import status_data
from hearth.services.graph import Relationship
from hearth.services.posts import MENTION_RE, TAG_RE
from hearth.services.status_data import AuthorData, PostData
from hearth.storage.models import Account, Notification, OAuthApp, Post

URL_RE = re.compile(r"(?<![\w@/])https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING = ".,;:!?'\")]"

# (base URL, domain, post id) -> (`_version` of its data, the viewer-independent status). An entry
# is used only while the post's data is equal, so no write needs to find it; a changed post
# replaces it. Each entry is two objects the garbage collector tracks (a dict holding dicts stays
# tracked), so the size is kept to about the posts that recent pages show: a few thousand.
_RENDERED: cachetools.LRUCache = cachetools.LRUCache(maxsize=8192)


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _trim_url(url: str) -> str:
    while url and url[-1] in TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _paragraphs(escaped: str) -> str:
    return escaped.replace("\n\n", "</p><p>").replace("\n", "<br />")


def text_to_html(text: str, base: str, mentions: dict[str, str] | None = None, domain: str = "localhost") -> str:
    """Plain text as Mastodon-style HTML: escaped, URLs/#tags/@mentions linked, paragraphs and
    line breaks. `mentions` maps lower-case usernames of mentioned accounts to their profile URLs.
    The same post is rendered on every timeline that shows it, so results are kept (bounded LRU;
    exact, since the output depends only on these arguments)."""
    return _text_to_html(text or "", base, tuple(sorted(mentions.items())) if mentions else (), domain)


@functools.lru_cache(maxsize=8192)
def _text_to_html(text: str, base: str, mention_items: tuple[tuple[str, str], ...], domain: str) -> str:
    mentions = dict(mention_items)
    text = re.sub(r"\n{3,}", "\n\n", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    if not text:
        return ""
    spans: list[tuple[int, int, str]] = []  # (start, end, html)
    for m in URL_RE.finditer(text):
        url = _trim_url(m.group(0))
        spans.append((m.start(), m.start() + len(url),
                      f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener noreferrer">'
                      f'{html.escape(url)}</a>'))

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _ in spans)

    for m in MENTION_RE.finditer(text):
        name, host = m.group(1), m.group(2)
        url = mentions.get(name.lower())
        if url and (host is None or host.lower() == domain.lower()) and free(m.start(), m.end()):
            spans.append((m.start(), m.end(), f'<span class="h-card"><a href="{html.escape(url)}" '
                                              f'class="u-url mention">@<span>{html.escape(name)}</span></a></span>'))
    for m in TAG_RE.finditer(text):
        if free(m.start(), m.end()):
            name = m.group(1)
            href = html.escape(f"{base}/tags/{quote(name.lower())}")
            spans.append((m.start(), m.end(), f'<a href="{href}" class="mention hashtag" rel="tag">'
                                              f'#<span>{html.escape(name)}</span></a>'))
    spans.sort()
    out, pos = [], 0
    for start, end, fragment in spans:
        out.append(_paragraphs(html.escape(text[pos:start], quote=False)))
        out.append(fragment)
        pos = end
    out.append(_paragraphs(html.escape(text[pos:], quote=False)))
    return "<p>" + "".join(out) + "</p>"


def _version(post: PostData) -> tuple:
    """The original post's data as one flat plain tuple of atoms: equal exactly when its shared part
    renders the same, and (unlike a named tuple) untracked by the garbage collector once cached."""
    return (*post[:-2], *post.account)


@dataclass
class Renderer:
    """Renders entities for one request: absolute URLs from the request, flags for its viewer."""

    base: str
    domain: str
    viewer: Account | None = None

    @classmethod
    def for_request(cls, request: Request, viewer: Account | None = None) -> Renderer:
        return cls(str(request.base_url).rstrip("/"), request.app.state.settings.instance_domain, viewer)

    # ---- accounts ---------------------------------------------------------------------------
    def profile_url(self, account: Account | AuthorData | post_service.Mentioned) -> str:
        return f"{self.base}/@{account.username}"

    def account(self, a: Account | AuthorData) -> dict[str, Any]:
        avatar = f"{self.base}/avatars/{a.id}.svg"
        header = f"{self.base}/headers/default.svg"
        return {
            "id": str(a.id), "username": a.username, "acct": a.username, "display_name": a.display_name or "",
            "locked": bool(a.locked), "bot": bool(a.bot), "discoverable": bool(a.discoverable), "group": False,
            "indexable": bool(a.discoverable), "hide_collections": False, "noindex": False,
            "created_at": iso(a.created_at), "note": text_to_html(a.note, self.base, domain=self.domain),
            "url": self.profile_url(a), "uri": f"{self.base}/users/{a.username}",
            "avatar": avatar, "avatar_static": avatar, "header": header, "header_static": header,
            "followers_count": max(0, a.followers_count or 0), "following_count": max(0, a.following_count or 0),
            "statuses_count": max(0, a.statuses_count or 0),
            "last_status_at": a.last_status_at.astimezone(UTC).date().isoformat() if a.last_status_at else None,
            "emojis": [], "roles": [],
            # A creator's AI says so in every client: bot, "· AI" in its display name, and this field.
            "fields": [{"name": "AI", "value": "Replies are AI-generated and may be wrong", "verified_at": None}]
            if a.is_ai else [],
        }

    def credential_account(self, a: Account) -> dict[str, Any]:
        out = self.account(a)
        out["source"] = {"privacy": "public", "sensitive": False, "language": None, "note": a.note or "",
                         "fields": [], "follow_requests_count": 0}
        out["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
        return out

    def relationship(self, r: Relationship) -> dict[str, Any]:
        return {"id": str(r.id), "following": r.following, "showing_reblogs": r.following, "notifying": False,
                "languages": None, "followed_by": r.followed_by, "blocking": r.blocking, "blocked_by": r.blocked_by,
                "muting": r.muting, "muting_notifications": r.muting, "requested": r.requested,
                "requested_by": r.requested_by,
                "domain_blocking": False, "endorsed": False, "note": ""}

    # ---- statuses ---------------------------------------------------------------------------
    def tag(self, name: str) -> dict[str, Any]:
        return {"name": name, "url": f"{self.base}/tags/{quote(name)}", "history": [], "following": False}

    def status_url(self, post: Post | PostData) -> str:
        return f"{self.base}/posts/{post.id}"  # the web UI's page for a post

    async def statuses(self, db: AsyncSession, rows: Sequence[Post | PostData],
                       with_source: bool = False) -> list[dict]:
        """Statuses for posts loaded with POST_LOAD, or as `PostData`. Each original's
        viewer-independent part comes from the cache when its data is unchanged; the rest is
        rendered with its mentions and tags (one query); the viewer's flags in one more."""
        data = [p if isinstance(p, PostData) else status_data.of_post(p) for p in rows]
        states = await post_service.viewer_states(db, self.viewer, data)
        originals = {o.id: o for o in (p.reblog or p for p in data)}
        shared = {}
        versions = {i: _version(o) for i, o in originals.items()}
        for post_id, version in versions.items():
            hit = _RENDERED.get((self.base, self.domain, post_id))
            if hit is not None and hit[0] == version:
                shared[post_id] = hit[1]
        missing = [o for i, o in originals.items() if i not in shared]
        if missing:
            extras = await post_service.mentions_and_tags(db, missing)
            for post in missing:
                shared[post.id] = self._shared(post, extras)
                _RENDERED[(self.base, self.domain, post.id)] = (versions[post.id], shared[post.id])
        out = []
        for p in data:
            original = p.reblog or p
            state = states.get(original.id) or post_service.ViewerState()
            inner = {**shared[original.id], "favourited": state.favourited, "reblogged": state.reblogged}
            if p.reblog is None:
                out.append({**inner, "text": p.text} if with_source else inner)
                continue
            uri = f"{self.base}/users/{p.account.username}/statuses/{p.id}/activity"
            out.append({**inner, "id": str(p.id), "uri": uri,
                        "created_at": iso(p.created_at), "account": self.account(p.account), "content": "",
                        "visibility": p.visibility, "spoiler_text": "", "sensitive": False, "mentions": (), "tags": (),
                        "in_reply_to_id": None, "in_reply_to_account_id": None, "language": None, "edited_at": None,
                        "reblog": inner})
        return out

    async def status(self, db: AsyncSession, post: Post | PostData, with_source: bool = False) -> dict[str, Any]:
        return (await self.statuses(db, [post], with_source))[0]

    def _shared(self, p: PostData, extras: post_service.Extras) -> dict[str, Any]:
        """What every viewer sees of an original post (flags follow). Lists are tuples, so that
        the cached author dict and the tuples are untracked by the garbage collector."""
        mentioned = extras.mentions.get(p.id, [])
        account = self.account(p.account)
        account.update(emojis=(), roles=(), fields=tuple(account["fields"]))
        return {
            "id": str(p.id), "uri": f"{self.base}/users/{p.account.username}/statuses/{p.id}",
            "url": self.status_url(p), "created_at": iso(p.created_at), "edited_at": iso(p.edited_at),
            "account": account,
            "content": text_to_html(p.text, self.base, {a.username_key: self.profile_url(a)
                                                        for a in (p.account, *mentioned)}, self.domain),
            "visibility": p.visibility, "sensitive": bool(p.sensitive), "spoiler_text": p.spoiler_text or "",
            "media_attachments": (), "application": None,
            "mentions": tuple({"id": str(a.id), "username": a.username, "url": self.profile_url(a), "acct": a.username}
                              for a in mentioned),
            "tags": tuple({**self.tag(t), "history": ()} for t in extras.tags.get(p.id, [])), "emojis": (),
            "reblogs_count": max(0, p.reblogs_count or 0), "favourites_count": max(0, p.favourites_count or 0),
            "replies_count": max(0, p.replies_count or 0),
            "in_reply_to_id": str(p.in_reply_to_id) if p.in_reply_to_id is not None else None,
            "in_reply_to_account_id": str(p.in_reply_to_account_id) if p.in_reply_to_account_id is not None else None,
            "reblog": None, "poll": None, "card": None, "language": p.language,
            "favourited": False, "reblogged": False, "muted": False, "bookmarked": False, "pinned": False,
        }

    # ---- notifications ----------------------------------------------------------------------
    async def notifications(self, db: AsyncSession, rows: Sequence[Notification]) -> list[dict[str, Any]]:
        posts = [n.post for n in rows if n.post is not None]
        rendered = {p.id: s for p, s in zip(posts, await self.statuses(db, posts), strict=True)}
        out = []
        for n in rows:
            item = {"id": str(n.id), "type": n.type, "created_at": iso(n.created_at), "group_key": f"ungrouped-{n.id}",
                    "account": self.account(n.from_account)}
            if n.post is not None:
                item["status"] = rendered[n.post.id]
            out.append(item)
        return out


def application(app: OAuthApp, with_secret: bool = False) -> dict[str, Any]:
    uris = [u for u in app.redirect_uris.split("\n") if u]
    out: dict[str, Any] = {"id": str(app.id), "name": app.name, "website": app.website, "scopes": app.scopes.split(),
                           "redirect_uri": "\n".join(uris), "redirect_uris": uris}
    if with_secret:
        out.update(client_id=app.client_id, client_secret=app.client_secret, client_secret_expires_at=0)
    return out


def token(access_token: str, scopes: str, created_at: datetime) -> dict[str, Any]:
    return {"access_token": access_token, "token_type": "Bearer", "scope": scopes,
            "created_at": int(created_at.timestamp())}


# Our suggestion sources -> Mastodon's Suggestion `source` (deprecated, coarse) and `sources`
# (4.3+). A model suggestion is learned from the viewer's own activity, so "past_interactions"
# and "similar_to_recently_followed"; friends-of-friends keeps its name; popular is global.
SUGGESTION_SOURCES = {
    "model": ("past_interactions", ["similar_to_recently_followed"]),
    "friends_of_friends": ("past_interactions", ["friends_of_friends"]),
    "popular": ("global", ["most_followed"]),
}


def suggestion(r: Renderer, account: Account, source: str) -> dict[str, Any]:
    coarse, sources = SUGGESTION_SOURCES.get(source, ("global", ["featured"]))
    return {"source": coarse, "sources": sources, "account": r.account(account)}

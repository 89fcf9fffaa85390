"""Turning templates into responses: the Jinja2 environment, its filters (relative time,
linkified post text), the page context every template gets, and `render_error`, which the
app's exception handlers call for web pages (app.state.render_error)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.services import notifications
from hearth.services import posts as post_service
from hearth.services.errors import RateLimited, ServiceError
from hearth.services.posts import MENTION_RE, TAG_RE
from hearth.storage.models import Account, Post

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

# Pages are never embedded elsewhere and run only our own scripts and styles.
SECURITY_HEADERS = {
    # media-src blob: lets the voice controls play the spoken answers they fetched (voice.js).
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "media-src 'self' blob:; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                                "base-uri 'none'; object-src 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Vary": "HX-Request, Cookie",
    "Cache-Control": "private, no-cache",  # pages show one person's state: revalidate, never share
}

ERROR_TITLES = {400: "Bad request", 401: "Please log in", 403: "Not allowed", 404: "Not found",
                405: "Not allowed", 409: "Already taken", 422: "Check what you entered", 429: "Slow down",
                500: "Something went wrong"}


# ---- filters -----------------------------------------------------------------------------------
def relative_time(when: datetime | None, now: datetime | None = None) -> str:
    """'just now', '5 minutes ago', '3 hours ago', '2 days ago', then a date."""
    if when is None:
        return ""
    now = now or datetime.now(UTC)
    seconds = (now - when).total_seconds()
    if seconds < 45:
        return "just now"
    for unit, size, limit in (("minute", 60, 3600), ("hour", 3600, 86400), ("day", 86400, 7 * 86400)):
        if seconds < limit:
            n = max(1, round(seconds / size))
            n = min(n, limit // size - 1)
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    if when.year == now.year:
        return f"{when:%b} {when.day}"
    return f"{when:%b} {when.day}, {when.year}"


def sentence(text: str | None) -> str:
    """A service message as a sentence on the page: first letter capitalised, unless the
    message starts with a field name such as max_id."""
    text = text or ""
    first = text.split(" ", 1)[0]
    if not first[:1].isalpha() or "_" in first:
        return text
    return text[:1].upper() + text[1:]


def absolute_time(when: datetime | None) -> str:
    """The full timestamp for a tooltip: '2024-03-05 14:02 UTC'."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if when else ""


def iso_time(when: datetime | None) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if when else ""


URL_PATTERN = r"https?://[^\s<>\"'`]+"
TOKEN_RE = re.compile(f"(?P<url>{URL_PATTERN})|(?P<mention>{MENTION_RE.pattern})|(?P<tag>{TAG_RE.pattern})")
TRAILING_PUNCTUATION = ".,;:!?'\")]}"
MAX_LINK_TEXT = 45


def _link_url(url: str) -> tuple[str, str]:
    """The URL without trailing punctuation that belongs to the sentence, and that punctuation."""
    tail = ""
    while url and url[-1] in TRAILING_PUNCTUATION:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        tail = url[-1] + tail
        url = url[:-1]
    return url, tail


def _url_html(url: str) -> str:
    shown = url.split("://", 1)[1]
    if len(shown) > MAX_LINK_TEXT:
        shown = shown[:MAX_LINK_TEXT - 1] + "…"
    return f'<a href="{escape(url)}" rel="nofollow ugc noopener noreferrer">{escape(shown)}</a>'


def _linkify_line(line: str, domain: str) -> str:
    out: list[str] = []
    pos = 0
    for m in TOKEN_RE.finditer(line):
        out.append(str(escape(line[pos:m.start()])))
        pos = m.end()
        token = m.group(0)
        if m.group("url"):
            url, tail = _link_url(token)
            out.append(_url_html(url) + str(escape(tail)) if url.split("://", 1)[1] else str(escape(token)))
        elif m.group("mention"):
            mention = MENTION_RE.match(token)
            name, host = (mention.group(1), mention.group(2)) if mention else (token[1:], None)
            if host is not None and host.lower() != domain.lower():
                out.append(str(escape(token)))
            else:
                out.append(f'<a class="mention" href="/@{escape(name)}">@{escape(name)}</a>'
                           + (f"@{escape(host)}" if host else ""))
        else:
            tag = token[1:]
            out.append(f'<a class="hashtag" href="/tags/{escape(quote(tag.lower()))}">#{escape(tag)}</a>')
    out.append(str(escape(line[pos:])))
    return "".join(out)


def post_html(text: str | None, domain: str = "localhost") -> Markup:
    """Post text as safe HTML: escaped, paragraphs and line breaks kept, @mentions, #tags and
    http(s) URLs turned into links (nothing else: no javascript: or data: links)."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        return Markup("")
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    html = "".join("<p>" + "<br>".join(_linkify_line(line, domain) for line in p.split("\n")) + "</p>"
                   for p in paragraphs)
    return Markup(html)


@cache
def _static_version(name: str, mtime: float) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    """/static/NAME?v=<content hash>, so browsers fetch a changed file at once."""
    path = STATIC_DIR / name
    version = _static_version(name, path.stat().st_mtime) if path.is_file() else "0"
    return f"/static/{quote(name)}?v={version}"


def make_environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(reltime=relative_time, abstime=absolute_time, isotime=iso_time, sentence=sentence)
    env.globals.update(static_url=static_url)
    return env


ENV = make_environment()


# ---- context and responses -----------------------------------------------------------------------
def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def here(request: Request) -> str:
    """The current local path with its query, for 'come back here' form fields."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def ranker_label(ranker: str | None, training: bool = False) -> str:
    """Which ranker serves this page, and whether a model is being trained meanwhile."""
    if ranker and ranker.startswith("model"):
        label = "Ranked by the Hearth model"
        return label + " (a newer model is training)" if training else label
    if training:
        return ("Ranked by recency and engagement while the Hearth model trains; "
                "it takes over once it ranks better on validation")
    return "Ranked by recency and engagement until a model is trained"


def base_context(request: Request) -> dict[str, Any]:
    user = getattr(request.state, "web_user", None)
    settings = request.app.state.settings
    return {"request": request, "user": user, "viewer": user.account if user else None,
            "csrf_token": user.session.csrf_token if user else "", "settings": settings,
            "here": here(request), "path": request.url.path, "unread": getattr(request.state, "unread", 0),
            "post_html": lambda text: post_html(text, settings.instance_domain)}


def render_template(request: Request, template: str, context: Mapping[str, Any] | None = None) -> str:
    return ENV.get_template(template).render({**base_context(request), **(context or {})})


def html(request: Request, template: str, context: Mapping[str, Any] | None = None, status: int = 200,
         headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """A rendered template with the security headers every page carries."""
    return HTMLResponse(render_template(request, template, context), status_code=status,
                        headers={**SECURITY_HEADERS, **(headers or {})})


async def page(request: Request, db: AsyncSession, template: str, context: Mapping[str, Any] | None = None,
               status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """A full page: also counts the signed-in user's unread notifications for the nav badge."""
    user = getattr(request.state, "web_user", None)
    if user is not None and not hasattr(request.state, "unread"):
        request.state.unread = await notifications.unread_count(db, user.account)
    return html(request, template, context, status, headers)


def announce(message: str) -> dict[str, str]:
    """An HX-Trigger header that app.js reads out through the page's aria-live region."""
    return {"HX-Trigger": json.dumps({"hearth:announce": message})}


def error_headers(exc: ServiceError) -> dict[str, str] | None:
    """Retry-After for a rate-limit refusal shown on a form page."""
    return {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None


def render_error(request: Request, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """A service or HTTP error as a page, or for htmx as a message in the page's error area."""
    headers = dict(headers or {})
    if is_htmx(request):
        headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return html(request, "_flash.html", {"message": message, "status": status}, status, headers)
    title = ERROR_TITLES.get(status, "Error")
    return html(request, "error.html", {"message": message, "status": status, "title": title}, status, headers)


# ---- what post cards need ----------------------------------------------------------------------
async def reload_posts(db: AsyncSession, ids: Sequence[int]) -> dict[int, Post]:
    """Posts with author and reblogged original loaded afresh (after an action changed counters)."""
    if not ids:
        return {}
    rows = await db.scalars(select(Post).where(Post.id.in_(list(ids))).options(*post_service.POST_LOAD)
                            .execution_options(populate_existing=True))
    return {p.id: p for p in rows}


async def card_data(db: AsyncSession, viewer: Account | None, posts: Sequence[Post]) -> dict[str, Any]:
    """Per page of posts: the viewer's favourite/reblog state and the names of replied-to accounts."""
    states = await post_service.viewer_states(db, viewer, posts)
    originals = [p.reblog if p.reblog_of_id is not None and p.reblog is not None else p for p in posts]
    reply_ids = {p.in_reply_to_account_id for p in originals if p.in_reply_to_account_id is not None}
    names: dict[int, str] = {}
    if reply_ids:
        names = dict((await db.execute(select(Account.id, Account.username)
                                       .where(Account.id.in_(reply_ids)))).all())
    return {"states": states, "reply_names": names}

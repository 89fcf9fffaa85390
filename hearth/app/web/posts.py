"""Posts in the web UI: compose and reply, the thread page, and the per-post actions
(favourite, reblog, delete, "Not interested"). Every action is a plain form post that also
works without JavaScript (it redirects back); with htmx it answers with the piece of page
that changed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app.deps import WebUser, client_ip, get_db
from hearth.app.web.render import announce, card_data, error_headers, html, is_htmx, page, reload_posts
from hearth.app.web.session import csrf_user, current_user, form_user, redirect, require_user, safe_next
from hearth.services import posts
from hearth.services.errors import NotFound, ServiceError
from hearth.services.ids import parse_id
from hearth.storage.models import VISIBILITIES, Post

router = APIRouter(include_in_schema=False)

# Where a freshly composed post is inserted on the page the form is on (htmx out-of-band swap).
INSERT_TARGETS = {"timeline": "afterbegin:#timeline", "replies": "beforeend:#replies"}
TOGGLES = {"favourite": posts.favourite, "unfavourite": posts.unfavourite,
           "reblog": posts.reblog, "unreblog": posts.unreblog}
ANNOUNCE = {"favourite": "Favourited", "unfavourite": "Removed from favourites", "reblog": "Reblogged",
            "unreblog": "Reblog removed"}


def _card_key(value: str, default: int) -> int:
    """The id the card's elements are named after (the reblog's own id for a reblog card)."""
    key = parse_id(value) if value.isascii() and value.isdigit() else None
    return default if key is None else key


async def _reply_target(db: AsyncSession, user: WebUser | None, in_reply_to_id: str | None) -> Post | None:
    if not in_reply_to_id:
        return None
    try:
        return await posts.get_post(db, user.account if user else None, in_reply_to_id)
    except NotFound:
        return None


def _compose_context(reply_to: Post | None, insert: str, next_path: str, draft: str = "",
                     visibility: str = "public", error: str | None = None) -> dict:
    return {"reply_to": reply_to, "insert": insert if insert in INSERT_TARGETS else "", "compose_next": next_path,
            "draft": draft, "visibility": visibility if visibility in VISIBILITIES else "public", "error": error}


@router.get("/compose")
async def compose_page(request: Request, in_reply_to_id: str | None = None, db: AsyncSession = Depends(get_db),
                       user: WebUser = Depends(require_user)) -> Response:
    reply_to = await _reply_target(db, user, in_reply_to_id)
    if in_reply_to_id and reply_to is None:
        raise NotFound(f"post {in_reply_to_id} not found")
    return await page(request, db, "compose.html", _compose_context(reply_to, "", "/home"))


@router.post("/posts")
async def compose(request: Request, db: AsyncSession = Depends(get_db), user: WebUser = Depends(csrf_user),
                  text: Annotated[str, Form()] = "", visibility: Annotated[str, Form()] = "public",
                  in_reply_to_id: Annotated[str, Form()] = "", insert: Annotated[str, Form()] = "",
                  next: Annotated[str, Form()] = "") -> Response:
    settings = request.app.state.settings
    text = text.replace("\r\n", "\n")  # browsers send CRLF; count a line break as one character
    next_path = safe_next(next)
    try:
        request.app.state.limits.write(user.account.id, client_ip(request))
        post = await posts.create_post(db, user.account, text, in_reply_to_id or None, visibility or "public",
                                       max_chars=settings.max_post_chars, domain=settings.instance_domain)
        await request.app.state.serving.post_created(db, user.account.id, post.id)
    except ServiceError as exc:
        reply_to = await _reply_target(db, user, in_reply_to_id)
        ctx = _compose_context(reply_to, insert, next_path, text, visibility, exc.message)
        if is_htmx(request):
            return html(request, "_compose_form.html", ctx, exc.status, error_headers(exc))
        return await page(request, db, "compose.html", ctx, exc.status, error_headers(exc))
    if not is_htmx(request):
        if post.in_reply_to_id is not None:
            return redirect(f"/posts/{post.in_reply_to_id}#post-{post.id}")
        return redirect(f"/posts/{post.id}")
    reply_to = await _reply_target(db, user, in_reply_to_id)
    ctx = {**_compose_context(reply_to, insert, next_path, visibility=post.visibility),
           "new_post": post, "oob": INSERT_TARGETS.get(insert), **await card_data(db, user.account, [post])}
    return html(request, "_compose_result.html", ctx, headers=announce("Post published"))


@router.get("/posts/{post_id}")
async def thread(request: Request, post_id: str, db: AsyncSession = Depends(get_db),
                 user: WebUser | None = Depends(current_user)) -> Response:
    viewer = user.account if user else None
    post = await posts.get_post(db, viewer, post_id)
    if post.reblog_of_id is not None:
        return redirect(f"/posts/{post.reblog_of_id}")
    context = await posts.context(db, viewer, post.id)
    everything = [*context.ancestors, post, *context.descendants]
    return await page(request, db, "thread.html", {
        "post": post, "ancestors": context.ancestors, "replies": context.descendants,
        **_compose_context(post, "replies", f"/posts/{post.id}"),
        **await card_data(db, viewer, everything)})


@router.post("/posts/{post_id}/{action}")
async def toggle(request: Request, post_id: str, action: str, db: AsyncSession = Depends(get_db),
                 user: WebUser = Depends(form_user), key: Annotated[str, Form()] = "",
                 next: Annotated[str, Form()] = "") -> Response:
    """favourite / unfavourite / reblog / unreblog, and delete / hide (which remove the card)."""
    if action == "delete":
        return await _delete(request, db, user, post_id, key, next)
    if action == "hide":
        await posts.hide(db, user.account, post_id)
        if not is_htmx(request):
            return redirect(safe_next(next))
        return html(request, "_post_gone.html", {"message": "Hidden. You will see fewer posts like this.",
                                                 "key": _card_key(key, 0)},
                    headers=announce("Post hidden"))
    if action not in TOGGLES:
        raise NotFound(f"there is no post action {action!r}")
    result = await TOGGLES[action](db, user.account, post_id)
    original_id = result.reblog_of_id or result.id
    card = _card_key(key, original_id)
    if not is_htmx(request):
        target = safe_next(next, f"/posts/{original_id}")
        return redirect(target if "#" in target else f"{target}#post-{card}")
    original = (await reload_posts(db, [original_id]))[original_id]
    ctx = {"p": original, "key": card, "form_next": safe_next(next), **await card_data(db, user.account, [original])}
    return html(request, "_post_actions.html", ctx, headers=announce(ANNOUNCE[action]))


async def _delete(request: Request, db: AsyncSession, user: WebUser, post_id: str, key: str, next: str) -> Response:
    post = await posts.delete_post(db, user.account, post_id)
    if not is_htmx(request):
        target = safe_next(next)
        if target.split("#")[0].split("?")[0] == f"/posts/{post.id}":
            target = f"/@{user.account.username}"
        return redirect(target)
    return html(request, "_post_gone.html", {"message": "Post deleted.", "key": _card_key(key, post.id)},
                headers=announce("Post deleted"))

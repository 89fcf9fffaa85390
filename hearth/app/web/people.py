"""People: profiles (posts / posts and replies), followers and following lists, "People you
may know" (app.state.serving.people, with its social proof), and the relationship actions
follow / unfollow / block / unblock / mute / unmute."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import hydrate
from hearth.app.deps import WebUser, get_db
from hearth.app.web.render import announce, html, is_htmx, page, ranker_label
from hearth.app.web.session import current_user, form_user, redirect, require_user, safe_next
from hearth.app.web.studio import profile_context
from hearth.app.web.timeline import Entry, more_url, timeline_response
from hearth.services import accounts, follow_requests, graph, timelines
from hearth.services.errors import NotFound
from hearth.services.pages import Page
from hearth.storage.models import Account

router = APIRouter(include_in_schema=False)

ACTIONS = {"follow": graph.follow, "unfollow": graph.unfollow, "block": graph.block, "unblock": graph.unblock,
           "mute": graph.mute, "unmute": graph.unmute}
DONE = {"follow": "You follow @{}", "unfollow": "You unfollowed @{}", "block": "You blocked @{}",
        "unblock": "You unblocked @{}", "mute": "You muted @{}", "unmute": "You unmuted @{}"}
VARIANTS = ("profile", "card", "post")  # where the buttons sit: a profile header, a person card, a post's menu
SOURCE_RE = re.compile(r"[a-z_:]{1,40}")
PROFILE_PAGE = 20
PEOPLE_PAGE = 40


async def _account(request: Request, db: AsyncSession, username: str) -> Account:
    return await accounts.lookup(db, username, request.app.state.settings.instance_domain)


async def relationship_map(db: AsyncSession, viewer: Account | None,
                           people: Sequence[Account]) -> dict[int, graph.Relationship]:
    ids = [a.id for a in people if viewer is None or a.id != viewer.id]
    if viewer is None or not ids:
        return {}
    return {r.id: r for r in await graph.relationships(db, viewer, ids)}


@router.get("/@{username}")
async def profile(request: Request, username: str, tab: str = "posts", max_id: str | None = None,
                  db: AsyncSession = Depends(get_db), user: WebUser | None = Depends(current_user)) -> Response:
    account = await _account(request, db, username)
    viewer = user.account if user else None
    tab = tab if tab in ("posts", "replies") else "posts"
    page_ = Page.parse(max_id=max_id, limit=PROFILE_PAGE)
    rows = await timelines.account_posts(db, viewer, account.id, page_, exclude_replies=tab == "posts")
    next_url = more_url(f"/@{account.username}", tab=tab, max_id=rows[-1].id) if len(rows) == page_.limit else None
    rels = await relationship_map(db, viewer, [account])
    return await timeline_response(request, db, "profile.html", [Entry(p) for p in rows], next_url,
                                   {"account": account, "rel": rels.get(account.id), "tab": tab,
                                    "first_page": max_id in (None, ""),
                                    **await profile_context(db, viewer, account)})


async def _follow_list(request: Request, db: AsyncSession, user: WebUser | None, username: str,
                       which: str, max_id: str | None) -> Response:
    account = await _account(request, db, username)
    page_ = Page.parse(max_id=max_id, limit=PEOPLE_PAGE)
    lister = graph.followers if which == "followers" else graph.following
    rows = await lister(db, account.id, page_)
    people = [a for _, a in rows]
    next_url = (more_url(f"/@{account.username}/{which}", max_id=rows[-1][0]) if len(rows) == page_.limit
                else None)
    ctx = {"account": account, "which": which, "people": [{"account": a} for a in people], "next_url": next_url,
           "rels": await relationship_map(db, user.account if user else None, people), "source": which}
    if is_htmx(request):
        return html(request, "_people_entries.html", ctx)
    return await page(request, db, "follow_list.html", ctx)


@router.get("/@{username}/followers")
async def followers(request: Request, username: str, max_id: str | None = None, db: AsyncSession = Depends(get_db),
                    user: WebUser | None = Depends(current_user)) -> Response:
    return await _follow_list(request, db, user, username, "followers", max_id)


@router.get("/@{username}/following")
async def following(request: Request, username: str, max_id: str | None = None, db: AsyncSession = Depends(get_db),
                    user: WebUser | None = Depends(current_user)) -> Response:
    return await _follow_list(request, db, user, username, "following", max_id)


@router.get("/@{username}/{post_id}")
async def mastodon_post_url(username: str, post_id: str) -> Response:
    """/@name/123, the post URL Mastodon users know, goes to the post's page."""
    if not (post_id.isascii() and post_id.isdigit()):
        raise NotFound(f"/@{username}/{post_id} is not a page here")
    return redirect(f"/posts/{post_id}")


@router.get("/people")
async def people_you_may_know(request: Request, db: AsyncSession = Depends(get_db),
                              user: WebUser = Depends(require_user)) -> Response:
    suggestions = await hydrate.people(db, await request.app.state.serving.people(db, user.account, 20))
    people = [{"account": s.account, "reason": s.reason, "mutuals": s.mutuals, "source": s.source}
              for s in suggestions]
    status = request.app.state.serving.status()
    return await page(request, db, "people.html", {
        "people": people, "rels": await relationship_map(db, user.account, [s.account for s in suggestions]),
        "ranker": ranker_label(status.get("ranker"), status.get("training") is not None), "next_url": None})


@router.post("/follow_requests/{username}/{answer}")
async def answer_follow_request(request: Request, username: str, answer: str, db: AsyncSession = Depends(get_db),
                                user: WebUser = Depends(form_user)) -> Response:
    """Accept or reject a follow request (from the notification that announced it)."""
    if answer not in ("authorize", "reject"):
        raise NotFound(f"there is no follow request answer {answer!r}")
    requester = await _account(request, db, username)
    await (follow_requests.authorize if answer == "authorize" else follow_requests.reject)(db, user.account,
                                                                                        requester.id)
    return redirect("/notifications")


@router.post("/@{username}/{action}")
async def relationship_action(request: Request, username: str, action: str, db: AsyncSession = Depends(get_db),
                              user: WebUser = Depends(form_user), next: Annotated[str, Form()] = "",
                              variant: Annotated[str, Form()] = "profile", source: Annotated[str, Form()] = "",
                              key: Annotated[str, Form()] = "") -> Response:
    if action not in ACTIONS:
        raise NotFound(f"there is no account action {action!r}")
    target = await _account(request, db, username)
    if action == "follow":
        await graph.follow(db, user.account, target.id, source=source if SOURCE_RE.fullmatch(source) else None)
    else:
        await ACTIONS[action](db, user.account, target.id)
    if not is_htmx(request):
        return redirect(safe_next(next, f"/@{target.username}"))
    message = DONE[action].format(target.username)
    rel = (await graph.relationships(db, user.account, [target.id]))[0]
    if action == "follow" and rel.requested:
        message = f"You asked to follow @{target.username}; they will answer your request"
    if variant == "post":
        card = key if key.isascii() and key.isdigit() else "0"
        return html(request, "_post_gone.html", {"message": message + ".", "key": card}, headers=announce(message))
    ctx = {"person": target, "rel": rel, "variant": variant if variant in VARIANTS else "profile",
           "form_next": safe_next(next), "source": source if SOURCE_RE.fullmatch(source) else ""}
    return html(request, "_relationship.html", ctx, headers=announce(message))

"""Accounts: registration, the signed-in account, profiles, their posts and follow lists, and
relationship actions (follow, block, mute, ...). Static paths come before `/{id}` routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from hearth.app import deps
from hearth.app.api.mastodon.common import ACCOUNT_LIMIT, link_ids, maybe_user, page_from, user, writer
from hearth.app.api.mastodon.entities import Renderer, token
from hearth.app.api.mastodon.params import read_params
from hearth.services import accounts, auth, graph, search, timelines
from hearth.services.errors import Conflict, Forbidden, Invalid, ServiceError, Unauthorized
from hearth.storage.models import Account, OAuthApp

router = APIRouter(tags=["mastodon: accounts"])

READ = ("read:accounts",)


# ---- registration ---------------------------------------------------------------------------
def _registration_error(e: ServiceError) -> JSONResponse:
    """Mastodon's 422 body: `error` plus per-field `details`, which Mastodon.py can return."""
    text = e.message.lower()
    field = next((f for f in ("username", "password", "email") if f in text), "username")
    code = "ERR_TAKEN" if isinstance(e, Conflict) else "ERR_INVALID"
    status = 403 if isinstance(e, Forbidden) else 422
    return JSONResponse({"error": f"Validation failed: {e.message}",
                         "details": {field: [{"error": code, "description": e.message}]}}, status_code=status)


@router.post("/api/v1/accounts")
async def register(request: Request, db: AsyncSession = Depends(deps.get_db),
                   info: auth.TokenInfo | None = Depends(deps.optional_token)) -> Response:
    """Sign-up with an app token (client_credentials), as Mastodon.py's `create_account` does."""
    if info is None:
        raise Unauthorized("The access token is invalid")
    if not (auth.has_scope(info.scopes, "write:accounts")):
        raise Forbidden("This action is outside the authorized scopes")
    if info.account is not None or info.token.app_id is None:
        raise Forbidden("Sign up with an app token (grant_type=client_credentials), not a user's token")
    request.app.state.limits.write(None, deps.client_ip(request))
    params = await read_params(request)
    if not params.boolean("agreement", False):
        return JSONResponse({"error": "Validation failed: agreement must be accepted",
                             "details": {"agreement": [{"error": "ERR_ACCEPTED",
                                                        "description": "must be accepted"}]}}, status_code=422)
    try:
        account = await accounts.register(
            db, params.string("username", "", max_len=30) or "", params.string("password", "", max_len=1024) or "",
            params.string("email", max_len=254), open_registrations=request.app.state.settings.registrations_open)
    except (Invalid, Conflict, Forbidden) as e:
        return _registration_error(e)
    app = await db.get(OAuthApp, info.token.app_id)
    access, row = await auth.issue_token(db, app, account.id, info.scopes)
    return JSONResponse(token(access, row.scopes, row.created_at))


# ---- the signed-in account ------------------------------------------------------------------
@router.get("/api/v1/accounts/verify_credentials")
async def verify_credentials(request: Request, viewer: Account = Depends(user("read:accounts", "profile"))) -> dict:
    return Renderer.for_request(request, viewer).credential_account(viewer)


@router.patch("/api/v1/accounts/update_credentials")
async def update_credentials(request: Request, db: AsyncSession = Depends(deps.get_db),
                             viewer: Account = Depends(writer("write:accounts"))) -> dict:
    params = await read_params(request)
    for name in ("avatar", "header"):
        if params.file(name) is not None:
            raise Invalid(f"{name} uploads are not supported on this server")
    settings = request.app.state.settings
    account = await accounts.update_profile(
        db, viewer, display_name=params.string("display_name"), note=params.string("note"),
        locked=params.boolean("locked") if params.has("locked") else None,
        bot=params.boolean("bot") if params.has("bot") else None,
        discoverable=params.boolean("discoverable") if params.has("discoverable") else None,
        max_note=settings.max_bio_chars)
    return Renderer.for_request(request, viewer).credential_account(account)


# ---- lookups --------------------------------------------------------------------------------
@router.get("/api/v1/accounts/lookup")
async def lookup(request: Request, db: AsyncSession = Depends(deps.get_db),
                 viewer: Account | None = Depends(maybe_user(*READ))) -> dict:
    params = await read_params(request)
    acct = params.string("acct")
    if not acct:
        raise Invalid("acct is required")
    account = await accounts.lookup(db, acct, request.app.state.settings.instance_domain)
    return Renderer.for_request(request, viewer).account(account)


@router.get("/api/v1/accounts/search")
async def search_accounts(request: Request, db: AsyncSession = Depends(deps.get_db),
                          viewer: Account = Depends(user(*READ))) -> list[dict]:
    params = await read_params(request)
    found = await search.search_accounts(db, viewer, params.string("q", "", max_len=500) or "",
                                         params.integer("limit", 40, 1, 80), params.integer("offset", 0, 0),
                                         params.boolean("following", False))
    r = Renderer.for_request(request, viewer)
    return [r.account(a) for a in found]


@router.get("/api/v1/accounts/relationships")
async def relationships(request: Request, db: AsyncSession = Depends(deps.get_db),
                        viewer: Account = Depends(user("read:follows"))) -> list[dict]:
    params = await read_params(request)
    ids = params.array("id")
    if len(ids) > 80:
        raise Invalid("at most 80 ids at a time")
    known = []
    for i in dict.fromkeys(ids):  # Mastodon leaves unknown ids out
        try:
            known.append((await accounts.get_account(db, i)).id)
        except ServiceError:
            continue
    r = Renderer.for_request(request, viewer)
    return [r.relationship(rel) for rel in await graph.relationships(db, viewer, known)]


@router.get("/api/v1/accounts/{account_id}")
async def get_account(account_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                      viewer: Account | None = Depends(maybe_user(*READ))) -> dict:
    return Renderer.for_request(request, viewer).account(await accounts.get_account(db, account_id))


@router.get("/api/v1/accounts/{account_id}/statuses")
async def account_statuses(account_id: str, request: Request, response: Response,
                           db: AsyncSession = Depends(deps.get_db),
                           viewer: Account | None = Depends(maybe_user("read:statuses"))) -> list[dict]:
    params = await read_params(request)
    page = page_from(params)
    author = await accounts.get_account(db, account_id)
    if params.boolean("pinned", False) or params.boolean("only_media", False):
        return []  # nothing is pinned; there are no media attachments
    rows = await timelines.account_posts(db, viewer, author.id, page,
                                         exclude_replies=params.boolean("exclude_replies", False),
                                         exclude_reblogs=params.boolean("exclude_reblogs", False),
                                         tagged=params.string("tagged", max_len=100))
    link_ids(request, response, [p.id for p in rows])
    return await Renderer.for_request(request, viewer).statuses(db, rows)


async def _follow_list(which: str, account_id: str, request: Request, response: Response, db: AsyncSession,
                       viewer: Account | None) -> list[dict]:
    page = page_from(await read_params(request), ACCOUNT_LIMIT)
    rows = await (graph.followers if which == "followers" else graph.following)(db, account_id, page)
    link_ids(request, response, [fid for fid, _ in rows])
    r = Renderer.for_request(request, viewer)
    return [r.account(a) for _, a in rows]


@router.get("/api/v1/accounts/{account_id}/followers")
async def followers(account_id: str, request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
                    viewer: Account | None = Depends(maybe_user(*READ))) -> list[dict]:
    return await _follow_list("followers", account_id, request, response, db, viewer)


@router.get("/api/v1/accounts/{account_id}/following")
async def following(account_id: str, request: Request, response: Response, db: AsyncSession = Depends(deps.get_db),
                    viewer: Account | None = Depends(maybe_user(*READ))) -> list[dict]:
    return await _follow_list("following", account_id, request, response, db, viewer)


# ---- relationship actions -------------------------------------------------------------------
async def relationship_json(request: Request, db: AsyncSession, viewer: Account, target: Account) -> dict[str, Any]:
    """The viewer's Relationship entity with `target` (what every relationship action answers)."""
    rel = (await graph.relationships(db, viewer, [target.id]))[0]
    return Renderer.for_request(request, viewer).relationship(rel)


@router.post("/api/v1/accounts/{account_id}/follow")
async def follow(account_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                 viewer: Account = Depends(writer("follow", "write:follows"))) -> dict:
    params = await read_params(request)
    for flag in ("reblogs", "notify"):  # accepted and type-checked; reblogs always show, no bell
        params.boolean(flag)
    target = await graph.follow(db, viewer, account_id, source=params.string("source", max_len=50))
    return await relationship_json(request, db, viewer, target)


@router.post("/api/v1/accounts/{account_id}/unfollow")
async def unfollow(account_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                   viewer: Account = Depends(writer("follow", "write:follows"))) -> dict:
    return await relationship_json(request, db, viewer, await graph.unfollow(db, viewer, account_id))


@router.post("/api/v1/accounts/{account_id}/remove_from_followers")
async def remove_from_followers(account_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                                viewer: Account = Depends(writer("follow", "write:follows"))) -> dict:
    return await relationship_json(request, db, viewer, await graph.remove_follower(db, viewer, account_id))


@router.post("/api/v1/accounts/{account_id}/block")
async def block(account_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                viewer: Account = Depends(writer("follow", "write:blocks"))) -> dict:
    return await relationship_json(request, db, viewer, await graph.block(db, viewer, account_id))


@router.post("/api/v1/accounts/{account_id}/unblock")
async def unblock(account_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                  viewer: Account = Depends(writer("follow", "write:blocks"))) -> dict:
    return await relationship_json(request, db, viewer, await graph.unblock(db, viewer, account_id))


@router.post("/api/v1/accounts/{account_id}/mute")
async def mute(account_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
               viewer: Account = Depends(writer("follow", "write:mutes"))) -> dict:
    params = await read_params(request)
    params.boolean("notifications")  # accepted and type-checked; a mute always hides notifications
    params.integer("duration")  # accepted; mutes do not expire
    return await relationship_json(request, db, viewer, await graph.mute(db, viewer, account_id))


@router.post("/api/v1/accounts/{account_id}/unmute")
async def unmute(account_id: str, request: Request, db: AsyncSession = Depends(deps.get_db),
                 viewer: Account = Depends(writer("follow", "write:mutes"))) -> dict:
    return await relationship_json(request, db, viewer, await graph.unmute(db, viewer, account_id))

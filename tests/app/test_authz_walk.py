"""Walk every route of the app as an attacker: another user's token (or session) must never
act on the victim's behalf or read the victim's private data. The route list comes from the
app itself, so a new route is walked (or fails the coverage check) without editing this file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
from sqlalchemy import select

from hearth.app.main import create_app
from hearth.app.web.people import ACTIONS as ACCOUNT_ACTIONS
from hearth.app.web.posts import TOGGLES as POST_TOGGLES
from hearth.services import accounts, auth, graph, posts
from hearth.services.assistant import conversations, memory, proposals
from hearth.services.studio import ais
from hearth.services.studio import direct as dm_threads
from hearth.services.studio import knowledge as studio_knowledge
from hearth.settings import Settings
from hearth.storage.db import make_engine, make_sessionmaker, make_sync_engine
from hearth.storage.models import (
    Account,
    AIDirectThread,
    AIKnowledge,
    AssistantConversation,
    AssistantMemory,
    AssistantMessage,
    AssistantPrefs,
    AssistantProposal,
    Block,
    CreatorAI,
    EventRow,
    Favourite,
    Follow,
    FollowRequest,
    Mute,
    Notification,
    OAuthToken,
    Post,
    WebSession,
)

SECRETS = ("ann-private-secret", "ann-direct-secret", "ann@example.org", "ann-bio-draft", "ann-chat-secret",
           "ann-memory-secret", "ann-ai-instructions-secret", "ann-ai-note-secret")
PARAM = re.compile(r"\{(\w+)\}")
# Routes that take no user input worth attacking (static files, docs).
SKIP = {"/static", "/docs/oauth2-redirect", "/api/docs", "/api/openapi.json"}


def walk_routes(routes: list) -> Iterator[Any]:  # noqa: ANN401 - starlette routes
    for r in routes:
        if hasattr(r, "original_router"):  # FastAPI's lazily included routers
            yield from walk_routes(r.original_router.routes)
        elif hasattr(r, "methods") and r.path not in SKIP:
            yield r


async def seed(url: str) -> dict[str, Any]:
    """ann (the victim), mal (the attacker) and cat; ann has public, private and direct posts,
    a notification, a favourite, a follow, a block and a mute."""
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as db:
        ann = await accounts.register(db, "ann", "ann password", "ann@example.org")
        mal = await accounts.register(db, "mal", "mal password", "mal@example.org")
        cat = await accounts.register(db, "cat", "cat password")
        dan = await accounts.register(db, "dan", "dan password")
        public = await posts.create_post(db, ann, "ann public hello #walk")
        private = await posts.create_post(db, ann, "ann-private-secret", visibility="private")
        direct = await posts.create_post(db, ann, "@cat ann-direct-secret", visibility="direct")
        cat_post = await posts.create_post(db, cat, "cat says hi @ann")
        await posts.favourite(db, ann, cat_post.id)
        await graph.follow(db, ann, cat.id)
        await graph.follow(db, cat, ann.id)  # a follower who is not the attacker
        await graph.block(db, ann, dan.id)
        await graph.mute(db, ann, dan.id)
        await accounts.update_profile(db, ann, locked=True)
        eve = await accounts.register(db, "eve", "eve password")
        await graph.follow(db, eve, ann.id)  # a follow request only ann may answer
        app = await auth.create_app(db, "walker", auth.OOB, "read write follow push")
        ann_token, _ = await auth.issue_token(db, app, ann.id, ["read", "write", "follow", "push"])
        other_app = await auth.create_app(db, "mal's app", auth.OOB, "read write follow push")
        mal_token, _ = await auth.issue_token(db, other_app, mal.id, ["read", "write", "follow", "push"])
        ann_cookie, ann_session = await auth.start_session(db, ann)
        mal_cookie, mal_session = await auth.start_session(db, mal)
        notification = await db.scalar(select(Notification.id).where(Notification.account_id == ann.id))
        chat = await conversations.create(db, ann, "ann's chat")
        await conversations.append(db, ann, chat.id, "user", "ann-chat-secret")
        proposal = await proposals.create(db, ann, chat.id, "call_0", "follow", {"username": "@cat"}, "Follow @cat",
                                          {"request": "ann-chat-secret"})
        fact = await memory.add(db, ann, "ann-memory-secret", "Added by you")
        # ann's AI, only for herself: its instructions and notes are hers alone; a DM thread with cat.
        ann_ai = await ais.create(db, ann, "Ann's AI", "ann_ai", audience="only_me",
                                  instructions="ann-ai-instructions-secret")
        await studio_knowledge.write_sources(db, ann_ai.id, [studio_knowledge.SourceDraft(
            "note", "ann-ai-note", "ann-ai-note-secret", ["ann-ai-note-secret"])])
        note_id = await db.scalar(select(AIKnowledge.id).where(AIKnowledge.ai_id == ann_ai.id))
        cat_dm = await posts.create_post(db, cat, "@ann_ai hello", visibility="direct")
        thread = await dm_threads.thread(db, ann_ai, cat_dm.id, cat.id)
        ids = {"ann": ann.id, "mal": mal.id, "cat": cat.id, "public": public.id, "private": private.id,
               "direct": direct.id, "cat_post": cat_post.id, "notification": notification,
               "conversation": chat.id, "proposal": proposal.id, "memory": fact.id, "ai": ann_ai.id,
               "note": note_id, "thread": thread.id,
               "ann_token": ann_token, "mal_token": mal_token, "ann_cookie": ann_cookie,
               "ann_csrf": ann_session.csrf_token, "mal_cookie": mal_cookie, "mal_csrf": mal_session.csrf_token,
               "mal_client_id": other_app.client_id, "mal_client_secret": other_app.client_secret}
    await engine.dispose()
    return ids


def owned_state(url: str, ann_id: int) -> dict[str, Any]:
    """Everything that only ann may change."""
    engine = make_sync_engine(url)
    with engine.connect() as c:
        def rows(q):  # noqa: ANN001, ANN202
            return [tuple(r) for r in c.execute(q)]
        state = {
            "profile": rows(select(Account.display_name, Account.note, Account.email, Account.password_hash,
                                   Account.locked, Account.bot, Account.discoverable).where(Account.id == ann_id)),
            "posts": rows(select(Post.id, Post.text, Post.visibility, Post.in_reply_to_id, Post.reblog_of_id)
                          .where(Post.account_id == ann_id).order_by(Post.id)),
            "follows": rows(select(Follow.target_account_id).where(Follow.account_id == ann_id)),
            "followers": rows(select(Follow.account_id).where(Follow.target_account_id == ann_id)),
            "follow_requests": rows(select(FollowRequest.account_id).where(FollowRequest.target_account_id == ann_id)),
            "blocks": rows(select(Block.target_account_id).where(Block.account_id == ann_id)),
            "mutes": rows(select(Mute.target_account_id).where(Mute.account_id == ann_id)),
            "favourites": rows(select(Favourite.post_id).where(Favourite.account_id == ann_id)),
            "tokens": rows(select(OAuthToken.id, OAuthToken.revoked_at).where(OAuthToken.account_id == ann_id)),
            "sessions": rows(select(WebSession.id).where(WebSession.account_id == ann_id)),
            "events": rows(select(EventRow.id).where(EventRow.account_id == ann_id).order_by(EventRow.id)),
            "notifications": rows(select(Notification.id).where(Notification.account_id == ann_id)),
            "conversations": rows(select(AssistantConversation.id, AssistantConversation.title)
                                  .where(AssistantConversation.account_id == ann_id)),
            "messages": rows(select(AssistantMessage.id, AssistantMessage.content).join(
                AssistantConversation, AssistantConversation.id == AssistantMessage.conversation_id)
                .where(AssistantConversation.account_id == ann_id).order_by(AssistantMessage.id)),
            "proposals": rows(select(AssistantProposal.id, AssistantProposal.status, AssistantProposal.arguments)
                              .where(AssistantProposal.account_id == ann_id)),
            "memory": rows(select(AssistantMemory.id, AssistantMemory.text)
                           .where(AssistantMemory.account_id == ann_id)),
            "assistant_prefs": rows(select(AssistantPrefs.memory_enabled).where(AssistantPrefs.account_id == ann_id)),
            "ais": rows(select(CreatorAI.id, CreatorAI.account_id, CreatorAI.instructions, CreatorAI.audience,
                               CreatorAI.auto_reply, CreatorAI.avatar, CreatorAI.tagline)
                        .where(CreatorAI.owner_id == ann_id)),
            "ai_accounts": rows(select(Account.id, Account.display_name, Account.note).join(
                CreatorAI, CreatorAI.account_id == Account.id).where(CreatorAI.owner_id == ann_id)),
            "ai_knowledge": rows(select(AIKnowledge.id, AIKnowledge.text).join(
                CreatorAI, CreatorAI.id == AIKnowledge.ai_id).where(CreatorAI.owner_id == ann_id)),
            "ai_threads": rows(select(AIDirectThread.id, AIDirectThread.mode).join(
                CreatorAI, CreatorAI.id == AIDirectThread.ai_id).where(CreatorAI.owner_id == ann_id)),
        }
    engine.dispose()
    return state


def fill(path: str, ids: dict[str, Any]) -> list[str]:
    """Concrete paths aimed at ann's things; one per target of each parameter."""
    values: dict[str, list[str]] = {
        "account_id": [str(ids["ann"])], "username": ["ann", "eve"], "notification_id": [str(ids["notification"])],
        "status_id": [str(ids[k]) for k in ("public", "private", "direct")],
        "post_id": [str(ids[k]) for k in ("public", "private", "direct")],
        "list_id": ["for-you"], "hashtag": ["walk"], "name": ["walk"],
        "conversation_id": [str(ids["conversation"])], "proposal_id": [str(ids["proposal"])],
        "memory_id": [str(ids["memory"])], "ai_id": [str(ids["ai"])], "handle": ["ann_ai"],
        "knowledge_id": [str(ids["note"])], "thread_id": [str(ids["thread"])],
        "action": sorted({*ACCOUNT_ACTIONS, *POST_TOGGLES, "delete", "hide", "reply", "takeover", "handback"}),
        "answer": ["authorize", "reject"],
    }
    out = [path]
    for name in PARAM.findall(path):
        assert name in values, f"the walk does not know how to aim route parameter {{{name}}} in {path}"
        out = [p.replace("{" + name + "}", v, 1) for p in out for v in values[name]]
    return out


def attack_body(ids: dict[str, Any]) -> dict[str, str]:
    """One form aimed at ann's things, for every write route."""
    return {"status": "mal was here", "in_reply_to_id": str(ids["private"]), "id": str(ids["notification"]),
            "token": ids["ann_token"], "client_id": ids["mal_client_id"], "client_secret": ids["mal_client_secret"],
            "display_name": "pwned", "note": "pwned", "text": "mal was here", "visibility": "public",
            "username": "ann", "password": "guess password", "grant_type": "password", "scope": "read"}


def attack_json(ids: dict[str, Any]) -> dict[str, Any]:
    """The same aimed as a JSON body (the Hearth and assistant APIs take JSON)."""
    return {"content": "mal was here", "title": "pwned", "text": "pwned", "enabled": False, "stream": False,
            "arguments": {"username": "@mal"}, "events": [{"verb": "hide", "post_id": str(ids["private"])}]}


def assert_no_secret(response: httpx.Response, where: str) -> None:
    body = response.text
    for secret in SECRETS:
        assert secret not in body, f"{where} leaked {secret!r} (status {response.status_code})"


async def test_another_users_token_or_session_cannot_act_or_read(settings: Settings) -> None:
    ids = await seed(settings.database_url)
    before = owned_state(settings.database_url, ids["ann"])
    app = create_app(settings)
    routes = list(walk_routes(app.router.routes))
    assert len(routes) > 50  # the walk sees the whole app
    mal_api = {"Authorization": f"Bearer {ids['mal_token']}"}
    mal_web = {"x-csrf-token": ids["mal_csrf"]}
    walked = 0
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            for route in routes:
                is_api = route.path.startswith(("/api/", "/oauth/", "/v1/"))
                for method in sorted(route.methods - {"HEAD"}):
                    for path in fill(route.path, ids):
                        write = method != "GET"
                        # As mal: a bearer token on the API, mal's own session (with mal's CSRF token) on the web.
                        c.cookies.clear()
                        if not is_api:
                            c.cookies.set("hearth_session", ids["mal_cookie"])
                        r = await c.request(method, path, headers=mal_api if is_api else mal_web,
                                            data=attack_body(ids) if write else None,
                                            params=None if write else {"q": "ann", "acct": "ann", "id[]": ids["ann"]})
                        assert r.status_code < 500, f"{method} {path}: {r.status_code} {r.text[:300]}"
                        assert_no_secret(r, f"{method} {path} as mal")
                        walked += 1
                        if write and is_api:  # the same with a JSON body
                            r = await c.request(method, path, headers=mal_api, json=attack_json(ids))
                            assert r.status_code < 500, f"{method} {path} (JSON): {r.status_code} {r.text[:300]}"
                            assert_no_secret(r, f"{method} {path} as mal (JSON)")
                            walked += 1
                        if write and not is_api:
                            # ann's own session cookie without her CSRF token (a forged cross-site form).
                            c.cookies.clear()
                            c.cookies.set("hearth_session", ids["ann_cookie"])
                            r = await c.request(method, path, data=attack_body(ids))
                            assert r.status_code in (303, 400, 403, 404, 405, 422), \
                                f"forged {method} {path} with ann's cookie got {r.status_code}"
                            walked += 1
    after = owned_state(settings.database_url, ids["ann"])
    # New notifications to ann (mal followed or replied) are fine; none of ann's may vanish.
    assert set(before.pop("notifications")) <= set(after.pop("notifications"))
    for key in before:
        assert after[key] == before[key], f"mal changed ann's {key}: {before[key]} -> {after[key]}"
    assert walked > 100

"""The Mastodon-compatible API over ASGI, on SQLite and PostgreSQL: OAuth flows, scopes, entity
shapes, pagination Link headers, errors that write nothing, and the ranked feed as a list."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from hearth.app.main import create_app
from hearth.settings import Settings
from hearth.storage.db import make_engine, make_sessionmaker
from hearth.storage.models import Account, EventRow, Post, utcnow

OOB = "urn:ietf:wg:oauth:2.0:oob"
ALL = "read write follow push"

ACCOUNT_KEYS = {"id", "username", "acct", "display_name", "locked", "bot", "discoverable", "group", "created_at",
                "note", "url", "uri", "avatar", "avatar_static", "header", "header_static", "followers_count",
                "following_count", "statuses_count", "last_status_at", "emojis", "fields"}
STATUS_KEYS = {"id", "uri", "url", "created_at", "account", "content", "visibility", "sensitive", "spoiler_text",
               "media_attachments", "application", "mentions", "tags", "emojis", "reblogs_count", "favourites_count",
               "replies_count", "in_reply_to_id", "in_reply_to_account_id", "reblog", "language", "favourited",
               "reblogged", "muted", "bookmarked", "pinned", "edited_at", "poll", "card"}
RELATIONSHIP_KEYS = {"id", "following", "showing_reblogs", "notifying", "followed_by", "blocking", "blocked_by",
                     "muting", "muting_notifications", "requested", "domain_blocking", "endorsed", "note"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            yield c


async def count(settings: Settings, model) -> int:  # noqa: ANN001 - a model class
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            return int(await db.scalar(select(func.count()).select_from(model)))
    finally:
        await engine.dispose()


async def new_app(c: httpx.AsyncClient, redirect: str = OOB, scopes: str = ALL) -> dict:
    r = await c.post("/api/v1/apps", data={"client_name": "Test client", "redirect_uris": redirect, "scopes": scopes,
                                           "website": "https://client.example"})
    assert r.status_code == 200, r.text
    return r.json()


async def app_token(c: httpx.AsyncClient, app: dict) -> str:
    r = await c.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": app["client_id"],
                                           "client_secret": app["client_secret"], "scope": " ".join(app["scopes"])})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


async def sign_up(c: httpx.AsyncClient, app: dict, username: str) -> dict[str, str]:
    """Registers through the API and returns the new user's Authorization header."""
    r = await c.post("/api/v1/accounts", headers=bearer(await app_token(c, app)),
                     data={"username": username, "password": f"{username} password", "agreement": "true",
                           "email": f"{username}@example.org", "locale": "en"})
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


async def password_token(c: httpx.AsyncClient, app: dict, username: str, scope: str = ALL) -> dict[str, str]:
    r = await c.post("/oauth/token", data={"grant_type": "password", "client_id": app["client_id"],
                                           "client_secret": app["client_secret"], "username": username,
                                           "password": f"{username} password", "scope": scope})
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def links(response: httpx.Response) -> dict[str, dict[str, list[str]]]:
    """rel -> query parameters of that Link."""
    out = {}
    for part in response.headers.get("link", "").split(","):
        m = re.match(r'\s*<([^>]+)>;\s*rel="(\w+)"', part)
        if m:
            out[m.group(2)] = parse_qs(urlsplit(m.group(1)).query)
    return out


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


# ---- OAuth ----------------------------------------------------------------------------------
async def test_app_registration_and_sign_up(client, settings):
    app = await new_app(client)
    assert {"id", "name", "website", "scopes", "redirect_uri", "redirect_uris", "client_id",
            "client_secret"} <= set(app)
    assert app["scopes"] == ALL.split() and app["redirect_uris"] == [OOB]

    token = await app_token(client, app)
    r = await client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    assert r.json()["name"] == "Test client" and "client_secret" not in r.json()
    assert (await client.get("/api/v1/timelines/home", headers=bearer(token))).status_code == 401  # no user

    r = await client.post("/api/v1/accounts", headers=bearer(token),
                          data={"username": "ann", "password": "ann password", "email": "ann@example.org"})
    assert r.status_code == 422 and r.json()["details"]["agreement"][0]["error"] == "ERR_ACCEPTED"
    assert await count(settings, Account) == 0

    ann = await sign_up(client, app, "ann")
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=ann)).json()
    assert ACCOUNT_KEYS | {"source"} <= set(me) and me["username"] == "ann" and me["source"]["note"] == ""
    assert ISO_MS.match(me["created_at"])

    r = await client.post("/api/v1/accounts", headers=bearer(token),
                          data={"username": "ANN", "password": "another password", "agreement": "1"})
    assert r.status_code == 422 and r.json()["details"]["username"][0]["error"] == "ERR_TAKEN"
    r = await client.post("/api/v1/accounts", headers=ann, data={"username": "bob", "password": "bob password",
                                                                 "agreement": "1"})
    assert r.status_code == 403  # a user's token cannot create accounts
    assert await count(settings, Account) == 1


async def test_password_grant_and_token_errors(client):
    app = await new_app(client, scopes="read write")
    await sign_up(client, app, "ann")
    base = {"client_id": app["client_id"], "client_secret": app["client_secret"]}

    r = await client.post("/oauth/token", json={**base, "grant_type": "password", "username": "ann",
                                                "password": "ann password", "scope": "read"})
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "Bearer" and body["scope"] == "read"
    assert isinstance(body["created_at"], int)

    r = await client.post("/oauth/token", data={**base, "grant_type": "password", "username": "ann",
                                                "password": "wrong password"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant" and r.json()["error_description"]
    r = await client.post("/oauth/token", data={**base, "client_secret": "nope", "grant_type": "password",
                                                "username": "ann", "password": "ann password"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await client.post("/oauth/token", data={**base, "grant_type": "refresh_token", "refresh_token": "x"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = await client.post("/oauth/token", data={**base, "grant_type": "password", "username": "ann",
                                                "password": "ann password", "scope": "read follow"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope"  # the app did not register follow
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    r = await client.post("/oauth/token", headers={"Authorization": f"Basic {basic}"},
                          data={"grant_type": "client_credentials"})
    assert r.status_code == 200  # client_secret_basic


async def test_password_grant_is_rate_limited(settings):
    limited = settings.model_copy(update={"rate_limit_logins_per_account": "2/minute"})
    app = create_app(limited)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            oauth_app = await new_app(c)
            await sign_up(c, oauth_app, "ann")
            form = {"grant_type": "password", "client_id": oauth_app["client_id"], "username": "ann",
                    "client_secret": oauth_app["client_secret"], "password": "wrong password"}
            assert [(await c.post("/oauth/token", data=form)).status_code for _ in range(2)] == [400, 400]
            r = await c.post("/oauth/token", data={**form, "password": "ann password"})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


async def test_authorization_code_out_of_band(client):
    app = await new_app(client)
    await sign_up(client, app, "ann")
    query = {"client_id": app["client_id"], "redirect_uri": OOB, "response_type": "code", "scope": "read write"}
    page = await client.get("/oauth/authorize", params=query)
    assert page.status_code == 200 and 'name="password"' in page.text and "<label" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    fields = hidden_fields(page.text)

    forged = await client.post("/oauth/authorize", data={**fields, "csrf_token": "forged", "username": "ann",
                                                         "password": "ann password", "decision": "authorize"})
    assert forged.status_code == 403
    wrong = await client.post("/oauth/authorize", data={**fields, "username": "ann", "password": "wrong!",
                                                        "decision": "authorize"})
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text

    shown = await client.post("/oauth/authorize", data={**fields, "username": "ann", "password": "ann password",
                                                        "decision": "authorize"})
    code = re.search(r'<input type="text" id="code" value="([^"]+)" readonly>', shown.text).group(1)
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": OOB,
                "client_id": app["client_id"], "client_secret": app["client_secret"]}
    r = await client.post("/oauth/token", data=exchange)
    assert r.status_code == 200 and r.json()["scope"] == "read write"
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(r.json()["access_token"]))
    assert me.json()["username"] == "ann"
    again = await client.post("/oauth/token", data=exchange)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"  # codes are single-use


async def test_authorization_code_redirect_state_and_pkce(client):
    callback = "https://client.example/callback"
    app = await new_app(client, redirect=callback)
    await sign_up(client, app, "ann")
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"client_id": app["client_id"], "redirect_uri": callback, "response_type": "code", "scope": "read",
             "state": "xyz 1", "code_challenge": challenge, "code_challenge_method": "S256"}

    bad = await client.get("/oauth/authorize", params={**query, "redirect_uri": "https://evil.example/"})
    assert bad.status_code == 400 and "location" not in bad.headers
    plain = await client.get("/oauth/authorize", params={**query, "code_challenge_method": "plain"})
    assert plain.status_code == 400

    fields = hidden_fields((await client.get("/oauth/authorize", params=query)).text)
    r = await client.post("/oauth/authorize", data={**fields, "username": "ann", "password": "ann password",
                                                    "decision": "authorize"})
    assert r.status_code == 302
    sent = parse_qs(urlsplit(r.headers["location"]).query)
    assert r.headers["location"].startswith(callback + "?") and sent["state"] == ["xyz 1"]
    exchange = {"grant_type": "authorization_code", "redirect_uri": callback, "code": sent["code"][0],
                "client_id": app["client_id"], "client_secret": app["client_secret"]}
    r = await client.post("/oauth/token", data={**exchange, "code_verifier": "w" * 50})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    # logged in now (the form started a web session): Authorize without a password, with the session's CSRF token
    page = await client.get("/oauth/authorize", params=query)
    assert 'name="password"' not in page.text and "@ann" in page.text
    r = await client.post("/oauth/authorize", data={**hidden_fields(page.text), "decision": "authorize"})
    sent = parse_qs(urlsplit(r.headers["location"]).query)
    r = await client.post("/oauth/token", data={**exchange, "code": sent["code"][0], "code_verifier": verifier})
    assert r.status_code == 200 and r.json()["scope"] == "read"

    r = await client.post("/oauth/authorize", data={**hidden_fields(page.text), "decision": "deny"})
    denied = parse_qs(urlsplit(r.headers["location"]).query)
    assert denied["error"] == ["access_denied"] and denied["state"] == ["xyz 1"] and "code" not in denied


async def test_revoke_then_401(client):
    app = await new_app(client)
    ann = await sign_up(client, app, "ann")
    token = ann["Authorization"].split()[1]
    r = await client.post("/oauth/revoke", data={"client_id": app["client_id"], "client_secret": "wrong",
                                                 "token": token})
    assert r.status_code == 401
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=ann)).status_code == 200
    r = await client.post("/oauth/revoke", data={"client_id": app["client_id"], "client_secret": app["client_secret"],
                                                 "token": token})
    assert r.status_code == 200 and r.json() == {}
    r = await client.get("/api/v1/accounts/verify_credentials", headers=ann)
    assert r.status_code == 401 and r.json() == {"error": "The access token is invalid"}


async def test_scopes_are_enforced(client, settings):
    app = await new_app(client)
    await sign_up(client, app, "ann")
    bob = await sign_up(client, app, "bob")
    bob_id = (await client.get("/api/v1/accounts/verify_credentials", headers=bob)).json()["id"]
    reader = await password_token(client, app, "ann", scope="read")
    r = await client.post("/api/v1/statuses", headers=reader, data={"status": "hello"})
    assert r.status_code == 403 and "scope" in r.json()["error"]
    assert (await client.post(f"/api/v1/accounts/{bob_id}/follow", headers=reader)).status_code == 403
    assert (await client.get("/api/v1/timelines/home", headers=reader)).status_code == 200
    assert await count(settings, Post) == 0

    follower = await password_token(client, app, "ann", scope="read follow")
    assert (await client.post(f"/api/v1/accounts/{bob_id}/block", headers=follower)).json()["blocking"] is True
    assert (await client.post("/api/v1/statuses", headers=follower, data={"status": "x"})).status_code == 403
    writer = await password_token(client, app, "ann", scope="write:statuses")
    assert (await client.get("/api/v1/timelines/home", headers=writer)).status_code == 403
    assert (await client.post("/api/v1/statuses", headers=writer, data={"status": "x"})).status_code == 200
    assert (await client.get("/api/v1/timelines/home")).status_code == 401


# ---- entities -------------------------------------------------------------------------------
async def test_status_entities_and_actions(client):
    app = await new_app(client)
    ann, bob = await sign_up(client, app, "ann"), await sign_up(client, app, "bob")
    r = await client.post("/api/v1/statuses", headers=ann,
                          json={"status": "Hi <b>all</b> #Jazz\n\nsee https://example.org/a?b=1&c=2.",
                                "spoiler_text": "cw", "sensitive": True, "language": "en"})
    post = r.json()
    assert r.status_code == 200 and STATUS_KEYS <= set(post) and ACCOUNT_KEYS <= set(post["account"])
    assert "text" not in post and isinstance(post["id"], str) and ISO_MS.match(post["created_at"])
    assert post["content"].startswith("<p>Hi &lt;b&gt;all&lt;/b&gt; <a href=\"http://testserver/tags/jazz\"")
    assert "</p><p>see <a href=\"https://example.org/a?b=1&amp;c=2\"" in post["content"]
    assert post["tags"] == [{"name": "jazz", "url": "http://testserver/tags/jazz", "history": [], "following": False}]
    assert (post["spoiler_text"], post["sensitive"], post["language"]) == ("cw", True, "en")

    reply = (await client.post("/api/v1/statuses", headers=bob,
                               data={"status": "@ann nice", "in_reply_to_id": post["id"]})).json()
    assert reply["in_reply_to_id"] == post["id"] and reply["in_reply_to_account_id"] == post["account"]["id"]
    assert reply["mentions"] == [{"id": post["account"]["id"], "username": "ann", "acct": "ann",
                                  "url": "http://testserver/@ann"}]
    assert 'class="u-url mention">@<span>ann</span></a>' in reply["content"]

    fav = (await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=bob)).json()
    assert fav["favourited"] is True and fav["favourites_count"] == 1
    boost = (await client.post(f"/api/v1/statuses/{post['id']}/reblog", headers=bob)).json()
    assert boost["reblog"]["id"] == post["id"] and boost["reblog"]["reblogs_count"] == 1 and boost["reblogged"]
    assert [a["username"] for a in (await client.get(f"/api/v1/statuses/{post['id']}/favourited_by")).json()] == ["bob"]
    assert [a["username"] for a in (await client.get(f"/api/v1/statuses/{post['id']}/reblogged_by")).json()] == ["bob"]
    assert [s["id"] for s in (await client.get("/api/v1/favourites", headers=bob)).json()] == [post["id"]]

    seen = (await client.get(f"/api/v1/statuses/{post['id']}", headers=bob)).json()
    assert (seen["favourited"], seen["reblogged"], seen["replies_count"]) == (True, True, 1)
    thread = (await client.get(f"/api/v1/statuses/{reply['id']}/context")).json()
    assert [s["id"] for s in thread["ancestors"]] == [post["id"]] and thread["descendants"] == []

    un = (await client.post(f"/api/v1/statuses/{post['id']}/unreblog", headers=bob)).json()
    assert (un["reblogged"], un["reblogs_count"]) == (False, 0)
    assert (await client.post(f"/api/v1/statuses/{post['id']}/unfavourite", headers=bob)).json()["favourited"] is False

    assert (await client.delete(f"/api/v1/statuses/{post['id']}", headers=bob)).status_code == 403
    gone = await client.delete(f"/api/v1/statuses/{post['id']}", headers=ann)
    assert gone.json()["text"].startswith("Hi <b>all</b>") and gone.json()["tags"][0]["name"] == "jazz"
    assert (await client.get(f"/api/v1/statuses/{post['id']}")).status_code == 404


async def test_a_reused_post_id_renders_its_own_mentions_and_tags(client):
    """Rendering caches each post's mentions and tags; a post that gets a deleted post's id
    (SQLite reuses the highest rowid) must not show the deleted one's."""
    app = await new_app(client)
    ann, bob = await sign_up(client, app, "ann"), await sign_up(client, app, "bob")
    await sign_up(client, app, "cat")
    first = (await client.post("/api/v1/statuses", headers=ann, json={"status": "@bob #jazz"})).json()
    assert (await client.get(f"/api/v1/statuses/{first['id']}", headers=bob)).json()["tags"][0]["name"] == "jazz"
    assert (await client.delete(f"/api/v1/statuses/{first['id']}", headers=ann)).status_code == 200
    second = (await client.post("/api/v1/statuses", headers=ann, json={"status": "@cat #blues"})).json()
    again = (await client.get(f"/api/v1/statuses/{second['id']}", headers=bob)).json()
    assert [t["name"] for t in again["tags"]] == ["blues"] and [m["username"] for m in again["mentions"]] == ["cat"]


async def test_home_renders_each_change_and_only_the_viewers_own_flags(client):
    """Home renders from plain rows and a cache of each post's shared part; what it shows must
    equal the single-status route (ORM objects), follow every change to a post or its author,
    and keep one viewer's flags from another."""
    app = await new_app(client)
    ann, bob, cat = [await sign_up(client, app, n) for n in ("ann", "bob", "cat")]
    ann_id = (await client.get("/api/v1/accounts/verify_credentials", headers=ann)).json()["id"]
    for who in (bob, cat):
        assert (await client.post(f"/api/v1/accounts/{ann_id}/follow", headers=who)).status_code == 200
    post = (await client.post("/api/v1/statuses", headers=ann, json={"status": "@bob hello #jazz"})).json()
    assert (await client.post(f"/api/v1/statuses/{post['id']}/reblog", headers=cat)).status_code == 200

    async def home(who: dict) -> list[dict]:
        r = await client.get("/api/v1/timelines/home", headers=who)
        assert r.status_code == 200, r.text
        return r.json()

    async def single(who: dict, status_id: str) -> dict:
        return (await client.get(f"/api/v1/statuses/{status_id}", headers=who)).json()

    first = await home(bob)
    assert first == [await single(bob, post["id"])] and first[0]["tags"][0]["name"] == "jazz"
    assert first[0]["mentions"][0]["username"] == "bob" and first[0]["favourites_count"] == 0
    assert (await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=cat)).status_code == 200
    r = await client.patch("/api/v1/accounts/update_credentials", headers=ann, data={"display_name": "Ann A."})
    assert r.status_code == 200
    after = (await home(bob))[0]
    assert (after["favourites_count"], after["favourited"], after["account"]["display_name"]) == (1, False, "Ann A.")
    assert after == await single(bob, post["id"])
    cats = await home(cat)  # cat follows ann and sees its own reblog too
    boosted = next(s for s in cats if s["reblog"] is not None)
    assert boosted["reblog"]["id"] == post["id"] and boosted["reblogged"] and boosted["favourited"]
    assert boosted == await single(cat, boosted["id"])
    assert all(s["favourited"] for s in cats) and not (await home(bob))[0]["favourited"]


async def test_accounts_relationships_and_profile(client):
    app = await new_app(client)
    ann, bob = await sign_up(client, app, "ann"), await sign_up(client, app, "bob")
    ann_id = (await client.get("/api/v1/accounts/lookup", params={"acct": "ann"})).json()["id"]
    bob_id = (await client.get("/api/v1/accounts/lookup", params={"acct": "@bob@localhost"})).json()["id"]

    rel = (await client.post(f"/api/v1/accounts/{ann_id}/follow", headers=bob, data={"reblogs": "true"})).json()
    assert RELATIONSHIP_KEYS <= set(rel) and rel["following"] and rel["id"] == ann_id
    r = await client.get(f"/api/v1/accounts/relationships?id[]={ann_id}&id[]=999999&id[]={bob_id}", headers=bob)
    assert [(x["id"], x["following"]) for x in r.json()] == [(ann_id, True), (bob_id, False)]
    profile = (await client.get(f"/api/v1/accounts/{ann_id}")).json()
    assert profile["followers_count"] == 1 and ACCOUNT_KEYS <= set(profile)
    assert [a["id"] for a in (await client.get(f"/api/v1/accounts/{ann_id}/followers")).json()] == [bob_id]
    assert [a["id"] for a in (await client.get(f"/api/v1/accounts/{bob_id}/following")).json()] == [ann_id]

    rel = (await client.post(f"/api/v1/accounts/{bob_id}/remove_from_followers", headers=ann)).json()
    assert rel["followed_by"] is False
    rel = (await client.post(f"/api/v1/accounts/{bob_id}/mute", headers=ann)).json()
    assert rel["muting"] is True
    assert (await client.post(f"/api/v1/accounts/{bob_id}/unmute", headers=ann)).json()["muting"] is False
    assert (await client.post(f"/api/v1/accounts/{bob_id}/block", headers=ann)).json()["blocking"] is True
    assert (await client.post(f"/api/v1/accounts/{ann_id}/follow", headers=bob)).status_code == 403
    assert (await client.post(f"/api/v1/accounts/{bob_id}/unblock", headers=ann)).json()["blocking"] is False

    found = (await client.get("/api/v1/accounts/search", params={"q": "an"}, headers=bob)).json()
    assert [a["username"] for a in found] == ["ann"]

    me = await client.patch("/api/v1/accounts/update_credentials", headers=ann,
                            data={"display_name": "Ann A.", "note": "I <3 jazz\nand #tea", "locked": "false"})
    assert me.json()["display_name"] == "Ann A." and me.json()["source"]["note"] == "I <3 jazz\nand #tea"
    assert me.json()["note"].startswith("<p>I &lt;3 jazz<br />and <a ")
    r = await client.patch("/api/v1/accounts/update_credentials", headers=ann, json={"bot": True})
    assert r.json()["bot"] is True
    r = await client.patch("/api/v1/accounts/update_credentials", headers=ann,
                           files={"avatar": ("a.png", b"\x89PNG", "image/png")}, data={"display_name": "X"})
    assert r.status_code == 422
    assert (await client.get(f"/api/v1/accounts/{ann_id}")).json()["display_name"] == "Ann A."
    svg = await client.get(f"/avatars/{ann_id}.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and ">AA</text>" in svg.text


# ---- pagination -----------------------------------------------------------------------------
async def test_link_headers_and_limits(client):
    app = await new_app(client)
    ann = await sign_up(client, app, "ann")
    ids = [(await client.post("/api/v1/statuses", headers=ann, data={"status": f"post {i}"})).json()["id"]
           for i in range(5)]
    newest_first = ids[::-1]

    r = await client.get("/api/v1/timelines/home", params={"limit": 2}, headers=ann)
    assert [s["id"] for s in r.json()] == newest_first[:2]
    rel = links(r)
    assert rel["next"] == {"limit": ["2"], "max_id": [newest_first[1]]} and rel["prev"]["min_id"] == [newest_first[0]]
    r = await client.get("/api/v1/timelines/home", params={"limit": 2, "max_id": newest_first[1]}, headers=ann)
    assert [s["id"] for s in r.json()] == newest_first[2:4]
    r = await client.get("/api/v1/timelines/home", params={"limit": 2, "min_id": ids[0]}, headers=ann)
    assert [s["id"] for s in r.json()] == [ids[2], ids[1]]  # the oldest newer ones, newest first
    r = await client.get("/api/v1/timelines/home", params={"since_id": ids[3]}, headers=ann)
    assert [s["id"] for s in r.json()] == [ids[4]]
    r = await client.get("/api/v1/timelines/home", params={"max_id": ids[0]}, headers=ann)
    assert r.json() == [] and "link" not in r.headers

    ann_id = (await client.get("/api/v1/accounts/verify_credentials", headers=ann)).json()["id"]
    r = await client.get(f"/api/v1/accounts/{ann_id}/statuses", params={"limit": 1})
    assert len(r.json()) == 1 and links(r)["next"]["max_id"] == [newest_first[0]]
    assert (await client.get(f"/api/v1/accounts/{ann_id}/statuses", params={"pinned": "true"})).json() == []

    for name in ("bob", "cat", "dan"):
        h = await sign_up(client, app, name)
        await client.post(f"/api/v1/accounts/{ann_id}/follow", headers=h)
    r = await client.get(f"/api/v1/accounts/{ann_id}/followers", params={"limit": 2})
    assert [a["username"] for a in r.json()] == ["dan", "cat"]
    r = await client.get(f"/api/v1/accounts/{ann_id}/followers", params={"limit": 2, **{
        "max_id": links(r)["next"]["max_id"][0]}})
    assert [a["username"] for a in r.json()] == ["bob"]

    for i in range(41):
        await client.post("/api/v1/statuses", headers=ann, data={"status": f"more {i}"})
    assert len((await client.get("/api/v1/timelines/public", params={"limit": 1000})).json()) == 40


async def test_errors_are_clear_and_write_nothing(client, settings):
    app = await new_app(client)
    ann = await sign_up(client, app, "ann")
    for path in ("/api/v1/statuses/999999", "/api/v1/statuses/abc", "/api/v1/accounts/999999",
                 "/api/v1/accounts/999999/statuses", "/api/v1/notifications/999999"):
        r = await client.get(path, headers=ann)
        assert r.status_code == 404 and r.json()["error"], path
    assert (await client.post("/api/v1/statuses/999999/favourite", headers=ann)).status_code == 404

    r = await client.post("/api/v1/statuses", headers={**ann, "Content-Type": "application/json"},
                          content=b'{"status": "hi"')
    assert r.status_code == 422 and r.json() == {"error": "request body is not valid JSON"}
    r = await client.post("/api/v1/statuses", headers=ann, json={"status": "hi", "sensitive": "maybe"})
    assert r.status_code == 422 and "sensitive" in r.json()["error"]
    r = await client.post("/api/v1/statuses", headers=ann, json={"status": ["a", "b"]})
    assert r.status_code == 422 and "status" in r.json()["error"]
    r = await client.get("/api/v1/timelines/home", params={"limit": "ten"}, headers=ann)
    assert r.status_code == 422 and "limit" in r.json()["error"]
    r = await client.post("/api/v1/statuses", headers=ann, data={"status": "x" * (settings.max_post_chars + 1)})
    assert r.status_code == 422 and str(settings.max_post_chars) in r.json()["error"]
    r = await client.post("/api/v1/statuses", headers=ann, data={"status": "reply", "in_reply_to_id": "999999"})
    assert r.status_code == 404
    r = await client.post("/api/v1/statuses", headers=ann, data={"status": "pic", "media_ids[]": "1"})
    assert r.status_code == 422 and "media" in r.json()["error"]
    assert await count(settings, Post) == 0
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=ann)).json()
    assert me["statuses_count"] == 0


async def test_idempotency_key(client, settings):
    app = await new_app(client)
    ann, bob = await sign_up(client, app, "ann"), await sign_up(client, app, "bob")
    key = {"Idempotency-Key": "abc-123"}
    first = (await client.post("/api/v1/statuses", headers={**ann, **key}, data={"status": "once"})).json()
    again = (await client.post("/api/v1/statuses", headers={**ann, **key}, data={"status": "once"})).json()
    other = (await client.post("/api/v1/statuses", headers={**bob, **key}, data={"status": "once"})).json()
    assert first["id"] == again["id"] != other["id"]
    plain = (await client.post("/api/v1/statuses", headers=ann, data={"status": "once"})).json()
    assert plain["id"] not in (first["id"], other["id"])
    assert await count(settings, Post) == 3
    # A restarted server (a new app on the same database) still knows the key: no duplicate.
    restarted = create_app(settings)
    async with restarted.router.lifespan_context(restarted):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=restarted), base_url="http://testserver") as c:
            retry = (await c.post("/api/v1/statuses", headers={**ann, **key}, data={"status": "once"})).json()
    assert retry["id"] == first["id"] and await count(settings, Post) == 3
    # Two copies of one request at once: one post.
    key2 = {"Idempotency-Key": "race"}
    results = await asyncio.gather(*(client.post("/api/v1/statuses", headers={**ann, **key2},
                                                 data={"status": "twice?"}) for _ in range(4)))
    assert len({r.json()["id"] for r in results}) == 1 and await count(settings, Post) == 4
    # An hour later the key may be used again.
    from sqlalchemy import update as sql_update

    from hearth.storage.models import IdempotencyKey
    engine = make_engine(settings.database_url)
    async with engine.begin() as conn:
        await conn.execute(sql_update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=2)))
    await engine.dispose()
    later = (await client.post("/api/v1/statuses", headers={**ann, **key}, data={"status": "once"})).json()
    assert later["id"] != first["id"] and await count(settings, Post) == 5


# ---- notifications, search, suggestions, the for-you list, instance -----------------------
async def test_notifications(client):
    app = await new_app(client)
    ann, bob = await sign_up(client, app, "ann"), await sign_up(client, app, "bob")
    ann_id = (await client.get("/api/v1/accounts/verify_credentials", headers=ann)).json()["id"]
    await client.post(f"/api/v1/accounts/{ann_id}/follow", headers=bob)
    post = (await client.post("/api/v1/statuses", headers=ann, data={"status": "hello"})).json()
    await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=bob)
    await client.post("/api/v1/statuses", headers=bob, data={"status": "@ann hi"})

    r = await client.get("/api/v1/notifications", headers=ann)
    items = r.json()
    assert [n["type"] for n in items] == ["mention", "favourite", "follow"]
    assert {"id", "type", "created_at", "account"} <= set(items[0]) and items[0]["account"]["username"] == "bob"
    assert items[1]["status"]["id"] == post["id"] and "status" not in items[2]
    assert links(r)["next"]["max_id"] == [items[-1]["id"]]

    r = await client.get("/api/v1/notifications?types[]=follow&types[]=mention", headers=ann)
    assert [n["type"] for n in r.json()] == ["mention", "follow"]
    r = await client.get("/api/v1/notifications?exclude_types[]=mention&exclude_types[]=follow_request", headers=ann)
    assert [n["type"] for n in r.json()] == ["favourite", "follow"]
    assert (await client.get("/api/v1/notifications?types[]=poll", headers=ann)).json() == []

    one = await client.get(f"/api/v1/notifications/{items[0]['id']}", headers=ann)
    assert one.json()["id"] == items[0]["id"]
    assert (await client.get(f"/api/v1/notifications/{items[0]['id']}", headers=bob)).status_code == 404
    assert (await client.post(f"/api/v1/notifications/{items[0]['id']}/dismiss", headers=bob)).status_code == 404
    assert (await client.post(f"/api/v1/notifications/{items[0]['id']}/dismiss", headers=ann)).status_code == 200
    assert len((await client.get("/api/v1/notifications", headers=ann)).json()) == 2
    await client.post("/api/v1/notifications/clear", headers=ann)
    assert (await client.get("/api/v1/notifications", headers=ann)).json() == []


async def test_search_and_suggestions(client, settings):
    app = await new_app(client)
    ann, bob = await sign_up(client, app, "ann"), await sign_up(client, app, "bob")
    cat = await sign_up(client, app, "cat")
    ann_id = (await client.get("/api/v1/accounts/verify_credentials", headers=ann)).json()["id"]
    await client.post(f"/api/v1/accounts/{ann_id}/follow", headers=bob)
    await client.post("/api/v1/statuses", headers=ann, data={"status": "Jazz tonight #music"})

    r = (await client.get("/api/v2/search", params={"q": "jazz"}, headers=bob)).json()
    assert set(r) == {"accounts", "statuses", "hashtags"} and [s["content"][:12] for s in r["statuses"]] == [
        "<p>Jazz toni"]
    r = (await client.get("/api/v2/search", params={"q": "#mus", "type": "hashtags"}, headers=bob)).json()
    assert r["hashtags"] == [{"name": "music", "url": "http://testserver/tags/music", "history": [],
                              "following": False}] and r["accounts"] == []
    r = (await client.get("/api/v2/search", params={"q": "ann", "type": "accounts", "resolve": "true"})).json()
    assert [a["username"] for a in r["accounts"]] == ["ann"]
    assert (await client.get("/api/v2/search", params={"q": "x", "type": "nope"})).status_code == 422

    suggested = (await client.get("/api/v2/suggestions", headers=cat)).json()
    assert suggested and all(set(s) == {"source", "sources", "account"} for s in suggested)
    assert all(s["source"] in ("global", "past_interactions", "staff") for s in suggested)
    usernames = [s["account"]["username"] for s in suggested]
    assert "cat" not in usernames and "ann" in usernames
    v1 = (await client.get("/api/v1/suggestions", headers=cat)).json()
    assert [a["username"] for a in v1] == usernames

    assert (await client.delete(f"/api/v1/suggestions/{ann_id}", headers=cat)).json() == {}
    engine = make_engine(settings.database_url)
    async with make_sessionmaker(engine)() as db:
        hides = list(await db.execute(select(EventRow.verb, EventRow.target_kind, EventRow.target_id)
                                      .where(EventRow.verb == "hide")))
    await engine.dispose()
    assert hides == [("hide", "account", int(ann_id))]
    assert (await client.delete("/api/v1/suggestions/999999", headers=cat)).status_code == 404


async def test_for_you_list(client):
    app = await new_app(client)
    ann, bob = await sign_up(client, app, "ann"), await sign_up(client, app, "bob")
    ann_id = (await client.get("/api/v1/accounts/verify_credentials", headers=ann)).json()["id"]
    await client.post(f"/api/v1/accounts/{ann_id}/follow", headers=bob)
    posted = {(await client.post("/api/v1/statuses", headers=ann, data={"status": f"tune {i}"})).json()["id"]
              for i in range(3)}

    lists = (await client.get("/api/v1/lists", headers=bob)).json()
    assert lists == [{"id": "for-you", "title": "For you (Hearth ranked)", "replies_policy": "list",
                      "exclusive": False}]
    assert (await client.get("/api/v1/lists/nope", headers=bob)).status_code == 404
    assert (await client.get("/api/v1/timelines/list/nope", headers=bob)).status_code == 404

    seen: list[str] = []
    r = await client.get("/api/v1/timelines/list/for-you", params={"limit": 1}, headers=bob)
    while True:
        assert r.status_code == 200, r.text
        seen += [s["id"] for s in r.json()]
        nxt = links(r).get("next")
        if not nxt:
            break
        cursor = nxt["max_id"][0]
        assert not cursor.isdigit() and re.fullmatch(r"[A-Za-z0-9._~-]+", cursor)
        r = await client.get("/api/v1/timelines/list/for-you", params={"limit": 1, "max_id": cursor}, headers=bob)
    assert len(seen) == len(set(seen)) == 3 and set(seen) == posted
    r = await client.get("/api/v1/timelines/list/for-you", params={"max_id": "12345"}, headers=bob)
    assert r.status_code == 422 and "cursor" in r.json()["error"]


async def test_instance(client, settings):
    v1 = (await client.get("/api/v1/instance")).json()
    v2 = (await client.get("/api/v2/instance/")).json()
    assert v1["version"].startswith("4.2.0 (compatible; Hearth ") and v2["version"] == v1["version"]
    assert v2["configuration"]["statuses"]["max_characters"] == settings.max_post_chars
    assert v1["configuration"]["statuses"]["max_characters"] == settings.max_post_chars
    assert v2["registrations"]["enabled"] is settings.registrations_open and v2["domain"] == settings.instance_domain
    assert {"uri", "title", "description", "urls", "stats", "languages", "registrations"} <= set(v1)
    assert (await client.get("/api/v1/instance/peers")).json() == []
    assert (await client.get("/api/v1/custom_emojis")).json() == []


async def test_ids_beyond_64_bits_are_not_found_never_a_server_error(client, settings):
    """Every route with an id in its path, and the id-valued query and body parameters, with ids
    of 2^63 and 2^64 (past the database's BIGINT), with and without a token: 4xx or an empty page."""
    from starlette.routing import Route
    app = client._transport.app  # noqa: SLF001 - the app under test
    app_ = await new_app(client)
    ann = await sign_up(client, app_, "ann")
    await client.post("/api/v1/statuses", headers=ann, data={"status": "hello"})
    huge = [str(2**63), str(2**64), "-" + str(2**63)]
    checked = 0
    def routes(found):  # noqa: ANN001, ANN202 - included routers nest their routes
        for r in found:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                yield from routes(inner.routes)
            elif isinstance(r, Route):
                yield r

    for route in routes(app.routes):
        if "{" not in route.path or route.path.startswith("/static"):
            continue
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            for value in huge:
                path = re.sub(r"\{[^}]+\}", value, route.path)
                for headers in ({}, ann):
                    r = await client.request(method, path, headers=headers)
                    assert r.status_code < 500, (method, path, r.status_code, r.text[:200])
                    checked += 1
    assert checked > 100
    for value in huge:
        for name in ("max_id", "since_id", "min_id"):
            r = await client.get("/api/v1/timelines/home", params={name: value}, headers=ann)
            assert r.status_code == 200 and isinstance(r.json(), list), (name, value, r.text)
        r = await client.get("/api/v1/accounts/relationships", params={"id[]": value}, headers=ann)
        assert r.status_code in (200, 404, 422), r.text
        r = await client.post("/api/v1/statuses", headers=ann, data={"status": "re", "in_reply_to_id": value})
        assert r.status_code == 404, r.text
        r = await client.post("/api/hearth/v1/events", headers=ann,
                              json={"events": [{"verb": "impression", "post_id": value.lstrip("-")}]})
        assert r.status_code == 422, r.text
    r = await client.get("/api/v2/search", params={"q": "hello", "offset": str(2**100)}, headers=ann)
    assert r.status_code == 200 and r.json()["statuses"] == []  # found by schemathesis: was a 500
    r = await client.get("/api/v1/timelines/home", params={"max_id": str(2**64)}, headers=ann)
    assert [s["content"] for s in r.json()] == ["<p>hello</p>"]  # "everything below 2^64"


async def test_oversize_deep_and_malformed_bodies_are_4xx_and_write_nothing(client, settings):
    from hearth.storage.models import OAuthApp
    before = await count(settings, OAuthApp)
    big = (b'{"client_name": "' + b"x" * (settings.max_body_bytes + 10)
           + b'", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}')
    r = await client.post("/api/v1/apps", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["error"]

    async def chunked():  # no Content-Length: counted while it streams
        for _ in range(settings.max_body_bytes // 65536 + 2):
            yield b" " * 65536
    r = await client.post("/api/v1/apps", content=chunked(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    deep = b"[" * 1000 + b"]" * 1000
    for path in ("/api/v1/apps", "/oauth/token", "/api/hearth/v1/events"):
        r = await client.post(path, content=deep, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "nested deeper" in r.json()["error"], (path, r.text)
    nested_ok = b'{"client_name": "a", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "x": [[["fine"]]]}'
    assert (await client.post("/api/v1/apps", content=nested_ok,
                              headers={"Content-Type": "application/json"})).status_code == 200
    r = await client.post("/api/v1/apps", content=b'{"client_name": "\xff\xfe"}',
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "UTF-8" in r.json()["error"]
    r = await client.get("/api/v1/timelines/public", params={"q": "x" * (settings.max_query_bytes + 1)})
    assert r.status_code == 414
    assert await count(settings, OAuthApp) == before + 1  # only the one good registration


def test_json_depth_skips_brackets_inside_strings():
    from hearth.app.request_guard import json_depth
    assert json_depth(b'{"a": [1, {"b": "[[[[[["}]}') == 3
    assert json_depth(b'"just a string with \\" and [ inside"') == 0
    assert json_depth(b"[" * 70 + b"]" * 70) == 70


async def test_method_not_allowed_lists_every_method_of_the_path(client):
    r = await client.put("/api/v1/statuses/1")  # GET and DELETE are separate routes of this path
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} >= {"GET", "DELETE"}
    r = await client.patch("/api/v1/accounts/update_credentials")
    assert r.status_code != 405 or "PATCH" in r.headers["allow"]
    r = await client.delete("/api/v1/apps")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


async def test_locked_accounts_answer_follow_requests(client, settings):
    from hearth.storage.models import Follow
    app = await new_app(client)
    ann, bob, cat = [await sign_up(client, app, n) for n in ("ann", "bob", "cat")]
    r = await client.patch("/api/v1/accounts/update_credentials", headers=bob, data={"locked": "true"})
    assert r.status_code == 200 and r.json()["locked"] is True
    bob_id = r.json()["id"]
    secret = (await client.post("/api/v1/statuses", headers=bob,
                                data={"status": "for followers", "visibility": "private"})).json()
    ann_id = (await client.get("/api/v1/accounts/verify_credentials", headers=ann)).json()["id"]
    cat_id = (await client.get("/api/v1/accounts/verify_credentials", headers=cat)).json()["id"]

    rel = (await client.post(f"/api/v1/accounts/{bob_id}/follow", headers=ann)).json()
    assert rel["requested"] is True and rel["following"] is False
    assert await count(settings, Follow) == 0  # nothing granted yet
    assert (await client.get(f"/api/v1/statuses/{secret['id']}", headers=ann)).status_code == 404
    await client.post(f"/api/v1/accounts/{bob_id}/follow", headers=cat)
    listed = await client.get("/api/v1/follow_requests", headers=bob)
    assert [a["id"] for a in listed.json()] == [cat_id, ann_id]  # newest first
    assert (await client.get("/api/v1/follow_requests", headers=ann)).json() == []  # only one's own
    kinds = {n["type"] for n in (await client.get("/api/v1/notifications", headers=bob)).json()}
    assert "follow_request" in kinds
    them = (await client.get("/api/v1/accounts/relationships", params={"id[]": ann_id}, headers=bob)).json()
    assert them[0]["requested_by"] is True

    r = await client.post(f"/api/v1/follow_requests/{ann_id}/authorize", headers=bob)
    assert r.status_code == 200 and r.json()["followed_by"] is True and r.json()["requested_by"] is False
    rel = (await client.get("/api/v1/accounts/relationships", params={"id[]": bob_id}, headers=ann)).json()[0]
    assert rel["following"] is True and rel["requested"] is False
    assert (await client.get(f"/api/v1/statuses/{secret['id']}", headers=ann)).status_code == 200
    r = await client.post(f"/api/v1/follow_requests/{cat_id}/reject", headers=bob)
    assert r.status_code == 200 and r.json()["followed_by"] is False
    assert (await client.get(f"/api/v1/statuses/{secret['id']}", headers=cat)).status_code == 404
    assert (await client.post(f"/api/v1/follow_requests/{cat_id}/authorize", headers=bob)).status_code == 404
    assert (await client.get("/api/v1/follow_requests", headers=bob)).json() == []
    # A request can be withdrawn by unfollowing.
    await client.post(f"/api/v1/accounts/{bob_id}/follow", headers=cat)
    rel = (await client.post(f"/api/v1/accounts/{bob_id}/unfollow", headers=cat)).json()
    assert rel["requested"] is False and (await client.get("/api/v1/follow_requests", headers=bob)).json() == []
    me = (await client.get(f"/api/v1/accounts/{bob_id}", headers=ann)).json()
    assert me["followers_count"] == 1


async def test_openapi_declares_mastodon_parameters_security_and_errors(client):
    doc = (await client.get("/api/openapi.json")).json()
    paths = doc["paths"]
    home = paths["/api/v1/timelines/home"]["get"]
    assert {p["name"] for p in home["parameters"]} >= {"max_id", "since_id", "min_id", "limit"}
    post = paths["/api/v1/statuses"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert "status" in body["properties"] and "in_reply_to_id" in body["properties"]
    assert {"BearerToken", "OAuth2"} <= set(doc["components"]["securitySchemes"])
    assert {"BearerToken": []} in post["security"]
    assert post["responses"]["422"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
    assert "security" not in paths["/api/v1/apps"]["post"]  # registering an app needs no token
    for path, operations in paths.items():  # every API operation says how it fails
        if path.startswith("/api/v1/"):
            for op in operations.values():
                assert "404" in op["responses"] and "401" in op["responses"], path

"""Hearth's own API over HTTP (httpx on the ASGI app, inside its lifespan), on SQLite and
PostgreSQL: the ranked feed with reasons and an opaque cursor, people with social proof, feed
events (validated, nothing half-written), model status; bearer tokens and session cookies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from hearth.app.main import create_app
from hearth.services import accounts, auth, graph, posts
from hearth.storage.models import EventRow


@pytest.fixture
async def app(settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI, headers: dict | None = None, cookies: dict | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             headers=headers or {}, cookies=cookies or {})


async def _world(app: FastAPI) -> dict:
    """ann follows bob and cat; bob and cat follow dan; cat likes eve's post; tokens and a session for ann."""
    async with app.state.sessionmaker() as db:
        names = ("ann", "bob", "cat", "dan", "eve")
        p = {n: await accounts.create_profile(db, n, display_name=n.title()) for n in names}
        await db.commit()
        for a, b in (("ann", "bob"), ("ann", "cat"), ("bob", "dan"), ("cat", "dan")):
            await graph.follow(db, p[a], p[b].id)
        made = {n: [await posts.create_post(db, p[n], f"{n} post {i}") for i in range(3)] for n in p}
        secret = await posts.create_post(db, p["eve"], "followers only", visibility="private")
        await posts.favourite(db, p["cat"], made["eve"][0].id)
        read_write, _ = await auth.issue_token(db, None, p["ann"].id, ["read", "write"])
        write_only, _ = await auth.issue_token(db, None, p["ann"].id, ["write"])
        read_only, _ = await auth.issue_token(db, None, p["ann"].id, ["read"])
        cookie, session = await auth.start_session(db, p["ann"])
    return {"p": p, "made": made, "secret": secret, "token": read_write, "write_only": write_only,
            "read_only": read_only, "cookie": cookie, "csrf": session.csrf_token}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _count(app: FastAPI, *where) -> int:  # noqa: ANN002 - SQL clauses
    await app.state.events.flush()
    async with app.state.sessionmaker() as db:
        return int(await db.scalar(select(func.count(EventRow.id)).where(*where)))


async def test_feed_with_reasons_cursor_and_impressions(app):
    w = await _world(app)
    async with client(app, bearer(w["token"])) as c:
        r = await c.get("/api/hearth/v1/feed", params={"limit": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ranker"] == "heuristic" and body["next_cursor"] and body["caught_up"] is False
        first = body["entries"]
        assert len(first) == 3
        for e in first:
            assert e["reason"] and e["source"] in ("following", "similar", "popular", "suggested_author")
            assert e["status"]["id"] and e["status"]["account"]["username"] != "ann" and e["status"]["content"]
            assert isinstance(e["score"], float)
        seen = [e["status"]["id"] for e in first]
        cursor = body["next_cursor"]
        while cursor:
            r = await c.get("/api/hearth/v1/feed", params={"limit": 3, "cursor": cursor})
            assert r.status_code == 200, r.text
            seen += [e["status"]["id"] for e in r.json()["entries"]]
            cursor = r.json()["next_cursor"]
            assert r.json()["caught_up"] is (cursor is None)  # the last page says the viewer is caught up
        assert len(seen) == len(set(seen))  # no duplicates across pages
        assert str(w["made"]["eve"][0].id) in seen and str(w["secret"].id) not in seen
        reasons = {e["status"]["id"]: e["reason"] for e in first}
        assert any(r.startswith("From @") for r in reasons.values())

        r = await c.get("/api/hearth/v1/feed", params={"cursor": body["next_cursor"][:-4] + "xxxx"})
        assert r.status_code == 422 and "cursor" in r.json()["error"]
        r = await c.get("/api/hearth/v1/feed", params={"limit": 0})
        assert r.status_code == 422 and "limit" in r.json()["error"]
    ann = w["p"]["ann"].id
    served = await _count(app, EventRow.account_id == ann, EventRow.verb == "impression")
    assert served == len(seen)


async def test_auth_bearer_scopes_and_session_cookie(app):
    w = await _world(app)
    async with client(app) as c:
        r = await c.get("/api/hearth/v1/feed")
        assert r.status_code == 401 and "error" in r.json()
        r = await c.get("/api/hearth/v1/feed", headers=bearer("not-a-token"))
        assert r.status_code == 401
        r = await c.get("/api/hearth/v1/feed", headers=bearer(w["write_only"]))
        assert r.status_code == 403
    async with client(app, cookies={"hearth_session": w["cookie"]}) as c:
        r = await c.get("/api/hearth/v1/feed", params={"limit": 2})
        assert r.status_code == 200 and len(r.json()["entries"]) == 2
        event = {"events": [{"verb": "impression", "post_id": str(w["made"]["bob"][0].id)}]}
        before = await _count(app)
        r = await c.post("/api/hearth/v1/events", json=event)  # a cookie write without the CSRF header
        assert r.status_code == 403 and "CSRF" in r.json()["error"]
        assert await _count(app) == before
        r = await c.post("/api/hearth/v1/events", json=event, headers={"X-CSRF-Token": w["csrf"]})
        assert r.status_code == 202 and r.json() == {"accepted": 1}
        assert await _count(app) == before + 1
    async with client(app, bearer(w["read_only"])) as c:
        r = await c.post("/api/hearth/v1/events", json=event)
        assert r.status_code == 403


async def test_events_are_validated_and_hides_change_the_feed(app):
    w = await _world(app)
    ann = w["p"]["ann"].id
    bob_post, cat_post = w["made"]["bob"][0].id, w["made"]["cat"][0].id
    async with client(app, bearer(w["token"])) as c:
        before = await _count(app)
        bad_batches = [
            {"events": [{"verb": "impression", "post_id": str(bob_post)}, {"verb": "explode", "post_id": "1"}]},
            {"events": [{"verb": "impression", "post_id": str(bob_post)}, {"verb": "hide", "post_id": "999999"}]},
            {"events": [{"verb": "hide", "post_id": str(w["secret"].id)}]},  # not visible to ann
            {"events": [{"verb": "dwell", "post_id": str(bob_post)}]},  # dwell without seconds
            {"events": [{"verb": "dwell", "post_id": str(bob_post), "value": -3}]},
            {"events": [{"verb": "impression", "post_id": "12abc"}]},
            {"events": [{"verb": "impression", "post_id": str(bob_post)}] * 101},
            {"events": []},
            {"events": [{"verb": "impression", "post_id": str(bob_post), "extra": 1}]},
        ]
        for batch in bad_batches:
            r = await c.post("/api/hearth/v1/events", json=batch)
            assert r.status_code == 422, (batch, r.text)
            assert r.json()["error"]
        r = await c.post("/api/hearth/v1/events", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert await _count(app) == before  # nothing written by any of them
        assert "999999" in (await c.post("/api/hearth/v1/events", json=bad_batches[1])).json()["error"]

        ok = {"events": [{"verb": "impression", "post_id": str(bob_post), "surface": "for_you"},
                         {"verb": "dwell", "post_id": bob_post, "value": 2.5},
                         {"verb": "hide", "post_id": str(cat_post)}]}
        r = await c.post("/api/hearth/v1/events", json=ok)
        assert r.status_code == 202 and r.json() == {"accepted": 3}
        assert await _count(app, EventRow.account_id == ann, EventRow.verb == "dwell", EventRow.value == 2.5) == 1
        assert await _count(app, EventRow.account_id == ann, EventRow.verb == "hide",
                            EventRow.target_id == cat_post) == 1
        ids = {e["status"]["id"] for e in (await c.get("/api/hearth/v1/feed", params={"limit": 40})).json()["entries"]}
        assert str(cat_post) not in ids and str(w["made"]["cat"][1].id) in ids


async def test_people_and_model_status(app):
    w = await _world(app)
    async with client(app, bearer(w["token"])) as c:
        r = await c.get("/api/hearth/v1/people", params={"limit": 5})
        assert r.status_code == 200, r.text
        people = r.json()
        assert people[0]["account"]["username"] == "dan"
        assert people[0]["source"] == "friends_of_friends"
        assert {m["username"] for m in people[0]["mutuals"]} == {"bob", "cat"}
        assert set(people[0]["mutuals"][0]) == {"id", "username", "display_name"}
        assert "whom you follow" in people[0]["reason"]
        names = {p["account"]["username"] for p in people}
        assert not names & {"ann", "bob", "cat"}
        assert (await c.get("/api/hearth/v1/people", params={"limit": 500})).status_code == 422
        r = await c.get("/api/hearth/v1/model")
        assert r.status_code == 200
        status = r.json()
        assert status["ranker"] == "heuristic" and status["snapshot"] is None
        assert {"version", "trained_at", "loaded_at", "events_trained_on", "last_error"} <= set(status)

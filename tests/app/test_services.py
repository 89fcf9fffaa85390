"""The services layer on SQLite and PostgreSQL: actions, permissions, counters, the event log."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hearth.services import accounts, graph, notifications, posts, search, timelines
from hearth.services.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from hearth.services.pages import Page
from hearth.storage.models import EventRow, Notification, Post


async def _people(db):
    ann = await accounts.register(db, "ann", "correct horse", "ann@example.org")
    bob = await accounts.register(db, "bob", "battery staple", "bob@example.org")
    cat = await accounts.register(db, "cat", "cat password 1")
    return ann, bob, cat


async def test_register_and_login(db):
    ann, _, _ = await _people(db)
    assert ann.password_hash.startswith("$argon2")
    assert (await accounts.authenticate(db, "ANN", "correct horse")).id == ann.id
    assert (await accounts.authenticate(db, "ann@example.org", "correct horse")).id == ann.id
    with pytest.raises(Unauthorized):
        await accounts.authenticate(db, "ann", "wrong password")
    with pytest.raises(Unauthorized):
        await accounts.authenticate(db, "nobody", "whatever1")
    with pytest.raises(Conflict):
        await accounts.register(db, "Ann", "another password")
    with pytest.raises(Invalid):
        await accounts.register(db, "bad name!", "long enough")
    with pytest.raises(Invalid):
        await accounts.register(db, "dan", "short")


async def test_posts_replies_favourites_reblogs(db):
    ann, bob, cat = await _people(db)
    p = await posts.create_post(db, ann, "hello #Hearth world")
    assert p.account.username == "ann" and p.visibility == "public"
    with pytest.raises(Invalid):
        await posts.create_post(db, ann, "x" * 501)
    with pytest.raises(Invalid):
        await posts.create_post(db, ann, "   ")
    before = await db.scalar(select(func.count(Post.id)))
    with pytest.raises(NotFound):
        await posts.create_post(db, bob, "reply to nothing", in_reply_to_id=999999)
    assert await db.scalar(select(func.count(Post.id))) == before  # nothing half-written

    r = await posts.create_post(db, bob, "@ann nice", in_reply_to_id=p.id)
    await posts.favourite(db, bob, p.id)
    await posts.favourite(db, bob, p.id)  # idempotent
    rb = await posts.reblog(db, cat, p.id)
    assert rb.reblog.id == p.id and (await posts.reblog(db, cat, p.id)).id == rb.id
    await db.refresh(p)
    assert (p.replies_count, p.favourites_count, p.reblogs_count) == (1, 1, 1)
    thread = await posts.context(db, None, p.id)
    assert [d.id for d in thread.descendants] == [r.id]
    assert [a.id for a in (await posts.context(db, None, r.id)).ancestors] == [p.id]
    types = sorted(n.type for n in await notifications.list_notifications(db, ann, Page()))
    assert types == ["favourite", "mention", "reblog"]
    with pytest.raises(Forbidden):
        await posts.delete_post(db, bob, p.id)
    await posts.unfavourite(db, bob, p.id)
    await posts.unreblog(db, cat, p.id)
    await db.refresh(p)
    assert (p.favourites_count, p.reblogs_count) == (0, 0)
    verbs = [v for (v,) in await db.execute(select(EventRow.verb).order_by(EventRow.id))]
    assert verbs == ["post", "post", "reply", "like", "share", "unlike", "unshare"]
    await posts.delete_post(db, ann, p.id)
    with pytest.raises(NotFound):
        await posts.get_post(db, bob, p.id)


async def test_visibility_and_home_timeline(db):
    ann, bob, cat = await _people(db)
    await graph.follow(db, bob, ann.id)
    pub = await posts.create_post(db, ann, "public")
    priv = await posts.create_post(db, ann, "followers only", visibility="private")
    dm = await posts.create_post(db, ann, "@cat secret", visibility="direct")
    home = [p.id for p in await timelines.home(db, bob, Page())]
    assert home == [priv.id, pub.id]
    with pytest.raises(NotFound):
        await posts.get_post(db, cat, priv.id)
    assert (await posts.get_post(db, cat, dm.id)).id == dm.id
    with pytest.raises(NotFound):
        await posts.get_post(db, bob, dm.id)
    with pytest.raises(Forbidden):
        await posts.reblog(db, bob, priv.id)
    public = [p.id for p in await timelines.public(db, None, Page())]
    assert public == [pub.id]
    # pagination: max_id / min_id
    page = await timelines.home(db, bob, Page(limit=1))
    older = await timelines.home(db, bob, Page(max_id=page[0].id, limit=1))
    assert [p.id for p in older] == [pub.id]
    newer = await timelines.home(db, bob, Page(min_id=pub.id, limit=5))
    assert [p.id for p in newer] == [priv.id]


async def test_home_fast_path_matches_the_full_query(db, monkeypatch):
    """The per-author seek and chunked rules give the very pages the full query gives, when the
    rules drop most of the newest posts (replies to strangers, a muted author's reblogs)."""
    import random
    rng = random.Random(7)
    people = [await accounts.register(db, f"user{i}", "long enough pw") for i in range(8)]
    viewer, stranger, muted = people[0], people[6], people[7]
    for p in people[1:6]:
        await graph.follow(db, viewer, p.id)
    await graph.follow(db, viewer, muted.id)
    originals = [await posts.create_post(db, stranger, f"stranger {i}") for i in range(3)]
    originals.append(await posts.create_post(db, muted, "muted one"))
    for i in range(120):
        author = rng.choice(people[1:6])
        kind = rng.random()
        if kind < 0.5:  # a reply to a stranger: not in home
            await posts.create_post(db, author, f"re {i}", in_reply_to_id=rng.choice(originals[:3]).id)
        elif kind < 0.6:
            await posts.create_post(db, author, f"private {i}", visibility="private")
        else:
            await posts.create_post(db, author, f"post {i}")
    await graph.mute(db, viewer, muted.id)
    for p in people[1:3]:
        await posts.reblog(db, p, originals[3].id)  # reblogs of a muted author: not in home

    async def pages(limit: int, home=timelines.home) -> list[list[int]]:  # noqa: ANN001 - home or home_data
        out, max_id = [], None
        while True:
            page = [p.id for p in await home(db, viewer, Page(max_id=max_id, limit=limit))]
            if not page:
                return out
            out.append(page)
            max_id = page[-1]

    for limit in (1, 3, 20):
        fast, fast_data = await pages(limit), await pages(limit, timelines.home_data)
        monkeypatch.setattr(timelines, "SEEK_AUTHORS_MAX", 0)  # every page by the full query
        full, full_data = await pages(limit), await pages(limit, timelines.home_data)
        monkeypatch.undo()
        assert fast == full == fast_data == full_data and sum(map(len, full)) > 40
    middle = full[len(full) // 2][0]  # above an id (since_id): the newest above it, on both paths
    fast_since = [p.id for p in await timelines.home(db, viewer, Page(since_id=middle, limit=5))]
    monkeypatch.setattr(timelines, "SEEK_AUTHORS_MAX", 0)
    assert fast_since == [p.id for p in await timelines.home(db, viewer, Page(since_id=middle, limit=5))]
    assert len(fast_since) == 5 and min(fast_since) > middle


async def test_block_and_mute(db):
    ann, bob, cat = await _people(db)
    await graph.follow(db, bob, ann.id)
    await graph.follow(db, ann, bob.id)
    await db.refresh(ann)
    assert (ann.followers_count, ann.following_count) == (1, 1)
    p = await posts.create_post(db, ann, "before the block")
    await graph.block(db, ann, bob.id)
    await db.refresh(ann)
    assert (ann.followers_count, ann.following_count) == (0, 0)
    with pytest.raises(NotFound):
        await posts.get_post(db, bob, p.id)
    with pytest.raises(Forbidden):
        await graph.follow(db, bob, ann.id)
    rel = (await graph.relationships(db, bob, [ann.id]))[0]
    assert rel.blocked_by and not rel.following
    await graph.follow(db, cat, ann.id)
    await graph.mute(db, cat, ann.id)
    assert await timelines.home(db, cat, Page()) == []
    with pytest.raises(Invalid):
        await graph.follow(db, cat, cat.id)
    n = await db.scalar(select(func.count(Notification.id)).where(Notification.account_id == ann.id))
    assert n == 2  # bob's follow, cat's follow


async def test_search(db):
    ann, bob, _ = await _people(db)
    await posts.create_post(db, ann, "Jazz tonight #music")
    res = await search.search(db, bob, "jazz")
    assert [p.text for p in res.statuses] == ["Jazz tonight #music"]
    assert [a.username for a in (await search.search(db, bob, "an", type_="accounts")).accounts] == ["ann"]
    assert (await search.search(db, bob, "#mus", type_="hashtags")).hashtags == [("music", 1)]
    assert (await search.search(db, bob, "100%", type_="statuses")).statuses == []


async def test_post_data_read_with_core_equals_the_loaded_posts(db):
    """Hot lists read `PostData` with Core; every other route converts loaded ORM posts. Both must
    give the same values (the renderer's cache compares them), reblogs with their originals."""
    from hearth.services import status_data
    ann, bob, _ = await _people(db)
    await accounts.update_profile(db, ann, display_name="Ann", note="hi @bob")
    first = await posts.create_post(db, ann, "@bob hello #jazz", spoiler_text="cw", sensitive=True, language="en")
    reply = await posts.create_post(db, bob, "hi", in_reply_to_id=first.id)
    boost = await posts.reblog(db, bob, first.id)
    ids = [first.id, reply.id, boost.id]
    db.expunge_all()
    read = await status_data.load(db, ids)
    loaded = await posts.load_many(db, ids)
    assert set(read) == set(ids)
    assert {i: status_data.of_post(p) for i, p in loaded.items()} == read
    assert read[boost.id].reblog == read[first.id] and read[first.id].account.display_name == "Ann"
    assert read[reply.id].in_reply_to_account_id == ann.id and read[first.id].replies_count == 1

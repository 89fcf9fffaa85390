"""The ranked "For you" feed and people you may know (heuristic ranker), on SQLite and
PostgreSQL: candidate sources, reasons, policy (nothing own, blocked, muted, hidden, dismissed
or seen; author diversity; in/out-of-network mix), the opaque cursor, snapshot status."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select, update

from hearth.app import hydrate
from hearth.services import accounts, events, graph, posts
from hearth.services.events import EventBuffer
from hearth.serving.candidates import FOLLOWING, PostFacts
from hearth.serving.cursor import FeedCursor, decode_cursor, encode_cursor
from hearth.serving.errors import InvalidRequest
from hearth.serving.rank import Scored, blend_value, feed_reason, final_score, freshness, select_page
from hearth.serving.service import ServingState
from hearth.storage.db import make_engine, make_sessionmaker
from hearth.storage.models import EventRow, Post, utcnow


@pytest.fixture
async def serving(settings):
    engine = make_engine(settings.database_url)
    state = ServingState(settings, make_sessionmaker(engine))
    yield state
    await state.stop()
    await engine.dispose()


async def _profile(db, name):
    a = await accounts.create_profile(db, name)
    await db.commit()
    return a


async def _community(db):
    """ann follows bob and cat; bob likes dan's post; eve is popular; fay follows gus."""
    names = ["ann", "bob", "cat", "dan", "eve", "fay", "gus"]
    p = {n: await _profile(db, n) for n in names}
    await graph.follow(db, p["ann"], p["bob"].id)
    await graph.follow(db, p["ann"], p["cat"].id)
    await graph.follow(db, p["bob"], p["gus"].id)
    await graph.follow(db, p["cat"], p["gus"].id)
    await graph.follow(db, p["fay"], p["gus"].id)
    made = {}
    made["ann"] = await posts.create_post(db, p["ann"], "my own post")
    made["bob"] = [await posts.create_post(db, p["bob"], f"bob post {i}") for i in range(4)]
    made["cat"] = await posts.create_post(db, p["cat"], "cat post")
    made["dan"] = await posts.create_post(db, p["dan"], "dan post")
    await posts.favourite(db, p["bob"], made["dan"].id)
    made["eve"] = await posts.create_post(db, p["eve"], "eve's popular post")
    for n in ("bob", "cat", "dan", "fay", "gus"):
        await posts.favourite(db, p[n], made["eve"].id)
    made["gus"] = await posts.create_post(db, p["gus"], "gus post")
    return p, made


async def _all_pages(serving, db, viewer, limit=3):
    entries, cursor, pages = [], None, 0
    while True:
        page = await serving.feed(db, viewer, limit=limit, cursor=cursor)
        entries += page.entries
        pages += 1
        cursor = page.cursor
        if cursor is None or pages > 20:
            return entries, pages


async def test_feed_sources_reasons_and_policy(serving, db):
    p, made = await _community(db)
    page = await serving.feed(db, p["ann"], limit=20)
    assert page.ranker == "heuristic"
    by_id = {e.post_id: e for e in page.entries}
    assert made["ann"].id not in by_id  # never one's own posts
    assert by_id[made["cat"].id].reason == "From @cat, whom you follow"
    assert by_id[made["cat"].id].source == "following"
    assert by_id[made["dan"].id].reason == "Liked by @bob, whom you follow"
    assert by_id[made["dan"].id].source == "similar"
    assert by_id[made["eve"].id].source in ("similar", "popular")
    assert by_id[made["gus"].id].reason == "@gus may be someone you know"  # followed by bob and cat
    assert sum(1 for e in page.entries if e.author_id == p["bob"].id) == 2  # max_posts_per_author
    assert all(e.reason for e in page.entries)
    assert [e.score for e in page.entries] == sorted((e.score for e in page.entries), reverse=True)
    assert (await hydrate.feed_entries(db, page))[0].post.account.username  # loaded for rendering

    await graph.block(db, p["ann"], p["eve"].id)
    await graph.mute(db, p["ann"], p["cat"].id)
    await posts.hide(db, p["ann"], made["dan"].id)
    events.record(db, p["ann"].id, "hide", "account", p["gus"].id)  # a dismissed suggestion
    await db.commit()
    shown = {e.post_id for e in (await serving.feed(db, p["ann"], limit=20)).entries}
    assert shown and not shown & {made["eve"].id, made["cat"].id, made["dan"].id, made["gus"].id}


async def test_blocked_by_author_and_seen_posts_are_left_out(serving, db):
    p, made = await _community(db)
    await graph.block(db, p["dan"], p["ann"].id)  # dan blocks ann: ann must not see dan's post
    old = utcnow() - timedelta(minutes=serving.settings.seen_grace_minutes + 5)
    events.record(db, p["ann"].id, "impression", "item", made["cat"].id, ts=old)  # seen long ago
    events.record(db, p["ann"].id, "impression", "item", made["eve"].id)  # just now: still in grace
    await db.commit()
    shown = {e.post_id for e in (await serving.feed(db, p["ann"], limit=20)).entries}
    assert made["dan"].id not in shown and made["cat"].id not in shown
    assert made["eve"].id in shown


async def test_pagination_never_repeats_and_cursor_is_checked(serving, db):
    p, made = await _community(db)
    entries, pages = await _all_pages(serving, db, p["ann"], limit=2)
    ids = [e.post_id for e in entries]
    assert pages >= 3 and len(ids) == len(set(ids))
    everything = {e.post_id for e in (await serving.feed(db, p["ann"], limit=40)).entries}
    assert everything <= set(ids)  # the pages together hold the whole feed
    assert {b.id for b in made["bob"]} <= set(ids)  # the author cap is per page: later pages bring the rest
    first = await serving.feed(db, p["ann"], limit=2)
    with pytest.raises(InvalidRequest, match="cursor"):
        await serving.feed(db, p["ann"], limit=2, cursor=first.cursor[:-3] + "abc")
    with pytest.raises(InvalidRequest, match="cursor"):
        await serving.feed(db, p["bob"], limit=2, cursor=first.cursor)  # another viewer's cursor
    with pytest.raises(InvalidRequest, match="limit"):
        await serving.feed(db, p["ann"], limit=0)


async def _quiet_account(db, name, n, days=10):
    """An account whose only posts are `days` old (written first, so their ids are below the window's)."""
    quiet = await _profile(db, name)
    made = [await posts.create_post(db, quiet, f"{name} post {i}") for i in range(n)]
    for i, post in enumerate(made):
        await db.execute(update(Post).where(Post.id == post.id)
                         .values(created_at=utcnow() - timedelta(days=days, minutes=n - i)))
    await db.commit()
    return quiet, made


async def test_followed_account_with_only_old_posts_is_on_the_first_page(serving, db):
    zed, old = await _quiet_account(db, "zed", 4)
    assert serving.settings.feed_window_hours < 10 * 24  # outside the candidate window
    p, made = await _community(db)
    await graph.follow(db, p["ann"], zed.id)
    page = await serving.feed(db, p["ann"], limit=10)
    zeds = [e for e in page.entries if e.author_id == zed.id]
    assert len(zeds) == serving.settings.max_posts_per_author
    assert {e.post_id for e in zeds} <= {o.id for o in old[-3:]}  # the newest few, whatever their age
    assert all(e.reason == "From @zed, whom you follow" and e.source == "following" for e in zeds)
    assert page.entries[-1].author_id == zed.id  # ranked with the freshness decay: fresher posts first


async def test_following_or_liking_changes_the_next_page(serving, db):
    zed, old = await _quiet_account(db, "zed", 2)
    p, made = await _community(db)
    kim = await _profile(db, "kim")
    kims = await posts.create_post(db, kim, "kim's quiet post")
    await graph.follow(db, zed, kim.id)
    first = await serving.feed(db, p["ann"], limit=2)  # fills the per-viewer caches (friends of friends)
    everything = {e.post_id for e in (await serving.feed(db, p["ann"], limit=40)).entries}
    assert not everything & {kims.id, *(o.id for o in old)}
    await graph.follow(db, p["ann"], zed.id)
    after = {e.post_id: e for e in (await serving.feed(db, p["ann"], limit=20, cursor=first.cursor)).entries}
    assert {o.id for o in old} <= set(after)  # zed's posts, days old
    assert after[kims.id].reason == "@kim may be someone you know"  # zed follows kim: not hidden by a cache

    lou = await _profile(db, "lou")
    liked = await posts.create_post(db, p["dan"], "dan's second post")
    other = await posts.create_post(db, p["eve"], "eve's second post")
    for post in (liked, other):
        await posts.favourite(db, lou, post.id)
    first = await serving.feed(db, p["ann"], limit=2)
    assert other.id not in {e.post_id for e in first.entries}
    await posts.favourite(db, p["ann"], liked.id)  # lou, who liked it too, becomes a co-liker at once
    rest = {e.post_id: e for e in (await serving.feed(db, p["ann"], limit=40, cursor=first.cursor)).entries}
    assert liked.id not in rest and rest[other.id].reason == "Similar to posts you liked"


async def test_paging_to_the_end_brings_older_followed_posts_then_says_caught_up(serving, db):
    zed, old = await _quiet_account(db, "zed", 8)
    p, made = await _community(db)
    await graph.follow(db, p["ann"], zed.id)
    pages = []
    cursor = None
    while len(pages) < 30:
        page = await serving.feed(db, p["ann"], limit=3, cursor=cursor)
        pages.append(page)
        cursor = page.cursor
        if cursor is None:
            break
    assert pages[-1].caught_up and pages[-1].cursor is None and not any(pg.caught_up for pg in pages[:-1])
    ids = [e.post_id for pg in pages for e in pg.entries]
    assert len(ids) == len(set(ids))
    assert {o.id for o in old} <= set(ids)  # deeper into zed's past as the newer posts are served
    assert {b.id for b in made["bob"]} | {made["cat"].id, made["dan"].id, made["eve"].id} <= set(ids)


async def test_served_entries_are_recorded_as_impressions(serving, db, settings):
    p, made = await _community(db)
    buffer = EventBuffer(serving.sessionmaker)
    page = await serving.feed(db, p["ann"], limit=5)
    shown = await hydrate.feed_entries(db, page)
    assert [e.post.id for e in shown] == [e.post_id for e in page.entries]
    hydrate.record_impressions(buffer, p["ann"].id, shown, "for_you")
    assert await buffer.flush() == len(page.entries) > 0
    rows = list(await db.execute(select(EventRow.target_id, EventRow.context).where(
        EventRow.account_id == p["ann"].id, EventRow.verb == "impression")))
    assert {r[0] for r in rows} == {e.post_id for e in page.entries}
    assert all(r[1]["surface"] == "for_you" and r[1]["served"] for r in rows)


async def test_new_account_gets_popular_posts(serving, db):
    p, made = await _community(db)
    newbie = await _profile(db, "newbie")
    page = await serving.feed(db, newbie, limit=10)
    assert page.entries and page.entries[0].post_id == made["eve"].id
    assert page.entries[0].reason == "Popular today" and page.entries[0].source == "popular"


async def test_people_you_may_know(serving, db):
    p, made = await _community(db)
    found = await serving.people(db, p["ann"], limit=10)
    ids = [s.account_id for s in found]
    assert ids[0] == p["gus"].id  # followed by two people ann follows
    gus = found[0]
    assert gus.source == "friends_of_friends"
    assert set(gus.mutual_ids) == {p["bob"].id, p["cat"].id}
    shown = await hydrate.people(db, found)
    assert shown[0].account.username == "gus" and {m.username for m in shown[0].mutuals} == {"bob", "cat"}
    assert gus.reason in ("Followed by @bob and @cat, whom you follow", "Followed by @cat and @bob, whom you follow")
    assert p["ann"].id not in ids and p["bob"].id not in ids and p["cat"].id not in ids  # self, followed
    events.record(db, p["ann"].id, "hide", "account", p["gus"].id)  # dismissed
    await db.commit()
    await graph.block(db, p["ann"], p["eve"].id)
    await graph.mute(db, p["ann"], p["fay"].id)
    ids = [s.account_id for s in await serving.people(db, p["ann"], limit=10)]
    assert not {p["gus"].id, p["eve"].id, p["fay"].id} & set(ids)
    assert p["dan"].id in ids
    with pytest.raises(InvalidRequest):
        await serving.people(db, p["ann"], limit=0)


async def test_status_and_a_broken_snapshot_keep_the_heuristic(serving, settings, db):
    assert serving.status()["ranker"] == "heuristic" and serving.status()["snapshot"] is None
    broken = settings.snapshot_dir / "v0001"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    (broken / "weights.safetensors").write_bytes(b"junk")
    assert await serving.reload() is False
    status = serving.status()
    assert status["ranker"] == "heuristic" and "v0001" in status["last_error"]
    p, made = await _community(db)
    assert (await serving.feed(db, p["ann"], limit=5)).entries  # still serving
    assert await db.scalar(select(func.count(EventRow.id))) > 0


# ---- pure parts -------------------------------------------------------------------------------
def test_cursor_round_trip_and_tampering():
    c = FeedCursor(ranked_at=1700000000.5, page=2, served=[5, 9, 11])
    text = encode_cursor(7, c)
    assert decode_cursor(7, text) == c
    for bad in ("", "not base64 at all!", text[:-2], text + "AA", encode_cursor(8, c)):
        with pytest.raises(InvalidRequest):
            decode_cursor(7, bad)


def _scored(pid, author, score, following):
    f = PostFacts(pid, author, 0.0, sources={FOLLOWING} if following else {"popular"})
    return Scored(f, score, 1.0, score, "heuristic")


def test_page_policy_mixes_networks_and_caps_authors():
    inside = [_scored(i, 1 + i % 2, 10.0 - i * 0.1, True) for i in range(10)]  # two authors, high scores
    outside = [_scored(100 + i, 10 + i, 1.0 - i * 0.1, False) for i in range(5)]
    page = select_page(inside + outside, limit=6, max_per_author=2, out_of_network_share=0.3)
    authors = [s.facts.author for s in page]
    assert all(authors.count(a) <= 2 for a in authors)
    assert sum(not s.in_network for s in page) == 2  # round(0.3 * 6), though they score lower
    # in-network runs short (4 posts after the author cap): out-of-network fills the page
    page = select_page(inside + outside, limit=8, max_per_author=2, out_of_network_share=0.3)
    assert len(page) == 8 and sum(s.in_network for s in page) == 4
    only_out = select_page(outside, limit=4, max_per_author=2, out_of_network_share=0.3)
    assert len(only_out) == 4


def test_value_blend_freshness_and_reasons():
    w = {"like": 1.0, "hide": -4.0}
    assert blend_value({"like": 0.5, "hide": 0.1, "post": 0.9}, w) == pytest.approx(0.1)
    assert freshness(24 * 3600, 24) == pytest.approx(0.5)
    assert final_score(1.0, 0.5) < final_score(1.0, 1.0)  # older ranks lower
    assert final_score(-1.0, 0.5) < final_score(-1.0, 1.0)  # also when the value is negative
    names = {1: "ann", 2: "bob", 3: "cat", 4: "dan"}
    f = PostFacts(9, 1, 0.0, sources={"similar"}, liked_by_following=[2, 3, 4])
    assert feed_reason(f, names, {}, 10.0) == "Liked by @bob and 2 others you follow"
    f = PostFacts(9, 1, 0.0, sources={"popular"})
    assert feed_reason(f, names, {1: 3.0}, 10.0) == "Because you liked posts by @ann"
    assert feed_reason(f, names, {}, 10.0) == "Popular today"


# ---- offline replay -------------------------------------------------------------------------------
def test_replay_scores_feeds_against_later_likes():
    from hearth.offline.replay import score_feeds
    m = score_feeds({1: [5, 6, 7], 2: [8]}, {1: {6, 9}, 2: {1}}, ks=(1, 10))
    assert m["hits@10"] == pytest.approx(0.5) and m["recall@10"] == pytest.approx(0.25)
    assert m["hits@1"] == 0.0 and m["users"] == 2
    ideal_1 = 1 + 1 / np.log2(3)
    assert m["ndcg@10"] == pytest.approx((1 / np.log2(3)) / ideal_1 / 2, abs=1e-5)  # rounded to 5 places


def test_replay_cuts_the_past_and_compares_feeds(tmp_path):
    import json

    from hearth.offline import replay
    from hearth.services.seed.synthetic import build_synthetic
    from hearth.storage.db import make_sync_engine
    from hearth.storage.models import Favourite, Follow, Post

    c = build_synthetic(accounts=80, posts=400, events=4000, anchor=replay.ANCHOR, seed=1, days=10)
    setup = replay.prepare(c, tmp_path / "w", cut_quantile=0.8, horizon_days=2, seed=0)
    engine = make_sync_engine(setup.url)
    try:
        with engine.connect() as conn:
            latest = [conn.scalar(select(func.max(col))) for col in
                      (Post.created_at, Favourite.created_at, Follow.created_at)]
            liked = {(a, p) for a, p in conn.execute(select(Favourite.account_id, Favourite.post_id))}
    finally:
        engine.dispose()
    assert all(t <= setup.cut for t in latest)  # nothing after the cut is in the database
    assert setup.valid_users and setup.test_users and not set(setup.valid_users) & set(setup.test_users)
    assert not {(u, p) for u, ps in setup.targets.items() for p in ps} & liked  # targets are later likes

    out = tmp_path / "replay.json"
    result = replay.run_replay("synthetic", None, out, tmp_path / "w2", model=False, community=c, horizon_days=2,
                               log=lambda _: None)
    saved = json.loads(out.read_text())
    assert saved["systems"].keys() == {"chronological", "heuristic", "learned"} and "cpu" in saved["machine"]
    learned = saved["systems"]["learned"]
    fit_cut = replay.dt.datetime.fromisoformat(learned["value_model"]["fit_cut"])
    assert fit_cut + timedelta(days=2) < setup.cut  # fit on the past: its labels end before the cut
    assert learned["value_model"]["positives"] > 0 and learned["chosen"]["feed_value_model"].endswith(".json")
    assert len(learned["valid_by_settings"]) == len(replay.L2_GRID) * len(replay.LEARNED_SHARES)
    assert saved["systems"]["heuristic"]["chosen"] in [dict(g) for g in replay.GRID]
    for system in saved["systems"].values():
        assert 0.0 <= system["test"]["recall@40"] <= 1.0 and system["test"]["users"] == len(setup.test_users)
    assert result["counts"] == setup.counts


def test_heuristic_value_matches_its_probabilities():
    from hearth.serving.heuristic import heuristic_probabilities, heuristic_value
    from hearth.settings import DEFAULT_VALUE_WEIGHTS
    posts_ = [PostFacts(1, 5, 0.0, favourites=40, sources={FOLLOWING}),
              PostFacts(2, 6, 3000.0, replies=3, liked_by_following=[7, 8], co_likes=2, sources={"similar"}),
              PostFacts(3, 9, 100.0, suggested_author_score=2.0, sources={"suggested_author"})]
    for p in posts_:
        probs = heuristic_probabilities(p, {5}, {6: 4.0}, 3600.0)
        assert heuristic_value(p, {5}, {6: 4.0}, 3600.0, DEFAULT_VALUE_WEIGHTS) == pytest.approx(
            blend_value(probs, DEFAULT_VALUE_WEIGHTS))
    # followed, liked-by-friends and engaged-with authors rank above a stranger's quiet post
    stranger = PostFacts(4, 10, 3000.0)
    assert all(heuristic_value(p, {5}, {6: 4.0}, 3600.0, DEFAULT_VALUE_WEIGHTS)
               > heuristic_value(stranger, {5}, {6: 4.0}, 3600.0, DEFAULT_VALUE_WEIGHTS) for p in posts_[:2])


# ---- the learned value model ------------------------------------------------------------------------
def test_value_model_learns_which_signal_predicts_engagement(tmp_path):
    from hearth.serving.value_model import FEATURES, ValueModel, fit_value_model
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, len(FEATURES)))
    y = (rng.random(4000) < 1 / (1 + np.exp(-(2.0 * x[:, FEATURES.index("affinity")] - 1.0)))).astype(float)
    vm = fit_value_model(x, y, l2=1e-4)
    strongest = FEATURES[int(np.argmax(np.abs(vm.weights)))]
    assert strongest == "affinity" and vm.weights[FEATURES.index("affinity")] > 1.5
    again = ValueModel.load(vm.save(tmp_path / "vm.json"))
    assert np.allclose(again.probabilities(x[:5]), vm.probabilities(x[:5]))
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="fit it again"):
        ValueModel.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="both engaged and not-engaged"):
        fit_value_model(x[:10], np.zeros(10))


async def test_feed_ranks_by_the_learned_value_model_when_given_one(settings, db, tmp_path):
    from hearth.serving.value_model import FEATURES, ValueModel
    p, made = await _community(db)
    n = len(FEATURES)
    # A value model that prefers strangers' posts (in_network weighs against): the page follows it.
    against = np.zeros(n)
    against[FEATURES.index("in_network")] = -3.0
    path = ValueModel(against, 0.0, np.zeros(n), np.ones(n), {}).save(tmp_path / "vm.json")
    engine = make_engine(settings.database_url)
    try:
        state = ServingState(settings.model_copy(update={"feed_value_model": path,
                                                         "feed_out_of_network_share": 0.5}),
                             make_sessionmaker(engine))
        page = await state.feed(db, p["ann"], limit=20)
        following = {p["bob"].id, p["cat"].id}
        in_net = [e.author_id in following for e in page.entries]
        assert in_net and not in_net[0] and in_net == sorted(in_net)  # every stranger's post above followed ones
        assert state.status()["value_model"] == str(path)
        ids, rows = await state.candidate_rows(db, p["ann"], utcnow())
        assert rows.shape == (len(ids), n) and set(ids) >= {e.post_id for e in page.entries}
        # A broken file: a clear status, and the built-in blend serves.
        (tmp_path / "broken.json").write_text("{")
        broken = ServingState(settings.model_copy(update={"feed_value_model": tmp_path / "broken.json"}),
                              make_sessionmaker(engine))
        assert "unreadable" in broken.status()["value_model"]
        assert (await broken.feed(db, p["ann"], limit=20)).entries
    finally:
        await engine.dispose()


def test_a_kept_list_is_packed_out_of_the_garbage_collectors_sight():
    """Ranked lists a worker keeps are tuples of plain values (PackedKept): read back exactly, and
    untracked by the collector, so kept lists cost its full passes nothing (as objects they made
    each full pass a 290 ms stop)."""
    import dataclasses
    import gc

    from hearth.serving.rank import PACKED_FACTS, PackedKept
    assert PACKED_FACTS == tuple(f.name for f in dataclasses.fields(PostFacts))
    kept = [Scored(PostFacts(i, i % 7, 1000.0 + i, 3, 1, 0, i % 2 == 0, {"following", "popular"}, [5, 6], [7], 2,
                             0.5 if i % 3 else None, None), 0.4, 0.9, 1.0 - i / 100, "model") for i in range(50)]
    packed = PackedKept.of(kept)
    assert list(packed) == kept and packed[3] == kept[3] and list(packed[10:12]) == kept[10:12]
    assert [s.facts.id for s in packed.without({1, 2}, {3})] == [
        s.facts.id for s in kept if s.facts.id not in {1, 2} and s.facts.author != 3]
    gc.unfreeze()  # an app started by an earlier test may have frozen them out of the collector's reach
    gc.collect()
    gc.collect()
    assert [row for row in packed.rows if gc.is_tracked(row)] == []
    assert all(gc.is_tracked(s) for s in kept)  # as objects, every entry stays tracked
    assert select_page(packed, 5, 2, 0.0) == select_page(kept, 5, 2, 0.0)
    # The page is chosen on the packed rows: the same page as from objects, with both networks mixed.
    mixed = [Scored(dataclasses.replace(s.facts, sources={"following"} if s.facts.id % 3 else {"popular"}),
                    s.value, s.freshness, s.score, s.ranker) for s in kept]
    for limit, cap, share in ((5, 2, 0.3), (20, 1, 0.5), (12, 3, 0.9), (40, 2, 0.2)):
        page = select_page(PackedKept.of(mixed), limit, cap, share)
        assert page == select_page(mixed, limit, cap, share) and len(page) == min(limit, 7 * cap)


async def _until(condition, seconds: float = 5.0) -> bool:  # noqa: ANN001 - a callable
    """Whether `condition()` came true within `seconds` (checked every 10 ms)."""
    import asyncio
    for _ in range(int(seconds / 0.01)):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return bool(condition())


async def _ranked_at_least(calls: list[int], n: int) -> None:
    """Wait (up to 5 s) until the refresher has ranked `n` lists."""
    import asyncio
    for _ in range(100):
        if len(calls) >= n:
            return
        await asyncio.sleep(0.05)


async def _counting_rank(serving, monkeypatch) -> list[int]:
    calls: list[int] = []
    rank = serving._rank

    async def counted(*args, **kwargs):
        calls.append(args[1])
        return await rank(*args, **kwargs)
    monkeypatch.setattr(serving, "_rank", counted)
    return calls


async def test_a_first_page_is_ranked_once_and_reused_until_the_viewer_acts(serving, db, monkeypatch):
    p, made = await _community(db)
    calls = await _counting_rank(serving, monkeypatch)
    first = await serving.feed(db, p["ann"], limit=3)
    again = await serving.feed(db, p["ann"], limit=3)
    assert [e.post_id for e in again.entries] == [e.post_id for e in first.entries]
    assert calls == [p["ann"].id]  # the second request was served from the ranked list
    second = await serving.feed(db, p["ann"], limit=3, cursor=first.cursor)
    assert not {e.post_id for e in second.entries} & {e.post_id for e in first.entries}
    n = len(calls)
    kept = [s.facts.id for s in serving._ranked.get(p["ann"].id).kept]
    await posts.favourite(db, p["ann"], first.entries[0].post_id)  # a like: the post leaves the kept list
    after = await serving.feed(db, p["ann"], limit=3)
    assert first.entries[0].post_id not in {e.post_id for e in after.entries}
    assert [s.facts.id for s in serving._ranked.get(p["ann"].id).kept] == kept[1:]
    assert len(calls) == n and serving._ranked.get(p["ann"].id).stale  # ... and the refresher ranks it soon
    await graph.follow(db, p["ann"], p["gus"].id)  # anything more than a like ranks again at once
    followed = await serving.feed(db, p["ann"], limit=10)
    assert len(calls) == n + 1 and made["gus"].id in {e.post_id for e in followed.entries}


async def test_light_actions_beyond_the_limit_rank_again(serving, db, monkeypatch):
    from hearth.serving.service import MAX_LIGHT_ACTIONS
    p, made = await _community(db)
    calls = await _counting_rank(serving, monkeypatch)
    await serving.feed(db, p["ann"], limit=3)
    await posts.create_post(db, p["ann"], "ann says hi")  # her own posts are actions too ...
    await serving.feed(db, p["ann"], limit=3)
    assert len(calls) == 1 and not serving._ranked.get(p["ann"].id).stale  # ... with nothing to rank again for
    for i in range(MAX_LIGHT_ACTIONS + 1):
        await posts.create_post(db, p["ann"], f"ann says {i}")
    await serving.feed(db, p["ann"], limit=3)
    assert len(calls) == 2


async def test_a_followed_accounts_new_post_joins_its_followers_lists_without_ranking_again(serving, db, monkeypatch):
    p, made = await _community(db)
    calls = await _counting_rank(serving, monkeypatch)
    before = await serving.feed(db, p["ann"], limit=10)
    await serving.feed(db, p["fay"], limit=3)
    fresh = await posts.create_post(db, p["bob"], "bob has news")
    await serving.post_created(db, p["bob"].id, fresh.id)  # what the app's post routes call
    ids = [e.post_id for e in (await serving.feed(db, p["ann"], limit=10)).entries]
    assert fresh.id in ids and set(ids) - {fresh.id} <= {e.post_id for e in before.entries}
    assert fresh.id not in {e.post_id for e in (await serving.feed(db, p["fay"], limit=10)).entries}
    # The same rules as the followed-accounts source: bob's reply to a stranger stays out.
    aside = await posts.create_post(db, p["bob"], "@dan hi", in_reply_to_id=made["dan"].id)
    await serving.post_created(db, p["bob"].id, aside.id)
    again = [e.post_id for e in (await serving.feed(db, p["ann"], limit=10)).entries]
    assert aside.id not in again and fresh.id in again
    assert calls == [p["ann"].id, p["fay"].id]  # nobody's list was ranked again


async def test_a_list_with_too_many_new_posts_is_ranked_afresh(serving, db, monkeypatch):
    from hearth.serving.ranked_lists import FRESH_MAX
    p, made = await _community(db)
    calls = await _counting_rank(serving, monkeypatch)
    await serving.feed(db, p["ann"], limit=3)
    for i in range(FRESH_MAX + 1):
        post = await posts.create_post(db, p["cat"], f"cat post {i}")
        await serving.post_created(db, p["cat"].id, post.id)
    assert serving._ranked.get(p["ann"].id) is None
    await serving.feed(db, p["ann"], limit=3)
    assert len(calls) == 2


async def test_no_ranked_list_outlives_the_seen_grace_period(settings, db, monkeypatch):
    engine = make_engine(settings.database_url)
    serving = ServingState(settings.model_copy(update={"seen_grace_minutes": 0.0}), make_sessionmaker(engine))
    try:
        p, made = await _community(db)
        calls = await _counting_rank(serving, monkeypatch)
        await serving.feed(db, p["ann"], limit=3)
        await serving.feed(db, p["ann"], limit=3)
        assert len(calls) == 2
    finally:
        await engine.dispose()


async def test_the_refresher_ranks_active_viewers_lists_again_in_the_background(settings, db, monkeypatch):
    engine = make_engine(settings.database_url)
    serving = ServingState(settings.model_copy(update={"feed_cache_seconds": 0.4, "feed_refresh_seconds": 0.05}),
                           make_sessionmaker(engine))
    try:
        p, made = await _community(db)
        await serving.feed(db, p["ann"], limit=3)
        before_list = serving._ranked.get(p["ann"].id)
        before = before_list.stored_at
        calls = await _counting_rank(serving, monkeypatch)
        await serving.start()
        await _ranked_at_least(calls, 1)
        assert calls and calls[0] == p["ann"].id
        # a newer list, ready for the next request (the ranking may still be under way on a busy machine)
        assert await _until(lambda: (serving._ranked.get(p["ann"].id) or before_list).stored_at > before)
        n = len(calls)
        await serving.feed(db, p["ann"], limit=3)
        assert len(calls) == n  # served from the refreshed list
    finally:
        await serving.stop()
        await engine.dispose()


async def test_the_refresher_ranks_a_list_again_after_the_viewers_likes(settings, db, monkeypatch):
    """A like only takes the post out of the kept list at once; the refresher then ranks the list
    again in the background (the model reads the like too), though the list is not old."""
    engine = make_engine(settings.database_url)
    serving = ServingState(settings.model_copy(update={"feed_cache_seconds": 600.0, "feed_refresh_seconds": 0.05}),
                           make_sessionmaker(engine))
    try:
        p, made = await _community(db)
        first = await serving.feed(db, p["ann"], limit=3)
        await posts.favourite(db, p["ann"], first.entries[0].post_id)
        calls = await _counting_rank(serving, monkeypatch)
        await serving.feed(db, p["ann"], limit=3)
        assert calls == []
        await serving.start()
        await _ranked_at_least(calls, 1)
        assert calls == [p["ann"].id]
        assert await _until(lambda: not serving._ranked.get(p["ann"].id).stale)
    finally:
        await serving.stop()
        await engine.dispose()


async def test_the_refresher_ranks_again_only_for_viewers_who_asked_since(settings, db, monkeypatch):
    """A viewer who stopped reading costs one background ranking, not one every half TTL."""
    import asyncio
    engine = make_engine(settings.database_url)
    serving = ServingState(settings.model_copy(update={"feed_cache_seconds": 0.3, "feed_refresh_seconds": 0.05}),
                           make_sessionmaker(engine))
    try:
        p, made = await _community(db)
        await serving.feed(db, p["ann"], limit=3)
        calls = await _counting_rank(serving, monkeypatch)
        await serving.start()
        await _ranked_at_least(calls, 1)
        assert calls == [p["ann"].id]
        await asyncio.sleep(1.0)  # more than three TTLs: the list expires, nobody asked, nothing ranks
        assert calls == [p["ann"].id]
        await serving.feed(db, p["ann"], limit=3)  # ranks in the request (the list expired)
        await _ranked_at_least(calls, 3)
        assert calls == [p["ann"].id] * 3  # ... and the refresher follows that request once more
    finally:
        await serving.stop()
        await engine.dispose()


async def test_workers_share_ranked_lists_and_fan_out_through_redis(settings, db, monkeypatch, redis_url):
    """Two workers (two ServingStates) with one Redis: a list ranked by one serves the other, and
    a followed account's post, taken by either, joins the list that both serve."""
    import redis

    from hearth.serving.ranked_lists import decode, encode
    store = redis.Redis.from_url(redis_url)
    store.delete(*store.keys("hearth:feed:*"), *store.keys("hearth:ranking:*"), "-")
    shared = settings.model_copy(update={"redis_url": redis_url})
    engine = make_engine(settings.database_url)
    one, two = ServingState(shared, make_sessionmaker(engine)), ServingState(shared, make_sessionmaker(engine))
    try:
        p, made = await _community(db)
        calls_one, calls_two = await _counting_rank(one, monkeypatch), await _counting_rank(two, monkeypatch)
        first = await one.feed(db, p["ann"], limit=3)
        again = await two.feed(db, p["ann"], limit=3)
        assert [e.post_id for e in again.entries] == [e.post_id for e in first.entries]
        assert (calls_one, calls_two) == ([p["ann"].id], [])  # the second worker reused the first's list
        stored = one._ranked.get(p["ann"].id)
        assert encode(decode(encode(stored))) == encode(stored) and stored.kept and stored.following
        fresh = await posts.create_post(db, p["bob"], "bob has news")
        await one.post_created(db, p["bob"].id, fresh.id)  # the post came through worker one
        assert fresh.id in {e.post_id for e in (await two.feed(db, p["ann"], limit=10)).entries}
        later = await posts.create_post(db, p["cat"], "cat too")
        await two.post_created(db, p["cat"].id, later.id)
        ids = {e.post_id for e in (await one.feed(db, p["ann"], limit=10)).entries}
        assert {fresh.id, later.id} <= ids
        assert (calls_one, calls_two) == ([p["ann"].id], [])  # merged in, never ranked again
    finally:
        await engine.dispose()


def test_a_worker_decodes_a_shared_list_once_per_version(redis_url, monkeypatch):
    """Workers keep the lists they read from Redis decoded, by stamp: a repeat read fetches the
    stamp only; a list put by another worker, or dropped, is seen at once."""
    import time

    from hearth.serving import ranked_lists
    from hearth.serving.ranked_lists import RankedList, RankedLists

    decodes = []
    real_decode = ranked_lists.decode
    monkeypatch.setattr(ranked_lists, "decode", lambda data: decodes.append(1) or real_decode(data))
    viewer = 987_654_321
    one, two = RankedLists(60, redis_url=redis_url), RankedLists(60, redis_url=redis_url)

    def ranked(acted: int) -> RankedList:
        kept = [Scored(PostFacts(7, 8, time.time(), sources={"following"}), 1.0, 0.5, 0.9, "heuristic")]
        return RankedList(viewer, acted, None, time.time(), kept, False, "heuristic", {8}, {8: 1.0})

    try:
        first = ranked(1)
        one.put(first)
        assert one.get(viewer) is first and decodes == []  # the worker that ranked it never decodes it
        a, b = two.get(viewer), two.get(viewer)
        assert a is b and a.acted == 1 and a.kept[0].facts.id == 7 and len(decodes) == 1
        one.put(ranked(2))
        assert two.get(viewer).acted == 2 and len(decodes) == 2
        one.drop([viewer])
        assert two.get(viewer) is None and one.get(viewer) is None
    finally:
        one.drop([viewer])


def test_fresh_posts_reach_every_workers_copy_of_a_shared_list_until_too_many(redis_url):
    """Fan-out through Redis: new post ids are appended to the stored list (a script, only where
    a list exists), every worker sees the ones it has not merged yet, and past FRESH_MAX the list
    is dropped so the next request ranks afresh."""
    import time

    from hearth.serving.ranked_lists import FRESH_MAX, RankedList, RankedLists

    viewer, stranger = 987_654_322, 987_654_323
    one, two = RankedLists(60, redis_url=redis_url), RankedLists(60, redis_url=redis_url)
    kept = [Scored(PostFacts(7, 8, time.time(), sources={"following"}), 1.0, 0.5, 0.9, "heuristic")]
    try:
        one.drop([viewer, stranger])
        one.put(RankedList(viewer, 1, None, time.time(), kept, False, "heuristic", {8}, {8: 1.0}))
        one.add_fresh([viewer, stranger], 100)
        two.add_fresh([viewer], 101)
        assert one.get(stranger) is None  # no list, nothing created
        seen = two.get(viewer)
        assert seen.fresh == [100, 101] and [s.facts.id for s in seen.kept] == [7]
        two.patched(replace(seen, fresh=[]))  # merged: this worker asks only for what came after
        one.add_fresh([viewer], 102)
        assert two.get(viewer).fresh == [102] and one.get(viewer).fresh == [100, 101, 102]
        for pid in range(200, 200 + FRESH_MAX):
            one.add_fresh([viewer], pid)
        assert one.get(viewer) is None and two.get(viewer) is None
    finally:
        one.drop([viewer, stranger])


async def test_workers_share_people_lists_through_redis_until_the_viewer_acts(settings, db, monkeypatch, redis_url):
    """A people list computed by one worker serves the viewer in another; a follow (an action)
    makes the next request compute it again."""
    import redis

    store = redis.Redis.from_url(redis_url)
    store.delete(*store.keys("hearth:people:*"), "-")
    shared = settings.model_copy(update={"redis_url": redis_url})
    engine = make_engine(settings.database_url)
    one, two = ServingState(shared, make_sessionmaker(engine)), ServingState(shared, make_sessionmaker(engine))
    computed: list[str] = []
    for name, worker in (("one", one), ("two", two)):
        real = worker._people_now

        async def counted(*args, _real=real, _name=name, **kwargs):
            computed.append(_name)
            return await _real(*args, **kwargs)
        monkeypatch.setattr(worker, "_people_now", counted)
    try:
        p, _ = await _community(db)
        first = await one.people(db, p["ann"], limit=10)
        again = await two.people(db, p["ann"], limit=10)
        assert again == first and first[0].account_id == p["gus"].id and computed == ["one"]
        await graph.follow(db, p["ann"], p["gus"].id)  # records a follow: ann acted
        after = await two.people(db, p["ann"], limit=10)
        assert computed == ["one", "two"] and p["gus"].id not in {s.account_id for s in after}
    finally:
        store.delete(*store.keys("hearth:people:*"), "-")
        await engine.dispose()


async def test_a_new_source_is_one_class_and_the_exclusion_rule_covers_it(serving, db):
    """A source added to the list (ads, later) is merged like the others, and the one exclusion
    rule keeps the viewer's own posts and blocked or muted authors out of what it finds."""
    from hearth.serving.candidates import PostFacts
    from hearth.serving.sources import SourceRequest

    p, made = await _community(db)
    await graph.block(db, p["ann"], p["dan"].id)
    await graph.mute(db, p["ann"], p["fay"].id)
    fays = await posts.create_post(db, p["fay"], "fay's post")
    offered = {made["ann"].id: p["ann"].id, made["dan"].id: p["dan"].id, fays.id: p["fay"].id,
               made["gus"].id: p["gus"].id}

    class Sponsored:
        name = "sponsored"

        async def fetch(self, db, request: SourceRequest) -> list[PostFacts]:
            return [PostFacts(pid, author, request.ctx.now.timestamp(), sources={"popular"})
                    for pid, author in offered.items()]

    serving.sources.append(Sponsored())
    ids = {e.post_id for e in (await serving.feed(db, p["ann"], limit=40)).entries}
    assert made["gus"].id in ids
    assert not ids & {made["ann"].id, made["dan"].id, fays.id}


async def test_hydration_drops_posts_deleted_since_ranking(serving, db):
    p, made = await _community(db)
    page = await serving.feed(db, p["ann"], limit=5)
    gone = page.entries[0]
    author = await accounts.get_account(db, gone.author_id)
    await posts.delete_post(db, author, gone.post_id)
    shown = await hydrate.feed_entries(db, page)
    assert [e.post.id for e in shown] == [e.post_id for e in page.entries[1:]]

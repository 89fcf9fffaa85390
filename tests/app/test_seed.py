"""Seeding demo communities on SQLite and PostgreSQL: LastFM-2k from the real files (counts checked
against the files themselves), a small synthetic one; counters agree with rows, the event log has
one event per follow, post and like at its time, and seeding twice writes nothing."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from hearth.services import accounts, posts
from hearth.services.posts import TAG_RE
from hearth.services.seed import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    SeedError,
    database_state,
    reset_database,
    seed_lastfm,
    seed_synthetic,
)
from hearth.services.seed.synthetic import build_synthetic
from hearth.storage.db import make_engine, make_sync_engine

ANCHOR = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
TOP = 60


def _rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text("utf-8").splitlines()[1:] if line.strip()]


def _lastfm_expected(folder: Path, top: int) -> dict[str, object]:
    """What the seed must contain, computed straight from the files (independently of the seeder)."""
    listens = [(int(u), int(a), int(w)) for u, a, w in _rows(folder / "user_artists.dat")]
    friends = [(int(u), int(v)) for u, v in _rows(folder / "user_friends.dat")]
    tagged = [tuple(int(x) for x in r) for r in _rows(folder / "user_taggedartists.dat")]
    users = {u for u, _, _ in listens} | {u for pair in friends for u in pair} | {r[0] for r in tagged}
    n_listeners, plays = Counter(a for _, a, _ in listens), Counter()
    for _, a, w in listens:
        plays[a] += w
    top_ids = sorted(n_listeners, key=lambda a: (-n_listeners[a], -plays[a], a))[:top]
    names = {int(r[0]): r[1] for r in _rows(folder / "artists.dat")}
    top_set = set(top_ids)
    dated = [r for r in tagged if r[5] >= 2005]
    return {
        "users": len(users), "friend_rows": len(friends),
        "artist_follows": sum(1 for _, a, _ in listens if a in top_set),
        "artist_posts": len({(a, y, m) for _, a, _, _, m, y in dated if a in top_set}),
        "listener_posts": len({(u, d, m, y) for u, _, _, d, m, y in dated}),
        "artist_names": [names[a] for a in top_ids],
    }


def _scalar(conn: sa.Connection, sql: str) -> int:
    return int(conn.scalar(sa.text(sql)) or 0)


def _check_consistent(url: str) -> dict[str, int]:
    """Counters agree with rows; one event per follow/post/like at its time; ids grow with time."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as c:
            counts = {t: _scalar(c, f"SELECT count(*) FROM {t}")
                      for t in ("accounts", "follows", "posts", "favourites", "events", "post_tags", "mentions")}
            assert _scalar(c, """SELECT count(*) FROM accounts a WHERE a.followers_count !=
                (SELECT count(*) FROM follows f WHERE f.target_account_id = a.id)""") == 0
            assert _scalar(c, """SELECT count(*) FROM accounts a WHERE a.following_count !=
                (SELECT count(*) FROM follows f WHERE f.account_id = a.id)""") == 0
            assert _scalar(c, """SELECT count(*) FROM accounts a WHERE a.statuses_count !=
                (SELECT count(*) FROM posts p WHERE p.account_id = a.id)""") == 0
            assert _scalar(c, """SELECT count(*) FROM posts p WHERE p.favourites_count !=
                (SELECT count(*) FROM favourites f WHERE f.post_id = p.id)""") == 0
            assert _scalar(c, "SELECT count(*) FROM posts WHERE replies_count != 0 OR reblogs_count != 0") == 0
            assert _scalar(c, "SELECT sum(favourites_count) FROM posts") == counts["favourites"] > 0
            # every follow, post and like has its event, same actor, target and time
            assert _scalar(c, """SELECT count(*) FROM follows f JOIN events e ON e.verb = 'follow'
                AND e.account_id = f.account_id AND e.target_id = f.target_account_id AND e.ts = f.created_at
                AND e.target_kind = 'account'""") == counts["follows"]
            assert _scalar(c, """SELECT count(*) FROM posts p JOIN events e ON e.verb = 'post'
                AND e.account_id = p.account_id AND e.target_id = p.id AND e.ts = p.created_at
                AND e.target_kind = 'item'""") == counts["posts"]
            assert _scalar(c, """SELECT count(*) FROM favourites f JOIN events e ON e.verb = 'like'
                AND e.account_id = f.account_id AND e.target_id = f.post_id AND e.ts = f.created_at""") \
                == counts["favourites"]
            assert counts["events"] == counts["follows"] + counts["posts"] + counts["favourites"]
            assert _scalar(c, """SELECT count(*) FROM favourites f JOIN posts p ON p.id = f.post_id
                WHERE f.created_at < p.created_at""") == 0
            for table, col in (("events", "ts"), ("posts", "created_at"), ("follows", "created_at"),
                               ("favourites", "created_at")):
                times = [r[0] for r in c.execute(sa.text(f"SELECT {col} FROM {table} ORDER BY id"))]
                assert times == sorted(times), f"{table} ids do not grow with time"
            last = c.execute(sa.text("SELECT max(ts) FROM events")).scalar()
            return counts | {"last_event": last}
    finally:
        engine.dispose()


async def test_lastfm_seed_matches_the_files(db_url, data_dir, db):
    expected = _lastfm_expected(data_dir / "lastfm-2k", TOP)
    result = seed_lastfm(db_url, data_dir, top_artists=TOP, anchor=ANCHOR)
    assert not result.skipped and result.source == "lastfm-2k"
    counts = _check_consistent(db_url)
    assert counts["accounts"] == expected["users"] + TOP + 1 == result.accounts
    demo = await accounts.authenticate(db, DEMO_USERNAME, DEMO_PASSWORD)
    engine = make_sync_engine(db_url)
    try:
        with engine.connect() as c:
            assert _scalar(c, "SELECT count(*) FROM accounts WHERE username LIKE 'listener%'") == expected["users"]
            assert _scalar(c, "SELECT count(*) FROM accounts WHERE password_hash IS NOT NULL") == 1
            names = [r[0] for r in c.execute(sa.text(f"SELECT display_name FROM accounts WHERE id > "
                                                      f"{expected['users']} AND id <= {expected['users'] + TOP} "
                                                      "ORDER BY id"))]
            assert names == [n[:100] for n in expected["artist_names"]]
            listener = f"id <= {expected['users']}"
            artist = f"id > {expected['users']} AND id <= {expected['users'] + TOP}"
            assert _scalar(c, f"""SELECT count(*) FROM follows WHERE account_id IN (SELECT id FROM accounts
                WHERE {listener}) AND target_account_id IN (SELECT id FROM accounts WHERE {listener})""") \
                == expected["friend_rows"]
            assert _scalar(c, f"""SELECT count(*) FROM follows WHERE account_id IN (SELECT id FROM accounts
                WHERE {listener}) AND target_account_id IN (SELECT id FROM accounts WHERE {artist})""") \
                == expected["artist_follows"]
            assert _scalar(c, f"SELECT count(*) FROM posts WHERE account_id IN (SELECT id FROM accounts "
                              f"WHERE {artist})") == expected["artist_posts"]
            assert _scalar(c, f"SELECT count(*) FROM posts WHERE account_id IN (SELECT id FROM accounts "
                              f"WHERE {listener})") == expected["listener_posts"]
            assert _scalar(c, "SELECT count(*) FROM accounts WHERE bot") == 0
            assert counts["mentions"] > 0 and counts["post_tags"] > 0
            assert _scalar(c, f"SELECT count(*) FROM follows WHERE account_id = {demo.id}") > 0
    finally:
        engine.dispose()
    last = counts["last_event"]
    last = last if isinstance(last, dt.datetime) else dt.datetime.fromisoformat(str(last))
    assert last.replace(tzinfo=None) < ANCHOR.replace(tzinfo=None)  # shifted to end just before the anchor

    again = seed_lastfm(db_url, data_dir, top_artists=TOP, anchor=ANCHOR)
    assert again.skipped
    assert _check_consistent(db_url) == counts  # nothing written twice

    # The app carries on from the seed: new rows get fresh ids (PostgreSQL sequences moved on).
    newcomer = await accounts.register(db, "newcomer", "a long password")
    assert newcomer.id == counts["accounts"] + 1
    post = await posts.create_post(db, newcomer, "hello #hearth")
    assert post.id == counts["posts"] + 1
    await posts.favourite(db, demo, post.id)

    # `hearth demo` then makes AIs of the artists who posted most; they answer from those posts
    # (with excerpts while no model is connected), and a second run adds none.
    from hearth.services.studio import ais
    from hearth.settings import Settings
    from hearth.storage.db import make_sessionmaker
    from hearth.studio.demo import make_demo_ais
    from hearth.studio.knowledge.knowledge_base import KnowledgeBase
    from hearth.studio.persona import CreatorProfile
    settings = Settings(database_url=db_url)
    made = await make_demo_ais(settings)
    assert len(made) == 3 and all(h.endswith("_ai") for h in made)
    assert await make_demo_ais(settings) == []
    ai = await ais.by_handle(db, made[0])
    assert ai.of_creator and ai.account.is_ai and ai.owner.password_hash is None and ai.suggested_questions
    engine = make_engine(db_url)
    try:
        kb = KnowledgeBase(make_sessionmaker(engine), settings)
        answer, meta = await CreatorProfile(ai, kb).without_model(ai.suggested_questions[-1], "no model")
        assert meta["excerpts"] and meta["citations"][0]["url"].startswith(f"/@{ai.owner.username}/")
        assert "excerpts" in answer
    finally:
        await engine.dispose()


def test_synthetic_seed_is_labelled_consistent_and_deterministic(db_url):
    result = seed_synthetic(db_url, accounts=80, posts=600, events=4_000, anchor=ANCHOR)
    assert result.source == "synthetic" and "ynthetic" in result.banner
    counts = _check_consistent(db_url)
    assert counts["accounts"] == 81 and counts["posts"] == 600
    demo_events = result.events - 4_000
    assert 0 < demo_events <= 30 and counts["events"] == result.events
    engine = make_sync_engine(db_url)
    try:
        with engine.connect() as c:
            notes = [r[0] for r in c.execute(sa.text("SELECT note FROM accounts WHERE username LIKE 'synthetic%'"))]
            assert len(notes) == 80 and all(n.startswith("Synthetic demo account") for n in notes)
            tagged = dict(c.execute(sa.text("SELECT p.text, t.name FROM posts p JOIN post_tags t ON t.post_id = p.id"))
                          .all())
            assert len(tagged) > 0 and all(TAG_RE.findall(text)[0].lower() == name for text, name in tagged.items())
            first = [tuple(r) for r in c.execute(sa.text("SELECT account_id, text FROM posts ORDER BY id"))]
    finally:
        engine.dispose()
    assert database_state(db_url).source == "synthetic"
    assert seed_synthetic(db_url, accounts=80, posts=600, events=4_000, anchor=ANCHOR).skipped

    reset_database(db_url)  # --fresh
    assert database_state(db_url).empty
    seed_synthetic(db_url, accounts=80, posts=600, events=4_000, anchor=ANCHOR)
    engine = make_sync_engine(db_url)
    try:
        with engine.connect() as c:
            assert [tuple(r) for r in c.execute(sa.text("SELECT account_id, text FROM posts ORDER BY id"))] == first
    finally:
        engine.dispose()


async def test_seed_refuses_a_database_with_other_data(db_url, db):
    await accounts.register(db, "alice", "a long password")
    with pytest.raises(SeedError, match="not a demo community"):
        seed_synthetic(db_url, accounts=10, posts=20, events=100, anchor=ANCHOR)
    assert database_state(db_url).accounts == 1  # nothing half-written


def test_another_or_an_unfinished_seed_is_refused(db_url):
    seed_synthetic(db_url, accounts=10, posts=20, events=100, anchor=ANCHOR)
    with pytest.raises(SeedError, match="synthetic demo community"):
        seed_lastfm(db_url, Path("/nonexistent"), anchor=ANCHOR)
    engine = make_sync_engine(db_url)
    try:
        with engine.begin() as c:  # as if the last step (the demo log-in) never ran
            c.execute(sa.text("DELETE FROM accounts WHERE username_key = 'demo'"))
    finally:
        engine.dispose()
    with pytest.raises(SeedError, match="did not finish"):
        seed_synthetic(db_url, accounts=10, posts=20, events=100, anchor=ANCHOR)


def test_synthetic_sizes_are_exact():
    c = build_synthetic(accounts=200, posts=3_000, events=20_000, anchor=ANCHOR, seed=3)
    assert c.n_events - len(c.demo_follows) - len(c.demo_likes) == 20_000
    c.check()
    with pytest.raises(ValueError, match="at least posts"):
        build_synthetic(accounts=10, posts=100, events=50)

"""A seeded community held column-wise, and the bulk writer that puts it into the database.

The builders (`lastfm.py`, `synthetic.py`) describe accounts, follows, posts and likes with
their times; `write_community` turns that into rows with ids in time order (as the app would
have assigned them), counters that agree with the rows, and the `events` log the services
would have appended: `follow` for every follow, `post` for every post, `like` for every
favourite, each at its own time. Rows go in through SQLAlchemy Core connections as executemany
of pre-formatted tuples in large batches, one transaction per table-batch; secondary indexes
are dropped during the load and built once afterwards, and SQLite runs without fsync and
foreign-key checks while loading.

The demo log-in account is written last, in one transaction with its own follows and likes:
its presence marks a complete seed, so an interrupted load is recognisable and a re-run of a
complete one writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from hearth.storage.db import make_sync_engine, migrate
from hearth.storage.models import Base

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "hearth-demo"
BATCH_ROWS = 50_000
US = 1_000_000  # microseconds per second

Progress = Callable[[str, int, int], None]  # (stage, rows done, rows in all)


class SeedError(Exception):
    """The database cannot take this seed (not empty, half-seeded, unreachable)."""


@dataclass
class Community:
    """Everything a seed writes, as columns. Account ids are 1..n in list order; posts are
    referred to by their index here (ids are assigned in time order when written); times are
    int64 microseconds since the Unix epoch, UTC."""

    source: str  # "lastfm-2k" or "synthetic"
    usernames: list[str]
    display_names: list[str]
    notes: list[str]
    account_created: np.ndarray  # int64 us
    bots: np.ndarray | None = None  # bool per account (default all False)
    follow_src: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # account ids
    follow_dst: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    follow_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    post_author: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    post_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    post_text: list[str] = field(default_factory=list)
    tag_post: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # post index
    tag_name: list[str] = field(default_factory=list)  # lower case, no '#'
    mention_post: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mention_account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    like_account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    like_post: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # post index
    like_ts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # The demo log-in: written last (see the module docstring).
    demo_display_name: str = "Demo"
    demo_note: str = ""
    demo_created: int = 0
    demo_follows: list[tuple[int, int]] = field(default_factory=list)  # (account id, ts us)
    demo_likes: list[tuple[int, int]] = field(default_factory=list)  # (post index, ts us)
    banner: str = ""  # what the instance should say about this data

    @property
    def n_accounts(self) -> int:
        return len(self.usernames)

    @property
    def n_events(self) -> int:
        return (len(self.follow_src) + len(self.post_author) + len(self.like_account)
                + len(self.demo_follows) + len(self.demo_likes))

    def check(self) -> None:
        """Catch builder mistakes before anything is written."""
        n = self.n_accounts
        keys = [u.lower() for u in self.usernames]
        if len(set(keys)) != n or DEMO_USERNAME in keys:
            raise ValueError("usernames must be unique (case-insensitively) and not the demo log-in's")
        if len(self.display_names) != n or len(self.notes) != n or len(self.account_created) != n:
            raise ValueError("account columns differ in length")
        for ids in (self.follow_src, self.follow_dst, self.like_account, self.post_author, self.mention_account):
            if len(ids) and (ids.min() < 1 or ids.max() > n):
                raise ValueError("account id out of range")
        if len(self.follow_src) and np.any(self.follow_src == self.follow_dst):
            raise ValueError("an account follows itself")
        if len(self.follow_src) != len(np.unique(self.follow_src * (n + 1) + self.follow_dst)):
            raise ValueError("a follow is listed twice")
        n_posts = len(self.post_author)
        if len(self.post_ts) != n_posts or len(self.post_text) != n_posts:
            raise ValueError("post columns differ in length")
        for posts in (self.like_post, self.tag_post, self.mention_post):
            if len(posts) and (posts.min() < 0 or posts.max() >= n_posts):
                raise ValueError("post index out of range")
        if len(self.like_post) and len(self.like_post) != len(np.unique(self.like_account * n_posts + self.like_post)):
            raise ValueError("a like is listed twice")
        if len(self.like_post) and np.any(self.like_ts < self.post_ts[self.like_post]):
            raise ValueError("a post is liked before it was written")


@dataclass
class SeedResult:
    source: str
    accounts: int
    follows: int
    posts: int
    favourites: int
    events: int
    seconds: float
    skipped: bool = False  # the database already held this complete seed
    demo_username: str = DEMO_USERNAME
    demo_password: str = DEMO_PASSWORD
    banner: str = ""


@dataclass
class DatabaseState:
    accounts: int
    demo: bool  # the demo log-in exists: a seed finished
    source: str | None  # "lastfm-2k" / "synthetic" when seeded by us

    @property
    def empty(self) -> bool:
        return self.accounts == 0


SOURCE_PREFIXES = {"lastfm-2k": "listener_", "synthetic": "synthetic_"}


def database_state(url: str) -> DatabaseState:
    """What the database holds: nothing, a complete seed (and of which source), or other data."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("accounts"):
                return DatabaseState(0, False, None)
            n = int(conn.scalar(sa.text("SELECT count(*) FROM accounts")) or 0)
            demo = conn.scalar(sa.text("SELECT id FROM accounts WHERE username_key = :k"), {"k": DEMO_USERNAME})
            first = conn.scalar(sa.text("SELECT username_key FROM accounts WHERE id = 1")) or ""
            source = next((name for name, prefix in SOURCE_PREFIXES.items() if first.startswith(prefix)), None)
            return DatabaseState(n, demo is not None, source)
    finally:
        engine.dispose()


def reset_database(url: str) -> None:
    """Start over: delete a SQLite file (and its WAL), or drop every table on PostgreSQL; then migrate."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(u.database + suffix).expanduser().unlink(missing_ok=True)
    else:
        engine = make_sync_engine(url)
        try:
            with engine.begin() as conn:
                Base.metadata.drop_all(conn)
                conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        finally:
            engine.dispose()
    migrate(url)


# ---- writing ------------------------------------------------------------------------------------
def _table(name: str, *columns: str) -> sa.TableClause:
    """An untyped view of a table: values go to the driver as they are (pre-formatted), which
    skips SQLAlchemy's per-row type processing, the slow part of a multi-million-row load."""
    return sa.table(name, *(sa.column(c) for c in columns))


ACCOUNTS = _table("accounts", "id", "username", "username_key", "display_name", "note", "email", "password_hash",
                  "bot", "locked", "discoverable", "followers_count", "following_count", "statuses_count",
                  "last_status_at", "created_at")
FOLLOWS = _table("follows", "id", "account_id", "target_account_id", "created_at")
POSTS = _table("posts", "id", "account_id", "text", "spoiler_text", "sensitive", "language", "visibility",
               "replies_count", "favourites_count", "reblogs_count", "created_at")
POST_TAGS = _table("post_tags", "post_id", "name")
MENTIONS = _table("mentions", "post_id", "account_id")
FAVOURITES = _table("favourites", "id", "account_id", "post_id", "created_at")
EVENTS = _table("events", "id", "account_id", "verb", "target_kind", "target_id", "ts", "value", "context")
BULK_TABLES = ("follows", "posts", "post_tags", "mentions", "favourites", "events")
SERIAL_TABLES = ("accounts", "follows", "posts", "favourites", "events")


def format_times(us: np.ndarray, dialect: str) -> list[str]:
    """Microseconds -> the text each backend stores/accepts for a UTC timestamp.

    SQLite: the naive 'YYYY-MM-DD HH:MM:SS.ffffff' SQLAlchemy writes; PostgreSQL: the same with
    '+00:00', which it casts to timestamptz."""
    text = np.char.replace(np.datetime_as_string(np.asarray(us, dtype="datetime64[us]"), unit="us"), "T", " ")
    if dialect != "sqlite":
        text = np.char.add(text, "+00:00")
    return text.tolist()


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def insert_sql(conn: Connection, table: sa.TableClause, names: Sequence[str]) -> str:
    """A plain INSERT in the driver's placeholder style. Rows then go to the driver's executemany
    as tuples: a third of the CPU time of a compiled Core insert fed with dicts."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})"


class _Loader:
    """Inserts columns in batches on one connection, a commit per batch, reporting progress."""

    def __init__(self, conn: Connection, total: int, progress: Progress | None):
        self.conn, self.total, self.done, self.progress = conn, total, 0, progress

    def insert(self, stage: str, table: sa.TableClause, columns: dict[str, Sequence[Any]]) -> None:
        names = list(columns)
        n = len(columns[names[0]]) if names else 0
        sql = insert_sql(self.conn, table, names)
        for part in _batches(n, BATCH_ROWS):
            self.conn.exec_driver_sql(sql, list(zip(*(columns[c][part] for c in names), strict=True)))
            self.conn.commit()
            self.done += part.stop - part.start
            if self.progress:
                self.progress(stage, self.done, self.total)


def _secondary_indexes() -> list[sa.Index]:
    return [ix for name in BULK_TABLES for ix in Base.metadata.tables[name].indexes if not ix.unique]


def _prepare(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for pragma in ("foreign_keys=OFF", "synchronous=OFF", "cache_size=-262144", "temp_store=MEMORY"):
            conn.exec_driver_sql(f"PRAGMA {pragma}")
    conn.commit()
    for ix in _secondary_indexes():
        ix.drop(conn, checkfirst=True)
    conn.commit()


def _finish(conn: Connection) -> None:
    for ix in _secondary_indexes():
        ix.create(conn, checkfirst=True)
    conn.commit()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        conn.commit()
    else:
        _sync_sequences(conn)
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def _sync_sequences(conn: Connection) -> None:
    """Explicit ids leave PostgreSQL's sequences behind; move them past the largest id."""
    if conn.dialect.name != "postgresql":
        return
    for name in SERIAL_TABLES:
        conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                             f"COALESCE((SELECT max(id) FROM {name}), 0) + 1, false)")


def _counts(index: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(index, minlength=size)[:size] if len(index) else np.zeros(size, np.int64)


def write_community(url: str, community: Community, progress: Progress | None = None) -> SeedResult:
    """Write a community into an empty, migrated database (see the module docstring)."""
    started = time.perf_counter()
    community.check()
    c = community
    n_acc = c.n_accounts
    demo_id = n_acc + 1
    engine = make_sync_engine(url)
    try:
        dialect = engine.dialect.name
        # Posts, follows and likes in time order: ids then grow with time, as the app's would.
        post_order = np.lexsort((c.post_author, c.post_ts))
        post_id_of = np.empty(len(post_order), np.int64)
        post_id_of[post_order] = np.arange(1, len(post_order) + 1)
        p_author, p_ts = c.post_author[post_order], c.post_ts[post_order]
        f_order = np.lexsort((c.follow_dst, c.follow_src, c.follow_ts))
        f_src, f_dst, f_ts = c.follow_src[f_order], c.follow_dst[f_order], c.follow_ts[f_order]
        l_order = np.lexsort((c.like_post, c.like_account, c.like_ts))
        l_acc, l_post, l_ts = c.like_account[l_order], post_id_of[c.like_post[l_order]], c.like_ts[l_order]

        followers = _counts(f_dst, n_acc + 1)
        following = _counts(f_src, n_acc + 1)
        statuses = _counts(p_author, n_acc + 1)
        last_status = np.full(n_acc + 1, -1, np.int64)
        np.maximum.at(last_status, p_author, p_ts)
        favs = _counts(l_post, len(p_ts) + 1)

        # The event log: follow, post and like, merged in time order (ties: follows, posts, likes).
        ev_acc = np.concatenate([f_src, p_author, l_acc])
        ev_verb = np.concatenate([np.zeros(len(f_src), np.int8), np.ones(len(p_author), np.int8),
                                  np.full(len(l_acc), 2, np.int8)])
        ev_target = np.concatenate([f_dst, np.arange(1, len(p_author) + 1), l_post])
        ev_ts = np.concatenate([f_ts, p_ts, l_ts])
        ev_order = np.lexsort((ev_verb, ev_ts))
        ev_acc, ev_verb, ev_target, ev_ts = ev_acc[ev_order], ev_verb[ev_order], ev_target[ev_order], ev_ts[ev_order]
        like_author = np.zeros(len(ev_verb), np.int64)
        is_like = ev_verb == 2
        like_author[is_like] = p_author[ev_target[is_like] - 1]
        verbs = np.array(["follow", "post", "like"], dtype=object)[ev_verb]
        kinds = np.array(["account", "item", "item"], dtype=object)[ev_verb]
        contexts = [f'{{"author": {a}}}' if a else "{}" for a in like_author.tolist()]

        total = (n_acc + len(f_src) + len(p_ts) + len(c.tag_post) + len(c.mention_post) + len(l_acc)
                 + len(ev_acc))
        tags_order = np.argsort(post_id_of[c.tag_post], kind="stable") if len(c.tag_post) else np.zeros(0, np.int64)
        mention_order = (np.argsort(post_id_of[c.mention_post], kind="stable") if len(c.mention_post)
                         else np.zeros(0, np.int64))
        no_status = [None] * n_acc
        last_status_text = format_times(np.maximum(last_status[1:], 0), dialect)
        with engine.connect() as conn:
            _prepare(conn)
            load = _Loader(conn, total, progress)
            try:
                load.insert("accounts", ACCOUNTS, {
                    "id": list(range(1, n_acc + 1)), "username": c.usernames,
                    "username_key": [u.lower() for u in c.usernames], "display_name": c.display_names,
                    "note": c.notes, "email": no_status, "password_hash": no_status,
                    "bot": (c.bots if c.bots is not None else np.zeros(n_acc, bool)).tolist(),
                    "locked": [False] * n_acc, "discoverable": [True] * n_acc,
                    "followers_count": followers[1:].tolist(), "following_count": following[1:].tolist(),
                    "statuses_count": statuses[1:].tolist(),
                    "last_status_at": [t if s >= 0 else None for t, s in
                                       zip(last_status_text, last_status[1:].tolist(), strict=True)],
                    "created_at": format_times(c.account_created, dialect)})
                load.insert("follows", FOLLOWS, {
                    "id": list(range(1, len(f_src) + 1)), "account_id": f_src.tolist(),
                    "target_account_id": f_dst.tolist(), "created_at": format_times(f_ts, dialect)})
                n_posts = len(p_ts)
                load.insert("posts", POSTS, {
                    "id": list(range(1, n_posts + 1)), "account_id": p_author.tolist(),
                    "text": np.asarray(c.post_text, dtype=object)[post_order].tolist() if n_posts else [],
                    "spoiler_text": [""] * n_posts, "sensitive": [False] * n_posts, "language": ["en"] * n_posts,
                    "visibility": ["public"] * n_posts, "replies_count": [0] * n_posts,
                    "favourites_count": favs[1:].tolist(), "reblogs_count": [0] * n_posts,
                    "created_at": format_times(p_ts, dialect)})
                load.insert("post tags", POST_TAGS, {
                    "post_id": post_id_of[c.tag_post][tags_order].tolist(),
                    "name": np.asarray(c.tag_name, dtype=object)[tags_order].tolist() if len(tags_order) else []})
                load.insert("mentions", MENTIONS, {
                    "post_id": post_id_of[c.mention_post][mention_order].tolist(),
                    "account_id": c.mention_account[mention_order].tolist()})
                load.insert("favourites", FAVOURITES, {
                    "id": list(range(1, len(l_acc) + 1)), "account_id": l_acc.tolist(), "post_id": l_post.tolist(),
                    "created_at": format_times(l_ts, dialect)})
                load.insert("events", EVENTS, {
                    "id": list(range(1, len(ev_acc) + 1)), "account_id": ev_acc.tolist(), "verb": verbs.tolist(),
                    "target_kind": kinds.tolist(), "target_id": ev_target.tolist(),
                    "ts": format_times(ev_ts, dialect), "value": [1.0] * len(ev_acc), "context": contexts})
            except BaseException:
                conn.rollback()
                _finish(conn)
                raise
            if progress:
                progress("indexes", load.done, total)
            _finish(conn)
            demo_events = _write_demo(conn, c, demo_id, post_id_of, p_author, dialect,
                                      next_ids=(len(f_src) + 1, len(l_acc) + 1, len(ev_acc) + 1))
            if dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.commit()
    finally:
        engine.dispose()
    return SeedResult(c.source, n_acc + 1, len(f_src) + len(c.demo_follows), len(p_ts),
                      len(l_acc) + len(c.demo_likes), len(ev_acc) + demo_events, time.perf_counter() - started,
                      banner=c.banner)


def _write_demo(conn: Connection, c: Community, demo_id: int, post_id_of: np.ndarray, p_author: np.ndarray,
                dialect: str, next_ids: tuple[int, int, int]) -> int:
    """The demo log-in with its follows, likes and their events, counters included, in one
    transaction: it exists only if everything before it was written."""
    from hearth.services.accounts import hash_password

    follow_id, fav_id, event_id = next_ids
    when = lambda us: format_times(np.array([us], np.int64), dialect)[0]  # noqa: E731
    conn.execute(ACCOUNTS.insert(), [{
        "id": demo_id, "username": DEMO_USERNAME, "username_key": DEMO_USERNAME,
        "display_name": c.demo_display_name, "note": c.demo_note, "email": None,
        "password_hash": hash_password(DEMO_PASSWORD), "bot": False, "locked": False, "discoverable": False,
        "followers_count": 0, "following_count": len(c.demo_follows), "statuses_count": 0, "last_status_at": None,
        "created_at": when(c.demo_created)}])
    actions: list[tuple[int, str, int, dict[str, Any] | None]] = []  # (ts, verb, target, like author)
    for i, (target, ts) in enumerate(c.demo_follows):
        conn.execute(FOLLOWS.insert(), [{"id": follow_id + i, "account_id": demo_id, "target_account_id": target,
                                         "created_at": when(ts)}])
        conn.execute(sa.text("UPDATE accounts SET followers_count = followers_count + 1 WHERE id = :i"),
                     {"i": target})
        actions.append((ts, "follow", target, None))
    for i, (post, ts) in enumerate(c.demo_likes):
        pid = int(post_id_of[post])
        conn.execute(FAVOURITES.insert(), [{"id": fav_id + i, "account_id": demo_id, "post_id": pid,
                                            "created_at": when(ts)}])
        conn.execute(sa.text("UPDATE posts SET favourites_count = favourites_count + 1 WHERE id = :i"), {"i": pid})
        actions.append((ts, "like", pid, {"author": int(p_author[pid - 1])}))
    actions.sort(key=lambda a: (a[0], a[1], a[2]))
    rows = [{"id": event_id + i, "account_id": demo_id, "verb": verb, "target_kind": "account" if verb == "follow"
             else "item", "target_id": target, "ts": when(ts), "value": 1.0,
             "context": f'{{"author": {ctx["author"]}}}' if ctx else "{}"}
            for i, (ts, verb, target, ctx) in enumerate(actions)]
    if rows:
        conn.execute(EVENTS.insert(), rows)
    _sync_sequences(conn)
    conn.commit()
    return len(rows)


def check_writable(url: str, source: str) -> SeedResult | None:
    """None when the database is empty (seed it); a skipped result when it already holds this
    complete seed; SeedError otherwise (other data, a half-finished seed, another source)."""
    state = database_state(url)
    if state.empty:
        return None
    if state.demo and state.source == source:
        engine = make_sync_engine(url)
        try:
            with engine.connect() as conn:
                count = lambda t: int(conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) or 0)  # noqa: E731
                return SeedResult(source, count("accounts"), count("follows"), count("posts"), count("favourites"),
                                  count("events"), 0.0, skipped=True)
        finally:
            engine.dispose()
    if state.source is not None and not state.demo:
        raise SeedError("the database holds a seed that did not finish; start over with --fresh")
    if state.source is not None:
        raise SeedError(f"the database already holds the {state.source} demo community; "
                        "use --fresh to replace it")
    raise SeedError(f"the database already has {state.accounts} accounts that are not a demo community; "
                    "seed an empty database (another --database-url) or start over with --fresh")


"""What candidate sources share (hearth/serving/sources/ has one class per post source) and
people suggestions' sources: the facts ranking needs, the viewer's context, bounded SQL.

Sources return `PostFacts`: what ranking needs to know about a post (author, time, counts)
plus which source found it and the social proof it came with. Nothing here ranks; nothing
here loads ORM objects. Every query is bounded: posts only from the feed window (`id >=
watermark`), sources that read from many accounts (followed accounts' posts, what they or
co-likers liked, suggested authors) take each account's newest few rows with one seek on
posts(account_id, id) / favourites(account_id, post_id) per account, and per-viewer results
that change slowly (friends of friends, co-likers) are cached by the service. So the cost of
a feed does not grow with the size of the instance or with how prolific an account is.
One exception to the window: followed accounts also give their newest few posts of any age
(`BACKLOG_PER_ACCOUNT`), so people who post rarely are never starved out of "For you".
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import BigInteger, and_, bindparam, column, func, literal, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hearth.storage.db import core_execute
from hearth.storage.models import ACTION_VERBS_SQL, Account, Block, EventRow, Favourite, Follow, Mute, Post

Original = aliased(Post)

FOLLOWING, SIMILAR, POPULAR, SUGGESTED = "following", "similar", "popular", "suggested_author"
SOURCE_PRIORITY = (FOLLOWING, SIMILAR, SUGGESTED, POPULAR)  # the entry's `source` is the first that found it


@dataclass
class PostFacts:
    """A candidate post as ranking sees it."""

    id: int
    author: int
    created_at: float  # unix seconds
    favourites: int = 0
    replies: int = 0
    reblogs: int = 0
    is_reply: bool = False
    sources: set[str] = field(default_factory=set)
    liked_by_following: list[int] = field(default_factory=list)  # followed accounts who liked it
    shared_by: list[int] = field(default_factory=list)  # followed accounts who reblogged it
    co_likes: int = 0  # likes from people who like what the viewer likes
    model_similarity: float | None = None  # item-retrieval score, when the model proposed it
    suggested_author_score: float | None = None  # how strongly its author is suggested to the viewer

    def merge(self, other: PostFacts) -> None:
        self.sources |= other.sources
        self.liked_by_following = list(dict.fromkeys([*self.liked_by_following, *other.liked_by_following]))
        self.shared_by = list(dict.fromkeys([*self.shared_by, *other.shared_by]))
        self.co_likes = max(self.co_likes, other.co_likes)
        for name in ("model_similarity", "suggested_author_score"):
            if getattr(other, name) is not None:
                mine = getattr(self, name)
                setattr(self, name, getattr(other, name) if mine is None else max(mine, getattr(other, name)))

    @property
    def source(self) -> str:
        return next((s for s in SOURCE_PRIORITY if s in self.sources), POPULAR)

    def copy(self) -> PostFacts:
        """A copy whose sets and lists can be merged into without touching the original (cached lists)."""
        return replace(self, sources=set(self.sources), liked_by_following=list(self.liked_by_following),
                       shared_by=list(self.shared_by))


@dataclass
class HistoryRow:
    """One of the viewer's own events as read from the database, for the model's input."""

    verb: str
    target_kind: str
    target_id: int
    ts: float
    value: float = 1.0
    author: int | None = None  # for posts: their author


@dataclass
class ViewerContext:
    """Who is asking and what they must not be shown, read in one query per request."""

    viewer_id: int
    now: datetime
    window_start: datetime
    watermark: int  # smallest post id created inside the window (approximately: ids grow with time)
    following: set[int] = field(default_factory=set)
    excluded_authors: set[int] = field(default_factory=set)  # blocked either way, muted, dismissed ("hide")
    recent_following: list[int] = field(default_factory=list)  # the latest MAX_SOURCE_ACCOUNTS follows, newest first


def unix(dt: datetime) -> float:
    return dt.timestamp() if dt.tzinfo else dt.replace(tzinfo=UTC).timestamp()


_FACT_COLUMNS = (Post.id, Post.account_id, Post.created_at, Post.favourites_count, Post.replies_count,
                 Post.reblogs_count, Post.in_reply_to_id)


def _facts(row: Sequence, source: str) -> PostFacts:
    return PostFacts(id=row[0], author=row[1], created_at=unix(row[2]), favourites=row[3] or 0, replies=row[4] or 0,
                     reblogs=row[5] or 0, is_reply=row[6] is not None, sources={source})


# Filters on low-selectivity columns are written so that no index can serve them (`col || ''`,
# `col + 0`): without statistics, SQLite otherwise walks every post of the window through
# ix_posts_visibility_id instead of seeking posts(account_id, id) per author or the primary
# key per liked post. The same SQL is plain arithmetic on PostgreSQL.
def _window(ctx: ViewerContext, post=Post, by_id: bool = True):  # noqa: ANN001, ANN202 - a Post alias; a clause
    in_time = and_(post.created_at >= ctx.window_start, post.created_at <= ctx.now)
    return and_(post.id >= ctx.watermark, in_time) if by_id else in_time


def _discoverable(post=Post):  # noqa: ANN001, ANN202
    """Posts that may be shown to people who do not follow the author: public, original, not replies."""
    return and_(post.visibility + "" == "public", (post.reblog_of_id + 0).is_(None),
                (post.in_reply_to_id + 0).is_(None))


def _followed(viewer_id: int):  # noqa: ANN202 - a SQL subquery
    return select(Follow.target_account_id).where(Follow.account_id == viewer_id)


# ---- the viewer ------------------------------------------------------------------------------
async def post_watermark(db: AsyncSession, cutoff: datetime) -> int:
    """The smallest post id created at or after `cutoff`, by binary search on the primary key
    (about 20 index probes). Assumes ids grow with time, which they do for posts written by
    the app; for back-dated imports the window is approximate (queries also filter on time)."""
    lo = await db.scalar(select(func.min(Post.id)))
    hi = await db.scalar(select(func.max(Post.id)))
    if lo is None:
        return 0
    hi += 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = (await db.execute(select(Post.id, Post.created_at).where(Post.id >= mid)
                                .order_by(Post.id).limit(1))).first()
        if row is None:
            hi = mid
        elif row[1] >= cutoff:
            hi = mid  # ids in [mid, row id) do not exist, so `id >= mid` selects the same posts
        else:
            lo = row[0] + 1
    return lo


# The hot per-request statements are built once, the viewer a bound parameter (building a
# five-branch UNION took longer than running it).
_VIEWER = bindparam("viewer_id")
_VIEWER_CONTEXT = union_all(
    select(literal("f"), Follow.target_account_id, Follow.id).where(Follow.account_id == _VIEWER),
    select(literal("x"), Block.target_account_id, literal(0)).where(Block.account_id == _VIEWER),
    select(literal("x"), Block.account_id, literal(0)).where(Block.target_account_id == _VIEWER),
    select(literal("x"), Mute.target_account_id, literal(0)).where(Mute.account_id == _VIEWER),
    select(literal("x"), EventRow.target_id, literal(0)).where(
        EventRow.account_id == _VIEWER, EventRow.verb == "hide", EventRow.target_kind == "account"),
)
_LATEST_ACTION = (select(EventRow.id).where(EventRow.account_id == _VIEWER, text(ACTION_VERBS_SQL))
                  .order_by(EventRow.id.desc()).limit(1))
_ACTIONS_SINCE = (select(EventRow.verb, EventRow.target_kind, EventRow.target_id)
                  .where(EventRow.account_id == _VIEWER, EventRow.id > bindparam("after_id"), text(ACTION_VERBS_SQL))
                  .order_by(EventRow.id).limit(bindparam("n")))
_USERNAMES = select(Account.id, Account.username).where(Account.id.in_(bindparam("ids", expanding=True)))


async def viewer_context(db: AsyncSession, viewer_id: int, now: datetime, window_start: datetime,
                         watermark: int) -> ViewerContext:
    """Follows, blocks (both ways), mutes and dismissed accounts in one round trip."""
    ctx = ViewerContext(viewer_id, now, window_start, watermark)
    follows: list[tuple[int, int]] = []
    for kind, account_id, follow_id in await core_execute(db, _VIEWER_CONTEXT, {"viewer_id": viewer_id}):
        if kind == "f":
            ctx.following.add(int(account_id))
            follows.append((int(follow_id), int(account_id)))
        else:
            ctx.excluded_authors.add(int(account_id))
    ctx.recent_following = [a for _, a in sorted(follows, reverse=True)[:MAX_SOURCE_ACCOUNTS]]
    return ctx


async def viewer_marks(db: AsyncSession, viewer_id: int, post_ids: Iterable[int], seen_before: datetime) -> set[int]:
    """Posts among `post_ids` not to show again: hidden, liked, shared, replied to, or seen
    (an impression older than the grace period) by the viewer."""
    ids = list(post_ids)
    if not ids:
        return set()
    acted = select(EventRow.target_id).where(  # each branch an events(account_id, verb, target_id) seek
        EventRow.account_id == viewer_id, EventRow.verb.in_(("hide", "like", "share", "reply")),
        EventRow.target_id.in_(ids), EventRow.target_kind == "item")
    seen = select(EventRow.target_id).where(
        EventRow.account_id == viewer_id, EventRow.verb == "impression", EventRow.target_id.in_(ids),
        EventRow.target_kind == "item", EventRow.ts < seen_before)
    fav = select(Favourite.post_id).where(Favourite.account_id == viewer_id, Favourite.post_id.in_(ids))
    return {int(i) for (i,) in await db.execute(union_all(acted, seen, fav))}


async def authors_of(db: AsyncSession, post_ids: Iterable[int]) -> dict[int, int]:
    """How many of `post_ids` each account wrote (primary-key lookups; the cursor holds at most 400)."""
    ids = list(set(post_ids))
    if not ids:
        return {}
    q = select(Post.account_id, func.count()).where(Post.id.in_(ids)).group_by(Post.account_id)
    return {int(a): int(n) for a, n in await db.execute(q)}


async def follower_ids(db: AsyncSession, account_id: int) -> list[int]:
    """Who follows `account_id` (follows(target_account_id)): whose ranked lists its new post stales."""
    return list(await db.scalars(select(Follow.account_id).where(Follow.target_account_id == account_id)))


async def latest_action(db: AsyncSession, viewer_id: int) -> int:
    """The id of the viewer's newest event other than impressions and dwell times (a follow,
    like, hide, ...): per-viewer caches keyed by it are recomputed as soon as the viewer acts,
    in every worker. One backward seek on the partial index of actions (the constant clause
    lets SQLite use it; the viewer's impressions are many and would otherwise be walked)."""
    return int((await core_execute(db, _LATEST_ACTION, {"viewer_id": viewer_id})).scalar() or 0)


async def actions_since(db: AsyncSession, viewer_id: int, after_id: int, limit: int) -> list[tuple[str, str, int]]:
    """The viewer's actions (verb, target kind, target id) after event `after_id`, oldest first,
    at most `limit` (on the partial index of actions, as `latest_action`)."""
    rows = await core_execute(db, _ACTIONS_SINCE, {"viewer_id": viewer_id, "after_id": after_id, "n": limit})
    return [(str(v), str(k), int(t)) for v, k, t in rows]


async def author_affinity(db: AsyncSession, viewer_id: int, recent: int = 200) -> dict[int, float]:
    """How much the viewer engaged with each author lately: likes count 1, replies and shares 2."""
    likes = (select(Favourite.post_id).where(Favourite.account_id == viewer_id)  # favourites(account_id, post_id)
             .order_by(Favourite.post_id.desc()).limit(recent).subquery())
    mine = (select(Post.in_reply_to_account_id, Post.reblog_of_id).where(Post.account_id == viewer_id)
            .order_by(Post.id.desc()).limit(recent).subquery())
    q = union_all(
        select(Post.account_id, literal(1.0)).join(likes, likes.c.post_id == Post.id),
        select(mine.c.in_reply_to_account_id, literal(2.0)).where(mine.c.in_reply_to_account_id.is_not(None)),
        select(Original.account_id, literal(2.0)).join(mine, mine.c.reblog_of_id == Original.id),
    )
    out: dict[int, float] = defaultdict(float)
    for author, weight in await db.execute(q):
        if author is not None and author != viewer_id:
            out[int(author)] += float(weight)
    return dict(out)


async def recent_history(db: AsyncSession, viewer_id: int, limit: int,
                         exclude_verbs: Sequence[str] = ("impression", "post")) -> list[HistoryRow]:
    """The viewer's last `limit` events (newest first) with each post's author, for the model
    (the verbs the trainer leaves out, see applog.EXCLUDED_VERBS, are left out here too)."""
    q = (select(EventRow.verb, EventRow.target_kind, EventRow.target_id, EventRow.ts, EventRow.value, Post.account_id)
         .outerjoin(Post, and_(EventRow.target_kind == "item", Post.id == EventRow.target_id))
         .where(EventRow.account_id == viewer_id, EventRow.verb.not_in(list(exclude_verbs)))
         .order_by(EventRow.id.desc()).limit(limit))
    return [HistoryRow(verb, kind, int(target), unix(ts), 1.0 if value is None else float(value),
                       None if author is None else int(author))
            for verb, kind, target, ts, value, author in await db.execute(q)]


async def usernames(db: AsyncSession, account_ids: Iterable[int]) -> dict[int, str]:
    ids = list(set(account_ids))
    if not ids:
        return {}
    return {i: u for i, u in await core_execute(db, _USERNAMES, {"ids": ids})}


# ---- post sources ------------------------------------------------------------------------------
MAX_SOURCE_ACCOUNTS = 100  # accounts one source reads from (the viewer's latest follows, top co-likers)
PER_ACCOUNT = 10  # newest rows read per account: a prolific account cannot flood a source
BACKLOG_PER_ACCOUNT = 3  # newest posts of any age per followed account (more on later pages: sources/following.py)
MAX_BACKLOG_DEPTH = 40  # ... but never more than this many rows per account


def _per_account(table: str, id_col: str, accounts: Sequence[int], watermark: int, per: int = PER_ACCOUNT,
                 name: str = "newest"):  # noqa: ANN202 - a subquery
    """One small index seek per account, UNION ALL'ed: each account's newest `per` rows of
    `table` (posts or favourites) with `id_col` >= watermark, read from the (account_id, id_col)
    index. The cost is accounts x per, however much each account posted or liked in the window.
    Written as SQL text because building hundreds of Core subqueries per request costs more
    than running them; the SQL is the same on SQLite and PostgreSQL."""
    parts = [f"SELECT * FROM (SELECT {id_col} AS row_id, account_id AS row_account FROM {table} "
             f"WHERE account_id = :a{i} AND {id_col} >= :wm ORDER BY {id_col} DESC LIMIT {int(per)}) AS s{i}"
             for i in range(len(accounts))]
    stmt = text(" UNION ALL ".join(parts)).bindparams(wm=watermark, **{f"a{i}": a for i, a in enumerate(accounts)})
    return stmt.columns(column("row_id", BigInteger), column("row_account", BigInteger)).subquery(name)


def _followed_rows(ctx: ViewerContext, depth: Mapping[int, int]):  # noqa: ANN202 - a subquery
    """`_per_account` for followed accounts, plus each account's newest `depth[a]` posts of any
    age created by `ctx.now` (the same (account_id, id) seek without the watermark): accounts x
    (PER_ACCOUNT + depth) rows at most, however old or prolific the accounts are."""
    accounts = ctx.recent_following
    parts = [f"SELECT * FROM (SELECT id AS row_id, account_id AS row_account FROM posts "
             f"WHERE account_id = :a{i} AND id >= :wm ORDER BY id DESC LIMIT {PER_ACCOUNT}) AS s{i}"
             for i in range(len(accounts))]
    parts += [f"SELECT * FROM (SELECT id AS row_id, account_id AS row_account FROM posts "
              f"WHERE account_id = :a{i} AND created_at <= :now ORDER BY id DESC LIMIT {int(depth[a])}) AS b{i}"
              for i, a in enumerate(accounts) if depth.get(a, 0) > 0]
    stmt = text(" UNION ALL ".join(parts)).bindparams(
        bindparam("now", ctx.now, type_=Post.__table__.c.created_at.type), wm=ctx.watermark,
        **{f"a{i}": a for i, a in enumerate(accounts)})
    return stmt.columns(column("row_id", BigInteger), column("row_account", BigInteger)).subquery("followed")


def _liked_by(ctx: ViewerContext, likers: Sequence[int]):  # noqa: ANN202 - a Select
    """Recent discoverable posts liked by `likers`, one row per like (with the liker): each
    liker's newest likes in the window from favourites(account_id, post_id), then the posts by
    primary key (the planner must not walk the window's posts probing every liker)."""
    likes = _per_account("favourites", "post_id", likers, ctx.watermark, per=5, name="likes")
    return (select(*_FACT_COLUMNS, likes.c.row_account).join(likes, likes.c.row_id == Post.id)
            .where(_window(ctx, by_id=False), _discoverable()))


async def co_likers(db: AsyncSession, viewer_id: int, my_recent: int = 20, likers: int = 30) -> list[int]:
    """The people who most often liked what the viewer liked lately (their last likes of
    not-too-popular posts, so one viral post does not make everyone a co-liker)."""
    mine = (select(Favourite.post_id).join(Post, Post.id == Favourite.post_id)
            .where(Favourite.account_id == viewer_id, Post.favourites_count < 200)
            .order_by(Favourite.post_id.desc()).limit(my_recent))
    q = (select(Favourite.account_id).where(Favourite.post_id.in_(mine), Favourite.account_id != viewer_id)
         .group_by(Favourite.account_id).order_by(func.count().desc(), Favourite.account_id).limit(likers))
    return [int(a) for (a,) in await db.execute(q)]


# ---- people sources ------------------------------------------------------------------------------
@dataclass
class PersonFacts:
    id: int
    sources: set[str] = field(default_factory=set)
    common: int = 0  # people the viewer follows who follow them
    adamic_adar: float = 0.0  # sum over those of 1 / log(their following count)
    mutuals: list[int] = field(default_factory=list)  # up to 3 of them, for social proof
    model_score: float | None = None
    followers: int = 0


async def friends_of_friends(db: AsyncSession, viewer_id: int, max_via: int = 200,
                             max_pairs: int = 3000) -> dict[int, PersonFacts]:
    """Accounts followed by people the viewer follows, with common-neighbour counts and
    Adamic-Adar weights (the graph heuristic that blended best with the model in issue 2)."""
    recent = (select(Follow.target_account_id.label("via")).where(Follow.account_id == viewer_id)
              .order_by(Follow.id.desc()).limit(max_via).subquery())  # the viewer's latest follows
    F2 = aliased(Follow)
    q = (select(F2.target_account_id, recent.c.via, Account.following_count)
         .join(F2, F2.account_id == recent.c.via).join(Account, Account.id == recent.c.via).limit(max_pairs))
    out: dict[int, PersonFacts] = {}
    for target, via, via_following in await db.execute(q):
        if target == viewer_id:
            continue
        p = out.get(target) or out.setdefault(target, PersonFacts(target, {"friends_of_friends"}))
        p.common += 1
        p.adamic_adar += 1.0 / math.log(max(via_following or 0, 2) + 1.0)
        if len(p.mutuals) < 3:
            p.mutuals.append(int(via))
    return out


async def popular_accounts(db: AsyncSession, limit: int = 50) -> list[tuple[int, int]]:
    """(account id, followers) of the most-followed discoverable accounts."""
    q = (select(Account.id, Account.followers_count).where(Account.discoverable.is_(True))
         .order_by(Account.followers_count.desc(), Account.id).limit(limit))
    return [(int(a), int(n or 0)) for a, n in await db.execute(q)]


async def people_facts(db: AsyncSession, ids: Iterable[int]) -> dict[int, tuple[bool, int]]:
    """(discoverable, followers) of accounts, to filter and break ties."""
    ids = list(set(ids))
    if not ids:
        return {}
    q = select(Account.id, Account.discoverable, Account.followers_count).where(Account.id.in_(ids))
    return {int(a): (bool(d), int(n or 0)) for a, d, n in await db.execute(q)}


async def mutuals_of(db: AsyncSession, viewer_id: int, ids: Iterable[int],
                     per_account: int = 3) -> dict[int, list[int]]:
    """Up to `per_account` people the viewer follows who follow each of `ids`."""
    ids = list(set(ids))
    if not ids:
        return {}
    q = (select(Follow.target_account_id, Follow.account_id)
         .where(Follow.target_account_id.in_(ids), Follow.account_id.in_(_followed(viewer_id)))
         .limit(per_account * len(ids) * 4))
    out: dict[int, list[int]] = defaultdict(list)
    for target, via in await db.execute(q):
        if len(out[target]) < per_account:
            out[target].append(int(via))
    return dict(out)


class TimedCache:
    """A value per key, recomputed after `ttl` seconds (popular posts, watermarks)."""

    def __init__(self, ttl: float, max_keys: int = 64):
        self.ttl, self.max_keys = ttl, max_keys
        self.values: dict[object, tuple[float, object]] = {}
        self._lock = threading.Lock()  # the feed refresher's thread writes too

    def get(self, key: object) -> object | None:
        hit = self.values.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            return None
        return hit[1]

    def put(self, key: object, value: object) -> None:
        with self._lock:
            if key not in self.values and len(self.values) >= self.max_keys:
                self.values.pop(next(iter(self.values)))
            self.values[key] = (time.monotonic(), value)

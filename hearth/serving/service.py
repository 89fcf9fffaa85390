"""The serving facade the app holds (`app.state.serving`): the ranked "For you" feed and
people you may know, ranked by the newest model snapshot when there is one (hot-reloaded),
by the heuristic ranker until then.

Feed pipeline (docs/architecture.md, Ranking): viewer context (follows, blocks, mutes, dismissals) ->
candidate sources (hearth/serving/sources/: followed accounts, posts liked by people you follow or
by people with your taste, the model's nearest posts, suggested authors, popular) -> heuristic value for all ->
the best few hundred checked against what was seen or hidden and re-scored with per-verb
probabilities from the model when a snapshot serves -> value blend x freshness -> policy
(nothing seen, hidden, blocked or muted, no own posts, author diversity, in/out-of-network
mix) -> entries with reasons.

What comes back is ids, scores and reasons: the app loads the posts and accounts and records
what it served as impressions (hearth/app/hydrate.py); an impression older than
`seen_grace_minutes` keeps the post out of later feeds. Clients may also report impressions and
dwell time through `POST /api/hearth/v1/events`.

Ranked lists: a first page ranks enough for a few pages and keeps the list for the viewer
(`feed_cache_seconds`, never past the seen-grace period); later pages and repeated first pages
come from it until the viewer acts (beyond liking, sharing or replying, which only take those
posts out of it), a snapshot changes or it grows old. A followed account's new post joins the
list (fan-out on write, `post_created`): the next request scores the new posts and merges them
in. A background task ranks active viewers' lists again.

Paging: every page is ranked again minus what was served; followed accounts' posts of any age
come in deeper as their newer ones are served, so the feed goes on while anything is left and
then ends with `caught_up` (no cursor). Per-viewer caches are keyed by the viewer's latest
action event (follow, like, hide, ...): acting changes the very next page.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hearth.serving import candidates as src
from hearth.serving.candidates import PostFacts, TimedCache, ViewerContext, unix
from hearth.serving.cursor import FeedCursor, decode_cursor, encode_cursor
from hearth.serving.errors import InvalidRequest
from hearth.serving.heuristic import heuristic_value, like_logit, sigmoid
from hearth.serving.model_scorer import SnapshotScorer
from hearth.serving.people_lists import PeopleLists
from hearth.serving.rank import (
    PackedKept,
    Scored,
    blend_value,
    feed_reason,
    final_score,
    freshness,
    people_reason,
    select_page,
    standardise,
)
from hearth.serving.ranked_lists import RankedList, RankedLists
from hearth.serving.snapshots import SnapshotWatcher
from hearth.serving.sources import SourceRequest, default_sources, excluded
from hearth.serving.sources.following import FollowingPosts
from hearth.serving.training_marker import training_status
from hearth.serving.value_model import FEATURES, ValueModel, post_features
from hearth.settings import Settings
from hearth.storage.db import make_engine, make_sessionmaker
from hearth.storage.models import Account

log = logging.getLogger("hearth.serving")
T = TypeVar("T")

MAX_FEED_LIMIT = 40
MAX_PEOPLE_LIMIT = 80
MARKS_CHUNK = 200  # candidates checked against the viewer's seen / hidden / liked posts per query
PAGES_RANKED = 3  # a first page ranks enough for this many pages; the next ones come from the kept list
DEFAULT_PAGE = 20
# What a viewer may do without their kept list being ranked again at once: these posts leave it.
LIGHT_VERBS = frozenset({"post", "like", "unlike", "reply", "share", "unshare"})
MAX_LIGHT_ACTIONS = 20
ACTIVE_VIEWER_SECONDS = 600.0  # the background refresher keeps lists fresh for viewers who asked this recently


@dataclass
class FeedEntry:
    post_id: int  # the app loads the post (hearth/app/hydrate.py); it may have been deleted since
    author_id: int
    score: float
    reason: str  # shown to the user: "Because you liked posts by @ann", "Followed by @bob and 2 others"
    source: str  # candidate source: following | similar | popular | suggested_author


@dataclass
class FeedPage:
    entries: list[FeedEntry]
    cursor: str | None  # opaque; pass it back for the next page; None at the end
    ranker: str  # "heuristic" or "model:<snapshot version>"

    @property
    def caught_up(self) -> bool:
        """Nothing more to show: the viewer has seen everything worth showing for now."""
        return self.cursor is None


@dataclass
class PersonSuggestion:
    account_id: int
    score: float
    reason: str  # "Followed by @ann and 3 others you follow", "Popular on Hearth"
    source: str  # model | friends_of_friends | popular
    mutual_ids: list[int] = field(default_factory=list)  # social proof: people you follow who follow them


class ServingState:
    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]):
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.watcher = SnapshotWatcher(settings.snapshot_dir, settings.snapshot_poll_seconds)
        self.sources = default_sources()  # hearth/serving/sources/: one class per source
        self._following = FollowingPosts()  # scores followed accounts' new posts into kept lists
        self._watermarks = TimedCache(ttl=60.0)
        self._popular_accounts = TimedCache(ttl=60.0)
        # Per viewer, slow to change, costly to compute: reused for a few minutes by the feed, and
        # recomputed at once when the viewer acts (each entry remembers the viewer's latest action).
        self._friends_of_friends = TimedCache(ttl=300.0, max_keys=4096)
        self._co_likers = TimedCache(ttl=300.0, max_keys=4096)
        self._model_proposals = TimedCache(ttl=300.0, max_keys=4096)  # (similar posts, suggested accounts)
        # viewer id -> RankedList. Never older than the seen-grace period: a post served from a list
        # must drop out of the feed once it counts as seen, and by then the list was ranked again.
        self._ranked = RankedLists(ttl=min(settings.feed_cache_seconds, 60 * settings.seen_grace_minutes),
                                   redis_url=settings.redis_url)  # shared by the workers when several serve
        self._people = PeopleLists(self._ranked.redis)  # (viewer, limit, snapshot) -> (acted, suggestions)
        self._refresher: threading.Thread | None = None
        self._refresher_stop = threading.Event()
        self._model_lock = threading.Lock()
        self.value_model: ValueModel | None = None
        self.value_model_error: str | None = None
        if settings.feed_value_model is not None:
            try:
                self.value_model = ValueModel.load(settings.feed_value_model)
            except ValueError as e:  # the blend serves; status says why
                self.value_model_error = str(e)
                log.error("%s; ranking with the built-in value blend", e)

    async def _model(self, fn: Callable[..., T], *args: Any) -> T:
        """A snapshot's model call (torch, tens of ms for a viewer's retrieval or a batch of
        candidates) in a thread, one at a time (the refresher's thread calls it too): torch lets
        go of the interpreter while it computes, so other requests are answered meanwhile."""
        def locked() -> T:
            with self._model_lock:
                return fn(*args)
        return await asyncio.to_thread(locked)

    # ---- lifecycle and status ------------------------------------------------------------------
    async def start(self) -> None:
        """Start watching the snapshot folder (the first look happens right away, in the background)."""
        await self.watcher.start()
        if self._ranked.ttl > 0 and self._refresher is None:
            self._refresher_stop.clear()
            self._refresher = threading.Thread(target=lambda: asyncio.run(self._refresh()),
                                               name="hearth-feed-refresher", daemon=True)
            self._refresher.start()

    async def stop(self) -> None:
        await self.watcher.stop()
        if self._refresher is not None:
            self._refresher_stop.set()
            await asyncio.to_thread(self._refresher.join, 30)
            self._refresher = None

    async def reload(self) -> bool:
        """Look for a new snapshot now (what the watcher does every poll); True if one was swapped in."""
        return await self.watcher.check()

    def status(self) -> dict[str, Any]:
        scorer = self.watcher.current
        out: dict[str, Any] = {"ranker": "model" if scorer else "heuristic", "snapshot": None, "version": None,
                               "trained_at": None, "loaded_at": None, "events_trained_on": None}
        if scorer is not None:
            out.update(scorer.describe())
        out["last_error"] = self.watcher.last_error
        out["value_model"] = (str(self.settings.feed_value_model) if self.value_model is not None
                              else self.value_model_error)
        out["training"] = self.training()
        return out

    def training(self) -> dict[str, Any] | None:
        """The training run under way on this server's snapshot folder ({"pid", "started_at"}), if any."""
        return training_status(self.settings.snapshot_dir)

    # ---- the feed ------------------------------------------------------------------------------
    async def feed(self, db: AsyncSession, viewer: Account, limit: int = 20, cursor: str | None = None, *,
                   now: datetime | None = None) -> FeedPage:
        """One page of the ranked "For you" feed (post ids, scores, reasons); `cursor` continues a
        previous page; `now` ranks as of another time (the offline replay). The app loads the
        posts and records what it served as impressions."""
        if not 1 <= int(limit) <= MAX_FEED_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {MAX_FEED_LIMIT}")
        state = decode_cursor(viewer.id, cursor) if cursor else None
        served = set(state.served) if state else set()
        live = now is None and self._ranked.ttl > 0  # the offline replay ranks as of another time: not cached
        ranked_at = datetime.fromtimestamp(state.ranked_at, UTC) if state else (now or datetime.now(UTC))
        acted = await src.latest_action(db, viewer.id)
        scorer = self.watcher.current
        version = scorer.version if scorer is not None else None
        hit = self._ranked.get(viewer.id) if live else None
        ctx = None
        if (hit is not None and hit.version == version
                and (state is None or abs(state.ranked_at - hit.ranked_at) < 1e-3)):
            hit_at = datetime.fromtimestamp(hit.ranked_at, UTC)
            ctx = await self._context(db, viewer.id, hit_at)
            hit = await self._up_to_date(db, hit, ctx, acted)
            if hit is None:  # the viewer did more than like or share: rank again, as of now
                ctx = None
            else:
                ranked_at = hit_at
                left = PackedKept.of(hit.kept).without(served, ctx.excluded_authors)
                # Running short on a later page: rank again, as what was served reaches deeper into
                # followed accounts' pasts (a first page with nothing left unchecked has it all).
                if len(left) >= 2 * int(limit) or (state is None and not hit.more):
                    self._ranked.asked(viewer.id)
                    return await self._page(db, viewer, left, hit, int(limit), state, ranked_at)
        if ctx is None:  # a list that ran short was read at the same time: its context serves again
            ctx = await self._context(db, viewer.id, ranked_at)
        depth = int(limit) * (1 if state else PAGES_RANKED)
        ranked = await self._rank(db, viewer.id, ctx, acted, scorer, served, depth)
        if live and state is None:  # only a first page's ranking is shared by later requests
            self._ranked.put(ranked)
            self._ranked.asked(viewer.id)
        return await self._page(db, viewer, ranked.kept, ranked, int(limit), state, ranked_at)

    async def _up_to_date(self, db: AsyncSession, hit: RankedList, ctx: ViewerContext,
                          acted: int) -> RankedList | None:
        """The kept list brought up to date without ranking it again: the posts the viewer liked,
        shared or replied to since it was ranked leave it, and followed accounts' new posts (fanned
        out on write) are scored and merged in; None when the viewer did anything else since (a
        follow, a hide, a mute...), which the next page must reflect in full. A list with actions
        applied is ranked again by the refresher soon (the model reads those actions too)."""
        gone: set[int] = set()
        restale = False
        if hit.acted < acted:
            since = await src.actions_since(db, hit.viewer_id, hit.acted, MAX_LIGHT_ACTIONS + 1)
            if len(since) > MAX_LIGHT_ACTIONS or any(k != "item" or v not in LIGHT_VERBS for v, k, _ in since):
                return None
            gone = {target for _, _, target in since}
            # Own posts are neither in the list nor in what the model reads: nothing to rank again for.
            restale = any(verb != "post" for verb, _, _ in since)
        if not gone and not hit.fresh:
            return hit
        kept: Sequence[Scored] = PackedKept.of(hit.kept).without(gone)
        if hit.fresh:
            # As of now: the new posts are younger than the list. No check against what the viewer
            # saw: a post newer than the list cannot have been seen past the grace period, and the
            # viewer's likes or shares of it are in `gone`.
            now_ctx = replace(ctx, now=datetime.now(UTC))
            have = PackedKept.of(kept).ids() | gone
            new = [f for f in await self._following.by_ids(db, now_ctx, hit.fresh)
                   if f.id not in have and not excluded(f, now_ctx, set())]
            kept = sorted([*kept, *self._score(new, now_ctx, hit.affinity, {})], key=lambda s: (-s.score, -s.facts.id))
        up = replace(hit, kept=kept, acted=max(acted, hit.acted), fresh=[], stale=hit.stale or restale)
        self._ranked.patched(up)
        return up

    async def _rank(self, db: AsyncSession, viewer_id: int, ctx: ViewerContext, acted: int,
                    scorer: SnapshotScorer | None, served: set[int], limit: int) -> RankedList:
        """Candidates from every source, ordered by the heuristic, then the best checked against what
        the viewer saw, hid or liked and scored again by the model, until `limit` posts (both sides of
        the in/out-of-network mix) are ready."""
        served_by_author = await src.authors_of(db, served) if served else {}
        history = []
        if scorer is not None:
            history = scorer.history(viewer_id, await src.recent_history(db, viewer_id, scorer.max_len))

        pool = await self._candidates(db, ctx, scorer if history else None, history, acted, served_by_author)
        cands = [f for f in pool.values() if not excluded(f, ctx, served)]
        affinity = await src.author_affinity(db, viewer_id)
        model = scorer if history else None
        scored = sorted(self._score(cands, ctx, affinity, {}), key=lambda s: (-s.score, -s.facts.id))
        # A cascade: the heuristic orders every candidate; the best are checked, a chunk at a time,
        # against what the viewer saw, hid or liked, and what is left is scored again by the model,
        # until both sides of the in/out-of-network mix have enough for the page.
        seen_before = ctx.now - timedelta(minutes=self.settings.seen_grace_minutes)
        want_out = round(limit * self.settings.feed_out_of_network_share)
        want = {True: 2 * (limit - want_out), False: 2 * want_out}  # twice: room for the author cap
        left = {True: sum(s.in_network for s in scored), False: sum(not s.in_network for s in scored)}
        have = {True: 0, False: 0}
        kept: list[Scored] = []
        checked = 0
        while checked < len(scored) and any(have[side] < want[side] and left[side] for side in (True, False)):
            chunk = scored[checked:checked + MARKS_CHUNK]
            checked += len(chunk)
            marks = await src.viewer_marks(db, viewer_id, [s.facts.id for s in chunk], seen_before)
            for s in chunk:
                left[s.in_network] -= 1
            unseen = [s for s in chunk if s.facts.id not in marks]
            if model is not None:
                facts = [s.facts for s in unseen]
                unseen = self._score(facts, ctx, affinity, await self._model(model.score_posts, history, facts))
            for s in unseen:
                kept.append(s)
                have[s.in_network] += 1
        kept.sort(key=lambda s: (-s.score, -s.facts.id))
        ranker = f"model:{scorer.version}" if scorer is not None and history else "heuristic"
        return RankedList(viewer_id, acted, scorer.version if scorer is not None else None, unix(ctx.now), kept,
                          checked < len(scored), ranker, ctx.following, affinity)

    async def _page(self, db: AsyncSession, viewer: Account, kept: Sequence[Scored], ranked: RankedList, limit: int,
                    state: FeedCursor | None, ranked_at: datetime) -> FeedPage:
        """The page's entries from `kept` (what of `ranked` is left to show) and its cursor."""
        page = select_page(kept, limit, self.settings.max_posts_per_author, self.settings.feed_out_of_network_share)
        entries = await self._entries(db, page, ranked.affinity, ranked_at)
        next_cursor = None
        if (len(kept) > len(page) or ranked.more) and entries:
            next_state = FeedCursor(ranked_at=unix(ranked_at), page=(state.page if state else 0) + 1,
                                    served=[*(state.served if state else []), *(s.facts.id for s in page)])
            next_cursor = encode_cursor(viewer.id, next_state)
        return FeedPage(entries, next_cursor, ranked.ranker)

    # ---- keeping ranked lists fresh ------------------------------------------------------------
    async def post_created(self, db: AsyncSession, author_id: int, post_id: int) -> None:
        """Fan-out on write: a new post joins the ranked lists of its author's followers (in every
        worker when the lists live in Redis); their next request scores it and merges it in."""
        if self._ranked.redis is None:
            self._ranked.add_fresh_following(author_id, post_id)
        else:
            self._ranked.add_fresh(await src.follower_ids(db, author_id), post_id)

    async def _refresh(self) -> None:
        """Rank again, in the background, the lists of viewers who asked this worker recently (and
        since it last ranked for them) and whose list is getting old (or gone), so that their next
        request finds one ready.

        It runs in its own thread, event loop and database engine: its work (candidates, scores)
        then shares the interpreter with the requests in slices of a few milliseconds instead of
        holding up the request loop for a whole ranking. It takes at most a fifth of one core:
        after each list it rests four times as long as the list took."""
        engine = make_engine(self.settings.database_url, self.settings.sqlite_synchronous)
        sessionmaker = make_sessionmaker(engine)
        try:
            while not await self._rest(self.settings.feed_refresh_seconds):
                for viewer_id in self._ranked.recent_askers(ACTIVE_VIEWER_SECONDS):
                    started = time.perf_counter()
                    try:
                        entry = self._ranked.get(viewer_id)
                        if (entry is not None and not entry.stale
                                and time.time() - entry.stored_at <= self._ranked.ttl / 2):
                            continue
                        if not self._ranked.claim(viewer_id, self._ranked.ttl / 2):
                            continue  # another worker is on it
                        async with sessionmaker() as db:
                            ctx = await self._context(db, viewer_id, datetime.now(UTC))
                            acted = await src.latest_action(db, viewer_id)
                            fresh = await self._rank(db, viewer_id, ctx, acted, self.watcher.current, set(),
                                                     DEFAULT_PAGE * PAGES_RANKED)
                        self._ranked.put(fresh)
                        self._ranked.refreshed(viewer_id)
                    except Exception:  # never let the refresher die; the request path ranks on its own
                        log.exception("refreshing the ranked feed of viewer %s failed", viewer_id)
                    if await self._rest(4 * (time.perf_counter() - started)):
                        return
        finally:
            await engine.dispose()

    async def _rest(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early when asked to stop; True when asked to stop."""
        deadline = time.monotonic() + seconds
        while not self._refresher_stop.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return self._refresher_stop.is_set()

    async def _context(self, db: AsyncSession, viewer_id: int, now: datetime) -> ViewerContext:
        window_start = now - timedelta(hours=self.settings.feed_window_hours)
        key = int(window_start.timestamp() // 60)
        watermark = self._watermarks.get(key)
        if watermark is None:
            watermark = await src.post_watermark(db, window_start)
            self._watermarks.put(key, watermark)
        return await src.viewer_context(db, viewer_id, now, window_start, int(watermark))  # type: ignore[arg-type]

    @staticmethod
    def _viewer_cached(cache: TimedCache, key: object, acted: int) -> object | None:
        """A per-viewer cache entry, unless the viewer acted since it was computed."""
        hit = cache.get(key)
        return hit[1] if hit is not None and hit[0] == acted else None  # type: ignore[index]

    async def _candidates(self, db: AsyncSession, ctx: ViewerContext, scorer: SnapshotScorer | None,
                          history: list, acted: int = 0,
                          served_by_author: dict[int, int] | None = None) -> dict[int, PostFacts]:
        """What every source found, merged by post (the social proof of each kept). The per-viewer
        inputs that change slowly (co-likers, the model's proposals, friends of friends) come from
        caches that the viewer's next action invalidates."""
        request = SourceRequest(ctx, dict(served_by_author or {}))
        likers = self._viewer_cached(self._co_likers, ctx.viewer_id, acted)
        if likers is None:
            likers = await src.co_likers(db, ctx.viewer_id)
            self._co_likers.put(ctx.viewer_id, (acted, likers))
        request.co_likers = likers  # type: ignore[assignment]
        if scorer is not None:  # the model's proposals for a viewer change slowly: reused for minutes
            key = (ctx.viewer_id, scorer.version)
            proposed = self._viewer_cached(self._model_proposals, key, acted)
            if proposed is None:
                proposed = (await self._model(scorer.similar_posts, history),
                            await self._model(scorer.suggested_accounts, history, ctx.viewer_id))
                self._model_proposals.put(key, (acted, proposed))
            request.model_posts, authors = proposed  # type: ignore[misc]
        else:
            authors = self._viewer_cached(self._friends_of_friends, ctx.viewer_id, acted)
            if authors is None:
                fof = await src.friends_of_friends(db, ctx.viewer_id)
                top = sorted(fof.values(), key=lambda p: (-p.adamic_adar, p.id))
                authors = {p.id: p.common for p in top[:200]}
                self._friends_of_friends.put(ctx.viewer_id, (acted, authors))
            authors = {a: n for a, n in authors.items() if a not in ctx.following}  # type: ignore[union-attr]
        request.suggested_authors = {a: s for a, s in authors.items() if a not in ctx.excluded_authors}
        pool: dict[int, PostFacts] = {}
        for source in self.sources:
            for f in await source.fetch(db, request):
                if f.id in pool:
                    pool[f.id].merge(f)
                else:
                    pool[f.id] = f
        return pool

    def _score(self, cands: list[PostFacts], ctx: ViewerContext, affinity: dict[int, float],
               model_scores: dict) -> list[Scored]:
        """value x freshness for every candidate (`model_scores`: the snapshot's, {} for none).

        Heuristic: value = sum_k w_k p_k with the heuristic's p_k. With a snapshot, for each post
        the model can represent: p(engage) = sigmoid(heuristic like-logit + feed_model_weight x the
        model's next-post score, standardised over the candidates scored together), and p_k = p(engage)
        x the model's verb head p(k | viewer, post), so its hide / mute / block predictions count
        against the post with their negative weights."""
        weights = self.settings.value_weights
        half_life = self.settings.freshness_half_life_hours
        now = unix(ctx.now)
        head = standardise({pid: s.head for pid, s in model_scores.items()})
        if self.value_model is not None:  # learned: p(engage) from every signal at once, freshness included
            rows = self.value_rows(cands, ctx, affinity, model_scores, head)
            p = self.value_model.probabilities(rows) if len(cands) else []
            return [Scored(f, float(v), 1.0, float(v), "model" if f.id in model_scores else "heuristic")
                    for f, v in zip(cands, p, strict=True)]
        out = []
        for f in cands:
            fresh = freshness(now - f.created_at, half_life)
            if f.id in model_scores:
                p_engage = sigmoid(like_logit(f, ctx.following, affinity, now)
                                   + self.settings.feed_model_weight * head[f.id])
                value, who = p_engage * blend_value(model_scores[f.id].verbs, weights), "model"
            else:
                value, who = heuristic_value(f, ctx.following, affinity, now, weights), "heuristic"
            out.append(Scored(f, value, fresh, final_score(value, fresh), who))
        return out

    @staticmethod
    def value_rows(cands: list[PostFacts], ctx: ViewerContext, affinity: dict[int, float],
                   model_scores: dict, head: dict[int, float]) -> np.ndarray:
        """The value model's features of each candidate: [len(cands), len(FEATURES)]."""
        now = unix(ctx.now)
        return np.array([post_features(f, ctx.following, affinity, now, head.get(f.id),
                                       model_scores[f.id].verbs if f.id in model_scores else None)
                         for f in cands], dtype=np.float64).reshape(len(cands), len(FEATURES))

    async def candidate_rows(self, db: AsyncSession, viewer: Account,
                             now: datetime) -> tuple[list[int], np.ndarray]:
        """Every post the feed would consider for the viewer at `now` (none they already acted
        on or saw) and its value-model features: what fitting the value model reads."""
        ctx = await self._context(db, viewer.id, now)
        scorer = self.watcher.current
        history = scorer.history(viewer.id, await src.recent_history(db, viewer.id, scorer.max_len)) if scorer else []
        pool = await self._candidates(db, ctx, scorer if history else None, history)
        cands = [f for f in pool.values() if not excluded(f, ctx, set())]
        marks = await src.viewer_marks(db, viewer.id, [f.id for f in cands], now)
        cands = [f for f in cands if f.id not in marks]
        affinity = await src.author_affinity(db, viewer.id)
        model_scores = scorer.score_posts(history, cands) if scorer is not None and history else {}
        head = standardise({pid: s.head for pid, s in model_scores.items()})
        return [f.id for f in cands], self.value_rows(cands, ctx, affinity, model_scores, head)

    async def _entries(self, db: AsyncSession, page: list[Scored], affinity: dict[int, float],
                       ranked_at: datetime) -> list[FeedEntry]:
        if not page:
            return []
        people = {s.facts.author for s in page}
        for s in page:
            people.update(s.facts.liked_by_following[:1], s.facts.shared_by[:1])
        names = await src.usernames(db, people)
        now = unix(ranked_at)
        return [FeedEntry(s.facts.id, s.facts.author, round(s.score, 6), feed_reason(s.facts, names, affinity, now),
                          s.facts.source) for s in page]

    # ---- people you may know -----------------------------------------------------------------------
    async def people(self, db: AsyncSession, viewer: Account, limit: int = 10) -> list[PersonSuggestion]:
        """Model account retrieval + friends of friends + popular, merged and ranked
        (standardised model score + weight * log1p(Adamic-Adar)), with social proof."""
        if not 1 <= int(limit) <= MAX_PEOPLE_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {MAX_PEOPLE_LIMIT}")
        scorer = self.watcher.current
        acted = await src.latest_action(db, viewer.id)
        version = scorer.version if scorer is not None else None
        cached = self._people.get(viewer.id, int(limit), version)
        if cached is not None and cached[0] == acted:
            return [PersonSuggestion(**p) for p in cached[1]]
        found = await self._people_now(db, viewer, int(limit), scorer)
        self._people.put(viewer.id, int(limit), version, acted, [asdict(p) for p in found])
        return found

    async def _people_now(self, db: AsyncSession, viewer: Account, limit: int,
                          scorer: SnapshotScorer | None) -> list[PersonSuggestion]:
        now = datetime.now(UTC)
        ctx = await src.viewer_context(db, viewer.id, now, now, 0)
        exclude = ctx.following | ctx.excluded_authors | {viewer.id}
        history = scorer.history(viewer.id, await src.recent_history(db, viewer.id, scorer.max_len)) if scorer else []

        cands = {a: p for a, p in (await src.friends_of_friends(db, viewer.id)).items() if a not in exclude}
        model_found = (await self._model(scorer.suggested_accounts, history, viewer.id)
                       if scorer is not None and history else {})
        popular = self._popular_accounts.get("all")
        if popular is None:
            popular = await src.popular_accounts(db)
            self._popular_accounts.put("all", popular)
        for a in model_found:
            cands.setdefault(a, src.PersonFacts(a)).sources.add("model")
        for a, _ in popular:  # type: ignore[union-attr]
            cands.setdefault(a, src.PersonFacts(a)).sources.add("popular")
        for a in exclude:
            cands.pop(a, None)
        facts = await src.people_facts(db, cands)
        cands = {a: p for a, p in cands.items() if facts.get(a, (False, 0))[0]}
        model_scores = (await self._model(scorer.score_accounts, history, list(cands))
                        if scorer is not None and history else {})
        z = standardise(model_scores)
        w = self.settings.people_graph_weight
        ranked = []
        for a, p in cands.items():
            p.followers = facts[a][1]
            model_part = z.get(a, -1.0) if z else 0.0
            p.model_score = model_scores.get(a)
            score = model_part + w * math.log1p(p.adamic_adar) + 0.05 * math.log1p(p.followers)
            ranked.append((score, p))
        ranked.sort(key=lambda t: (-t[0], t[1].id))
        top = ranked[:int(limit)]
        mutuals = await src.mutuals_of(db, viewer.id, [p.id for _, p in top])
        names = await src.usernames(db, {p.id for _, p in top} | {m for ms in mutuals.values() for m in ms})
        out = []
        for score, p in top:
            if p.id not in names:
                continue
            ms = [m for m in mutuals.get(p.id, []) if m in names]
            source = ("friends_of_friends" if p.common else "model" if "model" in p.sources else "popular")
            reason = people_reason([f"@{names[m]}" for m in ms], max(p.common, len(ms)), source)
            out.append(PersonSuggestion(p.id, round(score, 6), reason, source, ms))
        return out

"""Offline replay of the "For you" feed: would the feed, built at some moment in the past,
have shown people what they went on to engage with?

Protocol ("replay-cut"). A seeded community (accounts, follows, posts and likes, each with a
time; `hearth.services.seed`) is cut at time T, the `cut_quantile` quantile of like times.
Everything up to T is written to a fresh SQLite database, exactly as the app would hold it,
and nothing after T is. A user's targets are their likes in (T, T + horizon] of posts that
existed at T (posts written later cannot be in any feed built at T). Users with at least one
target are split at random (seeded) into a validation half and a test half.

For each user the feed is built at T by the production code (`ServingState.feed(now=T)`) and
compared, by hits / recall / NDCG at K over the user's targets, with:
- chronological: posts of followed accounts, newest first (own and already-liked ones left out);
- heuristic: the ranked feed with no snapshot;
- model: the ranked feed with the unified model trained (`train --from-db`) on the cut database
  only, so it has seen nothing after T.
Ranking settings (freshness half-life, out-of-network share) are chosen per ranker on the validation
users; the test users are read once, with the chosen settings.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from tqdm import tqdm

from hearth.bench.machine import machine_info
from hearth.eval.metrics import compute_metrics
from hearth.services.seed.community import US, Community, write_community
from hearth.serving.service import ServingState
from hearth.serving.value_model import FEATURES, ValueModel, fit_value_model
from hearth.settings import Settings
from hearth.storage.db import make_engine, make_sessionmaker, make_sync_engine, migrate
from hearth.storage.models import Account, Favourite, Follow, Post

KS: tuple[int, ...] = (10, 20, 40)
GRID: tuple[dict[str, float], ...] = tuple(  # ranking settings tried on validation users; the first is the default
    {"freshness_half_life_hours": h, "feed_out_of_network_share": share}
    for share in (0.3, 0.1) for h in (24.0, 6.0, 168.0))
MODEL_WEIGHTS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0)  # feed_model_weight, on top of the heuristic's choice


def model_grid(heuristic_choice: dict[str, float]) -> tuple[dict[str, float], ...]:
    return tuple({**heuristic_choice, "feed_model_weight": w} for w in MODEL_WEIGHTS)


ANCHOR = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # seeded times end here: the replay is reproducible
NOT_SHOWN = 10**9  # the rank of a target the feed did not show


@dataclass
class ReplaySetup:
    url: str  # the cut database
    cut: dt.datetime
    horizon_days: float
    targets: dict[int, set[int]]  # account id -> post ids liked in (cut, cut + horizon]
    valid_users: list[int]
    test_users: list[int]
    counts: dict[str, int]


def _keep(mask: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
    return [c[mask] for c in cols]


def cut_community(c: Community, cut_us: int) -> Community:
    """What the community looked like at `cut_us`: follows, posts and likes up to then."""
    keep_post = c.post_ts <= cut_us
    new_index = np.cumsum(keep_post) - 1
    f = c.follow_ts <= cut_us
    like = (c.like_ts <= cut_us) & keep_post[c.like_post]
    tag = keep_post[c.tag_post] if len(c.tag_post) else np.zeros(0, bool)
    mention = keep_post[c.mention_post] if len(c.mention_post) else np.zeros(0, bool)
    follow_src, follow_dst, follow_ts = _keep(f, c.follow_src, c.follow_dst, c.follow_ts)
    like_account, like_post, like_ts = _keep(like, c.like_account, c.like_post, c.like_ts)
    return replace(
        c, follow_src=follow_src, follow_dst=follow_dst, follow_ts=follow_ts,
        post_author=c.post_author[keep_post], post_ts=c.post_ts[keep_post],
        post_text=[t for t, k in zip(c.post_text, keep_post.tolist(), strict=True) if k],
        tag_post=new_index[c.tag_post[tag]], tag_name=[n for n, k in zip(c.tag_name, tag.tolist(), strict=True) if k],
        mention_post=new_index[c.mention_post[mention]], mention_account=c.mention_account[mention],
        like_account=like_account, like_post=new_index[like_post], like_ts=like_ts,
        demo_follows=[], demo_likes=[], demo_created=int(min(cut_us, c.demo_created or cut_us)))


def prepare(c: Community, workdir: Path, cut_quantile: float = 0.8, horizon_days: float = 7.0,
            seed: int = 0, cut_us: int | None = None) -> ReplaySetup:
    """Cut the community (at `cut_us`, else the like-time quantile), write the past into
    `workdir/replay.db`, collect the targets, split users."""
    if not 0 < cut_quantile < 1:
        raise ValueError("cut_quantile must be between 0 and 1")
    if len(c.like_ts) == 0:
        raise ValueError("the community has no likes to replay")
    cut_us = int(np.quantile(c.like_ts, cut_quantile)) if cut_us is None else int(cut_us)
    horizon_us = int(horizon_days * 86_400 * US)
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "replay.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
    migrate(url)
    past = cut_community(c, cut_us)
    write_community(url, past)

    # community post index -> database id, matched on (author, time): robust to how ids are assigned
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            by_key = {(int(a), int(round(t.timestamp() * US))): int(i)
                      for i, a, t in conn.execute(select(Post.id, Post.account_id, Post.created_at))}
    finally:
        engine.dispose()
    future = (c.like_ts > cut_us) & (c.like_ts <= cut_us + horizon_us) & (c.post_ts[c.like_post] <= cut_us)
    targets: dict[int, set[int]] = {}
    missing = 0
    for account, post in zip(c.like_account[future].tolist(), c.like_post[future].tolist(), strict=True):
        pid = by_key.get((int(c.post_author[post]), int(c.post_ts[post])))
        if pid is None:
            missing += 1
            continue
        targets.setdefault(int(account), set()).add(pid)
    if missing:
        raise RuntimeError(f"{missing} target posts were not found in the replay database")
    users = np.array(sorted(targets), dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(users))
    half = len(users) // 2
    valid, test = sorted(users[order[:half]].tolist()), sorted(users[order[half:]].tolist())
    counts = {"accounts": c.n_accounts, "follows_before_cut": len(past.follow_src), "posts_before_cut":
              len(past.post_author), "likes_before_cut": len(past.like_account),
              "targets": int(sum(len(t) for t in targets.values())), "users_valid": len(valid),
              "users_test": len(test), "targets_valid": int(sum(len(targets[u]) for u in valid)),
              "targets_test": int(sum(len(targets[u]) for u in test))}
    cut = dt.datetime.fromtimestamp(cut_us / US, dt.UTC)
    return ReplaySetup(url, cut, horizon_days, targets, valid, test, counts)


# ---- the feeds compared ---------------------------------------------------------------------------
async def chronological(db: AsyncSession, viewer_id: int, now: dt.datetime, k: int) -> list[int]:
    """Followed accounts' posts up to `now`, newest first; own and already-liked posts left out."""
    liked = exists().where(Favourite.account_id == viewer_id, Favourite.post_id == Post.id)
    q = (select(Post.id).where(Post.account_id.in_(select(Follow.target_account_id)
                                                   .where(Follow.account_id == viewer_id)),
                               Post.created_at <= now, Post.account_id != viewer_id, ~liked)
         .order_by(Post.created_at.desc(), Post.id.desc()).limit(k))
    return [int(i) for i in await db.scalars(q)]


async def _feeds(setup: ReplaySetup, users: list[int], k: int, build: Callable, desc: str) -> dict[int, list[int]]:
    engine = make_engine(setup.url)
    out: dict[int, list[int]] = {}
    try:
        async with make_sessionmaker(engine)() as db:
            for u in tqdm(users, desc=desc, unit="user", leave=False, disable=None):
                out[u] = await build(db, u)
                db.expunge_all()
    finally:
        await engine.dispose()
    return out


def score_feeds(feeds: dict[int, list[int]], targets: dict[int, set[int]], ks: tuple[int, ...] = KS) -> dict:
    """hits / recall / NDCG at each K of every user's targets in their feed, averaged over users."""
    ranks: list[int] = []
    offsets = [0]
    for u in sorted(feeds):
        position = {pid: i + 1 for i, pid in enumerate(feeds[u])}
        ranks += [position.get(t, NOT_SHOWN) for t in sorted(targets[u])]
        offsets.append(len(ranks))
    m = compute_metrics(np.asarray(ranks), np.asarray(offsets), ks, hits=True)
    keep = {k: round(v, 5) for k, v in m.items() if not k.startswith(("hr@", "mrr"))}
    keep["users"] = len(feeds)
    return keep


def ranked_builder(serving: ServingState, now: dt.datetime, k: int) -> Callable:
    async def build(db: AsyncSession, user: int) -> list[int]:
        viewer = await db.get(Account, user)
        page = await serving.feed(db, viewer, limit=k, now=now)
        return [e.post_id for e in page.entries]
    return build


async def evaluate_ranked(setup: ReplaySetup, users: list[int], snapshot_dir: Path, config: dict[str, float],
                          desc: str, k: int = max(KS)) -> dict:
    settings = Settings(database_url=setup.url, snapshot_dir=snapshot_dir, **config)
    engine = make_engine(setup.url)
    serving = ServingState(settings, make_sessionmaker(engine))
    try:
        await serving.reload()
        if snapshot_dir.exists() and any(snapshot_dir.iterdir()) and serving.watcher.current is None:
            raise RuntimeError(f"the replay snapshot did not load: {serving.watcher.last_error}")
        feeds = await _feeds(setup, users, k, ranked_builder(serving, setup.cut, k), desc)
    finally:
        await engine.dispose()
    return score_feeds(feeds, setup.targets)


async def evaluate_chronological(setup: ReplaySetup, users: list[int], desc: str, k: int = max(KS)) -> dict:
    async def build(db: AsyncSession, user: int) -> list[int]:
        return await chronological(db, user, setup.cut, k)
    return score_feeds(await _feeds(setup, users, k, build, desc), setup.targets)


def choose(setup: ReplaySetup, snapshot_dir: Path, name: str, grid: tuple[dict[str, float], ...] = GRID,
           metric: str = "ndcg@20") -> dict[str, Any]:
    """Each grid setting on the validation users; the best by `metric`, then the test users once."""
    tried = []
    for config in grid:
        m = asyncio.run(evaluate_ranked(setup, setup.valid_users, snapshot_dir, config, f"{name} valid"))
        tried.append({"settings": config, "valid": m})
    best = max(tried, key=lambda t: t["valid"][metric])
    test = asyncio.run(evaluate_ranked(setup, setup.test_users, snapshot_dir, best["settings"], f"{name} test"))
    return {"valid_by_settings": tried, "chosen": best["settings"], "chosen_by": f"valid {metric}",
            "valid": best["valid"], "test": test}


# ---- the learned value model: fit on the log's past ---------------------------------------------------
L2_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
LEARNED_SHARES: tuple[float, ...] = (0.3, 0.1, 0.0)  # out-of-network share, chosen on validation with the L2


async def candidate_table(setup: ReplaySetup, users: list[int], snapshot_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(features, engaged?) of every feed candidate of each user at the setup's cut."""
    settings = Settings(database_url=setup.url, snapshot_dir=snapshot_dir)
    engine = make_engine(setup.url)
    serving = ServingState(settings, make_sessionmaker(engine))
    xs, ys = [], []
    try:
        await serving.reload()
        async with make_sessionmaker(engine)() as db:
            for u in tqdm(users, desc="value-model rows", unit="user", leave=False, disable=None):
                ids, rows = await serving.candidate_rows(db, await db.get(Account, u), setup.cut)
                xs.append(rows)
                ys.append(np.fromiter((i in setup.targets[u] for i in ids), dtype=np.float64, count=len(ids)))
                db.expunge_all()
    finally:
        await engine.dispose()
    return np.concatenate(xs), np.concatenate(ys)


def fit_value_models(c: Community, setup: ReplaySetup, workdir: Path, *, model: bool, quick: bool,
                     max_minutes: float, seed: int, max_users: int = 600,
                     log: Callable[[str], None] = print) -> tuple[list[Path], dict[str, Any]]:
    """The same protocol at least one horizon earlier (cut T0 just before the last likes at or
    before T - horizon, labels in (T0, T0 + horizon]), so nothing after T is read: a model
    trained on that past, the candidates of (up to `max_users`) users with labels, and one
    logistic regression per L2 in L2_GRID, each written as a file."""
    horizon_us = int(setup.horizon_days * 86_400 * US)
    latest = int(round(setup.cut.timestamp() * US)) - horizon_us
    earlier = c.like_ts[c.like_ts <= latest]
    if not len(earlier):
        raise ValueError("no likes a whole horizon before the cut: nothing to fit the value model on")
    # Just before the last likes that leave a whole horizon before T (dated data can come in
    # coarse steps, e.g. one date per month): labels in (T0, T0 + horizon], and T0 + horizon < T.
    past = prepare(c, workdir / "fit", horizon_days=setup.horizon_days, seed=seed, cut_us=int(earlier.max()) - 1)
    snaps = workdir / "fit" / "snapshots"
    snaps.mkdir(parents=True, exist_ok=True)
    if model:
        from hearth.offline.train_app import train_from_db
        train_from_db(Settings(database_url=past.url, snapshot_dir=snaps), quick=quick, seed=seed,
                      overrides={"max_minutes": max_minutes})
    users = sorted(past.targets)
    if len(users) > max_users:
        users = sorted(np.random.default_rng(seed).choice(users, max_users, replace=False).tolist())
    t0 = time.perf_counter()
    x, y = asyncio.run(candidate_table(past, users, snaps))
    log(f"value model: {len(x):,} candidate rows ({int(y.sum())} engaged) from {len(users)} users at "
        f"{past.cut.isoformat()}")
    paths = []
    for l2 in L2_GRID:
        vm = fit_value_model(x, y, l2, info={"fit_cut": past.cut.isoformat(), "users": len(users)})
        paths.append(vm.save(workdir / f"value-model-l2-{l2:g}.json"))
    weights = {str(p.name): dict(zip(FEATURES, ValueModel.load(p).weights.round(4).tolist(), strict=True))
               for p in paths}
    return paths, {"fit_cut": past.cut.isoformat(), "fit_users": len(users), "rows": len(x),
                   "positives": int(y.sum()), "seconds": round(time.perf_counter() - t0, 1), "weights": weights}


# ---- the whole run ----------------------------------------------------------------------------------
def build_community(dataset: str, data_dir: Path | None, seed: int) -> Community:
    if dataset == "lastfm-2k":
        from hearth.services.seed.lastfm import build_lastfm
        return build_lastfm(data_dir, anchor=ANCHOR, seed=seed)
    if dataset == "synthetic":
        from hearth.services.seed.synthetic import build_synthetic
        return build_synthetic(anchor=ANCHOR, seed=seed)
    raise ValueError(f"replay knows datasets lastfm-2k and synthetic, not {dataset!r}")


def run_replay(dataset: str, data_dir: Path | None, out: Path, workdir: Path, *, model: bool = True,
               quick: bool = False, max_minutes: float = 8.0, seed: int = 0, cut_quantile: float = 0.8,
               horizon_days: float = 7.0, log: Callable[[str], None] = print,
               community: Community | None = None, learned: bool = True) -> dict[str, Any]:
    """Run the replay and write its JSON to `out`; returns the result. `community` replaces
    the dataset's (tests replay a small generated one)."""
    started = time.perf_counter()
    community = community or build_community(dataset, data_dir, seed)
    log(f"{dataset}: {community.n_accounts} accounts, {len(community.post_author)} posts, "
        f"{len(community.like_account)} likes")
    setup = prepare(community, workdir, cut_quantile, horizon_days, seed)
    log(f"cut at {setup.cut.isoformat()}, horizon {horizon_days} days: {json.dumps(setup.counts)}")
    empty = workdir / "no-snapshot"
    empty.mkdir(exist_ok=True)
    systems: dict[str, Any] = {}
    systems["chronological"] = {
        "valid": asyncio.run(evaluate_chronological(setup, setup.valid_users, "chronological valid")),
        "test": asyncio.run(evaluate_chronological(setup, setup.test_users, "chronological test"))}
    systems["heuristic"] = choose(setup, empty, "heuristic")
    if model:
        from hearth.offline.train_app import train_from_db
        snaps = workdir / "snapshots"
        t0 = time.perf_counter()
        trained = train_from_db(Settings(database_url=setup.url, snapshot_dir=snaps), quick=quick, seed=seed,
                                overrides={"max_minutes": max_minutes})
        systems["model"] = {"snapshot": str(trained.snapshot), "events_trained_on": trained.events,
                            "tasks": trained.tasks, "train_valid": trained.valid,
                            "train_seconds": round(time.perf_counter() - t0, 1),
                            **choose(setup, snaps, "model", model_grid(systems["heuristic"]["chosen"]))}
    if learned:
        paths, fitted = fit_value_models(community, setup, workdir, model=model, quick=quick,
                                         max_minutes=max_minutes, seed=seed, log=log)
        serving_snaps = workdir / "snapshots" if model else empty
        grid = tuple({**systems["heuristic"]["chosen"], "feed_out_of_network_share": share,
                      "feed_value_model": str(path)} for share in LEARNED_SHARES for path in paths)
        systems["learned"] = {"value_model": fitted, **choose(setup, serving_snaps, "learned", grid)}
    result = {
        "dataset": dataset, "benchmark": "feed-replay",
        "protocol": {"name": "replay-cut", "cut_quantile": cut_quantile, "cut": setup.cut.isoformat(),
                     "horizon_days": horizon_days,
                     "targets": "likes in (cut, cut + horizon] of posts written at or before the cut",
                     "users": "accounts with at least one target, split 50/50 at random into valid and test",
                     "ks": list(KS), "choices": "ranking settings chosen on valid users; test read once"},
        "seed": seed, "quick": quick, "counts": setup.counts, "grid": list(GRID), "model_weights": list(MODEL_WEIGHTS),
        "notes": ("The heuristic's weights (hearth/serving/heuristic.py) were set by comparing variants on this "
                  "replay's validation users (LastFM-2k, seed 0); one earlier heuristic version was also read "
                  "on the test users once, before that."),
        "systems": systems,
        "wall_seconds": round(time.perf_counter() - started, 1), "machine": machine_info(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result

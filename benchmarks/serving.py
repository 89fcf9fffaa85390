"""Serving latency and throughput of the real server on a large synthetic community.

Seeds 10k accounts, 1M posts and 5M events (hearth.app.seed.seed_synthetic; the database file
given by --db is kept and reused), trains the unified model on it with the quick budget unless a
snapshot exists (--no-train skips), starts `hearth serve` in a subprocess, then runs a bounded
closed-loop load generator on loopback (asyncio + httpx: a fixed number of concurrent clients, a
fixed request count, a duration cap) against the ranked feed, the chronological home timeline and
people suggestions, with bearer tokens of a seeded sample of users. Reports p50/p99 latency,
requests/s and the server's CPU time per request; the load generator and the server share this
machine's cores, which the output says.

    python benchmarks/serving.py [--db /tmp/hearth-bench/serving.db] [--concurrency 4] [--requests 2000]

Prints a table and writes benchmarks/results/serving.json with machine info. Not run in CI.
Goal: ranked feed p99 <= 25 ms and >= 200 requests/s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ENDPOINTS = {
    "ranked feed": "/api/hearth/v1/feed?limit=20",
    "ranked feed (Mastodon list)": "/api/v1/timelines/list/for-you?limit=20",
    "chronological home": "/api/v1/timelines/home?limit=20",
    "suggestions": "/api/v2/suggestions?limit=10",
}
DEFAULT_ENDPOINTS = ("ranked feed", "chronological home", "suggestions")
GOAL = {"endpoint": "ranked feed", "p99_ms": 25.0, "requests_per_s": 200.0, "cores": 2}
FEED_WINDOW_HOURS = 72.0  # the server's default; widened by the cache's age so a reused database looks fresh


def seed(args: argparse.Namespace, console) -> dict:  # noqa: ANN001 - a rich Console
    """Seed (or reuse) the database; a sidecar JSON keeps when it was seeded and the sample's tokens."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hearth.app.seed import database_state, seed_synthetic
    sidecar = args.db.with_suffix(".bench.json")
    url = f"sqlite:///{args.db}"
    state = database_state(url) if args.db.exists() else None
    meta = json.loads(sidecar.read_text()) if sidecar.exists() and state and state.demo else None
    wanted = {"accounts": args.accounts, "posts": args.posts, "events": args.events}
    if meta and meta.get("sizes") == wanted:
        console.print(f"Reusing {args.db} (seeded {meta['seeded_at']} in {meta['seed_seconds']:.0f} s).")
        return meta
    if args.db.exists():
        from hearth.app.seed import reset_database
        reset_database(url)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"Seeding {args.accounts:,} accounts, {args.posts:,} posts, {args.events:,} events into {args.db}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("preparing", total=None)
        result = seed_synthetic(url, args.accounts, args.posts, args.events, seed=args.seed,
                                progress=lambda stage, done, total: bar.update(task, description=stage,
                                                                               completed=done, total=total))
    console.print(f"Seeded in {result.seconds:.0f} s.")
    meta = {"sizes": wanted, "seeded_at": dt.datetime.now(dt.UTC).isoformat(), "seed_seconds": result.seconds,
            "tokens": asyncio.run(make_tokens(url, args.users, args.seed))}
    sidecar.write_text(json.dumps(meta))
    return meta


async def make_tokens(url: str, n: int, seed: int) -> list[str]:
    """Bearer tokens (read scope) for a seeded sample of accounts that follow someone."""
    from sqlalchemy import select

    from hearth.app.db import make_engine, make_sessionmaker
    from hearth.app.models import Account
    from hearth.app.services import auth
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as db:
            ids = list(await db.scalars(select(Account.id).where(Account.following_count > 0,
                                                                 Account.username.like("synthetic%"))
                                        .order_by(Account.id)))
            sample = np.random.default_rng(seed).choice(ids, size=min(n, len(ids)), replace=False).tolist()
            return [(await auth.issue_token(db, None, int(i), ["read"]))[0] for i in sample]
    finally:
        await engine.dispose()


def train(args: argparse.Namespace, console) -> None:  # noqa: ANN001 - a rich Console
    from hearth.serving.train_app import train_from_db
    from hearth.settings import Settings
    if args.no_train or any(args.snapshots.glob("v*")):
        return
    console.print(f"Training the model on the app's events (quick budget) into {args.snapshots}")
    started = time.perf_counter()
    result = train_from_db(Settings(database_url=f"sqlite:///{args.db}", snapshot_dir=args.snapshots), quick=True)
    console.print(f"Trained on {result.events:,} events in {time.perf_counter() - started:.0f} s: {result.snapshot}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(args: argparse.Namespace, port: int, window_hours: float) -> subprocess.Popen:
    import httpx
    env = {**os.environ, "HEARTH_FEED_WINDOW_HOURS": str(window_hours)}
    proc = subprocess.Popen([sys.executable, "-m", "hearth.cli", "serve", "--port", str(port), "--database-url",
                             f"sqlite:///{args.db}", "--snapshot-dir", str(args.snapshots), "--no-access-log"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop_server(proc)
    raise SystemExit("the server did not come up in 180 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def load(base: str, path: str, tokens: list[str], concurrency: int, requests: int,
               duration_s: float) -> dict:
    """Closed loop: `concurrency` clients send requests back to back until `requests` were sent
    or `duration_s` passed. Latency is measured per request on the client."""
    import httpx
    latencies: list[float] = []
    errors: dict[int, int] = {}
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        for token in tokens[:concurrency]:  # warm-up: connections, caches
            await client.get(path, headers={"Authorization": f"Bearer {token}"})
        started = time.perf_counter()
        deadline = started + duration_s

        async def client_loop() -> None:
            nonlocal sent
            while sent < requests and time.perf_counter() < deadline:
                token = tokens[sent % len(tokens)]
                sent += 1
                t0 = time.perf_counter()
                r = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[r.status_code] = errors.get(r.status_code, 0) + 1
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {"path": path, "requests": sent, "ok": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "mean_ms": round(float(ms.mean()), 2)}


def ranker_of(base: str, token: str) -> str:
    import httpx
    r = httpx.get(f"{base}{ENDPOINTS['ranked feed']}", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return r.json().get("ranker", "?") if r.status_code == 200 else f"HTTP {r.status_code}"


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from hearth.bench.machine import machine_info
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/hearth-bench/serving.db"),
                        help="SQLite file to seed, or reuse when it holds this seed")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--users", type=int, default=200, help="accounts in the sample that send requests")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=2_000, help="requests per endpoint")
    parser.add_argument("--duration", type=float, default=60.0, help="cap in seconds per endpoint")
    parser.add_argument("--endpoints", default=",".join(DEFAULT_ENDPOINTS),
                        help=f"comma-separated: {', '.join(ENDPOINTS)}")
    parser.add_argument("--no-train", action="store_true", help="serve with the heuristic ranker")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/serving.json")
    args = parser.parse_args()
    args.db = args.db.resolve()
    args.snapshots = args.db.with_suffix(".snapshots")
    names = [n.strip() for n in args.endpoints.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENDPOINTS]
    if unknown:
        parser.error(f"unknown endpoint(s) {unknown}; known: {', '.join(ENDPOINTS)}")
    console = Console() if sys.stdout.isatty() else Console(width=160)

    meta = seed(args, console)
    train(args, console)
    age_h = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(meta["seeded_at"])).total_seconds() / 3600
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(args, port, FEED_WINDOW_HOURS + age_h)
    results: dict[str, dict] = {}
    try:
        ranker = ranker_of(base, meta["tokens"][0])
        deadline = time.monotonic() + 60
        while not args.no_train and not ranker.startswith("model") and time.monotonic() < deadline:
            time.sleep(1)  # the server loads the snapshot in the background
            ranker = ranker_of(base, meta["tokens"][0])
        for name in names:
            console.print(f"{name}: {ENDPOINTS[name]} ...")
            before = cpu_seconds(proc.pid)
            results[name] = asyncio.run(load(base, ENDPOINTS[name], meta["tokens"], args.concurrency,
                                             args.requests, args.duration))
            used = cpu_seconds(proc.pid) - before
            results[name]["server_cpu_ms_per_request"] = round(1000 * used / max(results[name]["ok"], 1), 2)
    finally:
        stop_server(proc)

    cores = os.cpu_count()
    note = (f"The load generator (one Python process) and the server (one uvicorn process) share this machine's "
            f"{cores} cores; latency is measured by the client, closed loop, {args.concurrency} concurrent clients.")
    table = Table(title=f"Serving: {args.accounts:,} accounts, {args.posts:,} posts, {args.events:,} events "
                        f"(ranker: {ranker})")
    for col in ("endpoint", "requests", "errors", "p50 ms", "p99 ms", "req/s", "server CPU ms/req"):
        table.add_column(col, justify="left" if col == "endpoint" else "right")
    for name, r in results.items():
        table.add_row(name, str(r["ok"]), str(sum(r["errors"].values())), f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
                      f"{r['requests_per_s']:.0f}", f"{r['server_cpu_ms_per_request']:.1f}")
    console.print(table)
    console.print(note)
    feed = results.get(GOAL["endpoint"])
    if feed:
        met = feed["p99_ms"] <= GOAL["p99_ms"] and feed["requests_per_s"] >= GOAL["requests_per_s"]
        console.print(f"Goal (ranked feed, p99 <= {GOAL['p99_ms']:.0f} ms and >= {GOAL['requests_per_s']:.0f} req/s "
                      f"on {GOAL['cores']} cores): {'[green]met[/]' if met else '[red]not met[/]'}")
    out = {"benchmark": "serving", "machine": machine_info(), "note": note, "goal": GOAL, "ranker": ranker,
           "data": {**meta["sizes"], "seed_seconds": round(meta["seed_seconds"], 1), "database": "sqlite"},
           "load": {"concurrency": args.concurrency, "requests": args.requests, "duration_cap_s": args.duration,
                    "users": len(meta["tokens"])},
           "endpoints": results, "measured_at": dt.datetime.now(dt.UTC).isoformat()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

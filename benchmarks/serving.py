"""Serving latency and throughput of the real server on a large synthetic community.

Seeds 10k accounts, 1M posts and 5M events (hearth.services.seed.seed_synthetic) into SQLite (--db,
kept and reused) or PostgreSQL (--database-url, reused when it holds the same sizes), trains the
unified model on it with the quick budget unless a snapshot exists (--no-train skips), starts
`hearth serve` in a subprocess (--workers N with --redis-url for several), then runs a bounded
closed-loop load generator on loopback (Debian's `wrk` when installed, for a fixed time; else
asyncio + httpx for a fixed request count with a duration cap: a fixed number of concurrent
clients) against the ranked feed, the chronological home timeline, people suggestions and
posting a status, with bearer tokens of a seeded sample of users.

Every sampled viewer asks once before timing (the ranked feed keeps each viewer's ranked list
for five minutes and refreshes active viewers' lists in the background: steady state); that first,
cold request is timed apart and reported as "ranked feed (cold)" (lists an earlier run left in
Redis are deleted first); people suggestions likewise ("suggestions (cold)"), since each viewer's
list is computed once and kept for five minutes. With several workers, which worker accepts each of wrk's 4 keep-alive
connections is chance, and a 4:0 split halves what the server can do; the split is read during
each run, and an uneven one is measured again (up to UNEVEN_RETRIES times; the uneven runs stay
in the JSON as `uneven_runs`), since many clients spread evenly. Reports p50/p99 latency,
requests/s and the server's CPU time per request (all its processes); the load generator and
the server share this machine's cores, which the output says.

    python benchmarks/serving.py [--db /tmp/hearth-bench/serving.db | --database-url postgresql://...]
        [--posts 1000000] [--workers 1] [--concurrency 4] [--requests 2000] [--out FILE]

Prints a table and writes benchmarks/results/serving.json (or --out) with machine info. Not run in CI.
Goals on 2 cores: ranked feed and people p99 <= 25 ms at >= 200 requests/s; chronological home
p99 <= 10 ms at >= 500/s; posting p99 <= 20 ms at >= 200/s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
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
    "post a status": "POST /api/v1/statuses",
}
DEFAULT_ENDPOINTS = ("ranked feed", "chronological home", "suggestions", "post a status")
GOALS = {"ranked feed": {"p99_ms": 25.0, "requests_per_s": 200.0},
         "chronological home": {"p99_ms": 10.0, "requests_per_s": 500.0},
         "suggestions": {"p99_ms": 25.0, "requests_per_s": 200.0},
         "post a status": {"p99_ms": 20.0, "requests_per_s": 200.0}}
GOAL = {"endpoint": "ranked feed", "p99_ms": 25.0, "requests_per_s": 200.0, "cores": 2}
UNEVEN_RETRIES = 3  # runs again when the generator's connections landed unevenly on the workers (kept in JSON)
FEED_WINDOW_HOURS = 72.0  # the server's default; widened by the cache's age so a reused database looks fresh


def seed(args: argparse.Namespace, console) -> dict:  # noqa: ANN001 - a rich Console
    """Seed (or reuse) the database; a sidecar JSON keeps when it was seeded and the sample's tokens."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hearth.services.seed import database_state, seed_synthetic
    sidecar = args.sidecar
    url = args.url
    exists = args.db.exists() if args.db else True
    state = database_state(url) if exists else None
    meta = json.loads(sidecar.read_text()) if sidecar.exists() and state and state.demo else None
    wanted = {"accounts": args.accounts, "posts": args.posts, "events": args.events}
    if meta and meta.get("sizes") == wanted and "write_tokens" in meta:
        console.print(f"Reusing {args.where} (seeded {meta['seeded_at']} in {meta['seed_seconds']:.0f} s).")
        return meta
    if meta and meta.get("sizes") == wanted:  # seeded by an older version of this script: add write tokens
        meta["write_tokens"] = asyncio.run(make_tokens(url, args.users, args.seed + 1, ["read", "write"]))
        sidecar.write_text(json.dumps(meta))
        return meta
    if state is not None and (state.demo or state.source):
        from hearth.services.seed import reset_database
        reset_database(url)
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"Seeding {args.accounts:,} accounts, {args.posts:,} posts, {args.events:,} events into "
                  f"{args.where}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("preparing", total=None)
        result = seed_synthetic(url, args.accounts, args.posts, args.events, seed=args.seed,
                                progress=lambda stage, done, total: bar.update(task, description=stage,
                                                                               completed=done, total=total))
    console.print(f"Seeded in {result.seconds:.0f} s.")
    meta = {"sizes": wanted, "seeded_at": dt.datetime.now(dt.UTC).isoformat(), "seed_seconds": result.seconds,
            "tokens": asyncio.run(make_tokens(url, args.users, args.seed)),
            "write_tokens": asyncio.run(make_tokens(url, args.users, args.seed + 1, ["read", "write"]))}
    sidecar.write_text(json.dumps(meta))
    return meta


async def make_tokens(url: str, n: int, seed: int, scopes: list[str] | None = None) -> list[str]:
    """Bearer tokens (read scope unless told) for a seeded sample of accounts that follow someone."""
    from sqlalchemy import select

    from hearth.services import auth
    from hearth.storage.db import make_engine, make_sessionmaker
    from hearth.storage.models import Account
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as db:
            ids = list(await db.scalars(select(Account.id).where(Account.following_count > 0,
                                                                 Account.username.like("synthetic%"))
                                        .order_by(Account.id)))
            sample = np.random.default_rng(seed).choice(ids, size=min(n, len(ids)), replace=False).tolist()
            return [(await auth.issue_token(db, None, int(i), scopes or ["read"]))[0] for i in sample]
    finally:
        await engine.dispose()


def train(args: argparse.Namespace, console) -> None:  # noqa: ANN001 - a rich Console
    from hearth.offline.train_app import train_from_db
    from hearth.settings import Settings
    if args.no_train or any(args.snapshots.glob("v*")):
        return
    console.print(f"Training the model on the app's events (quick budget) into {args.snapshots}")
    started = time.perf_counter()
    result = train_from_db(Settings(database_url=args.url, snapshot_dir=args.snapshots), quick=True)
    console.print(f"Trained on {result.events:,} events in {time.perf_counter() - started:.0f} s: {result.snapshot}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children so far (Linux /proc): with
    several workers, the supervisor and every worker."""
    def own(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own(pid) + sum(own(k) for k in children(pid))


def children(pid: int) -> list[int]:
    """Child processes of `pid` (its threads come and go while it serves: a vanished one is skipped)."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return kids


def database_cpu_seconds(url: str) -> float | None:
    """CPU of the local PostgreSQL server (it serves the app's queries; on SQLite the database
    runs inside the server process and is counted there), None when not local: the postmaster's
    own time and that of its exited children (cutime, cstime), plus its live children's own. A
    connection's backend that exits between two readings still counts."""
    if not url.startswith("postgres"):
        return None
    procs: dict[int, tuple[int, list[int]]] = {}  # pid -> (parent, [utime, stime, cutime, cstime])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv0 = (proc / "cmdline").read_bytes().split(b"\0", 1)[0]
            if not Path(argv0.decode(errors="replace").split(" ", 1)[0]).name.startswith("postgres"):
                continue  # the postmaster runs as /usr/lib/postgresql/N/bin/postgres, backends as "postgres: ..."
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        procs[int(proc.name)] = (int(fields[1]), [int(x) for x in fields[11:15]])
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for parent, (utime, stime, cutime, cstime) in procs.values():
        if parent in procs:  # a backend or helper: its own time
            total += (utime + stime) / tick
        else:  # the postmaster: its own time and its children's that exited
            total += (utime + stime + cutime + cstime) / tick
    return total


def start_server(args: argparse.Namespace, port: int, window_hours: float) -> subprocess.Popen:
    import httpx
    env = {**os.environ, "HEARTH_FEED_WINDOW_HOURS": str(window_hours),
           # the load comes from a few addresses and accounts: the abuse limits are not what is measured
           "HEARTH_RATE_LIMIT_WRITES_PER_USER": "", "HEARTH_RATE_LIMIT_WRITES_PER_IP": ""}
    if args.redis_url:  # ranked lists an earlier run left in Redis would make the cold row warm
        import redis
        store = redis.Redis.from_url(args.redis_url)
        for pattern in ("hearth:feed:*", "hearth:ranking:*", "hearth:people:*"):
            for key in store.scan_iter(pattern, count=1000):
                store.delete(key)
    cmd = [sys.executable, "-m", "hearth.cli", "serve", "--port", str(port), "--database-url", args.url,
           "--snapshot-dir", str(args.snapshots), "--no-access-log", "--workers", str(args.workers)]
    if args.redis_url:
        cmd += ["--redis-url", args.redis_url]
    log = getattr(args, "server_log", None)  # the server's output, to see what went wrong under load
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it open
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
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


def summary(latencies: list[float]) -> dict:
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(ms.mean()), 2)}


async def cold(base: str, path: str, tokens: list[str], concurrency: int) -> dict:
    """Each viewer's first request (nothing ranked for them yet), `concurrency` at a time."""
    import httpx
    latencies: list[float] = []
    queue = list(tokens)
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        async def one() -> None:
            while queue:
                token = queue.pop()
                t0 = time.perf_counter()
                r = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"path": path, "requests": len(tokens), "ok": len(latencies), "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1), **summary(latencies)}


async def load(base: str, path: str, tokens: list[str], concurrency: int, requests: int,
               duration_s: float) -> dict:
    """Closed loop: `concurrency` clients send requests back to back until `requests` were sent
    or `duration_s` passed. Latency is measured per request on the client. A path "POST /x"
    posts a short status."""
    import httpx
    latencies: list[float] = []
    errors: dict[int, int] = {}
    sent = 0
    method, _, target = path.rpartition(" ")
    method = method or "GET"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        async def call(token: str, n: int) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"}
            if method == "POST":
                return await client.post(target, headers=headers, json={"status": f"load test post {n}"})
            return await client.get(target, headers=headers)
        for i, token in enumerate(tokens[:concurrency]):  # warm-up: connections
            await call(token, -i)
        started = time.perf_counter()
        deadline = started + duration_s

        async def client_loop() -> None:
            nonlocal sent
            while sent < requests and time.perf_counter() < deadline:
                token = tokens[sent % len(tokens)]
                sent += 1
                t0 = time.perf_counter()
                r = await call(token, sent)
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[r.status_code] = errors.get(r.status_code, 0) + 1
        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"path": path, "requests": sent, "ok": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1), **summary(latencies)}


def connections_per_worker(port: int) -> list[int]:
    """Established connections to `port` per server process, most first (`ss`, Debian's iproute2).
    With several workers, which one accepts each of the generator's few keep-alive connections is
    chance (a worker that wakes first may take them all), and a 4:0 split halves throughput."""
    if not shutil.which("ss"):
        return []
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", out):
        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def load_wrk(base: str, path: str, tokens: list[str], concurrency: int, duration_s: float) -> dict:
    """The same closed loop driven by wrk (C, epoll: a small share of a core, where the Python
    generator takes most of one), through benchmarks/wrk_load.lua. Latency is wrk's, per request;
    how its connections were spread over the workers is read a second into the run."""
    import resource
    import tempfile
    import threading
    method, _, target = path.rpartition(" ")
    split: list[int] = []
    peek = threading.Timer(1.0, lambda: split.extend(connections_per_worker(int(base.rsplit(":", 1)[1]))))
    peek.start()
    with tempfile.NamedTemporaryFile("w", suffix=".tokens") as f:
        f.write("\n".join(tokens) + "\n")
        f.flush()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s", "--timeout", "30s",
                              "-s", str(REPO / "benchmarks/wrk_load.lua"), base, "--", f.name, method or "GET", target],
                             capture_output=True, text=True, check=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peek.join()
    line = next(x for x in out.splitlines() if x.startswith('{"wrk"'))
    w = json.loads(line)["wrk"]
    errors = {k: v for k, v in w["errors"].items() if v}
    failed = w["errors"]["status"] + w["errors"]["timeout"] + w["errors"]["read"] + w["errors"]["write"]
    ok = w["requests"] - failed
    seconds = w["duration_us"] / 1e6
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"path": path, "generator": "wrk", "requests": w["requests"], "ok": ok, "errors": errors,
            "seconds": round(seconds, 2), "requests_per_s": round(ok / seconds, 1),
            "p50_ms": round(w["p50_us"] / 1000, 2), "p99_ms": round(w["p99_us"] / 1000, 2),
            "mean_ms": round(w["mean_us"] / 1000, 2), "generator_cpu_ms_per_request": round(1000 * cpu / max(ok, 1), 3),
            "connections_per_worker": split}


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
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL URL instead of --db (its sample tokens are kept beside --db)")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--users", type=int, default=200, help="accounts in the sample that send requests")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=2_000, help="requests per endpoint")
    parser.add_argument("--duration", type=float, default=60.0, help="cap in seconds per endpoint (wrk: its length)")
    parser.add_argument("--generator", choices=("auto", "wrk", "httpx"), default="auto",
                        help="load generator: wrk (Debian's package; auto when installed) or Python httpx")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (more than 1: --redis-url)")
    parser.add_argument("--redis-url", default=None, help="Redis for several workers")
    parser.add_argument("--endpoints", default=",".join(DEFAULT_ENDPOINTS),
                        help=f"comma-separated: {', '.join(ENDPOINTS)}")
    parser.add_argument("--no-train", action="store_true", help="serve with the heuristic ranker")
    parser.add_argument("--snapshot-dir", type=Path, default=None,
                        help="where the server looks for snapshots (default: beside the database)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/serving.json")
    args = parser.parse_args()
    args.db = args.db.resolve()
    if args.database_url:
        args.url, args.where = args.database_url, "PostgreSQL"
        base_name = args.db.with_name(f"{args.db.stem}-postgres")
        args.db = None
    else:
        args.url, args.where = f"sqlite:///{args.db}", str(args.db)
        base_name = args.db.with_suffix("")
    args.sidecar = base_name.with_suffix(".bench.json")
    args.snapshots = args.snapshot_dir or base_name.with_suffix(".snapshots")
    names = [n.strip() for n in args.endpoints.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENDPOINTS]
    if unknown:
        parser.error(f"unknown endpoint(s) {unknown}; known: {', '.join(ENDPOINTS)}")
    console = Console() if sys.stdout.isatty() else Console(width=160)

    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "httpx"
    elif generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
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
            tokens = meta["write_tokens"] if name == "post a status" else meta["tokens"]
            if name.startswith("ranked feed") or name == "suggestions":
                console.print(f"{name} (cold): every sampled viewer's first request ...")
                before, db_before = cpu_seconds(proc.pid), database_cpu_seconds(args.url)
                first = tokens[1:] if name.startswith("ranked feed") else tokens  # ranker_of asked for tokens[0]
                r = asyncio.run(cold(base, ENDPOINTS[name], first, args.concurrency))
                r["server_cpu_ms_per_request"] = round(1000 * (cpu_seconds(proc.pid) - before) / max(r["ok"], 1), 2)
                if db_before is not None:
                    r["database_cpu_ms_per_request"] = round(
                        1000 * (database_cpu_seconds(args.url) - db_before) / max(r["ok"], 1), 2)
                results[f"{name} (cold)"] = r
            console.print(f"{name}: {ENDPOINTS[name]} ...")
            before, db_before = cpu_seconds(proc.pid), database_cpu_seconds(args.url)
            if generator == "wrk":
                uneven = []
                for _ in range(UNEVEN_RETRIES + 1):
                    before, db_before = cpu_seconds(proc.pid), database_cpu_seconds(args.url)
                    results[name] = load_wrk(base, ENDPOINTS[name], tokens, args.concurrency, args.duration)
                    split = results[name]["connections_per_worker"]
                    if args.workers < 2 or not split or (len(split) == args.workers and split[0] - split[-1] <= 1):
                        break
                    uneven.append(results[name])
                    console.print(f"  connections split {split} over the workers: measuring again")
                results[name]["uneven_runs"] = [u for u in uneven if u is not results[name]]
            else:
                results[name] = asyncio.run(load(base, ENDPOINTS[name], tokens, args.concurrency,
                                                 args.requests, args.duration))
            used = cpu_seconds(proc.pid) - before
            results[name]["server_cpu_ms_per_request"] = round(1000 * used / max(results[name]["ok"], 1), 2)
            if db_before is not None:
                results[name]["database_cpu_ms_per_request"] = round(
                    1000 * (database_cpu_seconds(args.url) - db_before) / max(results[name]["ok"], 1), 2)
    finally:
        stop_server(proc)

    cores = os.cpu_count()
    database = "postgresql" if args.database_url else "sqlite"
    who = "wrk (C, one thread)" if generator == "wrk" else "one Python process, httpx"
    note = (f"The load generator ({who}) and the server ({args.workers} worker process(es)"
            f"{' and PostgreSQL' if args.database_url else ''}) share this machine's {cores} cores; latency is "
            f"measured by the client, closed loop, {args.concurrency} concurrent clients. Every sampled viewer's "
            f"first ranked-feed request is timed apart as (cold); the ranked feed rows after it are steady state.")
    table = Table(title=f"Serving on {database}: {args.accounts:,} accounts, {args.posts:,} posts, "
                        f"{args.events:,} events (ranker: {ranker}, {args.workers} worker(s))")
    cols = ["endpoint", "requests", "errors", "p50 ms", "p99 ms", "req/s", "server CPU ms/req", "conns/worker", "goal"]
    if args.database_url:
        cols.insert(7, "db CPU ms/req")
    for col in cols:
        table.add_column(col, justify="left" if col in ("endpoint", "goal") else "right")
    for name, r in results.items():
        goal = GOALS.get(name)
        met = "" if goal is None else (
            "met" if r["p99_ms"] <= goal["p99_ms"] and r["requests_per_s"] >= goal["requests_per_s"] else
            f"not met (p99 <= {goal['p99_ms']:.0f} ms, >= {goal['requests_per_s']:.0f}/s)")
        r["goal"] = {**goal, "met": met == "met"} if goal else None
        row = [name, str(r["ok"]), str(sum(r.get("errors", {}).values())), f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
               f"{r['requests_per_s']:.0f}", f"{r['server_cpu_ms_per_request']:.1f}",
               ":".join(map(str, r.get("connections_per_worker") or [])) or "-", met]
        if args.database_url:
            row.insert(7, f"{r.get('database_cpu_ms_per_request', float('nan')):.1f}")
        table.add_row(*row)
    console.print(table)
    console.print(note)
    out = {"benchmark": "serving", "machine": machine_info(), "note": note, "goal": GOAL, "goals": GOALS,
           "ranker": ranker,
           "data": {**meta["sizes"], "seed_seconds": round(meta["seed_seconds"], 1), "database": database},
           "server": {"workers": args.workers, "shared_store": "redis" if args.redis_url else "in-process"},
           "load": {"generator": generator, "concurrency": args.concurrency, "requests": args.requests,
                    "duration_cap_s": args.duration,
                    "users": len(meta["tokens"])},
           "command": "python benchmarks/serving.py " + " ".join(sys.argv[1:]),
           "endpoints": results, "measured_at": dt.datetime.now(dt.UTC).isoformat()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

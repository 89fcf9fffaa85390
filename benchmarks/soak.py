"""Soak: the real server under a steady mixed load for minutes, on loopback.

Seeds (or reuses) a synthetic community in SQLite (--db) or PostgreSQL (--database-url), starts
`hearth serve` (--workers N with --redis-url for several), then sends requests open loop at a
fixed rate (--rate per second, for --minutes): home timeline, the ranked feed, people
suggestions, posting a status and favouriting, from a sample of users with write tokens. A
request that finds --max-in-flight already waiting is counted as not sent (the server fell
behind) rather than queued without bound. Every minute it records requests, errors, p50/p99 and
the server's resident memory (all its processes); at the end, RSS at start and end, p50/p99 of
each kind of request and the server's CPU time per request.

    python benchmarks/soak.py [--minutes 10] [--rate 200] [--workers 1] [--out benchmarks/results/soak.json]

Prints a table and writes JSON with machine info. Not run in CI. Goal: 10 minutes at 200 req/s,
0 errors, memory flat.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import children, cpu_seconds, free_port, seed, start_server, stop_server  # noqa: E402 - a sibling script

REPO = Path(__file__).resolve().parents[1]
MIX = (("home", 0.40), ("feed", 0.20), ("suggestions", 0.10), ("post", 0.20), ("favourite", 0.10))


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (the workers), MiB."""
    def own(p: int) -> int:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except FileNotFoundError:
            pass
        return 0
    return round((own(pid) + sum(own(k) for k in children(pid))) / 1024, 1)


async def soak(base: str, tokens: list[str], args: argparse.Namespace, pid: int) -> dict:
    import httpx
    rng = random.Random(args.seed)
    kinds, weights = zip(*MIX, strict=True)
    minutes: list[dict] = []
    current = {"latencies": [], "errors": {}, "not_sent": 0, "sent": 0}
    in_flight = 0
    by_kind: dict[str, list[float]] = {k: [] for k in kinds}  # seconds, the whole run
    recent_posts: list[int] = []
    limits = httpx.Limits(max_connections=args.max_in_flight, max_keepalive_connections=args.max_in_flight)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        async def one(kind: str, token: str, bucket: dict) -> None:
            nonlocal in_flight
            headers = {"Authorization": f"Bearer {token}"}
            t0 = time.perf_counter()
            try:
                if kind == "home":
                    r = await client.get("/api/v1/timelines/home?limit=20", headers=headers)
                elif kind == "feed":
                    r = await client.get("/api/hearth/v1/feed?limit=20", headers=headers)
                elif kind == "suggestions":
                    r = await client.get("/api/v2/suggestions?limit=10", headers=headers)
                elif kind == "post":
                    r = await client.post("/api/v1/statuses", headers=headers,
                                          json={"status": f"soak {rng.random():.6f}"})
                    if r.status_code == 200:
                        recent_posts.append(int(r.json()["id"]))
                        del recent_posts[:-500]
                else:
                    target = rng.choice(recent_posts) if recent_posts else 1
                    r = await client.post(f"/api/v1/statuses/{target}/favourite", headers=headers)
                code = r.status_code
            except httpx.HTTPError as e:
                code = type(e).__name__
            finally:
                in_flight -= 1
            if code == 200:
                bucket["latencies"].append(time.perf_counter() - t0)
                by_kind[kind].append(time.perf_counter() - t0)
            else:
                bucket["errors"][str(code)] = bucket["errors"].get(str(code), 0) + 1

        started = time.perf_counter()
        interval = 1.0 / args.rate
        total = int(args.minutes * 60 * args.rate)
        tasks: set[asyncio.Task] = set()
        rss_start = rss_mib(pid)
        cpu_start = cpu_seconds(pid)
        minute_started = started
        for n in range(total):
            due = started + n * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.perf_counter() - minute_started >= 60:
                minutes.append(close_minute(current, len(minutes) + 1, rss_mib(pid)))
                current = {"latencies": [], "errors": {}, "not_sent": 0, "sent": 0}
                minute_started += 60
            if in_flight >= args.max_in_flight:
                current["not_sent"] += 1
                continue
            in_flight += 1
            current["sent"] += 1
            kind = rng.choices(kinds, weights)[0]
            task = asyncio.create_task(one(kind, rng.choice(tokens), current))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        minutes.append(close_minute(current, len(minutes) + 1, rss_mib(pid)))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_start
    all_ok = sum(m["ok"] for m in minutes)
    kinds_out = {k: {"ok": len(v), "p50_ms": round(float(np.percentile(v, 50)) * 1000, 1) if v else None,
                     "p99_ms": round(float(np.percentile(v, 99)) * 1000, 1) if v else None}
                 for k, v in by_kind.items()}
    return {"minutes": minutes, "seconds": round(elapsed, 1), "requests_ok": all_ok,
            "errors": sum(sum(m["errors"].values()) for m in minutes),
            "not_sent": sum(m["not_sent"] for m in minutes), "achieved_rate": round(all_ok / elapsed, 1),
            "rss_mib_start": rss_start, "rss_mib_end": minutes[-1]["rss_mib"], "by_kind": kinds_out,
            "server_cpu_ms_per_request": round(cpu * 1000 / max(all_ok, 1), 2)}


def close_minute(bucket: dict, index: int, rss: float) -> dict:
    ms = np.array(bucket["latencies"]) * 1000 if bucket["latencies"] else np.array([np.nan])
    return {"minute": index, "sent": bucket["sent"], "ok": len(bucket["latencies"]), "errors": bucket["errors"],
            "not_sent": bucket["not_sent"], "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1), "rss_mib": rss}


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from hearth.bench.machine import machine_info
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/hearth-bench/soak.db"))
    parser.add_argument("--database-url", default=None, help="PostgreSQL instead of --db")
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second, open loop")
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server-log", type=Path, default=None, help="write the server's output here")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/soak.json")
    args = parser.parse_args()
    args.db = args.db.resolve()
    if args.database_url:
        args.url, args.where = args.database_url, "PostgreSQL"
        base_name, args.db = args.db.with_name(f"{args.db.stem}-postgres"), None
    else:
        args.url, args.where, base_name = f"sqlite:///{args.db}", str(args.db), args.db.with_suffix("")
    args.sidecar = base_name.with_suffix(".bench.json")
    args.snapshots = base_name.with_suffix(".snapshots")
    console = Console() if sys.stdout.isatty() else Console(width=160)
    meta = seed(args, console)  # the same seeding and sample tokens as benchmarks/serving.py
    port = free_port()
    age_h = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(meta["seeded_at"])).total_seconds() / 3600
    proc = start_server(args, port, 72 + age_h)
    try:
        result = asyncio.run(soak(f"http://127.0.0.1:{port}", meta["write_tokens"], args, proc.pid))
    finally:
        stop_server(proc)
    table = Table(title=f"Soak: {args.minutes:g} min at {args.rate:g} req/s "
                        f"({'postgresql' if args.database_url else 'sqlite'}, {args.workers} worker(s))")
    for col in ("minute", "sent", "ok", "errors", "not sent", "p50 ms", "p99 ms", "RSS MiB"):
        table.add_column(col, justify="right")
    for m in result["minutes"]:
        table.add_row(str(m["minute"]), str(m["sent"]), str(m["ok"]), str(sum(m["errors"].values())),
                      str(m["not_sent"]), f"{m['p50_ms']:.1f}", f"{m['p99_ms']:.1f}", f"{m['rss_mib']:.0f}")
    console.print(table)
    kinds = Table(title="By kind (whole run)")
    for col in ("kind", "share", "ok", "p50 ms", "p99 ms"):
        kinds.add_column(col, justify="right")
    for k, v in result["by_kind"].items():
        kinds.add_row(k, f"{dict(MIX)[k]:.0%}", str(v["ok"]), f"{v['p50_ms']}", f"{v['p99_ms']}")
    console.print(kinds)
    # flat once warm: the first minute fills the caches and starts the second worker
    readings = [m["rss_mib"] for m in result["minutes"]] or [result["rss_mib_end"]]
    flat = max(readings[-3:]) <= 1.15 * readings[0] + 50
    console.print(f"achieved {result['achieved_rate']:.0f} req/s; server CPU "
                  f"{result['server_cpu_ms_per_request']} ms per request; errors {result['errors']}; not sent "
                  f"{result['not_sent']}; RSS {result['rss_mib_start']:.0f} -> {result['rss_mib_end']:.0f} MiB")
    out = {"benchmark": "soak", "machine": machine_info(), "mix": dict(MIX),
           "data": {**meta["sizes"], "database": "postgresql" if args.database_url else "sqlite"},
           "server": {"workers": args.workers, "shared_store": "redis" if args.redis_url else "in-process"},
           "target": {"minutes": args.minutes, "rate": args.rate, "max_in_flight": args.max_in_flight},
           "goal": {"minutes": 10, "rate": 200, "errors": 0,
                    "met": result["errors"] == 0 and result["not_sent"] == 0 and flat
                    and args.minutes >= 10 and args.rate >= 200},
           "memory_flat": flat, "command": "python benchmarks/soak.py " + " ".join(sys.argv[1:]),
           **result, "measured_at": dt.datetime.now(dt.UTC).isoformat()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

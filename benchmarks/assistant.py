"""What Hearth adds on top of the model runtime, for the assistant.

The runtime is the scripted OpenAI-compatible server (tests/fake_openai.py) answering at once,
so every millisecond measured is Hearth's, not the model's. In one run, against the same server:

- time to first token: a streamed chat request straight to the runtime (the peer) vs a message
  to `hearth serve`'s assistant API (SSE) until its first `delta` event; the difference is
  Hearth's overhead (auth, storing the question, building the prompt with tools and memory,
  the runtime client, the event queue and SSE);
- agent-loop overhead per tool call: whole turns with 0..K rounds of one read tool call
  (`search_posts` over the seeded posts) each, fitted as a line: the slope is the cost of one
  tool round (parse, run the tool as the person, quote its result, store the messages, call the
  model again), the intercept the cost of a turn.

`hearth serve` runs in a subprocess on SQLite; the load generator and the scripted server share
this process; one request at a time, each on a new connection (a reused keep-alive connection on
loopback can add a 40 ms delayed-ACK stall that is not either server's doing).

    python benchmarks/assistant.py [--repeats 40] [--max-rounds 4]

Prints a table and writes benchmarks/results/assistant.json with machine info. Not run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
API = "/api/hearth/v1/assistant"


def seed(url: str) -> str:
    """ann and 300 posts by 30 others about music; returns ann's token."""
    from hearth.services import accounts, auth, posts
    from hearth.storage.db import make_engine, make_sessionmaker, migrate

    migrate(url)

    async def run() -> str:
        engine = make_engine(url)
        async with make_sessionmaker(engine)() as db:
            ann = await accounts.create_profile(db, "ann")
            others = [await accounts.create_profile(db, f"user{i}") for i in range(30)]
            await db.commit()
            for i in range(300):
                await posts.create_post(db, others[i % 30], f"post {i} about jazz, vinyl and late night radio")
            token = (await auth.issue_token(db, None, ann.id, ["read", "write"]))[0]
        await engine.dispose()
        return token

    return asyncio.run(run())


def start_server(db_url: str, llm_url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "HEARTH_DATABASE_URL": db_url, "HEARTH_LLM_BASE_URL": llm_url, "HEARTH_LLM_MODEL": "m",
           "HEARTH_ASSISTANT_MESSAGES_PER_USER": "", "HEARTH_ASSISTANT_TOKENS_PER_DAY": "0",
           "HEARTH_ASSISTANT_MAX_TOOL_ROUNDS": "20", "HEARTH_RATE_LIMIT_WRITES_PER_USER": "",
           "HEARTH_RATE_LIMIT_WRITES_PER_IP": "", "HEARTH_SNAPSHOT_DIR": str(Path(tempfile.mkdtemp()) / "snap")}
    proc = subprocess.Popen([sys.executable, "-m", "hearth.cli", "serve", "--port", str(port), "--no-access-log"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"hearth serve did not start: {proc.stderr.read().decode()[-2000:]}")


def first_delta_direct(client: httpx.Client, llm_url: str) -> float:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    t0 = time.perf_counter()
    first = None
    with client.stream("POST", f"{llm_url}/chat/completions", json=body, headers={"Connection": "close"}) as r:
        for line in r.iter_lines():  # read to the end, as a client should
            if first is None and '"content"' in line and '"content": ""' not in line and '"content":null' not in line:
                first = time.perf_counter() - t0
    if first is None:
        raise RuntimeError("no content from the runtime")
    return first


def turn(client: httpx.Client, base: str, conv: str, text: str) -> tuple[float, float]:
    """(seconds to the first delta event, seconds to the done event) of one streamed turn."""
    t0 = time.perf_counter()
    first = None
    with client.stream("POST", f"{base}{API}/conversations/{conv}/messages", json={"content": text},
                       headers={"Connection": "close"}) as r:
        if r.status_code != 200:
            r.read()
            raise RuntimeError(r.text)
        for line in r.iter_lines():
            if line.startswith("event: delta") and first is None:
                first = time.perf_counter() - t0
            if line.startswith("event: done"):
                return first or float("nan"), time.perf_counter() - t0
            if line.startswith("event: error"):
                raise RuntimeError(line)
    raise RuntimeError("the stream ended without done")


def stats(xs: list[float]) -> dict[str, float]:
    a = np.array(xs) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p90_ms": round(float(np.percentile(a, 90)), 2),
            "mean_ms": round(float(a.mean()), 2), "n": len(xs)}


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from hearth.bench.machine import machine_info
    from tests.fake_openai import FakeOpenAI, free_port

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--max-rounds", type=int, default=4)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "assistant.json")
    args = ap.parse_args()
    console = Console(width=120)
    folder = Path(tempfile.mkdtemp(prefix="hearth-bench-assistant-"))
    db_url = f"sqlite:///{folder / 'hearth.db'}"
    token = seed(db_url)
    port = free_port()
    with FakeOpenAI() as llm:
        proc = start_server(db_url, llm.base_url, port)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
                direct, through, totals = [], [], {k: [] for k in range(args.max_rounds + 1)}
                for i in range(args.repeats + 3):  # the first 3 of each are warm-up
                    llm.queue_text("Hello there, this is the answer.", n=4)
                    d = first_delta_direct(c, llm.base_url)
                    conv = c.post(f"{base}{API}/conversations", json={"title": f"bench {i}"}).json()["id"]
                    llm.queue_text("Hello there, this is the answer.", n=4)
                    first, _ = turn(c, base, conv, "hi")
                    if i >= 3:
                        direct.append(d)
                        through.append(first)
                for i in range(args.repeats + 3):
                    for k in range(args.max_rounds + 1):
                        conv = c.post(f"{base}{API}/conversations", json={"title": f"rounds {k}"}).json()["id"]
                        for _ in range(k):
                            llm.queue_tool_calls([("search_posts", {"query": "jazz", "limit": 5})])
                        llm.queue_text("Done.", n=2)
                        _, total = turn(c, base, conv, "find jazz")
                        if i >= 3:
                            totals[k].append(total)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    medians = [float(np.median(totals[k])) * 1000 for k in totals]
    slope, intercept = np.polyfit(list(totals), medians, 1)
    result = {
        "benchmark": "assistant", "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/assistant.py " + " ".join(sys.argv[1:]), "machine": machine_info(),
        "runtime": "scripted OpenAI-compatible server on loopback (answers at once)", "database": "sqlite",
        "time_to_first_token": {"runtime_direct": stats(direct), "through_hearth": stats(through),
                                "overhead_p50_ms": round((np.median(through) - np.median(direct)) * 1000, 2)},
        "turn_total_by_tool_rounds": {str(k): stats(v) for k, v in totals.items()},
        "per_tool_call_overhead_ms": round(float(slope), 2), "turn_overhead_ms": round(float(intercept), 2),
    }
    table = Table(title="Assistant: what Hearth adds to the runtime (one request at a time)")
    for col in ("measure", "p50 ms", "p90 ms"):
        table.add_column(col, justify="right" if col != "measure" else "left")
    ttft = result["time_to_first_token"]
    table.add_row("first token, runtime directly", str(ttft["runtime_direct"]["p50_ms"]),
                  str(ttft["runtime_direct"]["p90_ms"]))
    table.add_row("first token, through Hearth", str(ttft["through_hearth"]["p50_ms"]),
                  str(ttft["through_hearth"]["p90_ms"]))
    for k, v in result["turn_total_by_tool_rounds"].items():
        table.add_row(f"whole turn, {k} tool round(s)", str(v["p50_ms"]), str(v["p90_ms"]))
    console.print(table)
    console.print(f"overhead to first token (p50): {ttft['overhead_p50_ms']} ms; per tool call: "
                  f"{result['per_tool_call_overhead_ms']} ms; per turn: {result['turn_overhead_ms']} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Bad input, generated: schemathesis against the running server's own OpenAPI document.

    python benchmarks/fuzz.py [--max-examples 40] [--seed 0] [--max-time 900] [--out FILE]

Starts `hearth serve` on a loopback port with a fresh SQLite database (rate limits off, so the
fuzzer is not answered 429), registers an app and a user with some posts, then runs
`schemathesis run` over every /api and /oauth operation with that user's token and the
`not_a_server_error` check: any 5xx is a failure. The assistant and the creators' AIs talk to a
scripted model server on loopback that speaks the OpenAI wire protocol (tests/fake_openai.py; it
answers "OK"), so their routes are exercised rather than answered 503 "no language model is
configured" (--no-llm leaves it out). Prints the counts and writes
benchmarks/results/fuzz.json (cases generated, operations, failures, machine info). The server
is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hearth.bench.machine import machine_info  # noqa: E402

NO_LIMITS = {f"HEARTH_RATE_LIMIT_{n}": "" for n in ("WRITES_PER_USER", "WRITES_PER_IP", "LOGINS_PER_IP",
                                                     "LOGINS_PER_ACCOUNT")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed_user(base: str) -> str:
    """An app, a user with a few posts (one a reply, one followers-only); the user's token."""
    with httpx.Client(base_url=base, timeout=30) as c:
        app = c.post("/api/v1/apps", data={"client_name": "fuzz", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                                            "scopes": "read write follow push"}).json()
        app_token = c.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": app["client_id"],
                                                 "client_secret": app["client_secret"],
                                                 "scope": "read write follow push"}).json()["access_token"]
        r = c.post("/api/v1/accounts", headers={"Authorization": f"Bearer {app_token}"},
                   data={"username": "fuzzer", "password": "fuzzer password", "email": "fuzz@example.org",
                         "agreement": "true", "locale": "en"})
        r.raise_for_status()
        token = r.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        first = c.post("/api/v1/statuses", headers=auth, data={"status": "hello #fuzz"}).json()
        c.post("/api/v1/statuses", headers=auth, data={"status": "a reply", "in_reply_to_id": first["id"]})
        c.post("/api/v1/statuses", headers=auth, data={"status": "followers only", "visibility": "private"})
        return token


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-examples", type=int, default=40, help="cases per operation and phase")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-time", type=int, default=900, help="seconds for the whole schemathesis run")
    ap.add_argument("--no-llm", action="store_true", help="no model server: assistant routes answer 503")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "fuzz.json")
    args = ap.parse_args()
    st = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(st).exists():
        raise SystemExit("schemathesis is not installed: pip install schemathesis")
    work = Path(tempfile.mkdtemp(prefix="hearth-fuzz-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **NO_LIMITS, "HEARTH_SNAPSHOT_DIR": str(work / "snapshots")}
    llm = None
    if not args.no_llm:
        sys.path.insert(0, str(REPO))
        from tests.fake_openai import FakeOpenAI
        llm = FakeOpenAI().start()
        env.update(HEARTH_LLM_BASE_URL=llm.base_url, HEARTH_LLM_MODEL="fake-model")
    server = subprocess.Popen([sys.executable, "-m", "hearth.cli", "serve", "--port", str(port), "--database-url",
                               f"sqlite:///{work / 'fuzz.db'}"], cwd=work, env=env, stdout=subprocess.DEVNULL,
                              stderr=open(work / "server.log", "wb"))
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        token = seed_user(base)
        report = work / "report.ndjson"
        t0 = time.perf_counter()
        done = subprocess.run(
            [st, "run", f"{base}/api/openapi.json", "-H", f"Authorization: Bearer {token}",
             "--checks", "not_a_server_error", "--max-examples", str(args.max_examples), "--seed", str(args.seed),
             "--max-time", str(args.max_time), "--include-path-regex", "^/(api|oauth)/", "--workers", "1",
             "--report", "ndjson", "--report-ndjson-path", str(report), "--continue-on-failure"],
            capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
        seconds = time.perf_counter() - t0
    finally:
        if llm is not None:
            llm.stop()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    output = done.stdout + done.stderr
    print(output[-4000:])
    start = output.find("FAILURES")
    failures_text = output[start:output.find("SUMMARY", start)].strip() if start >= 0 else ""
    cases = failures = 0
    operations: set[str] = set()
    if report.exists():
        for line in report.read_text().splitlines():
            event = json.loads(line)
            for name, body in event.items():
                if name == "ScenarioFinished":
                    recorder = body.get("recorder", {})
                    cases += len(recorder.get("cases", {}))
                    label = recorder.get("label")
                    if label:
                        operations.add(label)
                    failures += sum(1 for checks in recorder.get("checks", {}).values() for c in checks
                                    if c.get("status") == "FAILURE")
    server_errors = len(re.findall(r"Server error", output))
    result = {"benchmark": "schemathesis", "schemathesis_exit_code": done.returncode, "cases": cases,
              "operations": len(operations), "failed_checks": failures, "server_error_mentions": server_errors,
              "max_examples": args.max_examples, "seed": args.seed, "seconds": round(seconds, 1),
              "command": f"python benchmarks/fuzz.py --max-examples {args.max_examples} --seed {args.seed} "
                         f"--max-time {args.max_time}" + (" --no-llm" if args.no_llm else ""),
              "llm": None if args.no_llm else "scripted OpenAI-compatible server on loopback (answers 'OK')",
              "failures": failures_text[:20_000], "summary": output.strip().splitlines()[-12:],
              "machine": machine_info()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"cases {cases}, operations {len(operations)}, failed checks {failures}, exit {done.returncode}; "
          f"wrote {args.out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

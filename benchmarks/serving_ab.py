"""Serving A/B: an earlier revision of Hearth against the working tree, alternating, on one host.

The host's speed drifts by 30 % and more within an hour (and sustained load slows it), so two
`serving.py` runs taken apart compare the host as much as the code. This runs `serving.py` for
the base revision and for the working tree in turn, `--rounds` times each (base, work, base,
work, ...), on the same database and endpoints, and reports every run and the median per side.

The base revision is checked out into a temporary git worktree and runs in an overlay virtual
environment: its own source first, this environment's packages after (the editable install of
the working tree would otherwise win).

    python benchmarks/serving_ab.py --base 3b24f0c [--rounds 2] [--endpoints "ranked feed,chronological home"]
        [--workers 2 --redis-url URL] [--duration 15] [--out benchmarks/results/serving-ab.json]

Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def overlay_python(worktree: Path, home: Path) -> str:
    """A venv whose path is the worktree's source, then this environment's site-packages."""
    venv = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    (site / "overlay.pth").write_text(f"{worktree}\n{sysconfig.get_paths()['purelib']}\n")
    return str(venv / "bin" / "python")


def run_side(python: str, root: Path, args: argparse.Namespace, out: Path) -> dict:
    cmd = [python, str(root / "benchmarks" / "serving.py"), "--duration", str(args.duration),
           "--workers", str(args.workers), "--endpoints", args.endpoints, "--out", str(out)]
    if args.redis_url:
        cmd += ["--redis-url", args.redis_url]
    if args.database_url:
        cmd += ["--database-url", args.database_url]
    subprocess.run(cmd, cwd=root, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the git revision to compare against")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--endpoints", default="ranked feed,chronological home,post a status")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/serving-ab.json")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from rich.console import Console
    from rich.table import Table

    from hearth.bench.machine import machine_info

    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="hearth-ab-") as tmp:
        home = Path(tmp)
        worktree = home / "base"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.base],
                       check=True, capture_output=True)
        try:
            sides = {"base": (overlay_python(worktree, home), worktree), "work": (sys.executable, REPO)}
            for round_ in range(1, args.rounds + 1):
                for side, (python, root) in sides.items():
                    result = run_side(python, root, args, home / f"{side}-{round_}.json")
                    runs.append({"side": side, "round": round_, "endpoints": result["endpoints"]})
                    print(f"{side} round {round_} done", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=False)

    names = [n for n in runs[0]["endpoints"] if "(cold)" not in n]
    summary: dict[str, dict] = {}
    table = Table(title=f"serving A/B: {args.base} (base) against the working tree, {args.rounds} rounds each")
    for col in ("endpoint", "side", "req/s per run", "median req/s", "median p99 ms", "median CPU ms/req"):
        table.add_column(col)
    for name in names:
        for side in ("base", "work"):
            rows = [r["endpoints"][name] for r in runs if r["side"] == side and name in r["endpoints"]]
            med = {k: statistics.median(row.get(k) or 0.0 for row in rows)
                   for k in ("requests_per_s", "p99_ms", "server_cpu_ms_per_request")}
            summary.setdefault(name, {})[side] = med
            per_run = " / ".join(f"{row['requests_per_s']:.0f}" for row in rows)
            table.add_row(name, side, per_run, f"{med['requests_per_s']:.0f}", f"{med['p99_ms']:.1f}",
                          f"{med['server_cpu_ms_per_request']:.1f}")
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"base": args.base, "rounds": args.rounds, "workers": args.workers,
                                    "database": "postgresql" if args.database_url else "sqlite",
                                    "summary": summary, "runs": runs, "machine": machine_info()}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

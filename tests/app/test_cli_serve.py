"""`hearth serve` and `hearth demo` as real processes on loopback: they create and migrate the
database, answer HTTP, stop on SIGTERM; bad database URLs are one clear line, not a traceback."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

STARTUP_DEADLINE_S = 120  # generous: the CPU is shared; this is a hang guard, not a performance check


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hearth(*args: str) -> list[str]:
    return [sys.executable, "-m", "hearth.cli", *args]


@contextmanager
def _running(args: list[str], cwd: Path, port: int) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start a server, wait for /health, yield (process, base URL); stop it by its PID."""
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{proc.stdout.read()}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not answer /health")
            time.sleep(0.3)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _stopped_cleanly(proc: subprocess.Popen, out: str) -> None:
    """uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (exit status -15)."""
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out


def test_serve_creates_the_database_and_serves(tmp_path):
    port = _free_port()
    db = tmp_path / "data" / "app.db"
    args = _hearth("serve", "--port", str(port), "--database-url", f"sqlite:///{db}",
                   "--snapshot-dir", str(tmp_path / "snapshots"))
    with _running(args, tmp_path, port) as (proc, base):
        assert db.exists()
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone()  # migrated
        home = httpx.get(f"{base}/")
        assert home.status_code == 200 and "text/html" in home.headers["content-type"]
        instance = httpx.get(f"{base}/api/v1/instance").json()
        assert instance["title"] == "Hearth" and instance["stats"]["user_count"] == 0
        assert "ynthetic" not in instance["description"]  # no demo banner on a plain database
        assert 'class="instance-banner"' not in home.text
    out = proc.stdout.read()
    _stopped_cleanly(proc, out)
    assert f"http://127.0.0.1:{port}/" in out


@pytest.mark.parametrize("url, says", [
    ("mysql://u@localhost/x", "database URL must be"),
    ("postgresql://nobody@127.0.0.1:{port}/nothing", "cannot open the database"),
    ("sqlite:////proc/no/such/dir/x.db", "cannot open the database"),
])
def test_a_bad_database_url_is_one_clear_line(tmp_path, url, says):
    done = subprocess.run(_hearth("serve", "--port", str(_free_port()), "--database-url",
                                  url.format(port=_free_port())),
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    output = (done.stdout + done.stderr).strip()
    assert len(output.splitlines()) == 1, output
    assert output.startswith("error:") and says in output and "Traceback" not in output


def test_serve_refuses_a_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(_hearth("serve", "--port", str(port), "--database-url", f"sqlite:///{tmp_path}/a.db"),
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and f"port {port}" in done.stdout and "--port" in done.stdout


def test_demo_seeds_a_synthetic_community_serves_and_does_not_seed_twice(tmp_path):
    db = tmp_path / "demo.db"
    sizes = ["--accounts", "40", "--posts", "200", "--events", "1200"]

    def demo() -> list[str]:
        return _hearth("demo", "--synthetic", "--no-train", "--database-url", f"sqlite:///{db}", "--port",
                       str(port), "--snapshot-dir", str(tmp_path / "snapshots"), *sizes)

    port = _free_port()
    with _running(demo(), tmp_path, port) as (proc, base):
        instance = httpx.get(f"{base}/api/v1/instance").json()
        # 40 seeded people, the demo log-in, and three creators' AIs made for the most active posters
        assert instance["stats"]["user_count"] == 44 and instance["stats"]["status_count"] == 200
        assert "Synthetic demo community" in instance["description"]
        login_page = httpx.get(f"{base}/login").text  # every page says the data is synthetic
        assert 'class="instance-banner"' in login_page and "Synthetic demo community" in login_page
        with sqlite3.connect(db) as conn:
            counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("accounts", "events")]
    out = proc.stdout.read()
    _stopped_cleanly(proc, out)
    assert "synthetic" in out and "Log in as demo" in out and f"http://127.0.0.1:{port}/" in out
    assert "Creators' AIs to talk to" in out

    port = _free_port()
    with _running(demo(), tmp_path, port) as (proc, _):
        with sqlite3.connect(db) as conn:
            assert [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("accounts", "events")] \
                == counts
    assert "already holds the synthetic demo community" in proc.stdout.read()


def test_demo_serves_at_once_while_the_model_trains_in_the_background(tmp_path):
    import json
    db, snaps = tmp_path / "demo.db", tmp_path / "snapshots"
    port = _free_port()
    args = _hearth("demo", "--synthetic", "--database-url", f"sqlite:///{db}", "--port", str(port),
                   "--snapshot-dir", str(snaps), "--accounts", "40", "--posts", "200", "--events", "1200")
    with _running(args, tmp_path, port) as (proc, base):
        marker = snaps / "TRAINING.json"  # written once the training process has imported torch
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        while not marker.exists() and time.monotonic() < deadline:
            assert httpx.get(f"{base}/health").status_code == 200  # the server answers meanwhile
            time.sleep(0.1)
        pid = json.loads(marker.read_text())["pid"]
        assert _runs_now(pid)  # the marker is written as the run starts: it is still going
        assert httpx.get(f"{base}/health").status_code == 200
    out = proc.stdout.read()
    assert "Training the unified model in the background" in out and "training.log" in out
    assert not _alive(pid, wait=10.0)  # stopped with the server


def _runs_now(pid: int) -> bool:
    """Whether the process runs now (a zombie waiting to be reaped does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _alive(pid: int, wait: float) -> bool:
    """Whether a process still runs after `wait` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not _runs_now(pid):
            return False
        time.sleep(0.1)
    return _runs_now(pid)

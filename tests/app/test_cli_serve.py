"""`hearth serve` and `hearth demo` as real processes on loopback: they create and migrate the
database, answer HTTP, stop on SIGTERM; bad database URLs are one clear line, not a traceback."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.server_process import STARTUP_DEADLINE_S, free_port, hearth, running


def _stopped_cleanly(proc: subprocess.Popen, out: str) -> None:
    """uvicorn shuts down gracefully on SIGTERM, then re-raises the signal (exit status -15)."""
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out


def test_serve_creates_the_database_and_serves(tmp_path):
    port = free_port()
    db = tmp_path / "data" / "app.db"
    args = hearth("serve", "--port", str(port), "--database-url", f"sqlite:///{db}",
                   "--snapshot-dir", str(tmp_path / "snapshots"))
    with running(args, tmp_path, port) as (proc, base):
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
    done = subprocess.run(hearth("serve", "--port", str(free_port()), "--database-url",
                                  url.format(port=free_port())),
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
        done = subprocess.run(hearth("serve", "--port", str(port), "--database-url", f"sqlite:///{tmp_path}/a.db"),
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and f"port {port}" in done.stdout and "--port" in done.stdout


def test_demo_seeds_a_synthetic_community_serves_and_does_not_seed_twice(tmp_path):
    db = tmp_path / "demo.db"
    sizes = ["--accounts", "40", "--posts", "200", "--events", "1200"]

    def demo() -> list[str]:
        return hearth("demo", "--synthetic", "--no-train", "--database-url", f"sqlite:///{db}", "--port",
                       str(port), "--snapshot-dir", str(tmp_path / "snapshots"), *sizes)

    port = free_port()
    with running(demo(), tmp_path, port) as (proc, base):
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

    port = free_port()
    with running(demo(), tmp_path, port) as (proc, _):
        with sqlite3.connect(db) as conn:
            assert [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("accounts", "events")] \
                == counts
    assert "already holds the synthetic demo community" in proc.stdout.read()


def test_demo_serves_at_once_while_the_model_trains_in_the_background(tmp_path):
    import json
    db, snaps = tmp_path / "demo.db", tmp_path / "snapshots"
    port = free_port()
    args = hearth("demo", "--synthetic", "--database-url", f"sqlite:///{db}", "--port", str(port),
                   "--snapshot-dir", str(snaps), "--accounts", "40", "--posts", "200", "--events", "1200")
    with running(args, tmp_path, port) as (proc, base):
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

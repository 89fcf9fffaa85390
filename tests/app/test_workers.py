"""Several worker processes behind one port share rate limits, quotas and stream counts through
Redis; a worker that dies is replaced; without Redis, more than one worker is refused up front."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from hearth.app.ratelimit import RateLimits
from hearth.assistant.limits import AssistantLimits
from hearth.services.errors import RateLimited, Unauthorized
from hearth.services.shared_store import SharedCounter, check_reachable
from hearth.settings import Settings
from tests.server_process import free_port, hearth, make_users, running, workers


def _limits(redis_url: str | None, **rates: str) -> RateLimits:
    return RateLimits(Settings(redis_url=redis_url, **rates))


def test_two_processes_count_writes_together_through_redis(redis_url):
    a = _limits(redis_url, rate_limit_writes_per_user="4/minute")
    b = _limits(redis_url, rate_limit_writes_per_user="4/minute")  # another worker's limiter
    for limiter in (a, b, a, b):
        limiter.write(7, None)
    with pytest.raises(RateLimited):
        b.write(7, None)
    a.write(8, None)  # someone else is not limited


def test_without_redis_each_process_counts_alone():
    """The embedded default: one process; the same sequence passes (what Redis fixes above)."""
    a, b = _limits(None, rate_limit_writes_per_user="4/minute"), _limits(None, rate_limit_writes_per_user="4/minute")
    for limiter in (a, b, a, b, b):
        limiter.write(7, None)


def test_failed_logins_are_counted_across_processes(redis_url):
    rates = {"rate_limit_logins_per_account": "3/minute", "rate_limit_logins_per_ip": "100/minute"}
    workers = [_limits(redis_url, **rates) for _ in range(3)]
    for w in workers:
        with pytest.raises(Unauthorized), w.login_attempt("ann", "10.0.0.1"):
            raise Unauthorized("wrong password")
    with pytest.raises(RateLimited), workers[0].login_attempt("ann", "10.0.0.1"):
        pass
    with workers[1].login_attempt("ann", "10.0.0.2"):  # the owner, from home, is not locked out
        pass


def test_open_streams_are_counted_across_processes(redis_url):
    settings = Settings(redis_url=redis_url)
    a, b = AssistantLimits(settings), AssistantLimits(settings)
    a.opened(5)
    b.opened(5)
    assert a.streams.get("5") == 2 == b.streams.get("5")
    a.closed(5)
    b.closed(5)
    assert a.streams.get("5") == 0
    b.closed(5)  # a stray close never goes below zero
    assert SharedCounter(settings, "assistant-streams").get("5") == 0


def test_an_unreachable_redis_is_a_clear_error():
    from hearth.services.shared_store import SharedStoreUnavailable
    with pytest.raises(SharedStoreUnavailable, match=r"Redis at redis://:\*\*\*@127.0.0.1:1/0"):
        check_reachable(Settings(redis_url="redis://:secret@127.0.0.1:1/0"))


def test_a_bad_redis_url_is_refused():
    with pytest.raises(ValueError, match="Redis URL must be"):
        Settings(redis_url="http://127.0.0.1:6379")


def test_several_workers_without_redis_are_refused_up_front(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HEARTH_REDIS_URL"}
    proc = subprocess.run(hearth("serve", "--workers", "2", "--port", str(free_port()), "--database-url",
                                 f"sqlite:///{tmp_path / 'a.db'}"), capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode != 0
    assert "HEARTH_REDIS_URL" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_an_unreachable_redis_stops_serve_with_one_line(tmp_path):
    proc = subprocess.run(hearth("serve", "--port", str(free_port()), "--redis-url", "redis://127.0.0.1:1/0",
                                 "--database-url", f"sqlite:///{tmp_path / 'a.db'}"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "cannot be reached" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_redis_going_away_mid_request_is_a_503_not_a_crash(tmp_path, redis_url):
    from fastapi.testclient import TestClient

    from hearth.app.main import create_app
    url = f"sqlite:///{tmp_path / 'a.db'}"
    (_, token), = make_users(url, 1)
    app = create_app(Settings(database_url=url, snapshot_dir=tmp_path / "snaps", redis_url="redis://127.0.0.1:1/0"))
    with TestClient(app) as client:
        r = client.post("/api/v1/statuses", json={"status": "hello"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 503
    assert "shared store" in r.json()["error"]
    assert r.headers["Retry-After"] == "5"


def _post(base: str, token: str, text: str) -> int:
    # A new connection per request, so that the workers take turns accepting them.
    with httpx.Client(base_url=base, timeout=30) as client:
        return client.post("/api/v1/statuses", json={"status": text},
                           headers={"Authorization": f"Bearer {token}", "Connection": "close"}).status_code


def test_rate_limits_hold_with_two_workers_on_one_port(tmp_path, redis_url):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    (_, token), (_, other) = make_users(url, 2)
    port = free_port()
    env = {"HEARTH_RATE_LIMIT_WRITES_PER_USER": "6/minute", "HEARTH_RATE_LIMIT_WRITES_PER_IP": ""}
    args = hearth("serve", "--workers", "2", "--redis-url", redis_url, "--port", str(port), "--database-url", url,
                  "--snapshot-dir", str(tmp_path / "snaps"), "--no-access-log")
    with running(args, tmp_path, port, env=env, log=tmp_path / "server.log") as (proc, base):
        assert len(workers(proc.pid)) >= 2
        codes = [_post(base, token, f"post {i}") for i in range(15)]
        assert codes.count(200) == 6, codes
        assert codes.count(429) == 9, codes
        assert _post(base, other, "someone else") == 200


def test_a_killed_worker_is_replaced_and_only_its_requests_fail(tmp_path, redis_url):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    (_, token), = make_users(url, 1)
    port = free_port()
    args = hearth("serve", "--workers", "2", "--redis-url", redis_url, "--port", str(port), "--database-url", url,
                  "--snapshot-dir", str(tmp_path / "snaps"), "--no-access-log")
    env = {"HEARTH_RATE_LIMIT_WRITES_PER_USER": "", "HEARTH_RATE_LIMIT_WRITES_PER_IP": ""}
    with running(args, tmp_path, port, env=env, log=tmp_path / "server.log") as (proc, base):
        before = workers(proc.pid)
        assert len(before) == 2
        statuses: list[int | str] = []
        stop = threading.Event()

        def load() -> None:
            headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
            while not stop.is_set():
                try:
                    with httpx.Client(base_url=base, timeout=30) as client:
                        statuses.append(client.get("/api/v1/timelines/home", headers=headers).status_code)
                except httpx.TransportError as e:  # a connection the killed worker held
                    statuses.append(type(e).__name__)
        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = workers(proc.pid)
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.2)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        now = workers(proc.pid)
        assert len(now) == 2 and before[0] not in now, (before, now)
        assert not any(isinstance(s, int) and s >= 500 for s in statuses)
        failed = [s for s in statuses if not isinstance(s, int)]
        assert len(failed) <= 3, failed  # at most the requests in flight at the kill, one per client
        assert statuses.count(200) > 10
        assert statuses[-3:] == [200, 200, 200]  # serving again afterwards


def _connections_per_process(pids: list[int], port: int) -> list[int]:
    """Established TCP connections to `port` that each process holds, most first (/proc)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and int(fields[1].split(":")[1], 16) == port:  # 01: established
            inodes.add(f"socket:[{fields[9]}]")
    counts = []
    for pid in pids:
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                held += os.readlink(fd) in inodes
            except OSError:  # closed meanwhile
                pass
        counts.append(held)
    return sorted(counts, reverse=True)


def test_a_clients_few_keep_alive_connections_are_spread_over_the_workers(tmp_path, redis_url):
    """Four connections opened at once (a client's keep-alive pool) land 2:2 on two workers
    (balanced_accept); the worker that woke first used to take them all about as often."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    make_users(url, 1)
    port = free_port()
    args = hearth("serve", "--workers", "2", "--redis-url", redis_url, "--port", str(port), "--database-url", url,
                  "--snapshot-dir", str(tmp_path / "snaps"), "--no-access-log")
    log = tmp_path / "server.log"
    with running(args, tmp_path, port, log=log) as (proc, base):
        pids = workers(proc.pid)
        assert len(pids) == 2
        deadline = time.monotonic() + 60  # both workers serving, not only the first
        while log.read_text().count("Application startup complete") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        splits = []
        for _ in range(6):
            clients = [httpx.Client(base_url=base, timeout=30) for _ in range(4)]
            start = threading.Barrier(4)

            def ask(client: httpx.Client, start: threading.Barrier = start) -> None:
                start.wait()
                assert client.get("/health").status_code == 200

            threads = [threading.Thread(target=ask, args=(c,)) for c in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            splits.append(_connections_per_process(pids, port))
            for c in clients:
                c.close()
            deadline = time.monotonic() + 10
            while sum(_connections_per_process(pids, port)) and time.monotonic() < deadline:
                time.sleep(0.05)
        assert all(sum(s) == 4 for s in splits), splits
        assert [4, 0] not in splits and splits.count([2, 2]) >= 5, splits


def test_an_idle_keep_alive_connection_outlasts_clients_idle_expiry(tmp_path):
    """Clients (httpx, many pools) drop an idle connection after 5 s; a server that closes it at
    the same moment fails the request a client sends on it just then. The server keeps it longer."""
    import socket
    url = f"sqlite:///{tmp_path / 'a.db'}"
    port = free_port()
    args = hearth("serve", "--port", str(port), "--database-url", url, "--snapshot-dir", str(tmp_path / "snaps"),
                  "--no-access-log")
    with running(args, tmp_path, port, log=tmp_path / "server.log"), socket.create_connection(("127.0.0.1", port)) as s:
        request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        s.sendall(request)
        assert _read_response(s).startswith(b"HTTP/1.1 200")
        time.sleep(6.5)  # past a 5 s idle timeout
        s.sendall(request)
        assert _read_response(s).startswith(b"HTTP/1.1 200")


def _read_response(s) -> bytes:  # noqa: ANN001 - a socket
    """One whole HTTP/1.1 response (head and Content-Length body), however the bytes arrive;
    b"" if the server closed the connection first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return data

"""`kill -9` of the server while clients write: every acknowledged post, follow and favourite is
there after a restart, three crashes in a row, on SQLite and on PostgreSQL; the database passes
its integrity checks and the denormalised counters agree with the rows they count."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from hearth.settings import sync_database_url
from tests.live_server import NO_RATE_LIMITS
from tests.server_process import free_port, hearth, make_users, wait_healthy

CRASHES = 3
WRITERS = 4
WRITE_SECONDS = 2.0  # of concurrent writes before each kill


class Acked:
    """What the server acknowledged (2xx) before it died."""

    def __init__(self) -> None:
        self.posts: set[int] = set()
        self.follows: set[tuple[int, int]] = set()
        self.favourites: set[tuple[int, int]] = set()
        self.server_errors: list[str] = []
        self.lock = threading.Lock()


def _writer(base: str, me: int, token: str, others: list[int], targets: list[int], acked: Acked,
            stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                kind = n % 3
                if kind == 0:
                    r = client.post("/api/v1/statuses", json={"status": f"crash test {me} {n}"})
                    if r.status_code == 200:
                        with acked.lock:
                            acked.posts.add(int(r.json()["id"]))
                elif kind == 1:
                    target = rng.choice(others)
                    r = client.post(f"/api/v1/accounts/{target}/follow")
                    if r.status_code == 200:
                        with acked.lock:
                            acked.follows.add((me, target))
                else:
                    post = rng.choice(targets)
                    r = client.post(f"/api/v1/statuses/{post}/favourite")
                    if r.status_code == 200:
                        with acked.lock:
                            acked.favourites.add((me, post))
                if r.status_code >= 500:
                    with acked.lock:
                        acked.server_errors.append(f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}")
            except httpx.TransportError:
                if stop.wait(0.05):
                    return


def _integrity(url: str) -> None:
    engine = create_engine(sync_database_url(url))
    try:
        with engine.connect() as c:
            if engine.dialect.name == "sqlite":
                assert c.execute(text("PRAGMA integrity_check")).scalar() == "ok"
                assert c.execute(text("PRAGMA foreign_key_check")).all() == []
            orphans = c.execute(text("SELECT count(*) FROM favourites f LEFT JOIN posts p ON p.id = f.post_id "
                                     "WHERE p.id IS NULL")).scalar()
            assert orphans == 0
            wrong_likes = c.execute(text(
                "SELECT count(*) FROM posts p WHERE p.favourites_count <> "
                "(SELECT count(*) FROM favourites f WHERE f.post_id = p.id)")).scalar()
            assert wrong_likes == 0, "favourite counters disagree with the favourites"
            wrong_following = c.execute(text(
                "SELECT count(*) FROM accounts a WHERE a.following_count <> "
                "(SELECT count(*) FROM follows f WHERE f.account_id = a.id)")).scalar()
            assert wrong_following == 0, "following counters disagree with the follows"
            wrong_statuses = c.execute(text(
                "SELECT count(*) FROM accounts a WHERE a.statuses_count <> "
                "(SELECT count(*) FROM posts p WHERE p.account_id = a.id)")).scalar()
            assert wrong_statuses == 0, "status counters disagree with the posts"
    finally:
        engine.dispose()


def _stored(url: str) -> tuple[set[int], set[tuple[int, int]], set[tuple[int, int]]]:
    engine = create_engine(sync_database_url(url))
    try:
        with engine.connect() as c:
            posts = {r[0] for r in c.execute(text("SELECT id FROM posts"))}
            follows = {(r[0], r[1]) for r in c.execute(text("SELECT account_id, target_account_id FROM follows"))}
            favourites = {(r[0], r[1]) for r in c.execute(text("SELECT account_id, post_id FROM favourites"))}
            return posts, follows, favourites
    finally:
        engine.dispose()


def test_kill_9_during_writes_loses_nothing_acknowledged(db_url, tmp_path):
    users = make_users(db_url, WRITERS + 2)
    ids = [u for u, _ in users]
    # posts to favourite, written through the API by the last account
    env = {**os.environ, **{f"HEARTH_{k.upper()}": v for k, v in NO_RATE_LIMITS.items()}}
    acked = Acked()
    targets: list[int] = []
    for crash in range(CRASHES):
        port = free_port()
        log = tmp_path / f"server-{crash}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(hearth("serve", "--port", str(port), "--database-url", db_url, "--snapshot-dir",
                                           str(tmp_path / "snaps"), "--no-access-log"),
                                    stdout=out, stderr=subprocess.STDOUT, env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(proc, base, log)
            if not targets:
                headers = {"Authorization": f"Bearer {users[-1][1]}"}
                for i in range(5):
                    r = httpx.post(f"{base}/api/v1/statuses", json={"status": f"target {i}"}, headers=headers)
                    targets.append(int(r.json()["id"]))
            stop = threading.Event()
            threads = [threading.Thread(target=_writer, args=(base, me, token, [o for o in ids if o != me], targets,
                                                              acked, stop, crash * 100 + k))
                       for k, (me, token) in enumerate(users[:WRITERS])]
            for t in threads:
                t.start()
            time.sleep(WRITE_SECONDS)
            os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no flush: as a power cut is to the process
            proc.wait(timeout=30)
            stop.set()
            for t in threads:
                t.join(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert not acked.server_errors, (acked.server_errors[:5], log.read_text()[-3000:])
        posts, follows, favourites = _stored(db_url)
        assert acked.posts and acked.follows and acked.favourites, "the writers wrote nothing before the kill"
        assert acked.posts <= posts, f"lost posts: {sorted(acked.posts - posts)[:10]}"
        assert acked.follows <= follows, f"lost follows: {sorted(acked.follows - follows)[:10]}"
        assert acked.favourites <= favourites, f"lost favourites: {sorted(acked.favourites - favourites)[:10]}"
        _integrity(db_url)
    assert len(acked.posts) > CRASHES  # each round wrote


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_server_starts_again_on_the_crashed_database(db_url, tmp_path):
    """After a kill -9 the same database opens and migrates cleanly, and answers."""
    users = make_users(db_url, 1)
    port = free_port()
    args = hearth("serve", "--port", str(port), "--database-url", db_url, "--snapshot-dir", str(tmp_path / "s"))
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base)
    headers = {"Authorization": f"Bearer {users[0][1]}"}
    post = httpx.post(f"{base}/api/v1/statuses", json={"status": "before the crash"}, headers=headers).json()["id"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_healthy(proc, base)
        assert httpx.get(f"{base}/api/v1/statuses/{post}", headers=headers).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)

"""`hearth serve` as a real process on loopback, for tests that need real processes (several
workers, kill -9): start it, wait for /health, stop it by its PID. Accounts and tokens are made
through the services before the server starts."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

STARTUP_DEADLINE_S = 120  # generous: the CPU is shared; this is a hang guard, not a performance check


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hearth(*args: str) -> list[str]:
    return [sys.executable, "-m", "hearth.cli", *args]


def wait_healthy(proc: subprocess.Popen, base: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while True:
        if proc.poll() is not None:
            out = log.read_text() if log else (proc.stdout.read() if proc.stdout else "")
            pytest.fail(f"server exited with {proc.returncode}:\n{out}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail("server did not answer /health")
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running(args: list[str], cwd: Path, port: int, env: dict[str, str] | None = None,
            log: Path | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start a server, wait for /health, yield (process, base URL); stop it by its PID. Output goes
    to `log` when given (a long-running server must not fill a pipe nobody reads)."""
    out = open(log, "a") if log else subprocess.PIPE  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, base, log)
        yield proc, base
    finally:
        stop(proc)
        if log:
            out.close()


def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(c) for c in text)
    return found


def workers(pid: int) -> list[int]:
    """The worker processes of a `hearth serve --workers N` supervisor (not multiprocessing's
    resource tracker, also its child)."""
    out = []
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"spawn_main" in cmdline:
            out.append(child)
    return out


def make_users(url: str, n: int, scopes: tuple[str, ...] = ("read", "write")) -> list[tuple[int, str]]:
    """n accounts with a bearer token each: [(account id, token)]."""
    from hearth.services import accounts, auth
    from hearth.storage.db import make_engine, make_sessionmaker, migrate

    migrate(url)

    async def go() -> list[tuple[int, str]]:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as db:
                out = []
                for i in range(n):
                    account = await accounts.register(db, f"user{i}", "correct horse battery")
                    token, _ = await auth.issue_token(db, None, account.id, list(scopes))
                    out.append((account.id, token))
                return out
        finally:
            await engine.dispose()
    return asyncio.run(go())

"""`hearth demo`: seed a community (LastFM-2k when its files are in the data directory, else a
labelled synthetic one), serve at once, and train the unified model on the app's event log in
the background (the server switches to it when it is better on validation). Running
it again on a demo database keeps what is there (no duplicate rows, no retraining when a model
trained on this database exists); `fresh` starts over."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from hearth.app.server import LaunchError, safe_url
from hearth.settings import Settings


@dataclass
class DemoOptions:
    synthetic: bool = False  # even when LastFM-2k is available
    train: bool = True
    fresh: bool = False
    quick: bool = False  # the quick preset (minutes, barely personal); the full one runs in the background
    seed: int = 0


def _progress_bar(console: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("rows"), TimeElapsedColumn(), console=console, transient=False)


def seed_demo(settings: Settings, options: DemoOptions, console: Console):  # noqa: ANN201 - a SeedResult
    """Seed the database at settings.database_url unless it already holds a complete demo."""
    from hearth.data import DataError
    from hearth.data.files import resolve_data_dir
    from hearth.services.seed import (
        DEMO_PASSWORD,
        DEMO_USERNAME,
        SeedError,
        SeedResult,
        database_state,
        lastfm_available,
        reset_database,
        seed_lastfm,
        seed_synthetic,
    )
    url = settings.database_url
    try:
        if options.fresh:
            console.print(f"Starting over: emptying {safe_url(url)}")
            reset_database(url)
        state = database_state(url)
    except (sa.exc.SQLAlchemyError, OSError) as e:
        raise LaunchError(f"cannot open the database {safe_url(url)}: {getattr(e, 'orig', None) or e}") from None
    if state.demo:
        console.print(f"The database already holds the {state.source} demo community ({state.accounts:,} accounts): "
                      "keeping it (--fresh starts over).")
        return SeedResult(state.source or "?", state.accounts, 0, 0, 0, 0, 0.0, skipped=True,
                          demo_username=DEMO_USERNAME, demo_password=DEMO_PASSWORD)
    data_dir = resolve_data_dir(settings.data_dir)
    use_lastfm = not options.synthetic and lastfm_available(settings.data_dir)
    if use_lastfm:
        console.print(f"Seeding LastFM-2k from {data_dir / 'lastfm-2k'}: {settings.demo_top_artists} "
                      "most-listened artists become accounts.")
    elif options.synthetic:
        console.print("Seeding a synthetic community (--synthetic).")
    else:
        console.print(f"LastFM-2k is not in {data_dir}: seeding a clearly labelled synthetic community instead.")
    with _progress_bar(console) as bar:
        task = bar.add_task("preparing", total=None)

        def report(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"seeding {stage}", completed=done, total=total)
        try:
            if use_lastfm:
                result = seed_lastfm(url, settings.data_dir, settings.demo_top_artists, seed=options.seed,
                                     progress=report)
            else:
                result = seed_synthetic(url, settings.demo_accounts, settings.demo_posts, settings.demo_events,
                                        seed=options.seed, progress=report)
        except (SeedError, DataError, ValueError) as e:
            raise LaunchError(str(e)) from None
        except sa.exc.SQLAlchemyError as e:
            raise LaunchError(f"seeding failed on {safe_url(url)}: {getattr(e, 'orig', None) or e}") from None
    console.print(f"Seeded {result.source}: {result.accounts:,} accounts, {result.follows:,} follows, "
                  f"{result.posts:,} posts, {result.favourites:,} likes, {result.events:,} events "
                  f"in {result.seconds:.1f} s.")
    return result


def trained_snapshot(settings: Settings) -> Path | None:
    """The snapshot of the newest finished training run on this database, if it is still on disk."""
    from hearth.storage.db import make_sync_engine
    engine = make_sync_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            path = conn.scalar(sa.text("SELECT snapshot_path FROM model_runs WHERE finished_at IS NOT NULL "
                                       "AND snapshot_path != '' ORDER BY id DESC LIMIT 1"))
    finally:
        engine.dispose()
    return Path(path) if path and Path(path).exists() else None


def train_demo(settings: Settings, options: DemoOptions, console: Console,
               seeded_now: bool) -> subprocess.Popen | None:
    """Start training the unified model on the seeded events in the background, unless a model
    trained on them exists; the server comes up at once with the heuristic ranker and switches
    to the model (hot reload) when the run publishes a snapshot, which it does only when the
    model beats popularity on validation (`--require-better`). Returns the training process."""
    if not options.train:
        console.print("Not training (--no-train): the feed uses the heuristic ranker until "
                      "`hearth train --from-db` writes a snapshot.")
        return None
    existing = None if seeded_now else trained_snapshot(settings)
    if existing is not None:
        console.print(f"A model trained on this database exists ({existing}): not training again.")
        return None
    settings.snapshot_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.snapshot_dir / "training.log"
    command = [sys.executable, "-m", "hearth.cli", "train", "--from-db", "--require-better",
               "--out", str(settings.snapshot_dir), "--seed", str(options.seed)]
    env = {**os.environ, "HEARTH_DATABASE_URL": settings.database_url}  # not on a command line others can read
    if options.quick:
        command.append("--quick")
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    console.print(f"Training the unified model in the background ({'quick' if options.quick else 'full'} budget, "
                  f"log: {log_path}); the feed uses the heuristic ranker until the model beats it on validation.")
    return proc


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the server process dies, however it dies (uvicorn
    re-raises the signal that stopped it, so the server's own clean-up may never run)."""
    import ctypes
    import signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def stop_training(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Stop a background training run that is still going (the server is shutting down)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

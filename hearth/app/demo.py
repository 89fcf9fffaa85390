"""`hearth demo`: seed a community (LastFM-2k when its files are in the data directory, else a
labelled synthetic one), train the unified model on the app's event log, then serve. Running
it again on a demo database keeps what is there (no duplicate rows, no retraining when a model
trained on this database exists); `fresh` starts over."""

from __future__ import annotations

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
    quick: bool = True  # the quick training preset: a first start in minutes on two cores
    seed: int = 0


def _progress_bar(console: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("rows"), TimeElapsedColumn(), console=console, transient=False)


def seed_demo(settings: Settings, options: DemoOptions, console: Console):  # noqa: ANN201 - a SeedResult
    """Seed the database at settings.database_url unless it already holds a complete demo."""
    from hearth.app.seed import (
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
    from hearth.data import DataError
    from hearth.data.files import resolve_data_dir
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
    from hearth.app.db import make_sync_engine
    engine = make_sync_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            path = conn.scalar(sa.text("SELECT snapshot_path FROM model_runs WHERE finished_at IS NOT NULL "
                                       "AND snapshot_path != '' ORDER BY id DESC LIMIT 1"))
    finally:
        engine.dispose()
    return Path(path) if path and Path(path).exists() else None


def train_demo(settings: Settings, options: DemoOptions, console: Console, seeded_now: bool) -> None:
    """Train the unified model on the seeded events, unless a model trained on them exists.
    A failed training is reported and the server starts with the heuristic ranker."""
    if not options.train:
        console.print("Not training (--no-train): the feed uses the heuristic ranker until "
                      "`hearth train --from-db` writes a snapshot.")
        return
    existing = None if seeded_now else trained_snapshot(settings)
    if existing is not None:
        console.print(f"A model trained on this database exists ({existing}): not training again.")
        return
    from hearth.serving.train_app import train_from_db
    console.print(f"Training the unified model on the app's events ({'quick' if options.quick else 'full'} "
                  f"budget); the snapshot goes to {settings.snapshot_dir}.")
    try:
        result = train_from_db(settings, quick=options.quick, seed=options.seed, progress=True)
    except Exception as e:  # the demo still comes up; the message says what went wrong
        console.print(f"[yellow]Training did not finish ({type(e).__name__}: {e}); "
                      "serving with the heuristic ranker.[/]")
        return
    console.print(f"Trained on {result.events:,} events ({', '.join(result.tasks)}): snapshot {result.snapshot}.")

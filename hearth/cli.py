"""The `hearth` command line: data, train, distill, eval, bench, serve, demo, chat, llm check, assistant-quota."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from hearth.settings import Settings

app = typer.Typer(help="Hearth: social software with one unified recommendation model.", no_args_is_help=True)
data_app = typer.Typer(help="Datasets: download and check.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print a table and write JSON.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="bench")
console = Console() if sys.stdout.isatty() else Console(width=160)  # logs and CI: do not cut table columns

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (else $HEARTH_DATA_DIR).")]
Dataset = Annotated[str, typer.Option("--dataset", "-d", help="ml-1m, ml-1m-sasrec, lastfm-2k, ego-facebook, "
                                                              "ciao, or a path to a `user item [timestamp]` file.")]


def _fail(message: str) -> None:
    console.print(f"[red]error:[/] {message}", soft_wrap=True)  # one line, however long
    raise typer.Exit(2)


def dataset_label(dataset: str) -> str:
    """A file's stem for file datasets, else the dataset name (for output paths)."""
    return Path(dataset).stem if Path(dataset).exists() else dataset


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`--set d=128 --set lr=3e-3` -> {"d": 128, "lr": 0.003} (values parsed as JSON when they can be)."""
    out: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set wants KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


@data_app.command("download")
def data_download(name: str, data_dir: DataDir = None,
                  force: Annotated[bool, typer.Option(help="Download again even if present.")] = False) -> None:
    """Download a dataset from its publisher into the data directory (checksums verified)."""
    from hearth.data import DataError
    from hearth.data.registry import download_dataset
    try:
        folder = download_dataset(name, data_dir, force=force)
    except DataError as e:
        _fail(str(e))
    console.print(f"{name}: ready in {folder}")


@data_app.command("check")
def data_check(names: Annotated[list[str] | None, typer.Argument(help="Datasets (default: all).")] = None,
               data_dir: DataDir = None) -> None:
    """Load datasets, verify checksums and print their counts."""
    from hearth.data import DATASETS, DataError, load_dataset
    failed = False
    for name in names or list(DATASETS):
        try:
            log = load_dataset(name, data_dir)
            console.print(f"[green]ok[/] {name}: {log.stats()} from {', '.join(log.sources)}")
        except DataError as e:
            failed = True
            console.print(f"[red]missing[/] {name}: {e}")
    if failed:
        raise typer.Exit(1)


@bench_app.command("quality")
def bench_quality(dataset: Dataset, data_dir: DataDir = None,
                  models: Annotated[str | None, typer.Option(help="Comma-separated: pop, ease, itemknn, cn, aa, "
                                                                  "sasrec, hstu, hstu-content, hstu-people.")] = None,
                  quick: Annotated[bool, typer.Option(help="Small settings: about a minute in all.")] = False,
                  seed: int = 0,
                  max_minutes: Annotated[float | None, typer.Option(help="Training budget of each sequence "
                                                                         "model (default: the preset's).")] = None,
                  out: Annotated[Path | None, typer.Option(help="Result JSON (default "
                                                               "benchmarks/results/quality-<name>.json).")] = None
                  ) -> None:
    """Every model on one dataset under its protocol; prints a table and writes JSON."""
    from hearth.bench.quality import run_quality
    from hearth.data import DataError
    out = out or Path("benchmarks/results") / f"quality-{dataset_label(dataset)}{'-quick' if quick else ''}.json"
    try:
        run_quality(dataset, data_dir, models.split(",") if models else None, quick, seed, out, console,
                    max_minutes)
    except (DataError, ValueError) as e:
        _fail(str(e))


@bench_app.command("replay")
def bench_replay(dataset: Annotated[str, typer.Option("--dataset", "-d", help="lastfm-2k or synthetic: a seeded "
                                                                             "community.")] = "lastfm-2k",
                 data_dir: DataDir = None,
                 model: Annotated[bool, typer.Option(help="Also train the unified model on the past and replay "
                                                          "its feed.")] = True,
                 quick: Annotated[bool, typer.Option(help="Tiny model (minutes in all).")] = False,
                 learned: Annotated[bool, typer.Option(help="Also fit the learned value model on the log's past "
                                                            "(one horizon before the cut) and replay its feed.")]
                 = True,
                 max_minutes: Annotated[float, typer.Option(help="Training budget of the model.")] = 8.0,
                 seed: int = 0,
                 cut: Annotated[float, typer.Option(help="Cut at this quantile of like times.")] = 0.8,
                 horizon_days: Annotated[float, typer.Option(help="Targets: likes this long after the cut.")] = 7.0,
                 workdir: Annotated[Path | None, typer.Option(help="Where the cut database and snapshot go "
                                                                  "(default: a temporary folder).")] = None,
                 out: Annotated[Path | None, typer.Option(help="Result JSON (default "
                                                              "benchmarks/results/replay-<dataset>.json).")] = None,
                 ) -> None:
    """Offline replay of the feed: chronological vs ranked (heuristic, model, learned value model) at a past cut."""
    import tempfile

    from hearth.data import DataError
    from hearth.offline.replay import run_replay
    out = out or Path("benchmarks/results") / f"replay-{dataset}{'-quick' if quick else ''}.json"
    with tempfile.TemporaryDirectory(prefix="hearth-replay-") as tmp:
        try:
            result = run_replay(dataset, data_dir, out, workdir or Path(tmp), model=model, quick=quick,
                                max_minutes=max_minutes, seed=seed, cut_quantile=cut, horizon_days=horizon_days,
                                log=console.print, learned=learned)
        except (DataError, ValueError) as e:
            _fail(str(e))
    from rich.table import Table
    table = Table(title=f"feed replay, {dataset}, test users ({result['counts']['users_test']})")
    metrics = [k for k in result["systems"]["chronological"]["test"] if k != "users"]
    table.add_column("feed")
    for m in metrics:
        table.add_column(m, justify="right")
    for name, r in result["systems"].items():
        table.add_row(name, *(f"{r['test'][m]:.4f}" for m in metrics))
    console.print(table)
    console.print(f"written to {out}")


@bench_app.command("merge")
def bench_merge(files: Annotated[list[Path], typer.Argument(help="Result files of the same dataset and split.")],
                out: Annotated[Path, typer.Option(help="Merged result file.")]) -> None:
    """Merge result files of models that ran in separate processes (e.g. one core each)."""
    from hearth.bench.quality import merge_results
    try:
        merged = merge_results(files, out)
    except (OSError, ValueError) as e:
        _fail(str(e))
    console.print(f"{out}: {', '.join(merged['models'])}")


@app.command()
def train(dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="As for bench quality; not with "
                                                                              "--from-db.")] = None,
          data_dir: DataDir = None,
          model: Annotated[str, typer.Option(help="hstu, sasrec, hstu-content or hstu-people.")] = "hstu",
          out: Annotated[Path | None, typer.Option(help="Snapshot root (default snapshots/<dataset>-<model>).")] = None,
          resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its train_state.pt.")] = False,
          quick: bool = False, seed: int = 0,
          set_: Annotated[list[str] | None, typer.Option("--set", help="Override a setting, e.g. --set d=128.")] = None,
          from_db: Annotated[bool, typer.Option("--from-db", help="Train on the app's own event log; the snapshot "
                                                "goes to the server's snapshot folder.")] = False,
          database_url: Annotated[str | None, typer.Option(help="With --from-db: the app database "
                                                           "(default $HEARTH_DATABASE_URL or sqlite:///hearth.db).")]
          = None,
          require_better: Annotated[bool, typer.Option("--require-better", help="With --from-db: publish the "
                                                       "snapshot only if the model beats popularity on "
                                                       "validation.")] = False,
          ) -> None:
    """Train one sequence model (early stopping on validation) and save a versioned snapshot."""
    if from_db:
        _train_from_db(database_url, out, quick, seed, set_ or [], require_better)
        return
    if dataset is None:
        _fail("--dataset is required (or --from-db to train on the app's database)")
    from hearth.bench.presets import VARIANTS, preset
    from hearth.bench.quality import dataset_key
    from hearth.data import DataError, default_protocols, load_dataset
    from hearth.eval.split import make_split
    from hearth.model.fit import fit, write_snapshot
    if model not in VARIANTS:
        _fail(f"unknown model {model!r}; choose one of {', '.join(VARIANTS)}")
    try:
        log = load_dataset(dataset, data_dir)
        overrides = parse_overrides(set_ or [])
    except (DataError, ValueError) as e:
        _fail(str(e))
    split = make_split(log, default_protocols(dataset), seed)
    p = preset(dataset_key(dataset), quick)
    settings = {**p["model"], **p["train"], **VARIANTS[model], "seed": seed, **overrides}
    root = out or Path("snapshots") / f"{dataset_label(dataset)}-{model}"
    try:
        fitted = fit(split, settings, out_dir=root, resume=resume)
    except ValueError as e:
        _fail(str(e))
    source = str(Path(dataset).resolve()) if Path(dataset).exists() else dataset
    path = write_snapshot(fitted, split, root, {"model_name": model, "dataset_source": source})
    console.print(f"best epoch {fitted.result.best_epoch}, valid {json.dumps(fitted.result.best_valid)}")
    console.print(f"snapshot written to {path}")


@app.command()
def distill(teacher: Annotated[Path, typer.Option(help="The teacher's snapshot (folder or root).")],
            dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="The teacher's dataset (default: "
                                                      "the one its snapshot names).")] = None,
            data_dir: DataDir = None,
            student_d: Annotated[int | None, typer.Option(help="Student width (default: the teacher's / 2).")]
            = None,
            student_layers: Annotated[int | None, typer.Option(help="Student blocks (default 1).")] = 1,
            student_max_len: Annotated[int | None, typer.Option(help="Student history length (default: "
                                                                "the teacher's).")] = None,
            mix: Annotated[float, typer.Option(help="Weight of the teacher's soft targets; 1 - mix goes to the "
                                               "true labels.")] = 0.5,
            temperature: Annotated[float, typer.Option(help="Softmax temperature of the soft targets.")] = 1.0,
            out: Annotated[Path | None, typer.Option(help="Snapshot root (default snapshots/<dataset>-student).")]
            = None,
            set_: Annotated[list[str] | None, typer.Option("--set", help="Override a setting, e.g. --set lr=3e-3.")]
            = None,
            ) -> None:
    """Train a small student from a teacher snapshot's scores; writes an ordinary snapshot."""
    from hearth.data import DataError, load_dataset
    from hearth.eval.split import make_split
    from hearth.model.distill import student_settings
    from hearth.model.fit import fit, write_snapshot
    from hearth.model.snapshot import SnapshotError, load_snapshot
    try:
        snap = load_snapshot(teacher)
    except SnapshotError as e:
        _fail(str(e))
    info = snap.info
    dataset = dataset or info.get("dataset_source") or info.get("dataset")
    if not dataset or "protocols" not in info:
        _fail(f"{snap.path} does not say which dataset and split it was trained on: pass --dataset")
    try:
        log = load_dataset(dataset, data_dir)
        settings = student_settings(snap.model, {**info.get("train", {}), "progress": True},
                                    d=student_d or max(8, snap.model.cfg.d // 2), n_layers=student_layers,
                                    max_len=student_max_len, overrides=parse_overrides(set_ or []))
        settings["train"] |= {"distill_mix": mix, "distill_temperature": temperature}
        split = make_split(log, info["protocols"], info.get("seed", 0))
        root = out or Path("snapshots") / f"{dataset_label(dataset)}-student"
        fitted = fit(split, settings, out_dir=root, teacher=snap.model)
    except (DataError, ValueError) as e:
        _fail(str(e))
    path = write_snapshot(fitted, split, root, {"model_name": "student", "dataset_source": dataset,
                                                "teacher": str(snap.path), "distill": {"mix": mix,
                                                                                       "temperature": temperature}})
    console.print(f"best epoch {fitted.result.best_epoch}, valid {json.dumps(fitted.result.best_valid)}")
    console.print(f"student snapshot written to {path}")


def _train_from_db(database_url: str | None, out: Path | None, quick: bool, seed: int, set_: list[str],
                   require_better: bool = False) -> None:
    """The app's event log -> the unified model (hstu, use_authors) -> a snapshot the server hot-reloads."""
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from hearth.offline.train_app import train_from_db
    from hearth.settings import Settings
    try:
        settings = Settings(database_url=database_url) if database_url else Settings()
        result = train_from_db(settings, quick=quick, seed=seed, out=out, overrides=parse_overrides(set_),
                               require_better=require_better)
    except (ValidationError, ValueError) as e:
        _fail(str(e))
    except SQLAlchemyError as e:
        _fail(f"could not read the app database ({database_url or 'default'}): {getattr(e, 'orig', None) or e}; "
              "is it a Hearth database (`hearth serve` creates one)?")
    console.print(f"trained on {result.events} events ({', '.join(result.tasks)}), valid {json.dumps(result.valid)}")
    console.print(f"snapshot written to {result.snapshot} (model run {result.run_id})")


@app.command("eval")
def eval_(snapshot: Annotated[Path, typer.Option(help="Snapshot folder or root.")],
          dataset: Annotated[str | None, typer.Option(help="Default: the dataset it was trained on.")] = None,
          data_dir: DataDir = None,
          stage: Annotated[str, typer.Option(help="valid or test.")] = "test") -> None:
    """Evaluate a snapshot on its dataset's split (same protocol and seed as training)."""
    import numpy as np

    from hearth.data import DataError, load_dataset
    from hearth.eval.evaluate import evaluate
    from hearth.eval.split import make_split
    from hearth.model.scorer import ModelScorer
    from hearth.model.sequences import SequenceBatcher
    from hearth.model.snapshot import SnapshotError, load_snapshot
    if stage not in ("valid", "test"):
        _fail("--stage must be valid or test")
    try:
        snap = load_snapshot(snapshot)
        info = snap.info
        log = load_dataset(dataset or info.get("dataset_source", info["dataset"]), data_dir)
    except (SnapshotError, DataError, KeyError) as e:
        _fail(str(e))
    if list(log.user_ids) != snap.user_ids or list(log.item_ids) != snap.item_ids:
        _fail(f"{log.name} does not have the ids this snapshot was trained on ({info.get('dataset')})")
    split = make_split(log, info["protocols"], info["seed"])
    cfg = snap.model.cfg
    train_info = info.get("train", {})
    batcher = SequenceBatcher(log, cfg.max_len, cfg.horizon)
    scorer = ModelScorer(snap.model, split, batcher, seed=train_info.get("seed", 0),
                         input_kinds=train_info.get("input_kinds"))
    for task in train_info.get("tasks", list(info["protocols"])):
        metrics = evaluate(scorer, split, task, stage, (10, 20, 50, 200), progress=True)
        console.print(f"{task} ({info['protocols'][task]}), {stage}: " +
                      ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float | np.floating)))


Host = Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1, or $HEARTH_HOST).")]
Port = Annotated[int | None, typer.Option(help="Port (default 8000, or $HEARTH_PORT).")]
DatabaseUrl = Annotated[str | None, typer.Option(help="sqlite:///PATH or postgresql://... (default "
                                                      "$HEARTH_DATABASE_URL or sqlite:///hearth.db).")]
SnapshotDir = Annotated[Path | None, typer.Option(help="Where the server looks for model snapshots "
                                                       "(default $HEARTH_SNAPSHOT_DIR or snapshots/app).")]


def _serve(settings: Settings, login: str | None = None, access_log: bool = True) -> None:
    """Banner for demo data, a free port, the URL to open, then uvicorn until stopped."""
    from hearth.app.server import LaunchError, check_port, public_url, run, with_seed_banner
    try:
        settings = with_seed_banner(settings)
        check_port(settings.host, settings.port)
    except LaunchError as e:
        _fail(str(e))
    console.print(f"[bold green]Hearth is serving at {public_url(settings.host, settings.port)}[/] "
                  "(Ctrl+C stops it)")
    if login:
        console.print(login)
    run(settings, access_log=access_log)


@app.command()
def serve(host: Host = None, port: Port = None, database_url: DatabaseUrl = None, data_dir: DataDir = None,
          snapshot_dir: SnapshotDir = None,
          workers: Annotated[int | None, typer.Option(help="Worker processes behind the one port (default 1; "
                                                      "more than one needs --redis-url).")] = None,
          redis_url: Annotated[str | None, typer.Option(help="Redis for state the workers share (rate limits, "
                                                        "quotas), e.g. redis://127.0.0.1:6379/0 "
                                                        "[env: HEARTH_REDIS_URL].")] = None,
          access_log: Annotated[bool, typer.Option(help="Log every request (off for load tests).")] = True) -> None:
    """Run the app: create and migrate the database if needed, then serve the web UI and the APIs."""
    from hearth.app.server import LaunchError, app_settings, check_workers, prepare_database
    try:
        settings = app_settings(host=host, port=port, database_url=database_url, data_dir=data_dir,
                                snapshot_dir=snapshot_dir, workers=workers, redis_url=redis_url)
        check_workers(settings)
        prepare_database(settings)
    except LaunchError as e:
        _fail(str(e))
    _serve(settings, access_log=access_log)


@app.command()
def demo(data_dir: DataDir = None, database_url: DatabaseUrl = None, host: Host = None, port: Port = None,
         snapshot_dir: SnapshotDir = None,
         synthetic: Annotated[bool, typer.Option("--synthetic", help="Seed a synthetic community even when "
                                                 "LastFM-2k is in the data directory.")] = False,
         no_train: Annotated[bool, typer.Option("--no-train", help="Serve with the heuristic ranker; "
                                                "train later with `hearth train --from-db`.")] = False,
         fresh: Annotated[bool, typer.Option("--fresh", help="Empty the database first (deletes its data!).")]
         = False,
         quick_train: Annotated[bool, typer.Option("--quick-train", help="Train in the background with the "
                                                   "quick budget (about a minute, barely personal) instead of "
                                                   "the full one.")] = False,
         top_artists: Annotated[int | None, typer.Option(help="LastFM-2k: how many of the most-listened artists "
                                                         "become accounts (default 500).")] = None,
         accounts: Annotated[int | None, typer.Option(help="Synthetic: accounts (default 1,000).")] = None,
         posts: Annotated[int | None, typer.Option(help="Synthetic: posts (default 20,000).")] = None,
         events: Annotated[int | None, typer.Option(help="Synthetic: follows + posts + likes (default 150,000).")]
         = None,
         seed: int = 0) -> None:
    """Seed a demo community (LastFM-2k if present, else synthetic), train the model on it, and serve."""
    from hearth.app.demo import DemoOptions, seed_demo, stop_training, train_demo
    from hearth.app.server import LaunchError, app_settings, check_port, prepare_database
    options = DemoOptions(synthetic=synthetic, train=not no_train, fresh=fresh, quick=quick_train, seed=seed)
    try:
        settings = app_settings(host=host, port=port, database_url=database_url, data_dir=data_dir,
                                snapshot_dir=snapshot_dir, demo_top_artists=top_artists, demo_accounts=accounts,
                                demo_posts=posts, demo_events=events)
        check_port(settings.host, settings.port)  # before minutes of seeding and training, not after
        prepare_database(settings)
        result = seed_demo(settings, options, console)
    except LaunchError as e:
        _fail(str(e))
    from hearth.studio.demo import seed_demo_ais
    made = seed_demo_ais(settings)
    if made:
        console.print("Creators' AIs to talk to (they answer with excerpts until a model is connected): "
                      + ", ".join(f"@{h}" for h in made))
    training = train_demo(settings, options, console, seeded_now=not result.skipped)
    try:
        _serve(settings, f"Log in as [bold]{result.demo_username}[/] with the password "
                         f"[bold]{result.demo_password}[/]")
    finally:
        stop_training(training)


llm_app = typer.Typer(help="Language model runtimes (Ollama, llama.cpp, vLLM, LM Studio, GGUF files).",
                      no_args_is_help=True)
app.add_typer(llm_app, name="llm")


@llm_app.command("check")
def llm_check(runtime: Annotated[str | None, typer.Option("--runtime", help="Check only this runtime "
                                                          "(default: all configured).")] = None) -> None:
    """Reach each configured runtime, stream a reply and do a tool-call round trip; say how to fix failures."""
    from pydantic import ValidationError

    from hearth.llm.check import run_check
    from hearth.settings import Settings
    try:
        settings = Settings()
    except ValidationError as e:
        _fail(str(e))
    raise typer.Exit(run_check(settings, runtime, console))


if __name__ == "__main__":
    app()


@app.command()
def chat(server: Annotated[str, typer.Option(help="The Hearth server's URL.", envvar="HEARTH_SERVER")]
         = "http://127.0.0.1:8000",
         username: Annotated[str | None, typer.Option("--username", "-u", help="Log in as this user (asks for the "
                                                      "password once; the token is kept for next time).")] = None,
         token: Annotated[str | None, typer.Option(help="An access token with read and write scopes.",
                                                   envvar="HEARTH_TOKEN")] = None,
         conversation: Annotated[str | None, typer.Option(help="Continue this conversation id.")] = None,
         message: Annotated[str | None, typer.Option("--message", "-m", help="Ask this first.")] = None) -> None:
    """Talk to Hearth AI, your assistant, in the terminal: streamed replies, and a prompt to approve,
    reject or edit every write it proposes."""
    import httpx

    from hearth.app.chat_client import ChatError, ChatSession, log_in, saved_token
    server = server.rstrip("/")
    try:
        def ask_password() -> str:
            return log_in(server, username, typer.prompt(f"password for {username}", hide_input=True))

        if token is None:
            if username is None:
                _fail("say who you are: --username NAME (or --token / $HEARTH_TOKEN)")
            token = saved_token(server, username) or ask_password()
            if not ChatSession.token_works(server, token):  # a kept token that was revoked or expired
                token = ask_password()
        session = ChatSession(server, token, console, lambda prompt: input(prompt))
        try:
            if conversation:
                session.command(f"/open {conversation}")
            session.repl(message)
        finally:
            session.close()
    except ChatError as e:
        _fail(str(e))
    except httpx.ConnectError:
        _fail(f"cannot reach Hearth at {server}; start it with `hearth serve` (or pass --server URL)")


@app.command("assistant-quota")
def assistant_quota(username: Annotated[str, typer.Argument(help="Whose limits to set.")],
                    tokens_per_day: Annotated[int | None, typer.Option(help="Tokens per UTC day (0: unlimited).")]
                    = None,
                    messages_per_window: Annotated[str | None, typer.Option(help="e.g. 100/hour.")] = None,
                    default: Annotated[bool, typer.Option("--default", help="Back to the instance defaults.")]
                    = False,
                    database_url: DatabaseUrl = None) -> None:
    """Admins: set one person's assistant limits (the instance defaults are HEARTH_ASSISTANT_* settings)."""
    import asyncio

    from limits import parse

    from hearth.services import accounts
    from hearth.services.assistant import usage
    from hearth.services.errors import NotFound
    from hearth.settings import Settings
    from hearth.storage.db import make_engine, make_sessionmaker, migrate

    if messages_per_window:
        try:
            parse(messages_per_window)
        except ValueError:
            _fail(f"--messages-per-window {messages_per_window!r} is not a rate like '100/hour'")
    if tokens_per_day is not None and tokens_per_day < 0:
        _fail("--tokens-per-day must be 0 (unlimited) or more")
    settings = Settings(**({"database_url": database_url} if database_url else {}))

    async def run() -> None:
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as db:
                account = await accounts.lookup(db, username, settings.instance_domain)
                prefs = await usage.set_override(db, account, tokens_per_day, messages_per_window, reset=default)
                console.print(f"@{account.username}: tokens per day "
                              f"{prefs.tokens_per_day if prefs.tokens_per_day is not None else 'default'}, "
                              f"messages {prefs.messages_per_window or 'default'}")
        finally:
            await engine.dispose()

    migrate(settings.database_url)
    try:
        asyncio.run(run())
    except NotFound as e:
        _fail(e.message)

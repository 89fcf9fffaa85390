"""The `hearth` command line: data, train, eval, bench."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

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
    console.print(f"[red]error:[/] {message}")
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
def train(dataset: Dataset, data_dir: DataDir = None,
          model: Annotated[str, typer.Option(help="hstu, sasrec, hstu-content or hstu-people.")] = "hstu",
          out: Annotated[Path | None, typer.Option(help="Snapshot root (default snapshots/<dataset>-<model>).")] = None,
          resume: Annotated[bool, typer.Option(help="Continue an interrupted run from its train_state.pt.")] = False,
          quick: bool = False, seed: int = 0,
          set_: Annotated[list[str] | None, typer.Option("--set", help="Override a setting, e.g. --set d=128.")] = None,
          ) -> None:
    """Train one sequence model (early stopping on validation) and save a versioned snapshot."""
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


if __name__ == "__main__":
    app()

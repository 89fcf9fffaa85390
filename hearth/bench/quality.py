"""`hearth bench quality`: every model on one dataset, one split, one protocol, one table.

Settings and epochs are chosen on the validation stage; the test stage is evaluated
exactly once per model, after training has finished.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from hearth.baselines import BASELINES
from hearth.baselines.blend import BlendScorer
from hearth.bench.machine import machine_info
from hearth.bench.presets import DEFAULT_MODELS, VARIANTS, preset
from hearth.data import DATASETS, default_protocols, load_dataset
from hearth.eval.evaluate import evaluate
from hearth.eval.split import Split, make_split
from hearth.model.fit import fit

KS = (10, 20, 50, 200)
TABLE_METRICS = {"items": ["hr@10", "ndcg@10", "recall@10", "recall@20", "ndcg@20", "mrr"],
                 "people": ["hits@10", "hits@50", "ndcg@10", "mrr"]}


def dataset_key(name_or_path: str) -> str:
    return name_or_path if name_or_path in DATASETS else "file"


def flatten(per_task: dict[str, dict[str, float]], tasks: list[str]) -> dict[str, float]:
    """One flat metric dict; with two tasks the people task's keys get a `people/` prefix."""
    out: dict[str, float] = {}
    for task, metrics in per_task.items():
        prefix = "people/" if (task == "people" and len(tasks) > 1) else ""
        out.update({prefix + k: v for k, v in metrics.items()})
    return out


def run_model(name: str, split: Split, tasks: list[str], dataset: str, quick: bool, seed: int,
              console: Console, fitted_models: dict[str, Any] | None = None,
              max_minutes: float | None = None) -> dict[str, Any]:
    fitted_models = {} if fitted_models is None else fitted_models
    if name.endswith("+aa"):
        base = name.removesuffix("+aa")
        if "people" not in tasks:
            raise ValueError(f"{name} blends the people task; this dataset has none")
        if base not in fitted_models:
            raise ValueError(f"{name} needs {base} trained in the same run: list {base} before it")
        graph = BASELINES["aa"]()
        graph.fit(split)
        blend = BlendScorer(fitted_models[base], graph)
        t0 = time.monotonic()
        choice = blend.choose_weight(split)
        seconds = time.monotonic() - t0
        model, model_tasks = blend, ["people"]
        settings = {"base": base, "graph": "aa", **choice}
        valid = {"people": evaluate(model, split, "people", "valid", KS)}
        extra = {}
    elif name in BASELINES:
        model = BASELINES[name]()
        model_tasks = [t for t in tasks if t in model.tasks]
        if not model_tasks:
            raise ValueError(f"{name} does not handle this dataset's tasks ({', '.join(tasks)})")
        t0 = time.monotonic()
        model.fit(split)
        seconds = time.monotonic() - t0
        settings = {k: v for k, v in vars(model).items() if isinstance(v, int | float | str)}
        valid = {t: evaluate(model, split, t, "valid", KS) for t in model_tasks}
        extra: dict[str, Any] = {}
    elif name in VARIANTS:
        p = preset(dataset, quick)
        variant = dict(VARIANTS[name])
        settings = {"model": {**p["model"], **{k: v for k, v in variant.items() if k not in ("input_kinds", "tasks")}},
                    "train": {**p["train"], "seed": seed,
                              **{k: v for k, v in variant.items() if k in ("input_kinds", "tasks")}}}
        if max_minutes is not None:
            settings["train"]["max_minutes"] = max_minutes
        settings["train"].setdefault("tasks", tasks)
        settings["train"]["tasks"] = [t for t in settings["train"]["tasks"] if t in tasks]
        if not settings["train"]["tasks"]:
            raise ValueError(f"{name} does not handle this dataset's tasks ({', '.join(tasks)})")
        fitted = fit(split, settings)
        model = fitted.scorer
        fitted_models[name] = model
        model_tasks = fitted.train_cfg.tasks
        seconds = fitted.result.train_seconds
        valid = {t: evaluate(model, split, t, "valid", KS) for t in model_tasks}  # at the chosen epoch
        extra = {"events_per_second": round(fitted.result.events_per_second, 1),
                 "epochs": fitted.result.epochs_run, "best_epoch": fitted.result.best_epoch,
                 "history": fitted.result.history}
        settings = {"model": fitted.model_cfg.to_dict(), "train": vars(fitted.train_cfg)}
    else:
        raise ValueError(f"unknown model {name!r}; known: {', '.join([*BASELINES, *VARIANTS, 'hstu+aa'])}")
    test = {t: evaluate(model, split, t, "test", KS) for t in model_tasks}  # read once, at the end
    console.print(f"[bold]{name}[/] done in {seconds:.1f}s")
    return {"valid": flatten(valid, tasks), "test": flatten(test, tasks), "train_seconds": round(seconds, 2),
            "settings": settings, **extra}


def run_quality(dataset: str, data_dir: Path | None = None, models: list[str] | None = None,
                quick: bool = False, seed: int = 0, out: Path | None = None,
                console: Console | None = None, max_minutes: float | None = None) -> dict[str, Any]:
    console = console or Console()
    key = dataset_key(dataset)
    log = load_dataset(dataset, data_dir)
    protocols = default_protocols(dataset)
    split = make_split(log, protocols, seed)
    tasks = [t for t in ("items", "people") if t in protocols]
    models = models or DEFAULT_MODELS[key]
    console.print(f"{log.name}: {log.stats()} from {', '.join(log.sources)}; protocols {protocols}")
    result: dict[str, Any] = {"dataset": log.name, "sources": log.sources, "protocol": protocols, "seed": seed,
                              "quick": quick, "machine": machine_info(), "split": split.summary(), "models": {}}
    previous = _previous(out, result)
    fitted_models: dict[str, Any] = {}
    for name in models:
        result["models"][name] = run_model(name, split, tasks, key, quick, seed, console, fitted_models,
                                           max_minutes)
        result["models"][name]["machine"] = result["machine"]
    result["models"] = {**previous, **result["models"]}
    print_table(result, tasks, console)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1, default=_json_default))
        tmp.replace(out)
        console.print(f"wrote {out}")
    return result


def _previous(out: Path | None, result: dict[str, Any]) -> dict[str, Any]:
    """Models already in `out` from a run on the same data, split and protocol: a run of
    some models adds to the file instead of wiping the others' results."""
    if out is None or not out.exists():
        return {}
    try:
        old = json.loads(out.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    same = all(old.get(k) == result[k] for k in SAME_RUN_KEYS)
    return old.get("models", {}) if same else {}


SAME_RUN_KEYS = ("dataset", "sources", "protocol", "seed", "quick")


def merge_results(paths: list[Path], out: Path) -> dict[str, Any]:
    """Combine result files of models run in separate processes (same data, split and
    protocol, else an error): later files win for a model named twice."""
    merged: dict[str, Any] | None = None
    for path in paths:
        result = json.loads(path.read_text())
        if merged is None:
            merged = result
            continue
        differ = [k for k in SAME_RUN_KEYS if result.get(k) != merged.get(k)]
        if differ:
            raise ValueError(f"{path} is not from the same data/split/protocol ({', '.join(differ)} differ)")
        merged["models"].update(result["models"])
    if merged is None:
        raise ValueError("nothing to merge")
    out.write_text(json.dumps(merged, indent=1))
    return merged


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def print_table(result: dict[str, Any], tasks: list[str], console: Console) -> None:
    for task in tasks:
        prefix = "people/" if (task == "people" and len(tasks) > 1) else ""
        cols = TABLE_METRICS[task]
        table = Table(title=f"{result['dataset']} — {task} ({result['protocol'][task]}), test stage")
        table.add_column("model")
        for c in cols:
            table.add_column(c, justify="right")
        table.add_column("train s", justify="right")
        table.add_column("events/s", justify="right")
        for name, r in result["models"].items():
            if prefix + cols[0] not in r["test"]:
                continue
            table.add_row(name, *[f"{r['test'].get(prefix + c, float('nan')):.4f}" for c in cols],
                          f"{r['train_seconds']:.0f}", f"{r.get('events_per_second', 0):.0f}" if
                          "events_per_second" in r else "")
        console.print(table)

"""The training curve of a run (loss and validation metric per epoch) as a PNG beside its snapshot.

A picture shows at a glance what the numbers in config.json hide: whether the loss still fell
when early stopping fired, or the validation metric peaked early and the rest was overfitting.
Drawn on a bare `Figure` (Agg canvas, no pyplot): no display, no global figure state.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

log = logging.getLogger(__name__)


def plot_history(history: list[dict], path: Path, title: str = "", metric: str = "ndcg@10",
                 best_epoch: int | None = None) -> Path:
    """Draw `TrainResult.history` (records of epoch, loss and, on evaluated epochs, valid[task][metric])."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # here: training never waits on matplotlib's import
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(7, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_valid = fig.subplots(2, 1, sharex=True)
    epochs = [r["epoch"] for r in history]
    ax_loss.plot(epochs, [r["loss"] for r in history], marker="o", markersize=3)
    ax_loss.set_ylabel("training loss")
    tasks = sorted({t for r in history for t in r.get("valid", {})})
    for task in tasks:
        points = [(r["epoch"], r["valid"][task][metric]) for r in history
                  if task in r.get("valid", {}) and metric in r["valid"][task]]
        points = [(e, v) for e, v in points if v is not None and not math.isnan(v)]
        if points:
            ax_valid.plot(*zip(*points, strict=True), marker="o", markersize=3, label=task)
    ax_valid.set_ylabel(f"validation {metric}")
    ax_valid.set_xlabel("epoch")
    ax_valid.xaxis.set_major_locator(MaxNLocator(integer=True))
    if best_epoch is not None and best_epoch >= 0:
        for ax in (ax_loss, ax_valid):
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"best (epoch {best_epoch})")
    if ax_valid.lines:
        ax_valid.legend(loc="best")
    for ax in (ax_loss, ax_valid):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def try_plot_history(history: list[dict], path: Path, **kwargs) -> Path | None:
    """`plot_history` that only warns on failure: a missing picture must never cost a trained model."""
    try:
        return plot_history(history, path, **kwargs)
    except Exception as e:  # any plotting error (even a missing matplotlib): the snapshot is what matters
        log.warning("could not draw the training curve %s: %s", path, e)
        return None

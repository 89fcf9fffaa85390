"""Training curves: every snapshot gets a curve.png, and a broken history never breaks the snapshot."""

from __future__ import annotations

import logging

import matplotlib.image
import numpy as np

from hearth.eval.split import make_split
from hearth.model.curves import plot_history
from hearth.model.fit import fit, write_snapshot
from hearth.model.snapshot import load_snapshot
from tests.synthetic import planted_log

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = {"d": 16, "n_layers": 1, "max_len": 16, "dropout": 0.0, "lr": 5e-3, "batch_size": 16, "epochs": 3,
        "patience": 3, "max_steps_per_epoch": 3, "progress": False, "bf16": False}
HISTORY = [{"epoch": e, "loss": 3.0 / (e + 1), "train_seconds": e + 1.0,
            "valid": {"items": {"ndcg@10": 0.1 * e, "hr@10": 0.2 * e},
                      "people": {"ndcg@10": 0.05 * e if e else float("nan")}}} for e in range(6)]
HISTORY[2].pop("valid")  # an epoch without evaluation (eval_every > 1)


def test_training_writes_a_curve_beside_the_snapshot(tmp_path):
    split = make_split(planted_log(n_users=40, seq_len=12), {"items": "sequential-loo"}, seed=0)
    fitted = fit(split, TINY)
    path = write_snapshot(fitted, split, tmp_path / "snaps", {"model_name": "hstu"})
    curve = path / "curve.png"
    assert curve.exists()
    data = curve.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    load_snapshot(path)  # the extra file does not disturb loading


def test_plot_history_draws_loss_and_metric(tmp_path):
    path = plot_history(HISTORY, tmp_path / "sub" / "curve.png", title="test / hstu", best_epoch=5)
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (500, 700)  # 7 x 5 inches at 100 dpi
    assert np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 20  # lines and text, not a blank


def test_a_failed_plot_warns_and_keeps_the_snapshot(tmp_path, caplog):
    split = make_split(planted_log(n_users=40, seq_len=12), {"items": "sequential-loo"}, seed=0)
    fitted = fit(split, {**TINY, "epochs": 1})
    fitted.result.history = [{"epoch": 0}]  # no loss: plotting raises
    with caplog.at_level(logging.WARNING, logger="hearth.model.curves"):
        path = write_snapshot(fitted, split, tmp_path / "snaps", {})
    assert (path / "config.json").exists() and not (path / "curve.png").exists()
    assert "could not draw the training curve" in caplog.text

"""The command line reviewers use: bench quality writes the documented JSON, train and
eval round-trip through a snapshot, and bad input exits with a clear message."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from hearth.cli import app

runner = CliRunner()


def write_interactions(path, n_users=40, n_items=12, seq=10, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["user,item,timestamp"]
    for u in range(n_users):
        start = int(rng.integers(0, n_items))
        lines += [f"u{u},i{(start + j) % n_items},{1000 + 10 * j}" for j in range(seq)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bench_quality_writes_documented_json(data_dir, tmp_path):
    out = tmp_path / "q.json"
    res = runner.invoke(app, ["bench", "quality", "--dataset", "ego-facebook", "--data-dir", str(data_dir),
                              "--models", "pop,aa,hstu", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert result["dataset"] == "ego-facebook"
    assert result["protocol"] == {"people": "people-holdout"}
    assert {"cpu", "cores", "torch"} <= set(result["machine"])
    assert set(result["models"]) == {"pop", "aa", "hstu"}
    for name, r in result["models"].items():
        assert {"valid", "test", "train_seconds", "settings"} <= set(r), name
        assert {"hits@10", "ndcg@10", "mrr"} <= set(r["test"]), name
        assert 0.0 <= r["test"]["hits@10"] <= 1.0
    assert result["models"]["aa"]["test"]["hits@10"] > result["models"]["pop"]["test"]["hits@10"]
    assert result["models"]["hstu"]["events_per_second"] > 0
    assert "ego-facebook" in res.output and "hits@10" in res.output  # the printed table
    # A second run of one model keeps the others' results in the file.
    res = runner.invoke(app, ["bench", "quality", "--dataset", "ego-facebook", "--data-dir", str(data_dir),
                              "--models", "cn", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert set(json.loads(out.read_text())["models"]) == {"pop", "aa", "hstu", "cn"}


def test_train_then_eval_a_generic_file(tmp_path):
    data = write_interactions(tmp_path / "clicks.csv")
    snaps = tmp_path / "snaps"
    res = runner.invoke(app, ["train", "--dataset", str(data), "--model", "sasrec", "--quick", "--out", str(snaps),
                              "--set", "epochs=3", "--set", "batch_size=8"])
    assert res.exit_code == 0, res.output
    assert (snaps / "v0001" / "weights.safetensors").exists()
    res = runner.invoke(app, ["eval", "--snapshot", str(snaps), "--stage", "test"])
    assert res.exit_code == 0, res.output
    assert "items (sequential-loo), test:" in res.output and "ndcg@10" in res.output


def test_distill_a_student_from_a_teacher_snapshot(tmp_path):
    data = write_interactions(tmp_path / "clicks.csv")
    teacher = tmp_path / "teacher"
    res = runner.invoke(app, ["train", "--dataset", str(data), "--quick", "--out", str(teacher),
                              "--set", "epochs=2", "--set", "batch_size=8"])
    assert res.exit_code == 0, res.output
    student = tmp_path / "student"
    res = runner.invoke(app, ["distill", "--teacher", str(teacher), "--student-d", "8", "--mix", "0.7",
                              "--out", str(student), "--set", "epochs=2"])
    assert res.exit_code == 0, res.output
    config = json.loads((student / "v0001" / "config.json").read_text())
    assert config["model"]["d"] == 8 and config["model"]["n_layers"] == 1
    assert config["info"]["teacher"] == str(teacher / "v0001") and config["info"]["distill"]["mix"] == 0.7
    res = runner.invoke(app, ["eval", "--snapshot", str(student), "--stage", "test"])  # an ordinary snapshot
    assert res.exit_code == 0, res.output
    other = write_interactions(tmp_path / "other.csv", n_items=20)
    res = runner.invoke(app, ["distill", "--teacher", str(teacher), "--dataset", str(other),
                              "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "another catalogue" in res.output
    res = runner.invoke(app, ["distill", "--teacher", str(tmp_path / "none")])
    assert res.exit_code == 2 and "hearth train" in res.output


def test_bad_input_gives_clear_errors(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t2\t100\n1\t3\tnot-a-time\n")
    res = runner.invoke(app, ["bench", "quality", "--dataset", str(bad), "--models", "pop"])
    assert res.exit_code == 2
    assert "bad.tsv" in res.output and "line 2" in res.output
    res = runner.invoke(app, ["bench", "quality", "--dataset", "ml-1m", "--data-dir", str(tmp_path),
                              "--models", "pop"])
    assert res.exit_code == 2 and "ml-1m" in res.output and str(tmp_path) in res.output
    ok = write_interactions(tmp_path / "ok.csv")
    res = runner.invoke(app, ["train", "--dataset", str(ok), "--set", "nonsense=1"])
    assert res.exit_code == 2 and "nonsense" in res.output
    res = runner.invoke(app, ["eval", "--snapshot", str(tmp_path / "none")])
    assert res.exit_code == 2 and "hearth train" in res.output
    res = runner.invoke(app, ["bench", "quality", "--dataset", "ego-facebook", "--models", "ease",
                              "--data-dir", str(tmp_path)])
    assert res.exit_code == 2


def test_bench_merge_checks_it_is_the_same_run(tmp_path):
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    base = {"dataset": "x", "sources": ["f"], "protocol": {"items": "sequential-loo"}, "seed": 0, "quick": False}
    a.write_text(json.dumps({**base, "models": {"pop": {"test": {}}}}))
    b.write_text(json.dumps({**base, "models": {"hstu": {"test": {}}}}))
    c.write_text(json.dumps({**base, "seed": 1, "models": {"sasrec": {"test": {}}}}))
    out = tmp_path / "m.json"
    res = runner.invoke(app, ["bench", "merge", str(a), str(b), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert set(json.loads(out.read_text())["models"]) == {"pop", "hstu"}
    res = runner.invoke(app, ["bench", "merge", str(a), str(c), "--out", str(out)])
    assert res.exit_code == 2 and "seed" in res.output

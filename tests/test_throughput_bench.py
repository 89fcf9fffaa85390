"""benchmarks/throughput.py's FLOP accounting: the counted FLOPs are right, the peak is measured,
and a quick run writes GFLOP/s and % of peak for every configuration."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("throughput_bench", REPO / "benchmarks" / "throughput.py")
throughput = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(throughput)


def test_flops_of_a_matmul_are_2mnk():
    m, k, n = 24, 40, 16
    a, b = torch.randn(m, k), torch.randn(k, n)
    assert throughput.count_flops(lambda: torch.matmul(a, b)) == 2 * m * n * k


def test_forward_backward_of_a_linear_layer_is_three_matmuls():
    m, k, n = 8, 32, 12
    layer = torch.nn.Linear(k, n, bias=False)
    x = torch.randn(m, k, requires_grad=True)
    assert throughput.count_flops(lambda: layer(x).sum().backward()) == 3 * 2 * m * n * k  # y, dL/dx, dL/dW


def test_matmul_peak_is_positive():
    assert throughput.matmul_peak_gflops(torch.float32, 1, 128, 0.01) > 0


@pytest.mark.slow
def test_quick_run_reports_gflops_and_share_of_peak(data_dir, tmp_path):
    out = tmp_path / "throughput.json"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--quick", "--threads", "1",
                    "--data-dir", str(data_dir), "--out", str(out)], check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    peak = result["matmul_peak_gflops"]
    assert peak["float32"] > 0 and peak["bfloat16"] > 0
    assert len(result["rows"]) == 4
    for row in result["rows"]:
        assert row["ms_per_step"] > 0 and row["events_per_second"] > 0  # the existing fields stay
        assert row["gflop_per_step"] > 0 and row["gflops"] > 0
        assert 0 < row["pct_of_peak"] < 100

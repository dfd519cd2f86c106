"""The benchmark stays runnable and its naive baseline keeps agreeing with the engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_slots_benchmark_runs_quick_and_matches_its_naive_baseline() -> None:
    result = subprocess.run(
        [sys.executable, "bench/slots.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "same slots: matched" in result.stdout and "speed-up" in result.stdout

"""bench/gpu.sh, the one command for the README's GPU figures, in its CPU smoke mode (tiny
sizes): every bench it calls runs and the one table has each figure, so the script cannot rot
while no GPU is at hand."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT


def test_the_smoke_mode_prints_one_table_with_every_figure():
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh"), "--smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("device: CPU")
    assert lines[1] == "| figure | value | against |"
    rows = [line for line in lines[3:] if line.startswith("| ")]
    assert len(rows) == len(lines) - 3
    speed = rows[0]
    assert "the DCGAN example's loop" in speed and "model-only ceiling" in speed
    assert re.search(r"\| \d+ img/s \|", speed)
    steps = [int(m.group(1)) for row in rows if (m := re.search(r"face rate at step (\d+)", row))]
    assert steps == [0, 2, 4]
    assert re.match(r"\| evaluate at 16 samples .*\| [\d.]+ s .* at 8 samples; "
                    r"face rate [\d.]+ \|$", rows[-1])

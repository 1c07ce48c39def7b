"""How long the evaluate stage takes at --samples generated images, on the demo's generator.

Runs dvc.yaml's own commands, ingest to train, on the demo class in a copy of the project's
inputs (data/submissions, schemas, params.yaml with the settings given here), then its evaluate
command with `evaluate.samples` = --samples, and times that command as a whole (start-up,
Inception when its weights are there, MTCNN on every upscaled sample, memorization). Prints the
stage's own timing of each measure (its details' timing_s) next to the command's wall time. The
baseline in the same run is the evaluate command at --baseline samples (default: the demo's).

    python bench/evaluate_speed.py --samples 10000                  # the README's figure
    python bench/evaluate_speed.py --samples 16 --baseline 8 --steps 4 --device cpu  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["ingest", "validate", "crop", "augment", "shard", "train"]
INPUTS = ["data/submissions", "schemas", "dvc.yaml"]


def run_stage(work: Path, cmd: str) -> float:
    """One dvc.yaml command, run as `python -m pipeline.cli` of this checkout; its seconds."""
    words = shlex.split(cmd)
    assert words[0] == "facedata", cmd
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", *words[1:]], cwd=work, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{cmd}\nfailed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--baseline", type=int, help="samples of the baseline run (default: "
                    "params.yaml's evaluate.samples)")
    ap.add_argument("--steps", type=int, help="train.steps (default: params.yaml's)")
    ap.add_argument("--device", default="auto", help="for validate, train and evaluate")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["validate"]["detect"]["device"] = args.device
    params["train"]["device"] = params["evaluate"]["device"] = args.device
    if args.steps is not None:
        params["train"]["steps"] = args.steps
    baseline = args.baseline or params["evaluate"]["samples"]
    with tempfile.TemporaryDirectory(prefix="facedata-evaluate-bench-") as tmp:
        work = Path(tmp)
        for name in INPUTS:
            source = ROOT / name
            (shutil.copytree if source.is_dir() else shutil.copy)(source, work / name)
        rows = []
        for samples in (baseline, args.samples):
            params["evaluate"]["samples"] = samples
            (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
            if not rows:
                for stage in STAGES:
                    run_stage(work, stages[stage]["cmd"])
            seconds = run_stage(work, stages["evaluate"]["cmd"])
            details = json.loads((work / "metrics" / "details" / "evaluate.json").read_text())
            rows.append({"samples": samples, "seconds": seconds, **details["values"]["timing_s"],
                         "face_rate": details["values"]["detection"]["rate"],
                         "device": details["values"]["device"]})

    print(f"evaluate on the demo's generator (train.steps {params['train']['steps']}), "
          f"device {rows[-1]['device']}; inception: "
          f"{'ran' if rows[-1]['inception'] > 0.5 else 'unavailable (no weights here)'}")
    print("| samples | command s | generate s | inception s | detection s | memorization s | "
          "face rate | vs baseline |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['samples']} | {r['seconds']:.1f} | {r['generate']:.1f} | "
              f"{r['inception']:.1f} | {r['detection']:.1f} | {r['memorization']:.1f} | "
              f"{r['face_rate']:.3f} | {r['seconds'] / rows[0]['seconds']:.1f}x |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Every GPU figure the README reports, in one run of under 8 minutes on one GPU, as one table:
#   1. training speed (bench/train_speed.py): our loop against the PyTorch DCGAN example's loop
#      and against the model-only ceiling (our step on one premade batch), DCGAN-64, batch 512;
#   2. a 64 px training run (bench/train_faces.py) with its face detection rate over steps;
#   3. `evaluate` at 10 000 samples (bench/evaluate_speed.py), with its timing, against the
#      demo's sample count.
#
#     bench/gpu.sh            # on the GPU machine, from the repository root
#     bench/gpu.sh --smoke    # tiny sizes on the CPU (tests/test_bench_gpu.py runs this)
#
# Wheels a GPU machine may lack (install them from requirements.lock before running):
#   torch and torchvision built for CUDA (the lock pins the PyPI wheels, which bring their
#   nvidia-* CUDA libraries), facenet-pytorch (MTCNN), dlib-bin and face-recognition-models
#   (landmarks, for validate), opencv-python-headless, dvc. Inception weights for FID are not
#   downloaded: without them evaluate reports the detection rate and memorization only, and
#   the table says so.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python}
out=$(mktemp -d "${TMPDIR:-/tmp}/facedata-gpu-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT

if [ "${1:-}" = "--smoke" ]; then
  speed=(--resolution 32 --batch 8 --width 8 --latent 16 --steps 2 --warmup 1 --images 16
         --crop 48 --workers 0 --device cpu)
  faces=(--resolution 32 --width 8 --latent 16 --batch 8 --steps 4 --every 2 --copies 1
         --samples 4 --device cpu)
  evaluate=(--samples 16 --baseline 8 --steps 4 --device cpu)
else
  speed=()
  faces=(--steps 3000 --every 500)
  evaluate=(--samples 10000)
fi

"$PY" bench/train_speed.py "${speed[@]}" --json "$out/speed.json" > "$out/speed.txt"
"$PY" bench/train_faces.py "${faces[@]}" --out "$out/faces.png" --json "$out/faces.json" \
  > "$out/faces.txt"
"$PY" bench/evaluate_speed.py "${evaluate[@]}" --json "$out/evaluate.json" > "$out/evaluate.txt"

"$PY" - "$out" <<'PYTHON'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
speed = json.loads((out / "speed.json").read_text())
faces = json.loads((out / "faces.json").read_text())
evaluate = json.loads((out / "evaluate.json").read_text())
print(f"device: {speed['device']}; torch {speed['torch']}; precision {speed['precision']}")
print("| figure | value | against |")
print("|---|---:|---|")
print(f"| train speed, ours ({speed['setting']}) | {speed['ours']:.0f} img/s | "
      f"{speed['ours'] / speed['reference']:.1f}x the DCGAN example's loop "
      f"({speed['reference']:.0f} img/s), {speed['ours'] / speed['ceiling']:.0%} of the "
      f"model-only ceiling ({speed['ceiling']:.0f} img/s) |")
for row in faces["rows"]:
    print(f"| {faces['resolution']} px run, batch {faces['batch']}: face rate at step "
          f"{row['step']} ({row['seconds']:.0f} s) | {row['rate']:.3f} | real crops "
          f"{faces['real_rate']:.3f} |")
base, big = evaluate[0], evaluate[-1]
inception = "ran" if big["inception"] > 0.5 else "no Inception weights: FID not measured"
print(f"| evaluate at {big['samples']} samples ({inception}) | {big['seconds']:.1f} s "
      f"(generate {big['generate']:.1f}, detection {big['detection']:.1f}, memorization "
      f"{big['memorization']:.1f}) | {base['seconds']:.1f} s at {base['samples']} samples; "
      f"face rate {big['face_rate']:.3f} |")
PYTHON

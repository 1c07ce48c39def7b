"""The train stage on tiny shards of real faces: every model trains, resumes, runs under torchrun.

Shards are written here in the layout of docs/ARCHITECTURE.md (`<key>.png` + `<key>.json` in
tar files, index.json, encoding.json) from the portraits in tests/data/faces, with the real
attribute encoding of pipeline/formats/encoding.py.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from pipeline.config import ParamsError, TrainParams
from pipeline.formats.encoding import ONE_HOT, SCALAR, make_encoding
from pipeline.gan import TrainError
from pipeline.gan.checkpoint import load_generator
from pipeline.gan.data import load_train_set
from pipeline.gan.loop import STATS, Speed, Trainer
from pipeline.gan.networks import CONDITIONAL, MODELS, ModelSpec
from pipeline.train import run_train

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"
PEOPLE = {  # photo -> (gender, age)
    "astronaut_collins": ("female", "40"),
    "biden_official_2013": ("male", "70"),
    "kate_siegel": ("female", "35"),
    "paul_rudd": ("male", "45"),
    "angelina_jolie": ("female", "38"),
}
ENCODING = make_encoding([("gender", ONE_HOT, ("female", "male")), ("age", SCALAR, (1, 100)),
                          ("identification_mark", "text", ())])
CROP = 64  # stored crop side; training runs at 16


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors on a shared 2-core machine: OpenMP threads spinning against other processes
    cost more than they give (measured: 8 ms/step on one thread, 100+ on two under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(**changes) -> TrainParams:
    base = TrainParams(resolution=16, latent_dim=8, g_width=4, d_width=4, steps=6, batch_size=4,
                       log_every=2, checkpoint_every=3)
    return dataclasses.replace(base, **changes)


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def crops() -> list[tuple[str, Image.Image, dict[str, str]]]:
    """(student, crop, attributes): each portrait and its mirror image, CROP x CROP."""
    out = []
    for name, (gender, age) in PEOPLE.items():
        with Image.open(FACES / f"{name}.jpg") as im:
            im.draft("RGB", (CROP * 2, CROP * 2))
            face = ImageOps.fit(im.convert("RGB"), (CROP, CROP), Image.Resampling.LANCZOS)
        attrs = {"gender": gender, "age": age, "identification_mark": "none"}
        out += [(name, face, attrs), (name, ImageOps.mirror(face), attrs)]
    return out


def write_shards(root: Path, crops, per_shard: int = 4, conditions: bool = True) -> Path:
    """Train shards of `crops` in the ARCHITECTURE.md layout (val left empty)."""
    root.mkdir(parents=True)
    names = []
    for first in range(0, len(crops), per_shard):
        name = f"train-{len(names):06d}.tar"
        with tarfile.open(root / name, "w") as tar:
            for number, (student, image, attrs) in enumerate(crops[first:first + per_shard],
                                                             start=first):
                key = f"{number:06d}_{student}_{number % 2}_0"
                meta = {"student": student, "file": f"{number % 2}.jpg", "copy": 0,
                        "attributes": attrs}
                if conditions:
                    meta["condition"] = ENCODING.encode(attrs)
                for member, data in ((f"{key}.png", png(image)),
                                     (f"{key}.json", json.dumps(meta).encode())):
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        names.append(name)
    index = {"splits": {"train": {"samples": len(crops), "shards": names},
                        "val": {"samples": 0, "shards": []}}}
    (root / "index.json").write_text(json.dumps(index))
    if conditions:
        (root / "encoding.json").write_text(json.dumps(ENCODING.to_json()))
    return root


@pytest.fixture(scope="module")
def shards(tmp_path_factory, crops) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards") / "shards", crops)


def train(shards: Path, out: Path, params: TrainParams, resume: bool = False,
          log: list[str] | None = None) -> dict:
    return run_train(shards, out / "models" / "generator.pt", out / "models" / "checkpoint.pt",
                     out / "metrics" / "train.json", out / "metrics" / "details.json",
                     out / "plots", params, resume=resume,
                     log=(log.append if log is not None else lambda _: None))


def series(out: Path, name: str) -> list[tuple[int, float]]:
    with (out / "plots" / "plots" / "metrics" / f"{name}.tsv").open(encoding="utf-8") as fh:
        return [(int(r["step"]), float(r[name.split("/")[-1]]))
                for r in csv.DictReader(fh, delimiter="\t")]


# ---------------------------------------------------------------- data


def test_train_set_is_one_uint8_tensor_at_the_training_resolution(shards, crops):
    data = load_train_set(shards, 16)
    assert data.images.dtype == torch.uint8 and data.images.shape == (len(crops), 3, 16, 16)
    for i in (0, 5, len(crops) - 1):  # stored order, reduced with the Lanczos filter
        expected = np.asarray(crops[i][1].resize((16, 16), Image.Resampling.LANCZOS))
        assert np.array_equal(data.images[i].permute(1, 2, 0).numpy(), expected)
    assert data.conditions.shape == (len(crops), ENCODING.width)
    assert data.conditions[2].tolist() == pytest.approx(ENCODING.encode(crops[2][2]))
    assert data.encoding == ENCODING.to_json()
    assert data.students == len(PEOPLE) and data.stored_size == CROP
    assert load_train_set(shards, 32).fingerprint != data.fingerprint


# ---------------------------------------------------------------- training


@pytest.mark.parametrize("model", MODELS)
def test_each_model_trains_a_few_steps_and_writes_its_outputs(shards, crops, tmp_path, model):
    metrics = train(shards, tmp_path, tiny(model=model))
    for name in ("g_loss", "d_loss", "real_score", "fake_score"):
        assert math.isfinite(metrics[name])
    assert 0 < metrics["real_score"] < 1 and 0 < metrics["fake_score"] < 1
    assert metrics["steps"] == 6 and metrics["epochs"] == 6 / (10 // 4)
    details = json.loads((tmp_path / "metrics" / "details.json").read_text())
    assert details["values"] == metrics and "D(G(z))" in details["notes"]["fake_score"]
    assert "PIL Lanczos" in details["conventions"]["resize"]
    # what DVC compares: the headline losses, rounded, nothing else
    headline = json.loads((tmp_path / "metrics" / "train.json").read_text())
    assert headline == {k: pytest.approx(metrics[k], rel=1e-3) for k in ("g_loss", "d_loss")}

    # dvclive series: window means every log_every steps, epoch means at each epoch's end
    assert [s for s, _ in series(tmp_path, "g_loss")] == [2, 4, 6]
    assert [s for s, _ in series(tmp_path, "epoch/fake_score")] == [2, 4, 6]
    images = tmp_path / "plots" / "plots" / "images"
    for name in ("samples.png", "loss_curves.png"):
        with Image.open(images / name) as im:
            assert im.width > 16 * 8 and im.height > 16
    with Image.open(images / "samples.png") as im:
        assert im.size == (8 * 18 + 2, 8 * 18 + 2)  # 8 x 8 tiles of 16 px, 2 px gaps

    generator, meta = load_generator(tmp_path / "models" / "generator.pt")
    assert (meta["model"], meta["resolution"], meta["latent_dim"]) == (model, 16, 8)
    assert meta["ema"] is True and meta["steps"] == 6
    z = torch.randn(5, 8)
    condition = torch.tensor([ENCODING.encode(attrs) for _, _, attrs in crops[:5]])
    with torch.no_grad():
        out = generator(z, condition if model == "cdcgan" else None)
    assert out.shape == (5, 3, 16, 16) and out.min() >= -1 and out.max() <= 1
    if model == "cdcgan":
        assert meta["encoding"] == ENCODING.to_json() and meta["condition_dim"] == ENCODING.width
        flipped = condition.clone()
        flipped[:, :2] = flipped[:, [1, 0]]  # female <-> male, nothing else
        with torch.no_grad():
            assert not torch.allclose(generator(z, flipped), out)
    else:
        assert meta["encoding"] is None and meta["condition_dim"] == 0


def first_steps(shards: Path, params: TrainParams, speed: Speed, steps: int = 3):
    data = load_train_set(shards, params.resolution)
    spec = ModelSpec(params.model, params.resolution, params.latent_dim, params.g_width,
                     params.d_width,
                     data.conditions.shape[1] if params.model in CONDITIONAL else 0)
    trainer = Trainer(spec, params, data, torch.device("cpu"), speed=speed)
    for _ in range(steps):
        trainer.train_step()
    return trainer, [values for _, values in trainer.flush()]


@pytest.mark.parametrize("model", ["dcgan", "cdcgan"])
def test_the_gpu_step_settings_run_on_the_cpu(shards, model):
    """bf16 autocast, channels-last and fused Adam, which a GPU run uses, exercised here; the
    first step's losses match float32's to bf16's precision."""
    params = tiny(model=model, steps=4, log_every=4)
    gpu = Speed(torch.bfloat16, channels_last=True, fused_adam=True)
    fast, fast_rows = first_steps(shards, params, gpu)
    _, exact_rows = first_steps(shards, params, Speed.for_device(torch.device("cpu")))
    assert fast.speed.precision == "bf16"
    assert fast.opt_g.param_groups[0]["fused"] and fast.opt_d.param_groups[0]["fused"]
    weights = [p for net in (fast.g, fast.d) for p in net.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    assert all(math.isfinite(v) for row in fast_rows for v in row)
    assert fast_rows[0] == pytest.approx(exact_rows[0], abs=0.02)
    assert fast_rows[0] != exact_rows[0]  # it did run in bf16

    samples = fast.sample(torch.randn(5, params.latent_dim),
                          fast.conditions[:5] if fast.conditions is not None else None)
    assert samples.dtype == torch.uint8 and samples.shape == (5, 3, 16, 16)
    data = load_train_set(shards, params.resolution)
    resumed = Trainer(fast.spec, params, data, torch.device("cpu"), speed=gpu)
    resumed.load_state_dict(fast.state_dict())
    resumed.train_step()
    assert resumed.step == 4
    assert all(math.isfinite(v) for _, row in resumed.flush() for v in row)


def test_hinge_spectral_norm_without_ema_or_augmentation(shards, tmp_path):
    metrics = train(shards, tmp_path, tiny(loss="hinge", spectral_norm=True, ema_decay=0.0,
                                           diffaugment=""))
    assert math.isfinite(metrics["g_loss"]) and math.isfinite(metrics["d_loss"])
    assert metrics["sampled_with_ema"] is False
    _, meta = load_generator(tmp_path / "models" / "generator.pt")
    assert meta["ema"] is False and meta["train"]["loss"] == "hinge"


def test_a_resumed_run_equals_an_uninterrupted_one(shards, tmp_path):
    params = tiny(model="cdcgan", steps=8, checkpoint_every=4)
    train(shards, tmp_path / "whole", params)
    train(shards, tmp_path / "parts", dataclasses.replace(params, steps=4))
    log: list[str] = []
    metrics = train(shards, tmp_path / "parts", params, resume=True, log=log)
    assert metrics["resumed_from"] == 4 and metrics["steps"] == 8
    assert any("resuming from step 4" in line for line in log)
    whole = torch.load(tmp_path / "whole" / "models" / "checkpoint.pt", weights_only=True)
    parts = torch.load(tmp_path / "parts" / "models" / "checkpoint.pt", weights_only=True)
    for net in ("generator", "discriminator", "ema"):
        for key, value in whole[net].items():
            assert torch.equal(value, parts[net][key]), (net, key)
    assert [s for s, _ in series(tmp_path / "parts", "epoch/g_loss")] == [2, 4, 6, 8]
    again = train(shards, tmp_path / "parts", params, resume=True)  # finished: nothing to do
    assert again["resumed_from"] == 8 and again["steps"] == 8
    assert again["g_loss"] == metrics["g_loss"]


def test_the_same_settings_on_the_same_machine_train_the_same_generator(shards, tmp_path):
    """What the README promises for training: on one machine (same processor, same torch, CPU),
    the same shards and params give the same weights, bit for bit, and the same metrics; another
    seed gives other weights (so the check can fail)."""
    params = tiny(model="cdcgan", steps=6)
    first = train(shards, tmp_path / "first", params)
    second = train(shards, tmp_path / "second", params)
    other = train(shards, tmp_path / "other", dataclasses.replace(params, seed=1))
    nets = {run: torch.load(tmp_path / run / "models" / "checkpoint.pt", weights_only=True)
            for run in ("first", "second", "other")}
    for net in ("generator", "discriminator", "ema"):
        for key, value in nets["first"][net].items():
            assert torch.equal(value, nets["second"][net][key]), (net, key)
    assert not all(torch.equal(v, nets["other"]["generator"][k])
                   for k, v in nets["first"]["generator"].items())
    assert first["g_loss"] == second["g_loss"] and first["d_loss"] == second["d_loss"]
    assert other["g_loss"] != first["g_loss"]


def test_resume_starts_afresh_when_it_cannot_continue(shards, tmp_path):
    log: list[str] = []
    assert train(shards, tmp_path, tiny(), resume=True, log=log)["resumed_from"] is None
    assert any("no checkpoint" in line for line in log)
    log.clear()
    metrics = train(shards, tmp_path, tiny(lr=1e-4, steps=8), resume=True, log=log)
    assert metrics["resumed_from"] is None and metrics["steps"] == 8
    assert any("train.lr changed" in line for line in log)


def test_a_checkpoint_of_other_training_code_is_not_continued(shards, tmp_path):
    """DVC re-runs train when pipeline/train.py or pipeline/gan/ change; a checkpoint that
    code did not make (here: one whose recorded code hash is another's) is not resumed."""
    params = tiny(steps=4)
    train(shards, tmp_path, params)
    path = tmp_path / "models" / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    assert len(state["fingerprint"]["code"]) == 64
    state["fingerprint"]["code"] = "0" * 64
    torch.save(state, path)
    log: list[str] = []
    metrics = train(shards, tmp_path, params, resume=True, log=log)
    assert metrics["resumed_from"] is None and metrics["steps"] == 4
    assert any("training code (pipeline/train.py, pipeline/gan/) changed" in line
               for line in log)


def test_a_finished_run_resumed_draws_its_deleted_grid_and_summary_again(shards, tmp_path):
    params = tiny(steps=4)
    train(shards, tmp_path, params)
    plots = tmp_path / "plots"
    grid = plots / "plots" / "images" / "samples.png"
    summary = json.loads((plots / "metrics.json").read_text())
    drawn = grid.read_bytes()
    grid.unlink()
    (plots / "metrics.json").unlink()
    again = train(shards, tmp_path, params, resume=True)
    assert again["resumed_from"] == 4
    assert grid.read_bytes() == drawn
    restored = json.loads((plots / "metrics.json").read_text())
    assert restored["step"] == 4
    assert {k: restored[k] for k in STATS} == {k: summary[k] for k in STATS}


KILLABLE = """
import json, sys
from pathlib import Path
from pipeline.config import TrainParams
from pipeline.train import run_train
out, shards, params = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
run_train(shards, out / "models" / "generator.pt", out / "models" / "checkpoint.pt",
          out / "metrics" / "train.json", out / "metrics" / "details.json", out / "plots",
          TrainParams(**params))
"""


def _subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_where_its_checkpoint_left_off(shards, tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    params = dataclasses.asdict(tiny(steps=100_000, checkpoint_every=4))  # runs until killed
    checkpoint = tmp_path / "models" / "checkpoint.pt"
    with (tmp_path / "stderr.txt").open("w") as err:
        proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), str(shards),
                                 json.dumps(params)], cwd=ROOT, env=_subprocess_env(),
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 90
            while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert checkpoint.exists(), (tmp_path / "stderr.txt").read_text()
            time.sleep(0.3)  # let it train (and log) past the checkpoint before the kill
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL  # killed, not finished
    killed_at = int(torch.load(checkpoint, weights_only=True)["step"])
    assert killed_at > 0 and killed_at % 4 == 0
    assert not (tmp_path / "models" / "generator.pt").exists()

    log: list[str] = []
    resumed = dataclasses.replace(tiny(checkpoint_every=4), steps=killed_at + 6)
    metrics = train(shards, tmp_path, resumed, resume=True, log=log)
    assert metrics["resumed_from"] == killed_at and metrics["steps"] == killed_at + 6
    steps = [s for s, _ in series(tmp_path, "g_loss")]
    assert steps == sorted(set(steps)) and steps[-1] == killed_at + 6  # no step logged twice
    assert not list((tmp_path / "models").glob(".*tmp*"))
    generator, meta = load_generator(tmp_path / "models" / "generator.pt")
    assert meta["steps"] == killed_at + 6


@pytest.mark.slow
def test_two_processes_under_torchrun_train_with_ddp_on_gloo(shards, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(KILLABLE)
    params = dataclasses.asdict(tiny(model="cdcgan", steps=4, checkpoint_every=2))
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", str(script), str(tmp_path), str(shards),
                           json.dumps(params)], cwd=ROOT, env=_subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics" / "details.json").read_text())["values"]
    assert metrics["processes"] == 2 and metrics["steps"] == 4
    assert math.isfinite(metrics["g_loss"])
    assert done.stderr.count("train: 4 steps") == 1  # rank 0 alone reports
    state = torch.load(tmp_path / "models" / "checkpoint.pt", weights_only=True)
    rng = [r["cpu"] for r in state["rng"]]
    assert len(rng) == 2 and not torch.equal(rng[0], rng[1])  # each rank its own noise
    generator, meta = load_generator(tmp_path / "models" / "generator.pt")
    assert meta["model"] == "cdcgan"


# ---------------------------------------------------------------- bad input


def test_bad_inputs_and_settings_are_explained(shards, crops, tmp_path):
    with pytest.raises(TrainError, match="run the shard stage first"):
        train(tmp_path / "nowhere", tmp_path, tiny())
    plain = write_shards(tmp_path / "plain", crops[:4], conditions=False)
    with pytest.raises(TrainError, match="needs condition vectors"):
        train(plain, tmp_path, tiny(model="cdcgan"))
    broken = write_shards(tmp_path / "broken", crops[:4])
    with tarfile.open(broken / "train-000000.tar", "a") as tar:
        for name, data in (("000098_x_0_0.png", b"\x89PNG!"), ("000098_x_0_0.json", b"{}"),
                           ("000099_x_0_0.png", b"\x89PNG!")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(TrainError, match="000099_x_0_0 has no .json"):
        train(broken, tmp_path, tiny())
    with tarfile.open(broken / "train-000001.tar", "w") as tar:
        for name, data in (("000098_x_0_0.png", b"\x89PNG!"), ("000098_x_0_0.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    index = json.loads((broken / "index.json").read_text())
    index["splits"]["train"]["shards"] = ["train-000001.tar"]
    (broken / "index.json").write_text(json.dumps(index))
    with pytest.raises(TrainError, match="train-000001.tar: sample 000098_x_0_0: the image "
                                         "cannot be decoded"):
        train(broken, tmp_path, tiny())
    for changes, message in (({"resolution": 48}, "power of two"),
                             ({"diffaugment": "colour"}, "did you mean 'color'"),
                             ({"loss": "wgan"}, "bce, hinge")):
        with pytest.raises(TrainError, match=message):
            train(shards, tmp_path, tiny(**changes))
    # ranges are checked when the settings are built, before the stage is called
    for changes, message in (({"batch_size": 0}, "batch_size must be at least 1"),
                             ({"device": "tpu"}, "train.device")):
        with pytest.raises(ParamsError, match=message):
            tiny(**changes)
    not_a_model = tmp_path / "generator.pt"
    not_a_model.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match="cannot be read as a generator"):
        load_generator(not_a_model)

"""The evaluate stage: detection rate, memorization and metrics with tiny generators."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from facenet_pytorch import MTCNN
from PIL import Image
from torch import nn

from pipeline.augment import run_augment
from pipeline.config import AugmentParams, DetectParams, EvaluateParams, ShardParams
from pipeline.crop import align, face_quad
from pipeline.evaluate import (
    EvaluateError,
    RealSet,
    check_require_fid,
    detect_faces,
    evaluate_model,
    load_split,
    run_evaluate,
    write_images,
)
from pipeline.faces import FaceAnalyzer
from pipeline.formats.crops import INDEX_COLUMNS
from pipeline.formats.encoding import ONE_HOT, make_encoding
from pipeline.formats.metrics import read_details, write_record
from pipeline.metrics_fid import Inception
from pipeline.shard import write_shards
from tests.conftest import FACES

RES = 32
PEOPLE = ["astronaut_collins", "biden_official_2013", "angelina_jolie", "kate_siegel",
          "paul_rudd"]
NO_WEIGHTS = Inception(None, None, None, "test: no weights file")
PARAMS = EvaluateParams(samples=12, split="val", seed=0, device="cpu")
DETECT = DetectParams(device="cpu")


def to_tensor(im: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1)


@pytest.fixture(scope="module")
def mtcnn():
    return MTCNN(keep_all=True, device="cpu")


@pytest.fixture(scope="module")
def crops(mtcnn) -> dict[str, list[Image.Image]]:
    """Aligned 64-px face crops (as the crop stage makes them) of 5 people: for each, the crop
    and two zoomed variants, so that no two crops are the same picture."""
    out: dict[str, list[Image.Image]] = {}
    for name in PEOPLE:
        with Image.open(FACES / f"{name}.jpg") as im:
            im = im.convert("RGB")
            im.thumbnail((640, 640))
        _, _, points = mtcnn.detect(im, landmarks=True)
        quad = face_quad(points[0])
        out[name] = [align(im, dataclasses.replace(quad, x=quad.x * k, y=quad.y * k), 64)
                     for k in (1.0, 0.92, 1.08)]
    return out


def real_set(images: list[Image.Image], names: list[str]) -> RealSet:
    small = [im.resize((RES, RES), Image.Resampling.LANCZOS) for im in images]
    return RealSet(torch.stack([to_tensor(im) for im in small]), names, None, 64,
                   len({n.split("/")[0] for n in names}))


@pytest.fixture(scope="module")
def sets(crops) -> tuple[RealSet, RealSet]:
    """(val, train): train holds the first two variants of every person, val the third."""
    train = [(f"{p}/v{i}.jpg", c) for p, cs in crops.items() for i, c in enumerate(cs[:2])]
    val = [(f"{p}/v2.jpg", cs[2]) for p, cs in crops.items()]
    return (real_set([c for _, c in val], [k for k, _ in val]),
            real_set([c for _, c in train], [k for k, _ in train]))


class Copier(nn.Module):
    """Returns training images: the one chosen by each z, in [-1, 1]."""

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.images = images.float() / 127.5 - 1

    def forward(self, z, condition=None):
        index = (z[:, 0] * 1e4).long().abs() % len(self.images)
        return self.images[index]


class Noise(nn.Module):
    def forward(self, z, condition=None):
        g = torch.Generator().manual_seed(int(z[0, 0].abs() * 1e4))
        return torch.rand(len(z), 3, RES, RES, generator=g) * 2 - 1


def test_detection_rate_is_one_on_face_crops_and_zero_on_noise(sets):
    analyzer = FaceAnalyzer(DETECT)
    val, train = sets
    faces = detect_faces(torch.cat([val.images, train.images]), analyzer)
    assert faces.rate == 1.0 and faces.faces == 15
    assert faces.mean_abs_roll is not None and faces.mean_abs_roll < 10  # aligned: level eyes
    noise = torch.randint(0, 256, (24, 3, RES, RES), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    none = detect_faces(noise, analyzer)
    assert none.rate == 0.0 and none.mean_abs_yaw is None


def test_a_copying_generator_is_caught(sets, tmp_path):
    val, train = sets
    meta = {"model": "dcgan", "resolution": RES, "latent_dim": 4}
    evaluation = evaluate_model(Copier(train.images), meta, val, train, PARAMS, DETECT,
                                NO_WEIGHTS)
    write_images(evaluation, train, tmp_path / "samples.png", tmp_path / "memorization")
    metrics = evaluation.record.values
    assert metrics["generated_images"] == 12 and metrics["real_images"] == 5
    assert metrics["memorization"]["pixels"]["flagged"] == 12
    assert metrics["memorization"]["pixels32"]["flagged"] == 12
    assert metrics["memorization"]["flagged_any"] == 12
    assert metrics["detection"]["rate"] == 1.0 and metrics["detection"]["rate_real"] == 1.0
    pairs = json.loads((tmp_path / "memorization" / "pairs.json").read_text())
    assert len(pairs) == 12 and all(p["png"] for p in pairs)
    assert all(p["pixels"]["train"] in train.keys for p in pairs)
    with Image.open(tmp_path / "samples.png") as im:
        assert im.size == (4 * (RES + 2) + 2, 3 * (RES + 2) + 2)


def test_a_noise_generator_is_not_a_copier_and_not_a_face(sets, tmp_path):
    val, train = sets
    meta = {"model": "dcgan", "resolution": RES, "latent_dim": 4}
    evaluation = evaluate_model(Noise(), meta, val, train, PARAMS, DETECT, NO_WEIGHTS)
    write_images(evaluation, train, tmp_path / "samples.png", tmp_path / "memorization")
    record = evaluation.record
    metrics = record.values
    assert metrics["memorization"]["flagged_any"] == 0
    assert metrics["detection"]["rate"] == 0.0 and metrics["detection"]["rate_real"] == 1.0
    assert json.loads((tmp_path / "memorization" / "pairs.json").read_text()) == []
    # no Inception: null values with the reason in the notes, never another network's numbers
    for key in ("fid", "kid_mean", "inception_score_mean"):
        assert metrics[key] is None
        assert "the note on inception says why" in record.notes[key]
    assert metrics["inception"] == {"available": False, "weights": None, "sha256": None}
    assert record.notes["inception"] == "test: no weights file"
    assert metrics["memorization"]["inception"] is None
    assert "the note on inception says why" in record.notes["memorization.inception"]
    conventions = record.conventions
    assert "val split: 5 original crops" in conventions["real_set"]
    assert "Lanczos" in conventions["real_set"] and "antialias" in conventions["inception_resize"]
    assert "percentile 1" in conventions["near_copy_rule"]
    # DVC's metrics: numbers only; what could not be measured is left out, not null
    write_record("evaluate", record, tmp_path / "evaluate.json", tmp_path / "details.json")
    assert json.loads((tmp_path / "evaluate.json").read_text()) == {"face_rate": 0.0,
                                                                    "copies": 0}
    assert read_details(tmp_path / "details.json", "evaluate") == record


class PairExtractor(nn.Module):
    """A fixed stand-in with Inception's output form (features, logits). NOT Inception: the
    numbers it gives are not FID; this only exercises how the stage assembles them."""

    def forward(self, x):
        x = x.float() / 255
        pooled = x.mean(dim=(2, 3))  # 3 features
        return pooled, torch.cat([pooled, -pooled], dim=1) * 10  # 6 "classes"


def test_feature_based_metrics_are_assembled(sets, tmp_path):
    val, train = sets
    meta = {"model": "dcgan", "resolution": RES, "latent_dim": 4}
    fixed = Inception(PairExtractor(), "test-extractor", None, None)
    bars: dict[str, list[int]] = {}

    def progress(description: str, total: int):
        bars[description] = [total, 0]
        return lambda n=1: bars[description].__setitem__(1, bars[description][1] + n)

    record = evaluate_model(Copier(train.images), meta, val, train, PARAMS, DETECT, fixed,
                            progress=progress).record
    metrics = record.values
    assert isinstance(metrics["fid"], float) and "fid" not in record.notes
    # every pass over images had a bar, and each bar was filled exactly
    assert sorted(bars) == ["Face detection: generated", "Face detection: val crops",
                            "Inception features: generated", "Inception features: mirrored "
                            "train crops", "Inception features: train crops",
                            "Inception features: val crops"]
    assert all(done == total for total, done in bars.values())
    assert bars["Face detection: generated"][0] == PARAMS.samples
    assert metrics["kid_subset_size"] == 5 and "subsets of 5" in record.notes["kid_mean"]
    assert metrics["inception_score_mean"] >= 1.0
    assert metrics["memorization"]["inception"]["flagged"] == 12


def test_a_conditional_model_gets_the_training_conditions(sets, tmp_path):
    val, train = sets
    seen = []

    class Conditional(Copier):
        def forward(self, z, condition=None):
            seen.append(condition)
            return super().forward(z)

    encoding = make_encoding([("gender", ONE_HOT, ("female", "male"))])
    conditions = torch.tensor([[1.0, 0.0]] * 6 + [[0.0, 1.0]] * 4)
    train_c = dataclasses.replace(train, conditions=conditions)
    meta = {"model": "cdcgan", "resolution": RES, "latent_dim": 4,
            "encoding": encoding.to_json()}
    evaluate_model(Conditional(train.images), meta, val, train_c, PARAMS, DETECT, NO_WEIGHTS)
    got = torch.cat(seen)
    assert got.shape == (12, 2) and {tuple(r) for r in got.tolist()} <= {(1.0, 0.0), (0.0, 1.0)}
    with pytest.raises(EvaluateError, match="no condition vectors"):
        evaluate_model(Conditional(train.images), meta, val, train, PARAMS, DETECT, NO_WEIGHTS)


def write_crops(root, crops) -> None:
    rows = []
    for person, images in crops.items():
        (root / person).mkdir(parents=True)
        for i, im in enumerate(images):
            im.save(root / person / f"v{i}.png")
            rows.append({"student": person, "file": f"v{i}.jpg", "crop": f"{person}/v{i}.png",
                         "gender": "female" if i % 2 else "male"})
    with (root / "index.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, [*INDEX_COLUMNS, "gender"])
        writer.writeheader()
        writer.writerows(rows)


def test_load_split_reads_original_crops_from_the_shards(crops, tmp_path):
    write_crops(tmp_path / "crops", crops)
    run_augment(tmp_path / "crops", tmp_path / "augmented", AugmentParams(copies=1))
    encoding = make_encoding([("gender", ONE_HOT, ("female", "male"))])
    index = write_shards(tmp_path / "crops", tmp_path / "augmented", encoding, tmp_path / "shards",
                         ShardParams(val_fraction=0.4, shard_size=4))
    train = load_split(tmp_path / "shards", "train", RES)
    assert index["splits"]["train"]["augmented"] > 0  # there are copies, and they are skipped
    assert len(train.images) == index["splits"]["train"]["originals"] == len(train.keys)
    assert train.images.shape[1:] == (3, RES, RES) and train.stored_size == 64
    assert train.conditions.shape == (len(train.images), 2)
    person, file = train.keys[0].split("/")
    original = Image.open(tmp_path / "crops" / person / file.replace(".jpg", ".png"))
    expected = to_tensor(original.resize((RES, RES), Image.Resampling.LANCZOS))
    assert torch.equal(train.images[0], expected)
    val = load_split(tmp_path / "shards", "val", RES)
    assert not set(k.split("/")[0] for k in val.keys) & set(k.split("/")[0] for k in train.keys)


def test_load_split_errors_say_what_to_run(tmp_path):
    with pytest.raises(EvaluateError, match="run the shard stage"):
        load_split(tmp_path, "val", RES)
    (tmp_path / "index.json").write_text(json.dumps(
        {"splits": {"train": {"originals": 3, "shards": []},
                    "val": {"originals": 0, "shards": []}},
         "note": "val is empty: with fewer than 2 students"}))
    with pytest.raises(EvaluateError, match="val split has no crops: val is empty"):
        load_split(tmp_path, "val", RES)
    with pytest.raises(EvaluateError, match="no split 'test'"):
        load_split(tmp_path, "test", RES)


def test_require_fid_fails_early_with_the_reason():
    check_require_fid(PARAMS, NO_WEIGHTS, 5)  # not required: no error
    required = dataclasses.replace(PARAMS, require_fid=True)
    with pytest.raises(EvaluateError, match="unavailable: test: no weights file"):
        check_require_fid(required, NO_WEIGHTS, 5)
    loaded = Inception(PairExtractor(), "w.pth", None, None)
    with pytest.raises(EvaluateError, match="at least 2048 samples"):
        check_require_fid(required, loaded, 5000)


def test_run_evaluate_without_a_model_says_so(tmp_path):
    with pytest.raises(EvaluateError, match="run the train stage"):
        run_evaluate(tmp_path / "generator.pt", tmp_path, tmp_path / "m.json",
                     tmp_path / "details.json", tmp_path / "samples.png",
                     tmp_path / "memorization", PARAMS, DETECT)

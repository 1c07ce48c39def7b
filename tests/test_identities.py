"""Who is in the photos: dlib's embeddings on real photos, identities across a class, findings,
the cache, and the person-disjoint split the shard stage makes from them."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps
from torch import nn

from pipeline.attributes import load_vocabulary
from pipeline.config import (
    AugmentParams,
    CropParams,
    EvaluateParams,
    IdentitiesParams,
    IngestParams,
    ParamsError,
    ShardParams,
    ValidateParams,
    build,
)
from pipeline.crop import crop_photo
from pipeline.evaluate import RealSet, evaluate_model, write_images
from pipeline.faces import FaceAnalyzer, estimate_pose
from pipeline.findings import Severity
from pipeline.formats.accepted import identities_of, read_accepted
from pipeline.identities import (
    CHIP_SIZE,
    DIMENSIONS,
    POOL_MIN,
    RULE,
    AcceptedFace,
    _workers_ignore_ctrl_c,
    chip_of,
    cluster,
    distances,
    embed,
    embed_all,
    recognise,
)
from pipeline.images import decode
from pipeline.ingest import ingest
from pipeline.measure import PhotoFile
from pipeline.metrics_fid import Inception
from pipeline.submissions import SubmissionError
from pipeline.validate import validate, write_outputs
from tests.conftest import FACES, SCHEMA, attributes_csv, face, jpeg_bytes, write_student

SAME_PERSON = IdentitiesParams().same_person_distance
PEOPLE = ["biden_official_2013", "openface_adams", "openface_carell", "kate_siegel",
          "paul_rudd", "angelina_jolie"]


def raw(name: str) -> bytes:
    return (FACES / f"{name}.jpg").read_bytes()


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(ValidateParams().detect)


def embedding(data: bytes, analyzer: FaceAnalyzer) -> np.ndarray:
    """As validate embeds a photo: the 640 px copy, MTCNN's main box, the 68-point chip."""
    d = decode(data, max_pixels=ValidateParams().max_pixels, long_side=640)
    pixels = np.asarray(d.image)
    (report,) = analyzer.analyse([pixels], [1.0])
    chip = chip_of(pixels, report.faces[0].box, estimate_pose(report.faces[0].landmarks).roll)
    assert chip.shape == (CHIP_SIZE, CHIP_SIZE, 3)
    return embed([chip])[0]


def test_two_photos_of_one_person_are_close_and_different_people_far(analyzer):
    lennon = [embedding(raw(f"openface_lennon-{i}"), analyzer) for i in (1, 2)]
    others = np.stack([embedding(raw(name), analyzer) for name in PEOPLE])
    assert lennon[0].shape == (DIMENSIONS,)
    assert distances(lennon[0][None], lennon[1][None])[0, 0] < SAME_PERSON
    apart = distances(np.stack(lennon + list(others)), np.stack(lennon + list(others)))
    different = apart[np.triu_indices(len(apart), 1)][1:]  # every pair but Lennon's own
    assert different.min() > SAME_PERSON


def test_edited_copies_of_a_photo_are_the_same_person(analyzer):
    im = face()
    original = embedding(jpeg_bytes(im), analyzer)
    w, h = im.size
    copies = [ImageOps.mirror(im), im.crop((w // 10, h // 12, w - w // 10, h)),
              ImageEnhance.Brightness(im).enhance(0.6), im.resize((w // 2, h // 2))]
    for copy in copies:
        assert distances(original[None], embedding(jpeg_bytes(copy), analyzer)[None]) < 0.3


def test_average_linkage_neither_chains_two_people_nor_splits_one():
    """Two people of ten photos each, 0.45 apart within a person and 0.85 between, and one
    chance pair across them at 0.5: connected components would make them one person."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, DIMENSIONS))
    centres *= 0.85 / np.linalg.norm(centres[0] - centres[1])
    spread = 0.45 / np.sqrt(2 * DIMENSIONS)
    points = np.concatenate([c + rng.normal(scale=spread, size=(10, DIMENSIONS))
                             for c in centres])
    points[10] = points[3] + (points[10] - points[3]) * 0.5 / np.linalg.norm(points[10] - points[3])
    assert distances(points[3:4], points[10:11])[0, 0] == pytest.approx(0.5)
    labels = cluster(points, SAME_PERSON)
    assert list(labels) == [0] * 10 + [1] * 10
    assert list(cluster(points[:1], SAME_PERSON)) == [0] and len(cluster(points[:0], 0.6)) == 0


def test_embedding_on_worker_processes_gives_the_same_numbers():
    rng = np.random.default_rng(1)
    chips = [rng.integers(0, 256, (CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
             for _ in range(POOL_MIN)]
    here = embed(chips)
    pooled = list(embed_all(enumerate(chips), len(chips)))
    assert [k for k, _ in pooled] == list(range(POOL_MIN))
    assert np.array_equal(np.stack([e for _, e in pooled]), here)


# ---------------------------------------------------------------- a class


def make_class(root: Path) -> None:
    """ada: one person (Biden, twice); bo and cy each hand in a photo of Lennon (two different
    photos) next to one of someone else; dee: two people who are in nobody else's photos."""
    im = face()
    write_student(root, "ada", {"a1.jpg": raw("biden_official_2013"),
                                "a2.jpg": jpeg_bytes(ImageOps.mirror(im))})
    write_student(root, "bo", {"b1.jpg": raw("openface_lennon-1"), "b2.jpg": raw("openface_adams")})
    write_student(root, "cy", {"c1.jpg": raw("openface_lennon-2"),
                               "c2.jpg": raw("openface_carell")})
    write_student(root, "dee", {"d1.jpg": raw("angelina_jolie"), "d2.jpg": raw("paul_rudd")})


def run(root: Path, cache: Path | None, **identities):
    params = ValidateParams(images_per_student=2,
                            identities=IdentitiesParams(**identities))
    return validate(root, ingest(root, IngestParams()), params, load_vocabulary(SCHEMA), cache)


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("klass")
    make_class(tmp / "subs")
    return tmp / "subs", tmp / "cache", run(tmp / "subs", tmp / "cache")


def identity_findings(result, student=None):
    return [f for f in result.findings if f.rule == RULE and student in (None, f.student)]


def test_a_person_in_two_submissions_is_reported_in_both(klass):
    _, _, result = klass
    of = result.identities
    assert len(of) == 8  # every accepted photo is someone
    assert of["bo", "b1.jpg"] == of["cy", "c1.jpg"]
    assert of["ada", "a1.jpg"] == of["ada", "a2.jpg"]
    assert len(set(of.values())) == 6  # Biden, Lennon, Adams, Carell, Jolie, Rudd
    person = of["bo", "b1.jpg"]
    for me, other, mine, theirs in (("bo", "cy", "b1.jpg", "c1.jpg"),
                                    ("cy", "bo", "c1.jpg", "b1.jpg")):
        (shared,) = [f for f in identity_findings(result, me) if f.related]
        assert shared.severity is Severity.WARNING and shared.file == ""
        assert shared.related == f"{other}/{theirs}"
        assert shared.message.startswith(f"person {person} is in 1 of your photos ({mine}) and "
                                         f"in 1 of {other}'s ({theirs}): the same person")
        assert shared.value < SAME_PERSON and shared.limit == SAME_PERSON
        assert shared.comparison == ">=" and shared.unit == "embedding_distance"
    # nobody else shares anyone
    assert {f.student for f in identity_findings(result) if f.related} == {"bo", "cy"}


def test_a_submission_showing_several_people_says_how_many(klass):
    _, _, result = klass
    for student in ("bo", "cy", "dee"):
        (mixed,) = [f for f in identity_findings(result, student) if not f.related]
        assert mixed.value == 2 and mixed.unit == "count"
        assert "show 2 different people" in mixed.message
    assert identity_findings(result, "ada") == []  # one person: nothing to say


def test_identities_reach_accepted_csv_and_a_rerun_embeds_nothing(klass, tmp_path):
    root, cache, result = klass
    write_outputs(result, tmp_path / "f.csv", tmp_path / "accepted.csv", tmp_path / "v.json",
                  tmp_path / "v-details.json")
    _, rows = read_accepted(tmp_path / "accepted.csv")
    assert identities_of(rows) == result.identities
    stored = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    assert len(stored) == 8
    again = run(root, cache)
    assert again.findings == result.findings and again.identities == result.identities
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")} == stored


def test_a_new_photo_costs_one_embedding(tmp_path):
    root, cache = tmp_path / "subs", tmp_path / "cache"
    write_student(root, "ada", {"a1.jpg": raw("biden_official_2013")})
    write_student(root, "bo", {"b1.jpg": raw("openface_lennon-1")})
    run(root, cache)
    stored = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    (root / "ada" / "a2.jpg").write_bytes(raw("openface_lennon-2"))
    (root / "ada" / "attributes.csv").write_bytes(attributes_csv(["a1.jpg", "a2.jpg"]))
    grown = run(root, cache)
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*.npy")}
    assert len(after) == 3 and {p: after[p] for p in stored} == stored
    assert grown.identities["ada", "a2.jpg"] == grown.identities["bo", "b1.jpg"]


def test_severities_are_the_instructors_and_recognition_can_be_off(klass, tmp_path):
    root, cache, _ = klass
    quiet = run(root, cache, shared_severity="info", mixed_severity="info")
    assert identity_findings(quiet) and all(f.severity is Severity.INFO
                                            for f in identity_findings(quiet))
    off = run(root, tmp_path / "cache", enabled=False)
    assert off.identities == {} and identity_findings(off) == []
    assert not list((tmp_path / "cache").glob("identities-*"))
    write_outputs(off, tmp_path / "f.csv", tmp_path / "accepted.csv", tmp_path / "v.json",
                  tmp_path / "v-details.json")
    _, rows = read_accepted(tmp_path / "accepted.csv")
    assert len(rows) == 8 and identities_of(rows) == {}


def test_a_photo_that_cannot_be_read_again_gets_a_note_not_a_crash(tmp_path):
    def gone() -> bytes:
        raise SubmissionError("the file was removed")

    lost = PhotoFile("ada", "a1.jpg", "0" * 64, 10, "JPEG", 600, 600, gone)
    found = recognise([AcceptedFace(lost, (10.0, 10.0, 300.0, 300.0))], ValidateParams(),
                      tmp_path / "cache")
    assert found.of == {}
    (note,) = found.findings
    assert note.severity is Severity.INFO and "could not be read again" in note.message
    assert "the file was removed" in note.message


def test_settings_are_checked_with_their_range():
    with pytest.raises(ParamsError, match=r"validate.identities.shared_severity must be info "
                                          r"or warning, got 'error'"):
        IdentitiesParams(shared_severity="error")
    with pytest.raises(ParamsError, match="same_person_distance must be above 0"):
        build(ValidateParams, {"identities": {"same_person_distance": 0}}, "validate")
    with pytest.raises(ParamsError, match="unknown setting 'enable'"):
        build(ValidateParams, {"identities": {"enable": False}}, "validate")


def test_a_class_with_one_photo_per_person_has_nothing_to_say(tmp_path):
    from pipeline.shard import plan_split

    root = tmp_path / "subs"
    for student, name in zip(("ada", "bo", "cy"), PEOPLE[:3], strict=True):
        write_student(root, student, {"p.jpg": raw(name)})
    params = ValidateParams(images_per_student=1)
    result = validate(root, ingest(root, IngestParams()), params, load_vocabulary(SCHEMA),
                      tmp_path / "cache")
    assert sorted(result.identities.values()) == [1, 2, 3]
    assert identity_findings(result) == [] and not result.has_errors()
    plan = plan_split(result.students, result.identities, 0.34, 0)
    assert plan.by == "person" and plan.groups == [] and plan.notes == []
    assert plan.splits == plan_split(result.students, {}, 0.34, 0).splits


# ---------------------------------------------------------------- the split


def test_students_who_share_a_person_land_on_one_side_of_the_split(klass, tmp_path):
    from pipeline.augment import run_augment
    from pipeline.crop import run_crop
    from pipeline.shard import run_shard

    root, _, result = klass
    out = tmp_path / "interim"
    write_outputs(result, out / "findings.csv", out / "accepted.csv", out / "validate.json",
                  out / "validate-details.json")
    run_crop(out / "accepted.csv", root, tmp_path / "crops", CropParams(size=64),
             ValidateParams().max_pixels)
    run_augment(tmp_path / "crops", tmp_path / "augmented", AugmentParams(copies=0))
    sides = set()
    for seed in range(8):
        index = run_shard(tmp_path / "crops", tmp_path / "augmented", SCHEMA,
                          tmp_path / f"shards{seed}",
                          ShardParams(val_fraction=0.5, seed=seed), out / "accepted.csv")
        val = set(index["splits"]["val"]["students"])
        assert ("bo" in val) == ("cy" in val), seed
        assert index["split"]["groups"] == [
            {"students": ["bo", "cy"], "people": [result.identities["bo", "b1.jpg"]],
             "split": "val" if "bo" in val else "train"}]
        sides.add("val" if "bo" in val else "train")
    assert sides == {"train", "val"}  # the pair is placed by the seed, as a student is


# ---------------------------------------------------------------- generated faces


class Shows(nn.Module):
    """A stand-in generator that shows the given images (uint8 N x 3 x R x R), in turn."""

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.images = images.float() / 127.5 - 1

    def forward(self, z, condition=None):
        return self.images[torch.arange(len(z)) % len(self.images)]


TRAIN_PEOPLE = ["biden_official_2013", "openface_lennon-1", "openface_adams", "openface_carell"]
OTHER_PEOPLE = ["angelina_jolie", "paul_rudd", "kate_siegel"]
RES, STORED = 64, 256


@pytest.fixture(scope="module")
def aligned(analyzer) -> dict[str, Image.Image]:
    """The crop stage's aligned STORED-px crop of each photo."""
    out = {}
    for name in [*TRAIN_PEOPLE, *OTHER_PEOPLE, "openface_lennon-2"]:
        data = raw(name)
        d = decode(data, max_pixels=ValidateParams().max_pixels, long_side=640)
        (report,) = analyzer.analyse([np.asarray(d.image)], [d.scale])
        out[name] = crop_photo(data, np.array(report.faces[0].landmarks), STORED,
                               ValidateParams().max_pixels)
    return out


def real_set(crops: list[Image.Image], names: list[str], size: int) -> RealSet:
    small = [c.resize((size, size), Image.Resampling.LANCZOS) if size != STORED else c
             for c in crops]
    images = torch.stack([torch.from_numpy(np.asarray(c).copy()).permute(2, 0, 1) for c in small])
    return RealSet(images, [f"{n}/{n}.jpg" for n in names], None, STORED, len(names))


def check(aligned, shown: list[str], tmp_path: Path, identities: IdentitiesParams | None = None):
    train = real_set([aligned[n] for n in TRAIN_PEOPLE], TRAIN_PEOPLE, RES)
    val = real_set([aligned[n] for n in OTHER_PEOPLE], OTHER_PEOPLE, RES)
    reference = real_set([aligned[n] for n in TRAIN_PEOPLE], TRAIN_PEOPLE, STORED)
    fake = real_set([aligned[n] for n in shown], shown, RES).images
    params = EvaluateParams(samples=2 * len(shown), device="cpu")
    meta = {"model": "dcgan", "resolution": RES, "latent_dim": 4}
    evaluation = evaluate_model(Shows(fake), meta, val, train, params, ValidateParams().detect,
                                Inception(None, None, None, "test: no weights"),
                                identities=identities or IdentitiesParams(), reference=reference)
    write_images(evaluation, train, tmp_path / "samples.png", tmp_path / "memorization",
                 reference)
    details = tmp_path / "memorization" / "identities.json"
    return evaluation.record.values, json.loads(details.read_text()) if details.is_file() else None


def test_training_crops_at_the_models_resolution_read_as_training_people(aligned, tmp_path):
    metrics, details = check(aligned, TRAIN_PEOPLE, tmp_path)
    assert metrics["identity_match_fraction"] == 1.0
    assert details["generated"]["faces"] == 8 and details["generated"]["matched"] == 8
    nearest = [s["nearest"] for s in details["samples"]]
    assert nearest == [f"{n}/{n}.jpg" for n in TRAIN_PEOPLE] * 2  # each is its own person
    # the same check the stage makes on real crops: the training crops themselves match, the
    # val split's other people do not
    assert details["self_check"]["train"]["fraction"] == 1.0
    assert details["self_check"]["val"]["faces"] == 3
    assert details["self_check"]["val"]["fraction"] == 0.0
    pairs = details["pairs"]
    assert len(pairs) == 8 and all(p["same_person"] for p in pairs)
    assert all((tmp_path / "memorization" / p["png"]).is_file() for p in pairs)
    assert pairs == sorted(pairs, key=lambda p: p["distance"])


def test_other_peoples_faces_are_not_training_people(aligned, tmp_path):
    metrics, details = check(aligned, OTHER_PEOPLE, tmp_path)
    assert metrics["identity_match_fraction"] == 0.0
    assert details["generated"]["faces"] == 6 and details["generated"]["matched"] == 0
    assert details["generated"]["nearest_distance"]["p0"] > SAME_PERSON
    assert not any(p["same_person"] for p in details["pairs"])


def test_another_photo_of_a_training_person_is_that_person(aligned, tmp_path):
    """Not a copy of any training crop, pixel for pixel: Lennon in the photo training never saw."""
    metrics, details = check(aligned, ["openface_lennon-2"], tmp_path)
    assert metrics["identity_match_fraction"] == 1.0
    assert {s["nearest"] for s in details["samples"]} == {"openface_lennon-1/openface_lennon-1.jpg"}
    assert metrics["memorization"]["pixels"]["flagged"] == 0


def test_with_recognition_off_evaluate_makes_no_identity_check(aligned, tmp_path):
    metrics, details = check(aligned, TRAIN_PEOPLE[:2], tmp_path, IdentitiesParams(enabled=False))
    assert "identity_match_fraction" not in metrics and details is None
    assert not list((tmp_path / "memorization").glob("identity-*.png"))
    assert metrics["memorization"]["flagged_any"] == 4  # the copies: the other checks still run


def test_workers_started_for_recognition_leave_ctrl_c_to_the_parent():
    """A terminal's Ctrl-C reaches every process of its group: a worker started inside
    `_workers_ignore_ctrl_c` (as the recognition pool's are) ignores it, even before it has
    imported anything, while a process started outside dies of it; the parent handles it
    again afterwards. (Python's own handler is set first: a test run started in the background
    of a script inherits SIGINT ignored, and so would every process it starts.)"""
    spawn = multiprocessing.get_context("spawn")
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with _workers_ignore_ctrl_c():
            quiet = spawn.Process(target=time.sleep, args=(30,))
            quiet.start()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        loud = spawn.Process(target=time.sleep, args=(30,))
        loud.start()
    finally:
        signal.signal(signal.SIGINT, inherited)
    try:
        for process in (quiet, loud):
            os.kill(process.pid, signal.SIGINT)
        loud.join(timeout=30)
        quiet.join(timeout=1)
        assert loud.exitcode not in (None, 0)  # it stopped on the interrupt
        assert quiet.is_alive()
    finally:
        for process in (quiet, loud):
            process.kill()
            process.join()

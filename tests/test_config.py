import pytest

from pipeline.config import Params, ParamsError, TrainParams, load_params
from tests.conftest import ROOT


def test_project_params_load_into_typed_sections():
    params = load_params(ROOT / "params.yaml")
    assert isinstance(params, Params)
    assert isinstance(params.validate.min_side, int)
    assert isinstance(params.validate.detect.thresholds, tuple)


def test_missing_file_means_defaults(tmp_path):
    assert load_params(tmp_path / "nope.yaml") == Params()


def test_typo_is_an_error_with_a_suggestion(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("validate:\n  min_sid: 400\n")
    with pytest.raises(ParamsError, match=r"validate.*'min_sid'.*did you mean 'min_side'"):
        load_params(path)


@pytest.mark.parametrize(
    "text, match",
    [
        ("validate:\n  min_side: big\n", "validate.min_side: expected int"),
        ("validate:\n  min_side: 1.5\n", "expected a whole number"),
        ("evaluate:\n  require_fid: 'yes'\n", "expected true or false"),
        ("validate: 3\n", "expected a mapping"),
    ],
)
def test_wrong_types_are_errors(tmp_path, text, match):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=match):
        load_params(path)


@pytest.mark.parametrize(
    "text, match",
    [
        ("ingest:\n  max_files: 0\n", r"ingest\.max_files must be at least 1, got 0"),
        ("ingest:\n  max_file_bytes: -1\n", r"ingest\.max_file_bytes must be at least 1"),
        ("validate:\n  images_per_student: 0\n", r"validate\.images_per_student must be at least"),
        ("validate:\n  duplicate_max_distance: 65\n",
         r"validate\.duplicate_max_distance must be from 0 to 64, got 65"),
        ("validate:\n  max_clipped: 1.5\n", r"validate\.max_clipped must be from 0 to 1, got 1.5"),
        ("validate:\n  max_brightness: 300\n", r"validate\.max_brightness must be from 0 to 255"),
        ("validate:\n  detect:\n    face_prob: 2\n",
         r"validate\.detect\.face_prob must be from 0 to 1, got 2"),
        ("validate:\n  detect:\n    batch_size: 0\n", r"validate\.detect\.batch_size must be at"),
        ("validate:\n  detect:\n    thresholds: [0.6, 0.7]\n",
         r"validate\.detect\.thresholds must be three numbers from 0 to 1"),
        ("validate:\n  detect:\n    device: gpu\n",
         r"validate\.detect\.device must be auto, cpu, cuda or cuda:N, got 'gpu'"),
        ("crop:\n  size: 0\n", r"crop\.size must be at least 1, got 0"),
        ("augment:\n  copies: -1\n", r"augment\.copies must be at least 0, got -1"),
        ("augment:\n  flip_p: 1.5\n", r"augment\.flip_p must be from 0 to 1, got 1.5"),
        ("shard:\n  val_fraction: 1.0\n", r"shard\.val_fraction must be at least 0 and below 1"),
        ("shard:\n  shard_size: 0\n", r"shard\.shard_size must be at least 1"),
        ("train:\n  lr: 0\n", r"train\.lr must be above 0, got 0"),
        ("train:\n  betas: [0.5, 1.0]\n", r"train\.betas must be two numbers in \[0, 1\)"),
        ("train:\n  device: tpu\n", r"train\.device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
        ("evaluate:\n  split: test\n", r"evaluate\.split must be train or val, got 'test'"),
        ("evaluate:\n  samples: 0\n", r"evaluate\.samples must be at least 1"),
        ("report:\n  thumb_size: 0\n", r"report\.thumb_size must be at least 1"),
    ],
)
def test_values_out_of_range_are_errors_naming_key_range_and_value(tmp_path, text, match):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=match):
        load_params(path)


def test_every_range_problem_of_a_section_is_named_at_once():
    with pytest.raises(ParamsError, match=r"train\.steps must be .*; train\.batch_size must be"):
        TrainParams(steps=0, batch_size=0)
    assert TrainParams(device="cuda:1").device == "cuda:1"

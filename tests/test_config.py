import pytest

from pipeline.config import Params, ParamsError, load_params
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

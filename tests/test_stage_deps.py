"""A setting that names a file must be a dep of the DVC stage that reads it (DVC_ROOT and
DVC_STAGE are what `dvc repro` sets for every stage's command; tests/test_dvc.py runs the real
thing)."""

import pytest
import yaml

from pipeline.stage_deps import UndeclaredFileError, check_declared, undeclared


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project whose dvc.yaml has a validate stage listing data/ and the file extra.csv."""
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"validate": {
        "cmd": "facedata validate data/submissions",
        "deps": ["data", "extra.csv", {"pipeline/cli.py": {"hash": "md5"}}]}}}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def under_dvc(root, stage="validate"):
    return {"DVC_ROOT": str(root), "DVC_STAGE": stage}


def test_a_file_the_stage_does_not_list_stops_it_with_the_line_to_add(project):
    with pytest.raises(UndeclaredFileError) as caught:
        check_declared({"validate.roster": "roster.csv"}, under_dvc(project))
    message = str(caught.value)
    assert "validate.roster names roster.csv" in message
    assert "'validate' stage in dvc.yaml" in message
    assert "add '- roster.csv' to the stage's deps" in message


def test_listed_files_and_files_inside_listed_folders_pass(project):
    env = under_dvc(project)
    assert undeclared({"validate.roster": "extra.csv"}, env) == []
    assert undeclared({"validate.roster": "./data/class/roster.csv"}, env) == []
    assert undeclared({"validate.roster": str(project / "extra.csv")}, env) == []
    # a folder named like the start of a listed one is not inside it
    assert len(undeclared({"validate.roster": "data2/roster.csv"}, env)) == 1


def test_nothing_is_checked_outside_dvc_or_for_an_empty_setting(project):
    assert undeclared({"validate.roster": "roster.csv"}, {}) == []
    assert undeclared({"validate.roster": ""}, under_dvc(project)) == []


def test_a_stage_of_another_dvc_yaml_is_read_relative_to_its_own_folder(project):
    sub = project / "course"
    sub.mkdir()
    (sub / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"validate": {
        "cmd": "facedata validate", "deps": ["roster.csv"]}}}))
    env = under_dvc(project, "course/dvc.yaml:validate")
    assert undeclared({"validate.roster": "course/roster.csv"}, env) == []
    assert undeclared({"validate.roster": "roster.csv"}, env) != []


def test_a_stage_dvc_yaml_does_not_name_is_not_judged(project):
    """foreach/matrix stages are addressed as name@key, which dvc.yaml does not spell out."""
    assert undeclared({"validate.roster": "roster.csv"}, under_dvc(project, "validate@a")) == []

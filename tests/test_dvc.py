"""Real `dvc repro` in a temporary git repo: stages run, and re-run only when inputs change."""

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.formats.metrics import HEADLINES
from tests.conftest import DEMO, ROOT, is_number

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def attempt(cmd, cwd):
    """`cmd` run with this environment's commands (dvc, facedata) first on the PATH."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def run(cmd, cwd, stderr=True):
    """stdout, and stderr after it unless `stderr` is false (for output that is parsed)."""
    out = attempt(cmd, cwd)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr if stderr else out.stdout


def ran(output):
    return set(re.findall(r"Running stage '([\w-]+)'", output))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A copy of the project (code, dvc.yaml, params, schema, the demo class) in a new git repo."""
    repo = tmp_path_factory.mktemp("repo")
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    for name in ("pipeline", "schemas", ".dvc"):
        shutil.copytree(
            ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache")
        )
    shutil.copytree(DEMO, repo / "data" / "submissions")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"].update(steps=4, log_every=2)  # this test is about DVC, not training
    params["evaluate"].update(samples=16)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
        repo,
    )
    return repo


ALL = {"ingest", "validate", "feedback", "crop", "augment", "shard", "train", "evaluate",
       "report"}


def test_repro_runs_every_stage_then_skips_what_did_not_change(repo):
    first = run(["dvc", "repro"], repo)
    assert ran(first) == ALL
    shards = sorted((repo / "data" / "processed" / "shards").glob("*.tar"))
    assert shards
    for out in ("models/generator.pt", "metrics/validate.json", "metrics/train.json",
                "metrics/evaluate.json", "reports/index.html", "reports/feedback/linus.txt"):
        assert (repo / out).is_file(), out
    before = {p.name: p.read_bytes() for p in shards}

    assert ran(run(["dvc", "repro"], repo)) == set()

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["augment"]["seed"] += 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert ran(run(["dvc", "repro", "shard"], repo)) == {"augment", "shard"}
    after = {p.name: p.read_bytes() for p in
             (repo / "data" / "processed" / "shards").glob("*.tar")}
    assert after != before  # new augmentations went into the training shards
    assert ran(run(["dvc", "repro"], repo)) == {"train", "evaluate", "report"}

    metrics = run(["dvc", "metrics", "show"], repo)
    assert "accepted" in metrics and "failed to load" not in metrics


def test_raising_the_steps_continues_from_the_persisted_checkpoint(repo):
    """dvc removes a stage's outputs before running it, except those marked persist: the
    checkpoint survives, and `facedata train --resume` continues from it."""
    run(["dvc", "repro", "train"], repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    done = params["train"]["steps"]
    params["train"]["steps"] = done + 4
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    output = run(["dvc", "repro", "train"], repo)
    assert ran(output) == {"train"}
    assert f"resuming from step {done}" in output
    values = json.loads((repo / "metrics" / "details" / "train.json").read_text())["values"]
    assert values["resumed_from"] == done and values["steps"] == done + 4


def test_an_experiment_compares_with_the_committed_baseline(repo):
    """As in a clone of the project, whose dvc.lock and metrics are committed: one experiment
    with a setting changed. `dvc exp show` lists the baseline and the experiment, each with
    its headline metrics in the first columns (what a terminal shows before any scrolling:
    DVC pages the table through `less -S`), and the changed setting; `dvc metrics show` and
    `dvc metrics diff` fit in 120 columns."""
    run(["dvc", "repro"], repo)
    (repo / ".gitignore").write_text("__pycache__/\n.facedata-cache/\n")
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "baseline"],
        repo)
    steps = yaml.safe_load((repo / "params.yaml").read_text())["train"]["steps"]
    run(["dvc", "exp", "run", "-S", f"train.steps={steps + 2}"], repo)

    rows = list(csv.DictReader(io.StringIO(run(["dvc", "exp", "show", "--csv"], repo,
                                               stderr=False))))
    # rows: the workspace and the commit (both "baseline"), then the experiments made from it
    baseline = [r for r in rows if r["typ"] == "baseline" and r["rev"] != "workspace"]
    experiments = [r for r in rows if r["typ"] in ("branch_commit", "branch_base")]
    assert len(baseline) == 1 and len(experiments) == 1, rows
    columns = list(rows[0])
    headlines = [h.key for stage in HEADLINES.values() for h in stage if h.key in columns]
    first_param = min(i for i, c in enumerate(columns) if c.startswith(("ingest.", "train.")))
    assert {"photos", "accepted", "g_loss", "d_loss", "face_rate"} <= set(headlines)
    assert max(columns.index(k) for k in headlines) < first_param
    assert baseline[0]["train.steps"] == str(steps)
    assert experiments[0]["train.steps"] == str(steps + 2)
    for row in (baseline[0], experiments[0]):
        assert all(is_number(row[k]) for k in ("photos", "accepted", "g_loss", "d_loss")), row

    for cmd in (["dvc", "metrics", "show"], ["dvc", "metrics", "diff"]):
        lines = run(cmd, repo).splitlines()
        assert lines and max(map(len, lines)) <= 120, "\n".join(lines)


def test_a_roster_must_be_a_dep_of_validate_and_a_changed_one_re_runs_it(repo):
    """`validate.roster` names a file DVC would not watch: the stage stops until dvc.yaml lists
    it, then a changed roster re-runs validate (and what depends on its outputs)."""
    (repo / "roster.csv").write_text("id,name\nada,Ada L\ngrace,Grace H\nlinus,Linus T\n")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["validate"]["roster"] = "roster.csv"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    refused = attempt(["dvc", "repro", "validate"], repo)
    assert refused.returncode != 0
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "validate.roster names roster.csv" in said and "add '- roster.csv'" in said

    dvc_yaml = yaml.safe_load((repo / "dvc.yaml").read_text())
    dvc_yaml["stages"]["validate"]["deps"].append("roster.csv")
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    assert ran(run(["dvc", "repro", "validate"], repo)) == {"validate"}
    assert ran(run(["dvc", "repro", "validate"], repo)) == set()
    with (repo / "roster.csv").open("a") as fh:
        fh.write("mary,Mary S\n")  # handed in nothing: a `missing` error
    assert ran(run(["dvc", "repro", "validate"], repo)) == {"validate"}
    assert "mary" in (repo / "data" / "interim" / "findings.csv").read_text()

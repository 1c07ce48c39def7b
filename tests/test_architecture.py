"""Who may import whom (docs/ARCHITECTURE.md), read from the source: a stage never imports
another stage, a file another stage wrote is read through pipeline/formats/, and the terminal is
the CLI's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "pipeline"
STAGES = {"ingest", "validate", "feedback", "crop", "augment", "shard", "train", "evaluate",
          "report", "generate"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(module: str) -> set[str]:
    """The pipeline modules `module` imports anywhere in it (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        found.update(n for n in names if n in MODULES)
    found.discard(module)
    return found


def reaches(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        for other in imports(todo.pop()) - seen:
            seen.add(other)
            todo.append(other)
    return seen


def stage_of(module: str) -> str | None:
    name = module.removeprefix("pipeline.")
    return name if name in STAGES else None


# docs/ARCHITECTURE.md's layers, bottom first: a module imports its own layer or those below.
LAYERS = [
    {"config", "findings", "io", "images", "submissions", "progress", "devices", "safe_text",
     "downloads"},
    {"formats"},
    {"rules", "measure", "faces", "landmarks", "identities", "attributes", "gan", "metrics_fid",
     "memorization", "prompt", "roster"},
    STAGES,
    {"cli", "validate_view", "stage_deps"},
]


def layer_of(module: str) -> int:
    top = module.split(".")[1] if module != "pipeline" else ""
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_every_stage_is_a_module_of_the_package():
    assert {f"pipeline.{s}" for s in STAGES} <= set(MODULES)


def test_every_module_has_a_layer_and_imports_none_above_its_own():
    for module in sorted(set(MODULES) - {"pipeline"}):
        above = {m for m in imports(module) if m != "pipeline" and layer_of(m) > layer_of(module)}
        assert not above, f"{module} imports {sorted(above)} from a layer above its own"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_imports_no_other_stage(stage):
    others = {m for m in imports(f"pipeline.{stage}") if stage_of(m)}
    assert not others, f"pipeline.{stage} imports {sorted(others)}; a file between stages is " \
                       "read and written through pipeline/formats/"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("pipeline.formats")))
def test_formats_stand_on_nothing_but_each_other_and_small_helpers(module):
    allowed = {"pipeline.formats", "pipeline.io", "pipeline.findings", "pipeline.safe_text"}
    outside = {m for m in imports(module) if not m.startswith("pipeline.formats.")} - allowed
    assert not outside, f"{module} imports {sorted(outside)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("pipeline.gan")))
def test_the_gan_reaches_no_stage_and_not_the_vocabulary_or_the_crops(module):
    bad = {m for m in reaches(module) if stage_of(m) or m == "pipeline.attributes"}
    assert not bad, f"{module} reaches {sorted(bad)}"


def test_only_the_cli_draws_on_the_terminal():
    """Stages report progress through pipeline.progress; rich's bars and consoles are the CLI's
    (and validate_view.py's, which renders validate's result for it)."""
    users = set()
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""])
                if any(n == "rich" or n.startswith("rich.") for n in names):
                    users.add(module)
    assert users <= {"pipeline.cli", "pipeline.validate_view"}, users


def imported_names(module: str) -> dict[str, set[str]]:
    """pipeline module -> the names `module` imports from it (`import pipeline.x` as {"*"})."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pipeline"):
                    found.setdefault(alias.name, set()).add("*")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipeline"):
            found.setdefault(node.module, set()).update(alias.name for alias in node.names)
    return found


# Besides the stages' entry points, the CLI reads its settings, makes text safe for the terminal,
# names ingest's two files, hands validate's result to its view and, under `dvc repro`, checks
# that a setting naming a file is a dep of its stage; nothing else of the package.
CLI_HELPERS = {"pipeline.config", "pipeline.safe_text", "pipeline.formats.manifest",
               "pipeline.validate_view", "pipeline.stage_deps",
               "pipeline.downloads"}  # downloads: --layout's choices


def test_the_cli_calls_each_stage_through_its_entry_point_only():
    """The one public function `run_<stage>` per stage; what the CLI prints comes back in its
    result, so the CLI needs no stage internals."""
    for source, names in imported_names("pipeline.cli").items():
        stage = stage_of(source)
        if stage:
            assert names == {f"run_{stage}"}, f"pipeline.cli imports {sorted(names)} from {source}"
        else:
            assert source in CLI_HELPERS, f"pipeline.cli imports {sorted(names)} from {source}"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_stage_has_its_entry_point(stage):
    functions = {node.name for node in ast.parse(MODULES[f"pipeline.{stage}"].read_text(
        encoding="utf-8")).body if isinstance(node, ast.FunctionDef)}
    assert f"run_{stage}" in functions


# The orchestrators the house was split around: each reads as a list of named steps.
ORCHESTRATORS = [("pipeline.train", "run_train"), ("pipeline.evaluate", "evaluate_model"),
                 ("pipeline.attributes", "_check_table")]


@pytest.mark.parametrize("module, function", ORCHESTRATORS)
def test_the_orchestrators_stay_under_50_lines(module, function):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    [node] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    lines = node.end_lineno - node.lineno + 1
    assert lines < 50, f"{module}.{function} has {lines} lines; split out what it does"

"""dvc.yaml's deps are honest: each stage lists every module its command imports, the params
sections it reads and every path its command names, so that a change to any of them re-runs the
stages whose results it changes, and nothing else.

What a stage's command imports is read from the source: `facedata <command>` runs
pipeline/cli.py (its module-level imports) and the command's function there (the modules it
imports, and those of the cli.py helpers it calls), then everything those import, transitively,
inside functions too (`tests.test_architecture.imports`), with the packages they sit in."""

from __future__ import annotations

import ast
import copy
import shlex

import pytest
import yaml

from tests.conftest import ROOT
from tests.test_architecture import MODULES, reaches

CLI = ROOT / "pipeline" / "cli.py"
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
STAGES = sorted(DVC_YAML["stages"])


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _imported(nodes: list[ast.AST]) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Import):
                found.update(a.name for a in sub.names)
            elif isinstance(sub, ast.ImportFrom) and sub.module:
                found.add(sub.module)
                found.update(f"{sub.module}.{a.name}" for a in sub.names)
    return {name for name in found if name in MODULES}


def _called(function: ast.FunctionDef, functions: dict[str, ast.FunctionDef]) -> list[ast.AST]:
    """`function` and the cli.py functions it calls, transitively."""
    seen, todo = {function.name}, [function]
    while todo:
        for sub in ast.walk(todo.pop()):
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                name = sub.func.id
                if name in functions and name not in seen:
                    seen.add(name)
                    todo.append(functions[name])
    return [functions[name] for name in sorted(seen)]


def command_of(cmd: str) -> str:
    words = shlex.split(cmd)
    assert words[0] == "facedata", f"a stage runs through the facedata command, not {cmd!r}"
    return words[1]


def imported_files(command: str) -> set[str]:
    """Repository paths of every pipeline module `facedata <command>` imports."""
    tree = ast.parse(CLI.read_text(encoding="utf-8"))
    functions = _functions(tree)
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    modules = _imported(top) | _imported(_called(functions[command], functions))
    for module in list(modules):
        modules |= reaches(module)
    modules.add("pipeline.cli")  # itself, not what its other commands import
    for module in list(modules):  # importing a.b.c runs a/__init__.py and a/b/__init__.py
        parts = module.split(".")
        modules.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return {MODULES[m].relative_to(ROOT).as_posix() for m in modules}


def read_params(command: str) -> set[str]:
    """The params.yaml keys the command's function reads (`params.train`,
    `params.validate.max_pixels`), as dotted keys."""
    tree = ast.parse(CLI.read_text(encoding="utf-8"))
    keys = set()
    for node in ast.walk(_functions(tree)[command]):
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id == "params" and chain:
            keys.add(".".join(reversed(chain)))
    # a chain is also walked from its middle (params.validate of params.validate.max_pixels)
    return {k for k in keys if not any(o != k and o.startswith(k + ".") for o in keys)}


def _paths(entries: list) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]


def _covers(listed: str, path: str) -> bool:
    return path == listed or path.startswith(listed.rstrip("/") + "/")


def problems(dvc_yaml: dict) -> list[str]:
    """Every way dvc.yaml's deps disagree with what the stages' commands import and read."""
    found = []
    for name, stage in dvc_yaml["stages"].items():
        command = command_of(stage["cmd"])
        deps = _paths(stage.get("deps"))
        outs = _paths(stage.get("outs")) + _paths(stage.get("metrics")) + _paths(
            stage.get("plots"))
        code = imported_files(command)
        for path in sorted(code):
            if not any(_covers(d, path) for d in deps):
                found.append(f"{name}: imports {path}, which its deps do not list")
        for dep in deps:
            if not dep.startswith("pipeline"):
                continue
            python = ([dep] if dep.endswith(".py") else
                      [p.relative_to(ROOT).as_posix() for p in (ROOT / dep).rglob("*.py")])
            if not (ROOT / dep).exists():
                found.append(f"{name}: lists {dep}, which does not exist")
            for path in python:
                if path not in code:
                    found.append(f"{name}: lists {dep}, but does not import {path}")
        params = [next(iter(p)) if isinstance(p, dict) else p for p in stage.get("params", [])]
        for key in sorted(read_params(command)):
            if not any(key == p or key.startswith(p + ".") for p in params):
                found.append(f"{name}: reads params {key}, which its params do not list")
        for word in shlex.split(stage["cmd"])[2:]:
            if word.startswith("-") or "/" not in word:
                continue
            # a folder of outputs (train's dvclive folder) counts as an output
            if not any(_covers(p, word) for p in deps + outs) and not any(
                    _covers(word, o) for o in outs):
                found.append(f"{name}: its command names {word}, which is neither a dep nor "
                             "an output")
    return found


def test_every_stage_lists_what_it_imports_and_reads():
    assert problems(DVC_YAML) == []


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_depends_on_its_own_code_and_the_cli(stage):
    deps = _paths(DVC_YAML["stages"][stage]["deps"])
    assert "pipeline/cli.py" in deps and "pipeline/config.py" in deps
    assert any(_covers(d, f"pipeline/{stage}.py") for d in deps)


def test_a_dependency_removed_from_dvc_yaml_is_caught():
    """The check can fail: a copy of dvc.yaml without one module, one params key and one path."""
    broken = copy.deepcopy(DVC_YAML)
    shard = broken["stages"]["shard"]
    shard["deps"].remove("pipeline/attributes.py")
    broken["stages"]["crop"]["params"].remove("validate.max_pixels")
    broken["stages"]["validate"]["deps"].remove("schemas/attributes.yaml")
    assert problems(broken) == [
        "validate: its command names schemas/attributes.yaml, which is neither a dep nor an "
        "output",
        "crop: reads params validate.max_pixels, which its params do not list",
        "shard: imports pipeline/attributes.py, which its deps do not list",
    ]


def test_a_dependency_the_stage_does_not_import_is_caught():
    """Precision: a module listed but not imported would re-run the stage for nothing, and a
    folder is listed only when the stage imports all of it."""
    broken = copy.deepcopy(DVC_YAML)
    broken["stages"]["ingest"]["deps"].append("pipeline/gan/loop.py")
    broken["stages"]["ingest"]["deps"].append("pipeline/formats")
    found = problems(broken)
    assert "ingest: lists pipeline/gan/loop.py, but does not import pipeline/gan/loop.py" in found
    assert "ingest: lists pipeline/formats, but does not import pipeline/formats/shards.py" in found


def test_the_closure_follows_imports_inside_functions_and_packages():
    files = imported_files("shard")
    # the vocabulary (attributes.py) for the encoding; the crops through formats/, not crop.py;
    # cli.py's module-level imports; the package __init__ files, which run on import
    assert {"pipeline/shard.py", "pipeline/attributes.py", "pipeline/formats/crops.py",
            "pipeline/config.py", "pipeline/safe_text.py", "pipeline/__init__.py",
            "pipeline/formats/__init__.py"} <= files
    assert not files & {"pipeline/crop.py", "pipeline/gan/loop.py", "pipeline/validate.py"}
    # validate's command imports the table renderer and ingest (for a run without --manifest)
    assert {"pipeline/validate_view.py", "pipeline/ingest.py"} <= imported_files("validate")
    assert read_params("crop") == {"crop", "validate.max_pixels"}


def test_directory_deps_ignore_what_python_writes_beside_the_code():
    """A folder dep's hash covers every file in it: __pycache__ must not count."""
    ignored = (ROOT / ".dvcignore").read_text(encoding="utf-8").split()
    assert "__pycache__/" in ignored and "*.pyc" in ignored

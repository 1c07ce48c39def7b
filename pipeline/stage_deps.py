"""Under `dvc repro`, a setting that names a file must be one of its stage's deps in dvc.yaml.

DVC re-runs a stage when one of its deps or params changes. A param whose value is a path
(`validate.roster`, `evaluate.inception_weights`) does not change when the file it names does,
so without that file among the deps a new roster would silently leave the old findings in
place, and DVC cannot take a dep from a setting that may be empty. DVC runs every stage's
command with DVC_ROOT (the project's folder) and DVC_STAGE (the stage's address) set, so the
command itself checks dvc.yaml and stops with the line to add. Outside DVC nothing is checked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml


class UndeclaredFileError(ValueError):
    """A setting names a file that the running DVC stage does not list in its deps."""


def check_declared(files: Mapping[str, str], env: Mapping[str, str] = os.environ) -> None:
    """Raise UndeclaredFileError when running as a DVC stage whose deps miss one of `files`
    (dotted setting -> the path it holds, relative to the working directory; "" = unset)."""
    problems = undeclared(files, env)
    if problems:
        raise UndeclaredFileError("; ".join(problems))


def undeclared(files: Mapping[str, str], env: Mapping[str, str] = os.environ) -> list[str]:
    """What `check_declared` would say, one message per file; [] outside DVC."""
    root, address = env.get("DVC_ROOT"), env.get("DVC_STAGE")
    wanted = {key: value for key, value in files.items() if value}
    if not root or not address or not wanted:
        return []
    # "name" for a stage of the project's dvc.yaml, "sub/dvc.yaml:name" for another one's
    dvc_file, _, name = address.rpartition(":")
    path = Path(root) / (dvc_file or "dvc.yaml")
    try:
        stage = (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["stages"][name]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []  # a stage made by foreach/matrix, or a dvc.yaml DVC itself would reject
    wdir = path.parent / stage.get("wdir", ".")
    deps = [_absolute(wdir / str(next(iter(d)) if isinstance(d, dict) else d))
            for d in stage.get("deps") or []]
    problems = []
    for key, value in wanted.items():
        target = _absolute(Path(value))
        if not any(target == dep or dep in target.parents for dep in deps):
            shown = os.path.relpath(target, wdir)
            problems.append(
                f"{key} names {value}, which the {name!r} stage in {path.name} does not list "
                f"in its deps, so DVC would not re-run the stage when that file changes: add "
                f"'- {Path(shown).as_posix()}' to the stage's deps")
    return problems


def _absolute(path: Path) -> Path:
    return Path(os.path.normpath(Path.cwd() / path))

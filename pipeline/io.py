"""Small file-system helpers shared by the stages."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; it replaces `path` only if the block succeeds.

    A stage killed half-way therefore never leaves an output that looks finished. `path` may be
    a file or a folder (the block then creates `tmp` as a folder).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp", str(os.getpid()))
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            # os.replace cannot rename over a non-empty folder: move the old one aside first
            old = _sibling(path, "old", str(os.getpid()))
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def remove_leftovers(path: Path) -> None:
    """Delete what `atomic_path(path)` in a killed process left beside `path` (a half-written
    temporary, an old folder moved aside). Only for outputs one process writes at a time."""
    path = Path(path)
    for kind in ("tmp", "old"):
        for stale in path.parent.glob(glob.escape(_sibling(path, kind, "").name) + "*"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def _sibling(path: Path, kind: str, pid: str) -> Path:
    return path.with_name(f".{path.name}.{kind}-{pid}")


def worker_count(requested: int | None = None) -> int:
    """Threads for I/O-bound pools: `requested` when given, else the cores this process may use."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"workers must be at least 1, got {requested}")
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)

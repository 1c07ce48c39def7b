"""Write requirements.lock: every package `make run` and `make test` install, pinned, with the
sha256 of the very file pip installs.

pip itself resolves the project (pyproject.toml's ranges, with the test extra) and pip and
setuptools, as a fresh install would (`pip install --dry-run --ignore-installed --report`), with
the machine's pip configuration (its indexes, find-links and constraints), and reports the file
it would take for each package and that file's hash. The lock is therefore for the Python and the
platform it was made on (CPython 3.11, Linux x86_64: torch's CUDA build and its nvidia-* wheels);
installed with `pip install --require-hashes`, pip refuses any file whose hash differs.

    make lock        # = .venv/bin/python tools/lock.py requirements.lock; then commit it
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = """\
# Every package of `make run` and `make test`, pinned, with the sha256 of the file pip installs
# (the Makefile installs with --require-hashes). Resolved by pip from pyproject.toml's ranges
# (with the test extra) for {python} on {platform}, with that machine's pip configuration.
# Refresh: `make lock`, then commit. pyproject.toml keeps the ranges for other environments.
"""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve() -> list[tuple[str, str, str]]:
    """(name, version, sha256) of every package a fresh install of the project would take."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                   "--quiet", "--report", str(report), "-e", ".[test]", "pip", "setuptools"]
        subprocess.run(command, cwd=ROOT, check=True)
        installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    pinned = []
    for item in installs:
        info = item["download_info"]
        if info.get("dir_info", {}).get("editable"):
            continue  # the project itself
        hashes = info.get("archive_info", {}).get("hashes", {})
        name = canonical(item["metadata"]["name"])
        if "sha256" not in hashes:
            raise SystemExit(f"pip reports no sha256 for {name} ({info['url']})")
        pinned.append((name, item["metadata"]["version"], hashes["sha256"]))
    return sorted(pinned)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, nargs="?", default=ROOT / "requirements.lock")
    args = ap.parse_args()
    python = f"{platform.python_implementation()} {'.'.join(platform.python_version_tuple()[:2])}"
    lines = [HEADER.format(python=python, platform=f"{platform.system()} {platform.machine()}")]
    for name, version, sha256 in resolve():
        lines.append(f"{name}=={version} \\\n    --hash=sha256:{sha256}\n")
    args.out.write_text("".join(lines), encoding="utf-8")
    print(f"wrote {args.out}: {len(lines) - 1} packages")


if __name__ == "__main__":
    main()

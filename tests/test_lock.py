"""requirements.lock: the whole environment of `make run` and `make test`, pinned and hashed,
consistent with pyproject.toml's ranges, and what the Makefile installs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from tests.conftest import ROOT

LOCK = ROOT / "requirements.lock"
ENTRY = re.compile(r"^([a-z0-9-]+)==(\S+) \\\n    --hash=sha256:([0-9a-f]{64})$", re.M)
STAMP = Path(sys.prefix) / ".installed-stamp"  # the Makefile's copy of the lock it installed


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    text = LOCK.read_text(encoding="utf-8")
    entries = ENTRY.findall(text)
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(body) == 2 * len(entries), "every entry is `name==version \\` and one hash line"
    names = [name for name, _, _ in entries]
    assert len(names) == len(set(names)) and names == sorted(names)
    return {name: version for name, version, _ in entries}


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in
            project["dependencies"] + project["optional-dependencies"]["test"]]


def applies(req: Requirement, extra: str = "") -> bool:
    return req.marker is None or req.marker.evaluate({**default_environment(), "extra": extra})


def test_every_range_of_pyproject_is_met_by_a_pinned_version():
    pins = locked()
    for req in requirements():
        if applies(req):
            version = pins.get(canonical(req.name))
            assert version is not None, f"{req.name} is not in requirements.lock: make lock"
            assert req.specifier.contains(version, prereleases=True), (
                f"requirements.lock pins {req.name}=={version}, outside pyproject.toml's "
                f"{req}: make lock")


def test_the_lock_pins_torch_its_cuda_wheels_and_the_tools_that_install_it():
    pins = locked()
    assert {"torch", "torchvision", "pip", "setuptools"} <= set(pins)
    assert any(name.startswith("nvidia-") for name in pins)  # torch's CUDA build, as on Linux


def test_the_makefile_installs_the_lock_with_hashes_and_again_when_it_changes(tmp_path):
    venv = tmp_path / "venv"
    stamp = venv / ".installed-stamp"
    stamp.parent.mkdir()
    stamp.touch()  # newer than the lock: up to date

    def dry_run(*extra: str) -> str:
        done = subprocess.run(["make", "-n", f"VENV={venv}", *extra, str(stamp)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "pip install" not in dry_run()
    commands = dry_run("-W", "requirements.lock")  # as if the lock had just changed
    assert "--require-hashes --no-build-isolation -r requirements.lock" in commands
    assert "--require-hashes --no-deps -r" in commands  # pip and setuptools first, hashed too
    assert "--no-deps --no-build-isolation -e ." in commands  # the project, nothing beside it
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


@pytest.fixture
def installed_from_the_lock() -> None:
    if not STAMP.is_file():
        pytest.skip(f"{sys.prefix} was not made by the Makefile (no {STAMP.name}); `make test` "
                    "checks the environment it installs")
    if STAMP.read_bytes() != LOCK.read_bytes():
        pytest.skip(f"{sys.prefix} was installed from another requirements.lock (or before "
                    "there was one); `make test` installs this one first")


def test_the_environment_is_the_lock(installed_from_the_lock):
    pins = locked()
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {name: (version, installed.get(name)) for name, version in pins.items()
             if installed.get(name) != version}
    assert not wrong, f"locked vs installed: {wrong}"
    # and the lock is closed: every requirement of a locked package is locked too
    for name in pins:
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if applies(req):
                assert canonical(req.name) in pins, f"{name} needs {req}, not in the lock"

"""The report in a real browser: headless Chromium loads it offline, runs its script without a
console message, and leaves a screenshot in tests/artifacts/ for a person to look at.

Chromium comes from Debian's `chromium` package, which `make test` installs (apt-get) before the
suite runs when it is missing; where there is none the tests skip and say so. The suite itself
never installs anything.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.test_report import later_stages, make_class, parse, render

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Chromium logs each console message (console.*, uncaught exceptions) to stderr as
# `...:INFO:CONSOLE(12)] "message", source: file:///... (12)`; the level is not kept, so any
# message counts: the report's script never writes to the console.
CONSOLE = re.compile(r":CONSOLE[:(]\d+\)?\] (.*)$")
FLAGS = [
    "--headless",
    "--no-sandbox",  # tests run as root in a container, where the sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the Chromium binary; the browser tests skip, saying how to get it, without one."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip(
            "headless Chromium is not installed, so the report is not opened in a browser; "
            "`make test` installs Debian's chromium and chromium-driver packages (apt-get) "
            "before the suite, or install them yourself"
        )
    return found


def run_chromium(binary: str, page: Path, profile: Path, *args: str) -> tuple[str, list[str]]:
    """Load `page` from disk with `args`; stdout and the console messages it logged."""
    result = subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [m.group(1) for line in result.stderr.splitlines() if (m := CONSOLE.search(line))]
    return result.stdout, console


def test_console_messages_are_noticed(chromium, tmp_path):
    """The check below can fail: a page with a script error is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>x</title><script>undefinedFunction();</script>")
    _, console = run_chromium(chromium, page, tmp_path / "profile", "--dump-dom")
    assert any("undefinedFunction" in m for m in console)


def test_report_loads_in_headless_chromium_without_console_errors(chromium, tmp_path):
    html, _ = render(make_class(tmp_path), tmp_path / "reports", **later_stages(tmp_path))
    index = tmp_path / "reports" / "index.html"
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html  # nothing to fetch: it must open offline

    dom, console = run_chromium(chromium, index, tmp_path / "profile-1", "--dump-dom")
    assert console == []
    body = parse(dom).one("body")
    assert body.attrs.get("data-ready") == "1", "the report's script did not run to its end"

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    _, console = run_chromium(
        chromium,
        index,
        tmp_path / "profile-2",
        f"--screenshot={shot}",
        "--window-size=1280,3000",
    )
    assert console == []
    with Image.open(shot) as im:
        assert im.size == (1280, 3000)
        # a blank page is one colour; a rendered report has text, tables and thumbnails
        assert len(im.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 50

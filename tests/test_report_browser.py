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


def write_messages(klass, folder: Path) -> Path:
    """The feedback stage's messages for the class, in `folder`."""
    from pipeline.feedback import run_feedback

    run_feedback(manifest=klass.paths["manifest"], findings=klass.paths["findings"],
                 accepted=klass.paths["accepted"], out_dir=folder)  # fmt: skip
    return folder


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
    klass = make_class(tmp_path)
    feedback = write_messages(klass, tmp_path / "reports" / "feedback")
    html, _ = render(klass, tmp_path / "reports", feedback=feedback, **later_stages(tmp_path))
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


# Loads the report in a frame (pages from disk may reach each other with
# --allow-file-access-from-files), clicks every copy button and writes what reached the
# clipboard into its own page. The clipboard itself is the system's, which a headless browser
# has not: the page's writeText is watched instead, or the copy event of its fallback.
HARNESS = """<!DOCTYPE html><title>harness</title>
<iframe id="report" src="index.html" width="1200" height="800"></iframe>
<script>
document.getElementById("report").addEventListener("load", function () {
  var win = this.contentWindow, doc = win.document, out = document.body;
  var got = [];
  if (win.navigator.clipboard) {
    win.navigator.clipboard.writeText = function (t) { got.push(t); return Promise.resolve(); };
  }
  doc.addEventListener("copy", function () { got.push(doc.activeElement.value); });
  var buttons = doc.querySelectorAll("button.copy-feedback");
  Array.prototype.forEach.call(buttons, function (b) { b.click(); });
  setTimeout(function () {
    got.forEach(function (t) {
      var pre = document.createElement("pre");
      pre.className = "copied";
      pre.textContent = t;
      out.appendChild(pre);
    });
    Array.prototype.forEach.call(buttons, function (b) {
      var p = document.createElement("p");
      p.className = "state";
      p.textContent = (b.getAttribute("data-copied") || "0") + " " +
        b.parentNode.querySelector(".copy-status").textContent;
      out.appendChild(p);
    });
    var order = document.createElement("p");
    order.id = "order";
    order.textContent = Array.prototype.map.call(
      doc.querySelectorAll("body > section"), function (s) { return s.id; }).join(" ");
    out.appendChild(order);
  }, 200);
});
</script>"""


def test_copy_buttons_copy_each_students_feedback(chromium, tmp_path):
    from tests.test_report import SECTIONS

    klass = make_class(tmp_path)
    out = tmp_path / "reports"
    written = sorted(write_messages(klass, out / "feedback").glob("*.txt"))
    render(klass, out, feedback=out / "feedback", **later_stages(tmp_path))
    harness = out / "harness.html"
    harness.write_text(HARNESS, encoding="utf-8")
    dom, console = run_chromium(chromium, harness, tmp_path / "profile", "--dump-dom",
                                "--allow-file-access-from-files", "--virtual-time-budget=5000")
    assert console == []
    doc = parse(dom)
    copied = sorted("".join(p.parts) for p in doc.find_all("pre", cls="copied"))
    assert copied == sorted(p.read_text(encoding="utf-8") for p in written)
    assert [p.text() for p in doc.find_all("p", cls="state")] == ["1 copied"] * len(written)
    assert doc.one("p", id="order").text().split() == SECTIONS

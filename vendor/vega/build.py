"""Write index.html, the page `dvc plots show` fills (.dvc/config names it), with Vega inlined.

DVC's own page loads vega, vega-lite and vega-embed from a CDN, so offline it is blank. This
page carries the same versions DVC's renderer asks for (dvc_render.vega.VegaRenderer.SCRIPTS),
taken from the npm registry's tarballs, each checked against the registry's sha512 integrity,
and copies each package's LICENSE beside it (all three are BSD-3-Clause, University of
Washington Interactive Data Lab). It leaves out DVC's `{scripts}` placeholder, so no CDN tag is
added. Refresh (network needed; commit what it writes):

    python vendor/vega/build.py
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGISTRY = "https://registry.npmjs.org"
PACKAGES = {"vega": "5.20.2", "vega-lite": "5.2.0", "vega-embed": "6.18.2"}  # load order
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
{{refresh_tag}}
<title>facedata: DVC plots</title>
{scripts}
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-spacing: 15px; }}
</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def fetch(name: str, version: str) -> tuple[str, str]:
    """The minified build and the LICENSE of one package, its tarball checked by integrity."""
    with urllib.request.urlopen(f"{REGISTRY}/{name}/{version}", timeout=60) as response:
        dist = json.load(response)["dist"]
    with urllib.request.urlopen(dist["tarball"], timeout=120) as response:
        data = response.read()
    algorithm, expected = dist["integrity"].split("-", 1)
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode("ascii")
    if digest != expected:
        raise SystemExit(f"{name}@{version}: the tarball does not match the registry's integrity")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        def member(path: str) -> str:
            extracted = tar.extractfile(f"package/{path}")
            assert extracted is not None
            return extracted.read().decode("utf-8")

        # the source map is not vendored: no browser asks for it unless its tools are open
        script = re.sub(r"\s*//# sourceMappingURL=\S+\s*$", "", member(f"build/{name}.min.js"))
        licence = member("LICENSE")
    if "</script" in script.lower() or "{plot_divs}" in script or "{refresh_tag}" in script:
        raise SystemExit(f"{name}@{version}: its build cannot be inlined as it is")
    return script, licence


def main() -> None:
    blocks = []
    for name, version in PACKAGES.items():
        script, licence = fetch(name, version)
        (HERE / f"LICENSE-{name}").write_text(licence, encoding="utf-8")
        blocks.append(f"<!-- {name} {version} from the npm registry, BSD-3-Clause: "
                      f"vendor/vega/LICENSE-{name} -->\n<script>\n{script}\n</script>")
    (HERE / "index.html").write_text(PAGE.format(scripts="\n".join(blocks)), encoding="utf-8")
    print(f"wrote {HERE / 'index.html'} with {', '.join(f'{n} {v}' for n, v in PACKAGES.items())}")


if __name__ == "__main__":
    main()

"""The Snakemake report of the smoke run: every figure and table in it, captioned; the page renders.

Integration: builds the report of the finished smoke tree (conftest's smoke_built) and opens it in headless
Chromium. Skipped without Chromium unless DIFFUSE_REQUIRE_CHROMIUM is set (as `.ci/run` does).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import SMOKE, run_snakemake
from PIL import Image


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("DIFFUSE_REQUIRE_CHROMIUM"):
            pytest.fail(
                "DIFFUSE_REQUIRE_CHROMIUM is set but chromium is not installed (apt-get install chromium)"
            )
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


def embedded_results(html: str) -> dict:
    """The report's `var results = {...}`: result path -> name, caption, mime type, data URI, rule."""
    # Anchored at the report's own script: the bundled libraries use `var results` too.
    marker = "var results = "
    start = html.index(marker, html.index('<script id="results">')) + len(marker)
    results, _ = json.JSONDecoder().raw_decode(html, start)
    return results


def headless(browser: str, url: str, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--virtual-time-budget=15000",
    ]
    return subprocess.run([browser, *flags, *args, url], capture_output=True, text=True, timeout=300)


def check_report(tree: Path, out: Path) -> Path:
    """Builds `tree`'s report into `out`, checks it, and returns the screenshot's path."""
    browser = chromium()
    report = out / "report.html"
    result = run_snakemake(tree, *SMOKE, "--report", str(report))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    results = embedded_results(report.read_text(encoding="utf-8"))

    # Every figure (PNG; the PDFs are their print twins) and every table the run wrote, byte for byte.
    written = sorted(
        str(path.relative_to(tree))
        for pattern in ("results/figures/*.png", "results/tables/*.csv")
        for path in tree.glob(pattern)
    )
    assert written, "the smoke run wrote no figures or tables"
    assert sorted(set(written) - set(results)) == [], "figures/tables missing from the report"
    for path in written:
        entry = results[path]
        header, data = entry["data_uri"].split(",", 1)
        assert header.endswith(";base64"), header
        assert base64.b64decode(data) == (tree / path).read_bytes(), path
        # Captions are rendered (Jinja filled in, reStructuredText to HTML) and name the run's model.
        assert entry["caption"].startswith("<"), (path, entry["caption"][:200])
        assert "{{" not in entry["caption"] and "smollm2-135m" in entry["caption"], path
        assert ("image/png" if path.endswith(".png") else "text/csv") in entry["mime_type"], path

    # The page renders: the React app draws the categories, and the screenshot is not blank.
    url = report.resolve().as_uri()
    dom = headless(browser, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    # Scripts stripped, the categories are in the page only where React drew them.
    drawn = re.sub(r"<script\b.*?</script>", "", dom.stdout, flags=re.S)
    for category in ("Section 3 - Training (Eq. 5)", "Section 4 - Simple tasks", "Section 5 - Generalization",
                     "Section 6 - Synthetic biographies"):  # fmt: skip
        assert category in drawn, category
    screenshot = out / "report.png"
    shot = headless(browser, url, f"--screenshot={screenshot}", "--window-size=1400,900")
    assert shot.returncode == 0 and screenshot.exists(), shot.stderr[-2000:]
    pixels = np.asarray(Image.open(screenshot).convert("L"), dtype=float)
    assert pixels.std() > 10, "blank screenshot"
    assert len(np.unique(pixels)) > 20, "screenshot has almost no distinct shades"
    return screenshot


def test_report(smoke_built, tmp_path):
    check_report(smoke_built, tmp_path)

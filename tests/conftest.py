"""Put `code/` on sys.path, as the decks' setup cell does (`code/` is not a package on purpose)."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code"))

import shutil
import subprocess

import pytest

RENDERED = ROOT / "_site" / "slides" / "lecture.html"


def _newest_source() -> float:
    files = [ROOT / "_quarto.yml", *(ROOT / "slides").rglob("*.qmd"), *(ROOT / "slides").rglob("*.yml"),
             *(ROOT / "slides").rglob("*.scss"), *(ROOT / "code").glob("*.py")]
    return max(f.stat().st_mtime for f in files)


@pytest.fixture(scope="session")
def rendered_deck():
    """The deck as `quarto render` writes it. Rendered here when Quarto is installed and the output is
    missing or older than its sources; skipped, with the reason, when there is no Quarto and no render."""
    fresh = RENDERED.exists() and RENDERED.stat().st_mtime >= _newest_source()
    if not fresh and shutil.which("quarto"):
        result = subprocess.run(["quarto", "render"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
        assert result.returncode == 0, f"quarto render failed:\n{result.stderr[-3000:]}"
    elif not RENDERED.exists():
        pytest.skip("no rendered deck: the `quarto` binary is not installed here (quarto-cli downloads it at "
                    "install time), so `quarto render` cannot run")
    return RENDERED

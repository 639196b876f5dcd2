"""Put `code/` on sys.path, as the decks' setup cell does (`code/` is not a package on purpose)."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code"))

import shutil
import subprocess

import pytest

RENDERED = ROOT / "_site" / "slides" / "lecture.html"
# The stderr of the render the tests ran, kept beside its output so that a later session reuses it.
RENDER_LOG = ROOT / "_site" / ".render-log.txt"


def _newest_source() -> float:
    files = [*ROOT.glob("_quarto*.yml"), *(ROOT / "slides").rglob("*.qmd"), *(ROOT / "slides").rglob("*.yml"),
             *(ROOT / "slides").rglob("*.scss"), *(ROOT / "slides" / "includes").glob("*"),
             *(ROOT / "code").glob("*.py"), *(ROOT / "code").glob("*.js")]
    return max(f.stat().st_mtime for f in files)


@pytest.fixture(scope="session")
def rendered_deck():
    """The deck as `quarto render` writes it. Rendered here when Quarto is installed and the output is
    missing or older than its sources, or when the log of its render (``RENDER_LOG``) is missing; skipped,
    with the reason, when there is no Quarto and no render."""
    fresh = RENDERED.exists() and RENDERED.stat().st_mtime >= _newest_source()
    logged = fresh and RENDER_LOG.exists() and RENDER_LOG.stat().st_mtime >= RENDERED.stat().st_mtime
    if not logged and shutil.which("quarto"):
        result = subprocess.run(["quarto", "render"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
        assert result.returncode == 0, f"quarto render failed:\n{result.stderr[-3000:]}"
        RENDER_LOG.write_text(result.stderr)
    elif not RENDERED.exists():
        pytest.skip("no rendered deck: the `quarto` binary is not installed here (quarto-cli downloads it at "
                    "install time), so `quarto render` cannot run")
    return RENDERED


@pytest.fixture(scope="session")
def render_log(rendered_deck) -> str:
    """What `quarto render` printed on stderr when it made ``rendered_deck`` (Quarto is needed)."""
    if shutil.which("quarto") is None or not RENDER_LOG.exists():
        pytest.skip("no log of the render: the `quarto` binary is not installed here")
    return RENDER_LOG.read_text()


def render_variant(profile: str) -> list[pathlib.Path]:
    """The rendered decks of one variant (a Quarto profile), rendered here with `quarto render --profile`
    when Quarto is installed and any is missing or older than its sources; skipped, with the reason,
    when there is no Quarto and no render."""
    sys.path.insert(0, str(ROOT / "tests"))
    import deck as D

    out = D.output_dir(profile)
    decks = [out / "slides" / f"{qmd.stem}.html" for qmd in D.variants()[profile]]
    fresh = all(d.exists() and d.stat().st_mtime >= _newest_source() for d in decks)
    if not fresh and shutil.which("quarto"):
        result = subprocess.run(["quarto", "render", "--profile", profile], cwd=ROOT, capture_output=True, text=True,
                                timeout=1800)
        assert result.returncode == 0, f"quarto render --profile {profile} failed:\n{result.stderr[-3000:]}"
        (out / ".render-log.txt").write_text(result.stderr)
    elif not fresh:
        pytest.skip(f"the {profile} variant is not rendered and the `quarto` binary is not installed here "
                    "(quarto-cli downloads it at install time)")
    return decks


@pytest.fixture(scope="session", params=["core", "seminar"])
def rendered_variant(request) -> tuple[str, list[pathlib.Path]]:
    """(profile, its rendered decks) for every variant besides the full lecture (``rendered_deck``)."""
    return request.param, render_variant(request.param)

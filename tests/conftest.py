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


def _render(decks: list[pathlib.Path], log: pathlib.Path, profile: str | None = None) -> list[pathlib.Path]:
    """``decks`` as `quarto render` (with ``--profile``, if given) writes them, and ``log``, that render's
    stderr. Rendered here when Quarto is installed and a deck or the log is missing or older than the
    sources; skipped, with the reason, when there is no Quarto and no render as new as the sources."""
    command = ["quarto", "render"] + (["--profile", profile] if profile else [])
    newest = _newest_source()
    fresh = all(d.exists() and d.stat().st_mtime >= newest for d in decks)
    logged = fresh and log.exists() and log.stat().st_mtime >= max(d.stat().st_mtime for d in decks)
    if not logged and shutil.which("quarto"):
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr[-3000:]}"
        log.write_text(result.stderr)
    elif not fresh:
        pytest.skip(f"{', '.join(str(d.relative_to(ROOT)) for d in decks)}: not rendered, or older than the sources, "
                    f"and the `quarto` binary is not installed here (quarto-cli downloads it at install time), so "
                    f"`{' '.join(command)}` cannot run")
    return decks


@pytest.fixture(scope="session")
def rendered_deck():
    """The full lecture as plain `quarto render` writes it (``_render``)."""
    return _render([RENDERED], RENDER_LOG)[0]


@pytest.fixture(scope="session")
def render_log(rendered_deck) -> str:
    """What `quarto render` printed on stderr when it made ``rendered_deck`` (Quarto is needed)."""
    if shutil.which("quarto") is None or not RENDER_LOG.exists():
        pytest.skip("no log of the render: the `quarto` binary is not installed here")
    return RENDER_LOG.read_text()


def render_variant(profile: str) -> list[pathlib.Path]:
    """The rendered decks of one variant (a Quarto profile), as `quarto render --profile` writes them
    (``_render``), with the render's stderr in ``.render-log.txt`` of its output folder."""
    sys.path.insert(0, str(ROOT / "tests"))
    import deck as D

    out = D.output_dir(profile)
    return _render([out / "slides" / f"{qmd.stem}.html" for qmd in D.variants()[profile]], out / ".render-log.txt", profile)


@pytest.fixture(scope="session", params=["core", "seminar"])
def rendered_variant(request) -> tuple[str, list[pathlib.Path]]:
    """(profile, its rendered decks) for every variant besides the full lecture (``rendered_deck``)."""
    return request.param, render_variant(request.param)

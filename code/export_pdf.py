"""Export the rendered RevealJS deck to PDF with headless Chromium: one page per slide, and a second
PDF with the speaker notes on a page after each slide, for self-study.

    python code/export_pdf.py                 # _site/slides/lecture.html -> lecture.pdf, lecture-notes.pdf
    python code/export_pdf.py DECK.html --out-dir DIR --timeout 300

It opens the deck in reveal.js's print mode (``?print-pdf``; ``&showNotes=separate-page`` for the notes),
waits until ``Reveal.isReady()``, the fonts and every image have loaded, then prints with the page size
reveal.js sets (Playwright's ``page.pdf(prefer_css_page_size=True)``). Printing the page directly with
``chromium --print-to-pdf`` gives a blank page, because it prints before reveal.js has laid the slides
out. In print mode the deck's CSS swaps each video for its still image of the full path.

Chromium is found in $CHROMIUM, then on PATH (chromium, chromium-browser, google-chrome), then in the
usual macOS locations. Each PDF is written to a temporary file and renamed only when complete, and the
whole export has a time limit. Run by Quarto as a post-render script, it exports only when the whole
project was rendered (QUARTO_PROJECT_RENDER_ALL), and a missing Chromium is a warning, not a failure.

Printing takes seconds, so each PDF is kept in the build cache (``cache.py``) under a hash of what it
prints (``print_keys``: the rendered page, without the speaker notes for the slides' PDF, every file of
its folder it can load, this script): when that is unchanged it is copied back instead of printed again
(``--force`` prints anyway). The PDFs that must be printed are printed at the same time, one per core.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import queue
import re
import secrets
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DECK = Path("slides") / "lecture.html"
CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"]
MAC_APPS = ["/Applications/Chromium.app/Contents/MacOS/Chromium",
            "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"]
HOW_TO_GET = ("install Chromium (Debian/Ubuntu: `sudo apt-get install chromium`; macOS: "
              "`brew install --cask chromium`) or set CHROMIUM=/path/to/chrome")
# Flags for a quiet, offline, headless browser: no background network, no first-run UI.
CHROMIUM_ARGS = ["--headless=new", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic",
                 "--autoplay-policy=no-user-gesture-required"]


class ExportError(RuntimeError):
    pass


def find_chromium() -> str | None:
    """Path of a Chromium or Chrome binary, or None."""
    env = os.environ.get("CHROMIUM") or os.environ.get("QUARTO_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return next((p for p in MAC_APPS if Path(p).exists()), None)


def launch(playwright, executable: str):
    """Launch the given Chromium headless (root needs --no-sandbox)."""
    args = CHROMIUM_ARGS + (["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    return playwright.chromium.launch(executable_path=executable, args=args)


WAIT_FOR_PRINT_LAYOUT = """async () => {
  while (!(window.Reveal && Reveal.isReady && Reveal.isReady())) await new Promise(r => setTimeout(r, 50));
  while (!document.querySelector('.pdf-page')) await new Promise(r => setTimeout(r, 50));
  await document.fonts.ready;
  await Promise.all([...document.images].map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
  return document.querySelectorAll('.pdf-page').length;
}"""


def write_atomically(out: Path, data: bytes):
    """Write ``data`` to ``out`` through a temporary file in the same folder, renamed when complete. The
    file is created with mode 0o666 less the umask, as any other output (``tempfile.mkstemp`` would give
    0o600, and the rename keeps it: a web server or another user could not read the PDF)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.stem}.{os.getpid()}.{secrets.token_hex(4)}.pdf.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def print_pdf(browser, deck: Path, out: Path, notes: bool, deadline: float) -> int:
    """Print ``deck`` to ``out`` (atomically); return the number of PDF pages reveal.js laid out."""
    remaining_ms = max(1.0, (deadline - time.monotonic()) * 1000)
    query = "?print-pdf" + ("&showNotes=separate-page" if notes else "")
    page = browser.new_page()
    try:
        page.set_default_timeout(remaining_ms)
        page.goto(deck.resolve().as_uri() + query, wait_until="load")
        pages = page.evaluate(WAIT_FOR_PRINT_LAYOUT)
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
        if time.monotonic() > deadline:
            raise ExportError(f"time limit reached while printing {out.name}")
        write_atomically(out, pdf)
        return pages
    finally:
        page.close()


# A speaker note in the rendered page: hidden in the slides' print, so not part of what it prints.
NOTES = re.compile(rb'<aside class="notes">.*?</aside>', re.S)


def print_keys(deck: Path) -> tuple[str, str]:
    """Hashes of everything the two PDFs of ``deck`` are printed from: the page, the files beside it that
    it can load (its ``media/`` and ``<stem>_files/`` folders: videos' stills, reveal.js, the theme, the
    fonts) and this script (how it prints). The slides' PDF hides the speaker notes, so its key leaves
    them out of the page: after a note edit only the notes' PDF is printed again."""
    import cache

    deck = Path(deck)
    folders = [deck.parent / "media", deck.parent / f"{deck.stem}_files"]
    page, files, script = deck.read_bytes(), cache.file_digest(*[f for f in folders if f.is_dir()]), Path(__file__).read_bytes()
    return (cache.digest("pdf", NOTES.sub(b"", page), files, script),
            cache.digest("pdf-notes", page, files, script))


def outputs(deck: Path, out_dir: Path | None = None) -> list[Path]:
    """``<stem>.pdf`` and ``<stem>-notes.pdf`` in ``out_dir`` (default: beside ``deck``)."""
    deck = Path(deck)
    return [Path(out_dir or deck.parent) / f"{deck.stem}{suffix}.pdf" for suffix in ("", "-notes")]


def export(deck: Path, out_dir: Path | None = None, timeout: float = 300.0, chromium: str | None = None,
           browser=None, force: bool = False) -> list[Path]:
    """Export ``deck`` to ``<stem>.pdf`` and ``<stem>-notes.pdf`` in ``out_dir`` (default: beside it);
    see ``export_all``."""
    return export_all([deck], out_dir, timeout, chromium, browser, force)


def export_all(decks, out_dir: Path | None = None, timeout: float = 300.0, chromium: str | None = None,
               browser=None, force: bool = False) -> list[Path]:
    """Export each of ``decks`` to ``<stem>.pdf`` and ``<stem>-notes.pdf`` in ``out_dir`` (default: beside
    it), with Chromium (found by ``find_chromium``, or ``browser``, an already launched Playwright browser).
    Unless ``force``, a PDF printed before from the same inputs (``print_keys``) is copied from the cache;
    the others are printed at the same time, one per core. Returns the PDFs, two per deck, in order."""
    import cache

    jobs, written = [], []
    for deck in map(Path, decks):
        if not deck.exists():
            raise ExportError(f"no rendered deck at {deck}: run `quarto render` first")
        for notes, (key, out) in enumerate(zip(print_keys(deck), outputs(deck, out_dir))):
            if force or not cache.restore(key, [out], kind="pdf"):
                jobs.append((deck, out, bool(notes), key))
            written.append(out)
    _print([job[:3] for job in jobs], timeout, chromium, browser)
    for _, out, _, key in jobs:
        cache.store(key, [out], kind="pdf")
    return written


def _print(jobs, timeout: float, chromium: str | None, browser):
    """Print each ``(deck, out, notes)`` of ``jobs``: with ``browser`` one after the other, else in
    Chromiums of our own, one per core at most (Playwright's sync API serves one thread, so each worker
    thread launches its own), taking the next job as each finishes."""
    if not jobs:
        return
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
    chromium = chromium or find_chromium()
    if browser is None and chromium is None:
        raise ExportError(f"PDF export needs Chromium or Chrome, and none was found: {HOW_TO_GET}")
    deadline = time.monotonic() + timeout
    todo = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)

    def work(b):
        while True:
            try:
                deck, out, notes = todo.get_nowait()
            except queue.Empty:
                return
            print_pdf(b, deck, out, notes, deadline)

    def worker():
        with sync_playwright() as p:
            launched = launch(p, chromium)
            try:
                work(launched)
            finally:
                launched.close()

    try:
        if browser is not None:
            return work(browser)
        workers = min(len(jobs), os.cpu_count() or 1)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(worker) for _ in range(workers)]:
                future.result()
    except PlaywrightError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(f"PDF export failed: {first_line}") from None


def rendered_decks(output_dir: Path) -> list[Path]:
    """The decks to print: as Quarto's post-render step, the HTML files it lists as this render's outputs
    (``QUARTO_PROJECT_OUTPUT_FILES``, relative to the project), so each variant prints its own decks into
    its own folder; on the command line, the full lecture."""
    listed = os.environ.get("QUARTO_PROJECT_OUTPUT_FILES", "")
    decks = [ROOT / line.strip() for line in listed.splitlines() if line.strip().endswith(".html")]
    return decks or [output_dir / DEFAULT_DECK]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deck", nargs="?", help="rendered deck (default: <output-dir>/slides/lecture.html)")
    parser.add_argument("--out-dir", help="where the PDFs go (default: beside the deck)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole export (default 300)")
    parser.add_argument("--force", action="store_true", help="print even when the cache holds these PDFs")
    args = parser.parse_args(argv)

    post_render = "QUARTO_PROJECT_OUTPUT_DIR" in os.environ
    if post_render and not os.environ.get("QUARTO_PROJECT_RENDER_ALL"):
        return 0  # a preview or a single-file render: no PDF
    output_dir = Path(os.environ.get("QUARTO_PROJECT_OUTPUT_DIR", ROOT / "_site"))
    decks = [Path(args.deck)] if args.deck else rendered_decks(output_dir)
    try:  # every deck the render wrote: one variant's lecture, or all its seminar decks
        for path in export_all(decks, args.out_dir, args.timeout, force=args.force):
            print(f"wrote {path}")
    except ExportError as err:
        print(f"export_pdf: {err}", file=sys.stderr)
        return 0 if post_render and "Chromium" in str(err) else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

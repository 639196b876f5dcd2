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
The notes' PDF is not printed whole: its slides' pages are the slides' PDF's, so only the notes' pages
are printed (a third of the time) and the two are interleaved (``interleave``, checked page by page
against where Chromium says each notes block starts; when they do not match it is printed whole).
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


# What a print never shows: the print layout replaces each video by its still (the deck's CSS).
NOT_PRINTED = re.compile(r"\.(mp4|webm|ogv|mov)([?#].*)?$", re.I)


def _open(browser, deck: Path, notes: bool, deadline: float):
    """A new page showing ``deck`` in reveal.js's print layout (with the notes on pages of their own).
    Its videos are not loaded (``NOT_PRINTED``): nothing of them is printed, and each would start a player."""
    page = browser.new_page()
    page.set_default_timeout(max(1.0, (deadline - time.monotonic()) * 1000))
    page.route(NOT_PRINTED, lambda route: route.abort())
    page.goto(deck.resolve().as_uri() + "?print-pdf" + ("&showNotes=separate-page" if notes else ""), wait_until="load")
    page.evaluate(WAIT_FOR_PRINT_LAYOUT)
    return page


def _pdf(page, what: str, deadline: float) -> bytes:
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    if time.monotonic() > deadline:
        raise ExportError(f"time limit reached while printing {what}")
    return pdf


def print_pdf(browser, deck: Path, out: Path, notes: bool, deadline: float):
    """Print ``deck`` to ``out`` (atomically): its slides, or each slide followed by its notes."""
    page = _open(browser, deck, notes, deadline)
    try:
        write_atomically(out, _pdf(page, out.name, deadline))
    finally:
        page.close()


# In the notes' print layout: mark each notes block with an id and a (hidden) link to it, so that Chromium
# writes a named destination on the page where the block starts; hide the slides' pages; return, for each
# notes block, the slide (the index of the page before it) it belongs to, and the number of slides.
NOTES_ONLY = """() => {
  const slides = document.querySelector('.reveal .slides');
  const links = document.createElement('div');
  links.style.display = 'none';
  const owners = [];
  let slide = -1;
  for (const e of [...slides.children]) {
    if (e.classList.contains('pdf-page')) { slide += 1; e.style.display = 'none'; }
    else if (e.classList.contains('speaker-notes-pdf')) {
      e.id = 'pdf-notes-' + owners.length;
      links.insertAdjacentHTML('beforeend', `<a href="#${e.id}"></a>`);
      owners.push(slide);
    }
  }
  const notes = slides.querySelectorAll(':scope > .speaker-notes-pdf');
  if (notes.length) notes[notes.length - 1].style.breakAfter = 'auto';  // no blank page after the last
  slides.append(links);
  return [owners, slide + 1];
}"""


def print_notes_pages(browser, deck: Path, deadline: float) -> tuple[bytes, list[int], int]:
    """The notes' pages alone, as they are laid out in the notes' PDF (without the slides' pages, which
    cost most of a print): ``(pdf, the slide each notes block belongs to, the number of slides)``."""
    page = _open(browser, deck, True, deadline)
    try:
        owners, slides = page.evaluate(NOTES_ONLY)
        return _pdf(page, f"the notes of {deck.name}", deadline), owners, slides
    finally:
        page.close()


def interleave(slides_pdf: bytes, notes_pdf: bytes, owners: list[int], slides: int) -> bytes | None:
    """The notes' PDF made of the slides' PDF and the notes' pages (``print_notes_pages``): each slide's page
    followed by the pages of its notes block, found by the named destination Chromium wrote where each
    block starts. ``None`` when the two do not match (a page count, a block not found or out of order):
    then the notes' PDF is printed whole."""
    import io

    from pypdf import PdfReader, PdfWriter

    slide_pages, notes_pages = PdfReader(io.BytesIO(slides_pdf)), PdfReader(io.BytesIO(notes_pdf))
    dests = {name.lstrip("/"): dest for name, dest in notes_pages.named_destinations.items()}  # pypdf keeps the "/"
    starts = [notes_pages.get_destination_page_number(dests[f"pdf-notes-{k}"]) if f"pdf-notes-{k}" in dests else -1
              for k in range(len(owners))]
    ends = starts[1:] + [len(notes_pages.pages)]
    if (len(slide_pages.pages) != slides or any(s < 0 for s in starts) or starts[:1] not in ([], [0])
            or any(e <= s for s, e in zip(starts, ends)) or owners != sorted(owners)
            or any(not 0 <= o < slides for o in owners)
            or (owners and not notes_pages.pages[-1].extract_text().strip())):  # a blank page at the end
        return None
    out = PdfWriter()
    blocks = {}
    for o, s, e in zip(owners, starts, ends):
        blocks.setdefault(o, []).extend(range(s, e))
    for i, slide in enumerate(slide_pages.pages):
        out.add_page(slide)
        for k in blocks.get(i, []):
            out.add_page(notes_pages.pages[k])
    if slide_pages.metadata:
        out.add_metadata({k: v for k, v in slide_pages.metadata.items() if isinstance(v, str)})
    buffer = io.BytesIO()
    out.write(buffer)
    return buffer.getvalue()


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
    page, script = deck.read_bytes(), Path(__file__).read_bytes()
    files = cache.file_digest(*[f for f in folders if f.is_dir()])
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
    thread launches its own), taking the next job as each finishes. A notes' PDF is made of the deck's
    slides' PDF (beside ``out``: printed in this batch, or already there) and its notes' pages printed
    alone (``interleave``), which takes a third of the time of printing it whole; it is printed whole when
    the two do not match."""
    if not jobs:
        return
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
    chromium = chromium or find_chromium()
    if browser is None and chromium is None:
        raise ExportError(f"PDF export needs Chromium or Chrome, and none was found: {HOW_TO_GET}")
    deadline = time.monotonic() + timeout
    todo, notes_pages = queue.SimpleQueue(), {}
    for job in jobs:
        todo.put((job, False))

    def work(b):
        while True:
            try:
                (deck, out, notes), whole = todo.get_nowait()
            except queue.Empty:
                return
            if notes and not whole:
                notes_pages[out] = print_notes_pages(b, deck, deadline)
            else:
                print_pdf(b, deck, out, notes, deadline)

    def worker():
        with sync_playwright() as p:
            launched = launch(p, chromium)
            try:
                work(launched)
            finally:
                launched.close()

    def run_all(count):
        if browser is not None:
            return work(browser)
        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            for future in [pool.submit(worker) for _ in range(count)]:
                future.result()

    try:
        run_all(min(len(jobs), os.cpu_count() or 1))
        whole = []
        for deck, out, notes in jobs:
            if notes:
                slides = outputs(deck, out.parent)[0]
                merged = interleave(slides.read_bytes(), *notes_pages[out]) if slides.is_file() else None
                if merged is None:
                    whole.append((deck, out, notes))
                else:
                    write_atomically(out, merged)
        for job in whole:
            todo.put((job, True))
        if whole:
            run_all(min(len(whole), os.cpu_count() or 1))
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

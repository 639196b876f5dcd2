"""Quarto's pre-render step: throw away a deck's frozen results when anything it is made from changed.

The project renders with ``execute: freeze: auto``, so an unchanged deck is not executed again. But Quarto
decides that on a hash of the deck's own ``.qmd`` alone: not of the setup, parts and sections it includes,
not of ``code/``, the fonts or the pinned versions. Before each render this script hashes all of those
(``sources_digest``) for every deck Quarto is about to render and compares it with the hash recorded when
the deck's frozen results were last accepted (``stamp_file``); when they differ, or when a media file the frozen page
refers to is missing from ``slides/media/``, it deletes the deck's ``_freeze/`` entry, so Quarto executes
the deck again (quickly: unchanged animations come from the build cache, ``cache.py``).

    python code/prerender.py [DECK.qmd ...]    # as Quarto runs it: the decks in $QUARTO_PROJECT_INPUT_FILES
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"\{\{<\s*include\s+(\S+)\s*>\}\}")
MEDIA_REF = re.compile(r"""media/([\w.-]+\.(?:mp4|png|svg|jpg))""")
# Everything every deck depends on besides its own included files: the code its cells run, the fonts its
# figures use, the pinned versions, the project's and the decks' options.
SHARED = ["code", "fonts", "requirements.txt", "_quarto.yml", "_quarto-full.yml", "_quarto-core.yml",
          "_quarto-seminar.yml", "slides/_metadata.yml"]


def included_files(deck: Path, _seen=()) -> list[Path]:
    """``deck`` and every file it includes, recursively (paths relative to the including file, as Quarto)."""
    deck = deck.resolve()
    if deck in _seen:
        raise ValueError(f"include cycle through {deck}")
    found = [deck]
    for name in INCLUDE.findall(deck.read_text()):
        found += [f for f in included_files(deck.parent / name, _seen + (deck,)) if f not in found]
    return found


def sources_digest(deck: Path, root: Path = ROOT) -> str:
    """SHA-256 over the text of ``deck`` with everything it includes and every ``SHARED`` file (folders
    read recursively, sorted; ``__pycache__`` skipped)."""
    h = hashlib.sha256()
    files = included_files(deck)
    for entry in SHARED:
        p = root / entry
        files += sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts) if p.is_dir() \
            else [p] if p.is_file() else []
    for f in files:
        name = str(f.resolve().relative_to(root.resolve())).encode()
        data = f.read_bytes()
        h.update(len(name).to_bytes(8, "little") + name + len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def freeze_dir(deck: Path, root: Path = ROOT) -> Path:
    """Where Quarto keeps ``deck``'s frozen results: ``_freeze/<folder>/<stem>/``."""
    rel = deck.resolve().relative_to(root.resolve())
    return root / "_freeze" / rel.parent / rel.stem


def stamp_file(deck: Path, root: Path = ROOT) -> Path:
    """The hash of the sources the frozen results were accepted for: ``_freeze/.sources/<deck>.sha256``,
    outside the deck's own folder, which Quarto copies beside the deck when it reuses the results."""
    rel = deck.resolve().relative_to(root.resolve())
    return root / "_freeze" / ".sources" / rel.with_suffix(".sha256")


def missing_media(deck: Path, root: Path = ROOT) -> list[str]:
    """Media files the frozen page of ``deck`` refers to that are not in its ``media/`` folder."""
    results = freeze_dir(deck, root) / "execute-results"
    text = "".join(p.read_text() for p in sorted(results.glob("*.json"))) if results.is_dir() else ""
    media = deck.resolve().parent / "media"
    return sorted({m for m in MEDIA_REF.findall(text) if not (media / m).is_file()})


def check(deck: Path, root: Path = ROOT) -> str:
    """Keep ``deck``'s frozen results if they were made from the current sources and their media exist;
    otherwise delete them. Returns what was done: ``"kept"``, ``"stale"`` (removed), ``"media"`` (removed:
    media missing) or ``"new"`` (nothing frozen yet; the hash is recorded for the render about to run)."""
    frozen, stamp = freeze_dir(deck, root), stamp_file(deck, root)
    current = sources_digest(deck, root)
    has_results = (frozen / "execute-results").is_dir()
    if has_results and stamp.is_file() and stamp.read_text().strip() == current:
        if not missing_media(deck, root):
            return "kept"
        outcome = "media"
    else:
        outcome = "stale" if has_results else "new"
    if frozen.exists():
        shutil.rmtree(frozen)
    # Recorded now: the render that follows executes the deck from exactly these sources.
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    return outcome


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    listed = argv or os.environ.get("QUARTO_PROJECT_INPUT_FILES", "").splitlines()
    if not listed and os.environ.get("QUARTO_USE_FILE_FOR_PROJECT_INPUT_FILES"):
        listed = Path(os.environ["QUARTO_USE_FILE_FOR_PROJECT_INPUT_FILES"]).read_text().splitlines()
    for name in listed:
        deck = (ROOT / name) if not Path(name).is_absolute() else Path(name)
        if deck.suffix == ".qmd" and deck.is_file():
            outcome = check(deck)
            if outcome != "kept":
                print(f"prerender: {deck.relative_to(ROOT)}: {outcome}, executed again", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Execute one section of the deck on its own, as a lecturer's shorter variant would: the setup cell,
then the section's cells, in a fresh Jupyter kernel, the way Quarto runs them.

    python tests/run_section.py slides/sections/_momentum.qmd [--media DIR]

Prints each cell's label and time, the section's slides, and every problem found (an error, output on
stderr, NaN or inf in an output, a stdout block that is not Markdown, and in the Markdown of `output: asis`
cells what `deck.prose_problems` finds); exits 1 on a problem. Media go to a temporary folder (or
``--media``), never into slides/media.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deck as D  # noqa: E402

SETUP = "{{< include _setup.qmd >}}\n\n"


def standalone_deck(section: Path) -> Path:
    """A deck beside lecture.qmd made of the setup cell and ``section`` alone (the caller deletes it)."""
    section = Path(section).resolve()
    rel = os.path.relpath(section, D.ROOT / "slides")
    fd, name = tempfile.mkstemp(prefix="_standalone-", suffix=".qmd", dir=D.ROOT / "slides")
    with os.fdopen(fd, "w") as f:
        f.write(f"---\ntitle: {section.stem}\njupyter: python3\n---\n\n{SETUP}{{{{< include {rel} >}}}}\n")
    return Path(name)


def problems(cells) -> list[str]:
    found = []
    for c in cells:
        for o in c.outputs:
            if o.get("output_type") == "stream" and o.get("name") == "stderr":
                found.append(f"{c.label}: wrote to stderr: {o['text'][:300]}")
            if o.get("output_type") == "stream" and o.get("name") == "stdout" and c.options.get("output") != "asis" \
                    and not c.options.get("echo"):
                found.append(f"{c.label}: prints a stdout block on a slide that shows no code: {o['text'][:200]!r}")
        text = D.output_text(c)
        if D.shows_nan_or_inf(text):
            found.append(f"{c.label}: shows nan or inf")
        if c.options.get("output") == "asis":
            found += [f"{c.label}: {p}" for p in D.prose_problems(text)]
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", type=Path)
    parser.add_argument("--media", type=Path, help="where the media go (default: a temporary folder)")
    args = parser.parse_args(argv)
    media = args.media or Path(tempfile.mkdtemp(prefix="section-media-"))
    os.environ["DECK_MEDIA_DIR"] = str(media.resolve())
    deck = standalone_deck(args.section)
    try:
        t0 = time.perf_counter()
        try:
            cells = D.execute_deck(deck)
        except Exception as err:  # the first failing cell stops the run, as in Quarto
            print("FAILED:", re.sub(r"\x1b\[[0-9;]*m", "", str(err))[-3000:])
            return 1
        print(f"{len(cells)} cells in {time.perf_counter() - t0:.1f} s; media in {media}")
        for chunk in D.slides(D.expand_includes(deck))[1:]:
            print("  slide:", chunk.splitlines()[0])
        found = problems(cells)
        for p in found:
            print("PROBLEM:", p)
        return 1 if found else 0
    finally:
        deck.unlink()


if __name__ == "__main__":
    sys.exit(main())

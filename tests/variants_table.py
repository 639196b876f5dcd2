"""Print the README's table of variants from the decks: slides counted and minutes summed the way
tests/test_variants.py checks them, so the README can be refreshed after the slides change:

    python tests/variants_table.py

Slides: the title slide and every level-1 or level-2 heading of the deck, its includes expanded.
Minutes: 1 for the title, plus the minutes each included part and section plans for itself in its
first speaker notes (``*(N minutes)*``). A file that plans none shows as ``?`` and makes the script exit 1.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "code"))

import deck as D  # noqa: E402
import test_variants as V  # noqa: E402

WHAT = {"full": "the whole lecture: every method, the race, pitfalls, theory, practice, the explorer",
        "core": "the essential path for a 50-minute slot; the other methods on one slide"}


def minutes(qmd: Path) -> str:
    m = V.deck_minutes(qmd)
    return "?" if math.isnan(m) else str(round(m))


def table() -> str:
    variants = D.variants()
    lines = ["| variant | what | slides | minutes |", "|---|---|---|---|"]
    for name, decks in variants.items():
        if name != "seminar":
            lines.append(f"| `{name}` | {WHAT.get(name, '')} | {V.n_slides(decks[0])} | {minutes(decks[0])} |")
    lines += ["", "| seminar deck | slides | minutes |", "|---|---|---|"]
    lines += [f"| `{qmd.name}` | {V.n_slides(qmd)} | {minutes(qmd)} |" for qmd in variants.get("seminar", [])]
    return "\n".join(lines)


if __name__ == "__main__":
    text = table()
    print(text)
    sys.exit(1 if "| ? |" in text else 0)

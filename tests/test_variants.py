"""The lecture's variants (Quarto profiles) and its sections: each section runs on its own, each variant
runs in order, the core lecture fits its slot, and the README's table of variants is what the decks say."""
from __future__ import annotations

import os
import re

import pytest

import deck as D
import optimizers as O
import run_section as R

SLIDES = D.ROOT / "slides"
SECTIONS = sorted((SLIDES / "sections").glob("_*.qmd")) + sorted((SLIDES / "parts").glob("_*.qmd"))
METHODS = ["gd", "sgd", "minibatch"] + [n for n in O.OPTIMIZERS if n != "gd"]
CORE_MAX_SLIDES = 45
MINUTES = re.compile(r"^\*\((\d+(?:\.\d+)?) minutes?\)\*")


def included(deck) -> list[str]:
    """The files a deck includes, in order, relative to slides/."""
    return re.findall(r"^\{\{<\s*include\s+(\S+)\s*>\}\}", deck.read_text(), re.M)


def n_slides(deck) -> int:
    return len(D.slides(D.expand_includes(deck)))  # the title slide and every heading of level 1 or 2


def planned_minutes(path) -> float:
    """The minutes a section or part plans for itself: ``*(N minutes)*`` opening its first notes."""
    text = path.read_text()
    found = [m for m in (re.search(r"::: \{\.notes\}\n(.*?)\n:::", text, re.S),
                         re.search(r'S\.notes\(\s*[fr]{0,2}"{1,3}(.*?)"', text, re.S)) if m]
    first = min(found, key=lambda m: m.start()) if found else None  # the notes of the first slide that has any
    match = MINUTES.match(first.group(1).strip()) if first else None
    return float(match.group(1)) if match else float("nan")


def deck_minutes(deck) -> float:
    """A deck's time: the sum of its parts' and sections' planned minutes, plus one for the title."""
    return 1 + sum(planned_minutes(SLIDES / f) for f in included(deck) if f != "_setup.qmd")


# ------------------------------------------------------------------------------------------------
# structure, read without running anything
# ------------------------------------------------------------------------------------------------

def test_every_variant_writes_its_own_output_folder_and_full_is_the_default():
    variants = D.variants()
    assert list(variants)[0] == "full" and variants["full"] == [SLIDES / "lecture.qmd"]
    assert {"full", "core", "seminar"} <= set(variants)
    dirs = [D.output_dir(v) for v in variants]
    assert len(set(dirs)) == len(dirs), "two variants would write into the same folder"
    for name, decks in variants.items():
        assert decks and all(d.exists() for d in decks), f"variant {name} renders no deck"
    assert "render" not in D.project_config()["project"], \
        "_quarto.yml must not list render targets: Quarto would add the profile's list to it, not replace it"


def test_every_deck_starts_with_the_setup_cell_and_includes_files_that_exist():
    for decks in D.variants().values():
        for deck in decks:
            files = included(deck)
            assert files[0] == "_setup.qmd", f"{deck.name} does not start with the setup cell"
            for f in files:
                assert (SLIDES / f).exists(), f"{deck.name} includes the missing {f}"


def test_the_core_lecture_fits_its_slot_and_keeps_the_essential_path():
    core = SLIDES / "core.qmd"
    assert n_slides(core) <= CORE_MAX_SLIDES, f"core has {n_slides(core)} slides"
    text = D.expand_includes(core)
    for method in ["gd", "sgd", "minibatch", "momentum", "rmsprop", "adam", "adamw"]:
        assert re.search(rf"^## .*\{{#{method}[ }}]", text, re.M), f"core lacks {method}"
    for must in ["sections/_learning_rate.qmd", "sections/_race.qmd", "sections/_pitfalls.qmd",
                 "sections/_choose.qmd", "sections/_family.qmd"]:
        assert must in included(core), f"core lacks {must}"
    assert 45 <= deck_minutes(core) <= 55, f"core plans {deck_minutes(core)} minutes"


def test_full_lecture_includes_every_section():
    full = set(included(SLIDES / "lecture.qmd"))
    for path in SECTIONS:
        rel = str(path.relative_to(SLIDES))
        if rel != "sections/_family.qmd":  # the core lecture's one-slide stand-in for six methods
            assert rel in full, f"the full lecture leaves out {rel}"


@pytest.mark.parametrize("method", METHODS)
def test_every_method_has_a_seminar_deck_of_its_own(method):
    deck = SLIDES / f"seminar-{method}.qmd"
    assert deck in D.variants()["seminar"]
    files = included(deck)
    assert files[:2] == ["_setup.qmd", f"sections/_{method}.qmd"]
    # then only the method's own further sections, those the full lecture has (e.g. momentum under noise)
    assert all(re.fullmatch(rf"sections/_{method}-[\w-]+\.qmd", f) for f in files[2:]), files


@pytest.mark.parametrize("path", SECTIONS, ids=lambda p: str(p.relative_to(SLIDES)))
def test_every_section_plans_its_minutes(path):
    assert planned_minutes(path) > 0, f"{path.name}: its first notes must start with *(N minutes)*"


def test_the_readme_lists_every_variant_with_its_slides_and_minutes():
    readme = (D.ROOT / "README.md").read_text()
    for name, decks in D.variants().items():
        if name == "seminar":
            for deck in decks:
                row = re.search(rf"^\| `{deck.name}` \| (\d+) \| (\d+) \|", readme, re.M)
                assert row, f"README has no row for {deck.name}"
                assert int(row.group(1)) == n_slides(deck) and int(row.group(2)) == round(deck_minutes(deck))
        else:
            row = re.search(rf"^\| `{name}` \|[^|]*\| (\d+) \| (\d+) \|", readme, re.M)
            assert row, f"README has no row for the {name} variant"
            assert int(row.group(1)) == n_slides(decks[0]), f"{name}: README says {row.group(1)} slides"
            assert int(row.group(2)) == round(deck_minutes(decks[0])), f"{name}: README says {row.group(2)} minutes"


# ------------------------------------------------------------------------------------------------
# executed, in a fresh kernel each, as a lecturer's shorter deck would be
# ------------------------------------------------------------------------------------------------

@pytest.fixture()
def media(tmp_path, monkeypatch):
    monkeypatch.setenv("DECK_MEDIA_DIR", str(tmp_path / "media"))  # the kernel inherits it
    return tmp_path / "media"


@pytest.mark.parametrize("path", SECTIONS, ids=lambda p: str(p.relative_to(SLIDES)))
def test_every_section_runs_on_its_own(path, media):
    """The setup cell, then this section alone: a NameError here means the section reads a variable that
    another section made."""
    deck = R.standalone_deck(path)
    try:
        cells = D.execute_deck(deck)
    finally:
        deck.unlink()
    assert R.problems(cells) == []


def test_the_core_lecture_runs_in_order(media):
    cells = D.execute_deck(SLIDES / "core.qmd")
    assert R.problems(cells) == []
    assert len(list(media.glob("*.mp4"))) >= 7  # an animation for each method it teaches


def test_a_section_that_reads_another_sections_variable_fails(tmp_path, media):
    section = SLIDES / "sections" / f"_probe-{os.getpid()}.qmd"
    section.write_text("## Probe\n\n```{python}\n#| label: probe\nprint(mom_v)\n```\n")
    deck = R.standalone_deck(section)
    try:
        from nbclient.exceptions import CellExecutionError

        with pytest.raises(CellExecutionError, match="NameError"):
            D.execute_deck(deck)
    finally:
        deck.unlink()
        section.unlink()

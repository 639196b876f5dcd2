"""The decks: their structure read statically, and every Python cell executed as Quarto would run it."""
import base64
import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

import deck as D
import optimizers as O

DECKS = D.decks()
SECTIONS = ["gd", "sgd", "minibatch"] + [n for n in O.OPTIMIZERS if n != "gd"]
SECTION_DIR = D.ROOT / "slides" / "sections"


def text_of(path):
    return D.expand_includes(path)


# ------------------------------------------------------------------------------------------------
# structure, read without running anything
# ------------------------------------------------------------------------------------------------

def test_project_renders_the_decks_from_the_project_root():
    cfg = D.project_config()
    assert cfg["project"]["execute-dir"] == "project"
    assert DECKS and all(p.exists() for p in DECKS)


@pytest.mark.parametrize("name", SECTIONS)
def test_every_method_has_its_section(name):
    section = SECTION_DIR / f"_{name}.qmd"
    assert section.exists(), f"no slides/sections/_{name}.qmd"
    full = "\n".join(text_of(p) for p in DECKS)
    assert re.search(rf"^## .*\{{#{name}\}}", full, re.M), f"no slide with id #{name} in any deck"
    body = section.read_text()
    rule_target = "O.LeastSquares.batch_grad" if name in ("sgd", "minibatch") else f"O.{name}"
    assert f"S.rule({rule_target})" in body or f"S.rule(O.gd)" in body, "the update rule is not taken from the module"
    assert "S.code(" in body, "the real code is not shown"
    assert "S.video(" in body, "no animation"
    assert "{.pro}" in body and "{.con}" in body, "no pros and cons"


SECOND_HALF = {
    "_race.qmd": ["race-bowl", "race-valley", "race-dots", "race-strip"],
    "_pitfalls.qmd": ["anim-saddle", "anim-local-minima", "plot-conditioning", "plot-noise-bands"],
    "_pitfalls-more.qmd": ["plot-saddle-rotated", "plot-basins"],
    "_theory.qmd": ["plot-theory-gd", "plot-theory-momentum", "plot-theory-bias", "plot-theory-sgd",
                    "plot-theory-precondition", "txt-theory-beyond"],
    "_practice.qmd": ["plot-schedules", "plot-range-test", "anim-clipping", "plot-adam-knobs", "plot-l2-vs-adamw"],
    "_choose.qmd": ["txt-choose-evidence"],
    "_explorer.qmd": ["explorer"],
    "_summary.qmd": ["table-summary-defaults", "plot-summary-results"],
}


@pytest.mark.parametrize("name, labels", list(SECOND_HALF.items()))
def test_second_half_sections_are_included_and_computed(name, labels):
    full = "\n".join(text_of(p) for p in DECKS)
    body = (SECTION_DIR / name).read_text()
    assert body in full, f"{name} is not included in any deck"
    found = {c.label for c in D.cells(body)} | set(re.findall(r'S\.video\(anim, "([\w-]+)"', body))
    assert set(labels) <= found, f"{name} lacks {sorted(set(labels) - found)}"


def test_every_slide_has_speaker_notes():
    for path in DECKS:
        for chunk in D.slides(text_of(path))[1:]:  # the first chunk is the title slide
            heading = chunk.splitlines()[0]
            assert "::: {.notes}" in chunk or re.search(r"print\(S\.notes\(", chunk), \
                f"no speaker notes on slide {heading!r}"


def test_every_cell_is_labelled_and_labels_are_unique():
    for path in DECKS:
        labels = [c.label for c in D.cells(text_of(path))]
        assert all(labels), "a cell has no label"
        assert len(labels) == len(set(labels)), f"duplicate labels: {sorted(l for l in labels if labels.count(l) > 1)}"


def test_every_figure_cell_has_alt_text_and_every_video_a_unique_name():
    names = []
    for path in DECKS:
        for c in D.cells(text_of(path)):
            if re.search(r"plt\.(show|subplots|figure)\(", c.source) and not re.search(r"S\.(video|explorer|figure)\(", c.source):
                assert str(c.options.get("fig-alt", "")).strip(), f"cell {c.label} draws a figure without fig-alt"
            for m in re.finditer(r"S\.video\(\s*\w+,\s*\"([^\"]+)\"", c.source):
                names.append(m.group(1))
                assert "alt=" in c.source, f"cell {c.label}: video without alt text"
            for m in re.finditer(r"S\.figure\(", c.source):
                assert "alt=" in c.source[m.start():], f"cell {c.label}: figure without alt text"
    assert len(names) == len(set(names)), "two animations would write the same media file"
    assert len(names) >= len(SECTIONS) + 5  # every method, and the race, pitfalls and practice animations


def test_no_remote_resources_in_the_sources():
    remote = re.compile(r"""(src|href)\s*=\s*["']?https?://|url\(\s*["']?https?://|@import\s+["']?https?://|!\[[^\]]*\]\(https?://""")
    for path in [D.ROOT / "_quarto.yml", *(D.ROOT / "slides").rglob("*.qmd"), *(D.ROOT / "slides").rglob("*.yml"),
                 *(D.ROOT / "slides").rglob("*.scss"), *(D.ROOT / "code").glob("*.py"), *(D.ROOT / "code").glob("*.js")]:
        assert not remote.search(path.read_text()), f"{path} refers to a remote resource"


def test_offline_math_and_deck_options():
    for path in DECKS:
        fmt = D.deck_metadata(path)["format"]["revealjs"]
        assert fmt["html-math-method"] == "mathml"  # typeset by the browser: no MathJax from a CDN
        assert fmt.get("embed-resources") in (None, False) or fmt.get("self-contained-math")


def test_the_harness_reads_quarto_syntax(tmp_path):
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "_inner.qmd").write_text("## Inner\n\n```{python}\n#| label: two\nx = 2\n```\n")
    (tmp_path / "deck.qmd").write_text(textwrap.dedent("""\
        ---
        title: t
        ---
        ```{python}
        #| label: one
        #| fig-alt: "a: b"
        x = 1
        ```

        {{< include part/_inner.qmd >}}

        ```{python}
        #| label: three
        #| eval: false
        raise RuntimeError
        ```
        """))
    cells = D.cells(D.expand_includes(tmp_path / "deck.qmd"))
    assert [c.label for c in cells] == ["one", "two", "three"]
    assert cells[0].options["fig-alt"] == "a: b" and cells[1].source == "x = 2"
    assert cells[2].options["eval"] is False
    assert [s.splitlines()[0] for s in D.slides(D.expand_includes(tmp_path / "deck.qmd"))[1:]] == ["## Inner"]


# ------------------------------------------------------------------------------------------------
# every cell, executed in a real Jupyter kernel
# ------------------------------------------------------------------------------------------------

def test_a_broken_cell_fails_the_run(tmp_path):
    from nbclient.exceptions import CellExecutionError

    (tmp_path / "deck.qmd").write_text("```{python}\n#| label: ok\nimport os\nopen('ran.txt', 'w').write(os.getcwd())\n```\n\n"
                                       "```{python}\n#| label: broken\n1 / 0\n```\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        D.execute_deck(tmp_path / "deck.qmd", run_dir=run_dir, timeout=120)
    assert (run_dir / "ran.txt").read_text() == str(run_dir)  # cells ran in order, from the run directory


@pytest.fixture(scope="module")
def executed():
    media = D.ROOT / "slides" / "media"
    if media.exists():
        shutil.rmtree(media)  # every video must come from this run
    return {path: D.execute_deck(path) for path in DECKS}


def test_every_cell_runs_without_warnings_or_nan(executed):
    for path, cells in executed.items():
        for c in cells:
            for o in c.outputs:
                assert not (o.get("output_type") == "stream" and o.get("name") == "stderr"), \
                    f"cell {c.label} wrote to stderr:\n{o['text'][:800]}"
                assert o.get("output_type") != "error"
            text = D.output_text(c)
            assert not D.shows_nan_or_inf(text), f"cell {c.label} shows nan or inf:\n{text[:500]}"


def test_no_output_pulls_in_javascript_from_a_cdn(executed):
    # an IPython HTML display makes Quarto add require.js from a CDN; raw HTML blocks in `asis` output do not
    for cells in executed.values():
        for c in cells:
            for o in c.outputs:
                assert "text/html" not in o.get("data", {}), f"cell {c.label} displays HTML through IPython"
                assert "application/javascript" not in o.get("data", {})


def test_every_figure_output_has_alt_text(executed):
    n = 0
    for cells in executed.values():
        for c in cells:
            if any("image/png" in o.get("data", {}) for o in c.outputs):  # an inline figure, if any
                assert str(c.options.get("fig-alt", "")).strip(), f"cell {c.label} outputs a figure without fig-alt"
            for m in re.finditer(r'<figure class="fig"[^>]*>\s*<img src="media/([\w-]+)\.png"[^>]*alt="([^"]*)"', D.output_text(c)):
                n += 1
                assert len(m.group(2)) >= 20, f"figure {m.group(1)} has no real text alternative"
            for alt in D.alt_texts(D.output_text(c)):
                assert not re.search(r"\\[a-zA-Z,;]|\$|\^|_\{", alt), f"cell {c.label}: raw TeX in a text alternative: {alt[:120]}"
    assert n >= 20  # the static figures: each through present.figure, with its alt text


def test_every_animation_produced_its_video_and_still(executed):
    import imageio_ffmpeg
    from PIL import Image

    media = D.ROOT / "slides" / "media"
    found = 0
    for cells in executed.values():
        for c in cells:
            text = D.output_text(c)
            for m in re.finditer(r'<video ([^>]*)>\s*<source src="media/([\w-]+)\.mp4" type="video/mp4">', text):
                attrs, name = m.groups()
                found += 1
                assert "data-autoplay" in attrs and "muted" in attrs and "controls" in attrs
                assert re.search(r'aria-label="[^"]{20,}"', attrs), f"video {name} has no text alternative"
                assert re.search(rf'<img class="anim-still" src="media/{name}\.png" alt="[^"]{{20,}}"', text)
                mp4, png = media / f"{name}.mp4", media / f"{name}.png"
                assert mp4.exists() and png.exists(), f"{name}: video or still missing"
                assert mp4.stat().st_size <= 420_000, f"{name}.mp4 is {mp4.stat().st_size:,} bytes"
                frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(mp4))
                assert frames >= 20 and seconds > 1, f"{name}.mp4 has {frames} frames"
                with Image.open(png) as im:
                    assert im.size[0] >= 800
    assert found >= len(SECTIONS)


def asis_outputs(executed):
    """``(label, Markdown)`` of every ``output: asis`` cell of the executed decks."""
    outputs = [(c.label, D.output_text(c)) for cells in executed.values() for c in cells
               if c.options.get("output") == "asis"]
    assert len(outputs) >= 100, f"only {len(outputs)} asis cells ran"  # the decks have hundreds
    return outputs


def test_numbered_by_accident_finds_a_number_put_first_in_a_list_item():
    item = "- Other settings: momentum 0.9 (PyTorch's is\n  0) and AdaDelta eps = 0.01.\n"
    assert D.numbered_by_accident(item) == ["0) and AdaDelta eps = 0.01."]
    assert D.numbered_by_accident("1. first\n   wraps on\n   2. here\n") == ["2. here"]
    assert D.numbered_by_accident("- Other settings: momentum 0.9\n  (PyTorch's is 0) and AdaDelta.\n") == []
    assert D.numbered_by_accident("A paragraph, not a list,\n  0) goes on.\n") == []  # Pandoc: one paragraph
    assert D.numbered_by_accident("1. one\n2. two\n") == []  # a list of its own
    assert D.numbered_by_accident("- item\n```{=html}\n  0) in raw HTML\n```\n") == []


def test_printed_numbers_are_found_in_notes_and_alt_texts_only():
    note = "\n::: {.notes}\nNadam's loss, 7.5e-172 at step 1495, climbs back to 3.1e+00; `eps=1e-8` is code.\n:::\n"
    assert D.printed_numbers(note) == ["7.5e-172", "3.1e+00"]
    assert D.printed_numbers('<img src="media/a.png" alt="GD is still 4e-05 at step 300.">') == ["4e-05"]
    assert D.printed_numbers("| Adam | eps 1e-08 |\n" + note.replace("7.5e-172", "$7.5 \\times 10^{-172}$")) == ["3.1e+00"]
    assert D.printed_numbers("::: {.notes}\nstep 1e3x, version 1.2e5.1, a0e1 and 0.476, 2,060\n:::\n") == []


def test_shows_nan_or_inf_finds_a_diverged_number_and_passes_words():
    assert D.shows_nan_or_inf("the loss is nan at step 5") and D.shows_nan_or_inf("x = -inf") and D.shows_nan_or_inf("NaN")
    assert not D.shows_nan_or_inf("an infinity of finance, nanoseconds, 1.5 and info")


def test_prose_problems_names_each_defect():
    assert D.prose_problems("::: {.notes}\nThe loss is 0.476 at step 2,060; `lr=1e-3` is code.\n:::\n") == []
    assert D.prose_problems("GD: np.float64(0.5)") == ["prints a Python repr"]
    assert D.prose_problems("```{=html}\n<video>") == ["leaves a code fence open"]
    assert "as a numbered list" in D.prose_problems("- momentum (PyTorch's is\n  0) and more\n")[0]
    assert D.prose_problems('<img alt="below 1e-06 from step 95">') == \
        ["1e-06 in a note or alt text: format it with present.number"]


def test_spelled_math_finds_ascii_symbols_in_notes_and_passes_typeset_ones():
    typeset = ("::: {.notes}\nWith $\\beta_2 = 0.999$ the step is $\\eta_t = \\eta \\sqrt{1 - \\beta_2^t}$, "
               "AdaDelta and Adam's `weight_decay` flag; the metaphor of a heavy ball.\n:::\n")
    assert D.spelled_math(typeset) == [] and D.prose_problems(typeset) == []
    spelled = ("::: {.notes}\nWith beta_2 = 0.999 the step is eta_t = eta root(1 - beta_2^t), m-hat over v-hat, "
               "mu = 0.9, sigma squared, x^2 and the weight_decay flag.\n:::\n")
    assert D.spelled_math(spelled) == ["beta_2", "eta_t", "eta", "root(", "beta_2^t", "m-hat", "v-hat", "mu", "sigma",
                                       "x^2", "weight_decay"]
    assert D.spelled_math('<img alt="learning rate times lambda max">') == []  # text alternatives stay plain
    # a TeX command in a Python string that is not raw: "\beta" holds a backspace
    assert D.prose_problems("::: {.notes}\n$" + "\beta" + "_2$\n:::\n")[0].startswith("holds the control character '\\x08'")


def test_symbols_in_alt_text_finds_indices_and_powers_and_passes_spoken_ones():
    spoken = '<img alt="momentum mu at step t for beta 1 = 0.9, below 10⁻⁶, file gd_path.png">'
    assert D.symbols_in_alt_text(spoken) == ["gd_path"]  # a file name is text too: keep it out of what is read
    assert D.symbols_in_alt_text(spoken.replace(", file gd_path.png", "")) == []
    written = '<img alt="momentum mu_t for beta_1 = 0.9 and x^2">'
    assert D.symbols_in_alt_text(written) == ["mu_t", "beta_1", "x^2"]
    assert D.symbols_in_alt_text("::: {.notes}\n$\\beta_1$ and mu_t in a note\n:::\n") == []  # notes: spelled_math


def test_hyphen_minus_finds_a_hyphen_for_a_minus_sign_in_text_for_the_audience():
    assert D.hyphen_minus("AMSGrad moves it to -2.24; Adam to \u22122.5.") == ["moves it to -2.24"]
    assert D.hyphen_minus('```{=html}\n<img alt="the well at x = -1.11" style="margin:-1px">\n```\n') == \
        ["well at x = -1.11"]
    assert D.hyphen_minus("Zero gradient: AdamW steps (-0.03, 0.06)\n") == ["damW steps (-0.03"]
    kept = "epochs 6-10, a 64-32-10 net, $x = (1, -2)$, `lr=-1`, 10^-4, $10^{-6}$, e-2, x_{-1}\n```python\nx = -1\n```\n"
    assert D.hyphen_minus(kept) == []


def test_asis_output_is_prose_for_the_audience(executed):
    """No Python repr or open fence, no number that starts a list by accident, no e-notation in a note or alt
    text, no hyphen for a minus sign (``deck.prose_problems``). Sections run on their own and the other
    variants get the same check (``run_section.problems``)."""
    for label, text in asis_outputs(executed):
        found = D.prose_problems(text)
        assert not found, f"cell {label}: " + "; ".join(found)


def test_slides_and_figures_share_one_typeface():
    """The theme's font is the project's own files (fonts/), the very files plots.py gives matplotlib."""
    import plots as P

    from fontTools.ttLib import TTFont

    header = (D.ROOT / "slides" / "includes" / "fonts.html").read_text()
    files = re.findall(r'font-family: "Deck Sans";[^}]*url\("\.\./fonts/web/([\w-]+)\.woff"\)', header)
    assert len(files) == 6
    for stem in files:  # each web font is made from the TTF matplotlib uses: same family, style and version
        web, ttf = TTFont(D.ROOT / "fonts" / "web" / f"{stem}.woff"), TTFont(D.ROOT / "fonts" / f"{stem}.ttf")
        assert [web["name"].getDebugName(i) for i in (1, 2, 5)] == [ttf["name"].getDebugName(i) for i in (1, 2, 5)]
    assert re.search(r'^\$font-family-sans-serif: "Deck Sans"', (D.ROOT / "slides" / "theme.scss").read_text(), re.M)
    meta = D.deck_metadata(D.ROOT / "slides" / "lecture.qmd")["format"]["revealjs"]
    assert "includes/fonts.html" in meta["include-in-header"] and "../fonts/web/*.woff" in meta["resources"]
    from matplotlib import font_manager

    used = font_manager.findfont(font_manager.FontProperties(family=P.plt.rcParams["font.family"]))
    assert Path(used).parent == D.ROOT / "fonts", f"matplotlib draws with {used}"


def heading_ids(text: str) -> list[str]:
    """The ids pandoc gives a deck's slide headings: the explicit ``{#id}``, else the auto identifier (the
    text lowercased, spaces to hyphens, punctuation other than - _ . dropped, leading non-letters dropped)."""
    ids = []
    for chunk in D.slides(text)[1:]:
        heading = chunk.splitlines()[0]
        explicit = re.search(r"\{[^}]*#([\w-]+)[^}]*\}\s*$", heading)
        if explicit:
            ids.append(explicit.group(1))
            continue
        title = re.sub(r"\{.*\}\s*$", "", heading.lstrip("#")).strip().lower()
        title = re.sub(r"[^\w\s.-]", "", title)
        ids.append(re.sub(r"^[^a-z]+", "", re.sub(r"\s+", "-", title)))
    return ids


def test_no_two_slides_share_an_id():
    assert heading_ids("# Momentum\n\n## Momentum {#momentum}\n") == ["momentum", "momentum"]  # the check sees a clash
    for decks in D.variants().values():
        for path in decks:
            ids = heading_ids(text_of(path))
            assert len(ids) == len(set(ids)), f"{path.name}: {sorted({i for i in ids if ids.count(i) > 1})}"


def test_nothing_but_hidden_cells_before_the_first_heading():
    """Anything a deck shows (even an HTML comment) before its first heading becomes an untitled slide."""
    def before_first_heading(text):
        body = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
        first = D.slides(body)[0]
        return re.sub(r"^```\{python\}\n#\| label: [\w-]+\n#\| include: false\n.*?^```\n", "", first, flags=re.S | re.M).strip()

    assert before_first_heading("---\ntitle: t\n---\n<!-- a note -->\n\n## A\n") == "<!-- a note -->"
    for decks in D.variants().values():
        for path in decks:
            assert before_first_heading(text_of(path)) == "", f"{path.name} shows something before its first heading"

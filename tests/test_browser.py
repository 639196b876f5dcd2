"""The rendered deck in a real browser (headless Chromium), and its PDF export.

The checks are first run on small reveal.js decks that these tests build themselves with pandoc's
revealjs writer (from the pypandoc-binary wheel) and reveal.js 5 (from the npm registry, as Quarto 1.8
bundles it): one deck without defects, one with a defect for each check, so every check is seen to pass
and to fail. Then they run on the real rendered deck, when `quarto render` has produced it.
"""
from __future__ import annotations

import os
import re
import unicodedata
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import browser_checks as B
import deck as D

ROOT = D.ROOT
sys.path.insert(0, str(ROOT / "code"))
import export_pdf as E  # noqa: E402

NODE_MODULES = ROOT / "tests" / "browser" / "node_modules"
REVEAL = NODE_MODULES / "reveal.js"
A11Y = ROOT / "slides" / "includes" / "a11y.html"
MATH_PUNCTUATION = ROOT / "slides" / "includes" / "math-punctuation.lua"  # the decks' filter (slides/_metadata.yml)
MATH_SCRIPT = ROOT / "slides" / "includes" / "math.html"  # the decks' script: brackets at text size, no blank after roots
# Quarto's layout CSS (its revealjs theme and line-highlight plugin, 1.8): columns as inline blocks that
# clip nothing, code blocks as wide as their column that scroll,
# numbered code lines shifted left into the room of their numbers, and the lines a code walk-through is
# not talking about dimmed.
QUARTO_CODE_CSS = """div.columns { display: initial; gap: initial; }
div.column { display: inline-block; overflow-x: initial; vertical-align: top; width: 50%; }
.reveal div.sourceCode { margin: 0; overflow: auto; }
.reveal pre { width: 100%; margin: 0; }
.reveal div.sourceCode pre code.has-line-highlights > span:not(.highlight-line) { opacity: 0.4; }
.reveal pre.numberSource { padding-left: 0; }
.reveal pre.numberSource code > span { left: -2.1em; }
pre.numberSource code > span > a:first-child::before { left: -0.7em; }"""


def need_browser():
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)")
    if E.find_chromium() is None:
        pytest.skip(f"no Chromium found: {E.HOW_TO_GET}")


@pytest.fixture(scope="module")
def browser():
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = E.launch(p, E.find_chromium())
        yield b
        b.close()


def reveal_js() -> Path:
    """reveal.js (and axe-core) from tests/browser/package-lock.json, installed on first use."""
    if not ((REVEAL / "dist" / "reveal.js").exists() and B.AXE.exists()):
        if shutil.which("npm") is None:
            pytest.skip("reveal.js and axe-core for the test decks are missing and npm is not available to install them")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(NODE_MODULES.parent)],
                       check=True, capture_output=True, timeout=300)
    return REVEAL


def theme_rules() -> str:
    """The plain-CSS rules of the deck's theme (its scss:rules part), so the test decks look and print
    like it; without its ``//`` comment lines, which CSS does not know: a browser reads one as the start
    of the next rule's selector and drops that rule (and more, when the comment opens a parenthesis)."""
    scss = (ROOT / "slides" / "theme.scss").read_text()
    rules = scss.split("/*-- scss:rules --*/", 1)[1]
    return "\n".join(line for line in rules.splitlines() if not line.lstrip().startswith("//"))


# Quarto's footer, as it writes it into every deck (a div at the end of .reveal) with its plugin's rules
# (quarto-support/footer.css): fixed at the bottom of the screen, over the slides.
FOOTER = """<script>document.querySelector('.reveal').insertAdjacentHTML('beforeend',
  '<div class="footer footer-default"><p>Test deck</p></div>');</script>
<style>.reveal .footer { display: block; position: fixed; bottom: 18px; width: 100%; margin: 0 auto;
  text-align: center; font-size: 18px; z-index: 2; } .reveal .footer > * { margin: 0; }</style>"""


def build_deck(tmp: Path, slides_md: str, a11y: bool = True, css: str = "", lua: bool = True,
               math_script: bool = True) -> Path:
    """Write a reveal.js deck from Markdown slides with pandoc; return the HTML path. Like the real deck
    it gets the theme's rules, (``a11y``) the deck's accessibility script, slides/includes/a11y.html,
    (``lua``) its filter that keeps punctuation on the line of the math before it, and (``math_script``)
    its script that keeps brackets at text size and leaves no blank after a root, slides/includes/math.html;
    ``css`` comes after the theme's rules. Every deck has Quarto's footer (``FOOTER``)."""
    pypandoc = pytest.importorskip("pypandoc", reason="pypandoc-binary is not installed")
    shutil.copytree(reveal_js(), tmp / "reveal.js", dirs_exist_ok=True)
    (tmp / "style.html").write_text(f"<style>{theme_rules()}\n{QUARTO_CODE_CSS}\n{css}</style>")
    (tmp / "footer.html").write_text(FOOTER)
    html = tmp / "deck.html"
    pypandoc.convert_text(slides_md, "revealjs", format="markdown", outputfile=str(html), extra_args=[
        "--standalone", "--mathml", "--slide-level=2", "-V", "revealjs-url=reveal.js", "-V", "theme=white",
        "-V", "width=1600", "-V", "height=900", "--include-in-header", str(tmp / "style.html"),
        "--metadata", "title=Test deck", "--include-after-body", str(tmp / "footer.html"),
        *(["--include-after-body", str(A11Y)] if a11y else []),
        *(["--include-after-body", str(MATH_SCRIPT)] if math_script else []),
        *(["--lua-filter", str(MATH_PUNCTUATION)] if lua else [])])
    return html


@pytest.fixture(scope="module")
def media_html(tmp_path_factory):
    """A real animation from the project's modules: its raw HTML, with media/ beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import optimizers as O
    import plots as P
    import present as S

    out = tmp_path_factory.mktemp("media")
    old = S.MEDIA
    S.MEDIA = out / "media"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPTIMIZERS_CACHE_DIR", str(out / "cache"))  # not the project's build cache
        try:
            f = O.SURFACES["quadratic"]
            tr = O.run(O.demo("gd"), f, steps=40)
            html = S.video(P.animate([P.PathPanel(f, [P.Track(tr.path, "gd")])], max_frames=41), "clip",
                           width="60%", alt="Gradient descent on the bowl, straight to the minimum in 40 steps.")
        finally:
            S.MEDIA = old
    return html, out / "media"


GOOD = """
## Plain text {{#plain}}

Gradient descent steps against the gradient.

::: notes
Notes for the first slide.
:::

## Math {{#math}}

The update $x_t = x_{{t-1}} - \\eta\\, g_t$ and a display:

$$
\\begin{{aligned}} m_t &= \\beta_1 m_{{t-1}} + (1 - \\beta_1)\\, g_t \\\\ x_t &= x_{{t-1}} - \\eta \\frac{{\\hat m_t}}{{\\sqrt{{\\hat v_t}} + \\epsilon}} \\end{{aligned}}
$$

## Animation {{#animation}}

{video}

## Code {{#code}}

```{{.python .numberLines}}
x = x - lr * grad(x)
print("loss after 30 steps:", round(f(x), 4))
```

<div class="cell-output cell-output-stdout"><pre><code>loss after 30 steps: 0.0012</code></pre></div>

## Math and a period {{#mathperiod}}

::: {{style="width: min-content; overflow-wrap: anywhere"}}
The $\\eta$.
:::

## Rule and code {{#rulecode}}

:::: {{.columns}}
::: {{.column width="40%"}}
$$
\\begin{{aligned}} b_t &= \\mu\\, b_{{t-1}} + g_t \\\\ x_t &= x_{{t-1}} - \\eta\\, b_t \\end{{aligned}}
$$
:::
::: {{.column width="60%"}}
```{{.python .numberLines}}
def update(g, state, x):
    b = mu * state.b + g
    if nesterov:
        return -lr * (g + mu * b), MomentumState(state.t + 1, b)
    return -lr * b, MomentumState(state.t + 1, b)
```
:::
::::

## Walk-through {{#walkthrough}}

<div class="sourceCode"><pre class="sourceCode python"><code class="sourceCode python has-line-highlights"><span class="highlight-line">v = mu * v + grad(x)</span>
<span>x = x - lr * v</span></code></pre></div>
"""

BAD = """
## Too long {{#long}}

{bullets}

## Wide code {{#widecode}}

```python
result = some_function_with_a_long_name(first_argument, second_argument, third_argument, fourth_argument, fifth_argument, sixth)
```

## Rule past its column {{#spilledrule}}

:::: {{.columns}}
::: {{.column width="20%"}}
$$
m_t = \\beta_1 m_{{t-1}} + (1 - \\beta_1)\\, g_t, \\quad v_t = \\beta_2 v_{{t-1}} + (1 - \\beta_2)\\, g_t^2
$$
:::
::: {{.column width="80%"}}
The code would lie on top of the rule's end.
:::
::::

## Cut line {{#cutline}}

:::: {{.columns}}
::: {{.column width="40%"}}
A short rule.
:::
::: {{.column width="60%"}}
```{{.python .numberLines}}
def update(g, state, x):
    return -lr * (g + mu * b), MomentumState(state.t + 1, b), MomentumState(state.t + 2, b)
```
:::
::::

## Raw TeX {{#rawtex}}

This one was not typeset: \\$x_t = x_{{t-1}} - \\eta g_t\\$.

## Remote image {{#remote}}

<img src="https://example.invalid/logo.png" alt="a logo from the internet">

## Broken script {{#script}}

<script>throw new Error("deliberate error");</script>

## Broken video {{#video}}

<video data-autoplay muted controls><source src="media/missing.mp4" type="video/mp4"></video>

## Small text {{#small}}

Readable, then <span style="font-size:10px">tiny print</span>.

## Small body {{#smallbody}}

<p style="font-size:22px">A paragraph at 22 px on the slide, about 25 px on screen.</p>

## Printed TeX {{#printedtex}}

```python
print("cosine", cos)
```

<div class="cell-output cell-output-stdout"><pre><code>cosine $7.54 \\times 10^{{-32}}$</code></pre></div>

## Printed sentence {{#printed}}

<div class="cell-output cell-output-stdout"><pre><code>GD needs 120 steps on the bowl.</code></pre></div>

## Empty link {{#emptylink}}

A link without a name: <a href="#plain"></a>

## Faint text {{#faint}}

<p style="color:#c8c8c8">Text too faint to read on white.</p>

## Into the footer {{#footer}}

<div style="height: 725px">Inside the slide's box, yet its last line lies under the footer.</div>
<p style="margin: 0">Under the footer</p>
"""


def slides_named(problems: list[str]) -> set[str]:
    """The (lower-case) titles of the slides a check's problems are on."""
    return {p.split("'")[1].lower() for p in problems}


def build_good_deck(tmp: Path, media_html, **options) -> Path:
    """The clean deck in ``tmp``, with the animation's media beside it; ``options`` go to ``build_deck``
    (a part of the real deck left out, a rule of the theme as it was)."""
    html_block, media = media_html
    shutil.copytree(media, tmp / "media")
    return build_deck(tmp, GOOD.format(video=html_block), **options)


@pytest.fixture(scope="module")
def good_deck(tmp_path_factory, media_html):
    return build_good_deck(tmp_path_factory.mktemp("good"), media_html)


@pytest.fixture(scope="module")
def bad_deck(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    bullets = "\n".join(f"- line {i} of a slide that is much too long for one screen" for i in range(40))
    return build_deck(tmp, BAD.format(bullets=bullets))


# ------------------------------------------------------------------------------------------------
# the checks, on decks with and without defects
# ------------------------------------------------------------------------------------------------

def test_a_clean_deck_passes_every_check(browser, good_deck):
    s = B.open_deck(browser, good_deck, good_deck.parent)
    found = B.walk(s)
    assert found["visited"] == 8  # title slide + 7
    for check in B.CHECKS:
        assert found[check] == [], (check, found[check])
    assert s.console_errors == [] and s.failed_requests == [] and s.outside_requests == []
    assert s.page.evaluate("document.querySelectorAll('math').length") >= 2
    videos = B.video_slides(s.page)
    assert len(videos) == 1
    assert B.playback(s, videos[0]) == []
    s.page.context.close()


def test_each_defect_is_caught(browser, bad_deck):
    s = B.open_deck(browser, bad_deck, bad_deck.parent)
    found = B.walk(s)
    assert found["visited"] == 16
    assert slides_named(found["overflow"]) == {"too long", "wide code", "rule past its column", "cut line", "into the footer"}, \
        found["overflow"]
    on = lambda title: [p.split(": ", 1)[1] for p in found["overflow"] if f"'{title}'" in p.lower()]
    # a code block scrolls (as Quarto styles it, the div around the pre): the end of the line is hidden
    assert on("wide code") and all(p.startswith("div.sourceCode hides ") for p in on("wide code")), on("wide code")
    assert on("cut line") and all(p.startswith("div.sourceCode hides ") for p in on("cut line")), on("cut line")
    assert on("rule past its column") and all("out of its column" in p for p in on("rule past its column"))
    # inside the slide's box (no element runs past it), under the footer's text
    assert on("into the footer") == ['runs into the footer: "Under the footer"'], on("into the footer")
    assert found["raw_math"] and slides_named(found["raw_math"]) == {"raw tex"}
    # the 10 px span is under 24 px and, in a paragraph, under 30 px; the 22 px paragraph only under 30
    assert slides_named(found["text_size"]) == {"small text", "small body"}
    small = [p for p in found["text_size"] if "'small text'" in p.lower()]
    assert any("of text under 24 px (smallest 1" in p and "tiny print" in p for p in small)
    assert [p for p in found["text_size"] if "'small body'" in p.lower()] and \
        all("body text under 30 px" in p for p in found["text_size"] if "'small body'" in p.lower())
    # TeX in a printed block on a code slide; a printed sentence on a slide without code
    assert slides_named(found["output_blocks"]) == {"printed tex", "printed sentence"}
    tex, sentence = found["output_blocks"]
    assert "raw TeX '$7.54 \\\\times 10^{-32}$'" in tex and "printed output on a slide that shows no code" in sentence
    assert slides_named(found["axe"]) == {"empty link", "faint text"}
    assert all(p.split(": ", 1)[1].startswith("link-name (serious)") for p in found["axe"] if "'empty link'" in p.lower())
    assert all(p.split(": ", 1)[1].startswith("color-contrast (serious)") for p in found["axe"] if "'faint text'" in p.lower())
    assert set(s.outside_requests) == {"https://example.invalid/logo.png"}
    assert any("deliberate error" in e for e in s.console_errors)
    assert any("missing.mp4" in r for r in s.failed_requests)
    problems = B.playback(s, B.video_slides(s.page)[0], wait_ms=800)
    assert problems and "did not play" in problems[0]
    s.page.context.close()


CLAIMS = """## Pros and cons

::: {.pro}
A typed claim.

Its evidence.
:::

::: {.con}
::: {.cell}
A claim a cell printed, about $1/B$.

Its evidence, printed too.
:::
:::
"""


def test_a_claim_carries_its_sign_typed_or_printed_by_a_cell(browser, tmp_path):
    """Each claim of a pros-and-cons block opens with its sign; with the theme's rule as it was (the sign only
    on a paragraph right inside the block), the claim a cell printed, inside the cell's div, has none."""
    found = {}
    for name, css in (("theme", ""), ("old rule", ".reveal .con > .cell:first-child > p:first-child::before { content: none; }")):
        deck = build_deck(tmp_path / name.replace(" ", "-"), CLAIMS, css=css)
        s = B.open_deck(browser, deck, deck.parent)
        found[name] = B.walk(s, checks=("claims",))["claims"]
        s.page.context.close()
    assert found["theme"] == []
    assert len(found["old rule"]) == 1 and "con without its sign: 'A claim a cell printed" in found["old rule"][0], found


def test_without_the_filter_the_period_after_math_is_caught_alone_on_a_line(browser, media_html, tmp_path):
    """Without slides/includes/math-punctuation.lua the browser may break between inline math and the
    period after it: in the clean deck's column that breaks wherever it may (``overflow-wrap: anywhere``,
    as narrow as it can be) the period starts a line of its own; with the filter it stays."""
    bare = build_good_deck(tmp_path, media_html, lua=False)
    found = B.check_deck(browser, bare, tmp_path, checks=["raw_math"])
    assert slides_named(found["raw_math"]) == {"math and a period"}, found["raw_math"]
    assert all('"." begins a line, cut from the math' in p for p in found["raw_math"]), found["raw_math"]


def test_numbered_code_padded_outside_its_width_is_caught(browser, media_html, tmp_path):
    """The theme's numbered code as it was: 2.3em of padding added to a block 100% wide. The block
    scrolls by the padding, so a line that fits the block (the clean deck's longest, 64 characters in
    a column 60% wide, as on the momentum slide) loses its end."""
    old_rule = ".reveal div.sourceCode pre.numberSource { padding-left: 2.3em; box-sizing: content-box; }"
    s = B.open_deck(browser, build_good_deck(tmp_path, media_html, css=old_rule), tmp_path)
    found = B.walk(s, checks=("overflow",))
    s.page.context.close()
    assert slides_named(found["overflow"]) == {"rule and code"}, found["overflow"]
    assert all(p.split(": ", 1)[1].startswith("div.sourceCode hides ") for p in found["overflow"]), found["overflow"]


def test_the_a11y_script_names_the_line_anchors_of_numbered_code(browser, good_deck, media_html, tmp_path):
    """Without slides/includes/a11y.html the clean deck's numbered code has links without a name."""
    bare = build_good_deck(tmp_path, media_html, a11y=False)
    found = B.check_deck(browser, bare, tmp_path, checks=["axe"])
    # the anchors of its two numbered blocks, the code slide's (cb1) and the one beside a rule (cb2)
    assert found["axe"] and all(re.match(r'link-name \(serious\): a\[href\$="#cb[12]-', p.split(": ", 1)[1])
                                for p in found["axe"]), found["axe"]
    assert slides_named(found["axe"]) == {"code", "rule and code"}


def test_a_video_whose_load_was_put_aside_still_plays_on_entering_its_slide(browser, good_deck, media_html, tmp_path):
    """A browser may set aside an idle video's load (Chromium suspends preloaded players); then reveal.js,
    waiting for data, never starts it. preload="none" makes that state for sure: with
    slides/includes/a11y.html the video plays on entering its slide, without it it stays at 0 s."""
    html_block, media = media_html
    shutil.copytree(media, tmp_path / "media")
    idle = html_block.replace('preload="auto"', 'preload="none"')
    assert idle != html_block
    for a11y, plays in ((True, True), (False, False)):
        deck = build_deck(tmp_path, GOOD.format(video=idle), a11y=a11y)
        s = B.open_deck(browser, deck, tmp_path)
        problems = B.playback(s, B.video_slides(s.page)[0])
        assert (not any("did not play" in p for p in problems)) == plays, (a11y, problems)
        s.page.context.close()


def test_only_the_listed_elements_escape_axe(browser, good_deck, monkeypatch):
    """The walk-through's dimmed line passes only because AXE_ALLOWED names it."""
    monkeypatch.setattr(B, "AXE_ALLOWED", [])
    found = B.check_deck(browser, good_deck, good_deck.parent, checks=["axe"])
    assert slides_named(found["axe"]) == {"walk-through"}
    assert all("color-contrast (serious)" in p for p in found["axe"])


def test_a_video_that_keeps_playing_after_its_slide_is_caught(browser, good_deck):
    s = B.open_deck(browser, good_deck, good_deck.parent)
    # make reveal.js leave media alone when the slide changes: the check must notice
    s.page.evaluate("document.querySelector('video').setAttribute('data-ignore', '')")
    problems = B.playback(s, B.video_slides(s.page)[0])
    assert any("kept playing" in p for p in problems)
    s.page.context.close()


def test_videos_wait_for_the_viewer_under_reduced_motion(browser, good_deck, media_html, tmp_path):
    """prefers-reduced-motion: reduce: no autoplay (the viewer starts the video with its controls); the
    preference changed back: autoplay again. Without slides/includes/a11y.html the video autoplays."""
    s = B.open_deck(browser, good_deck, good_deck.parent, reduced_motion="reduce")
    page, video = s.page, B.slide_indices(s.page)[3]
    B.go(page, video, settle_ms=1200)
    assert B.video_state(page) == [0, True]
    assert page.evaluate("Reveal.getCurrentSlide().querySelector('video').controls")
    page.evaluate("Reveal.getCurrentSlide().querySelector('video').play()")  # the viewer presses play
    page.wait_for_timeout(800)
    assert B.video_state(page)[0] > 0.2
    B.go(page, B.slide_indices(page)[0])
    page.emulate_media(reduced_motion="no-preference")
    page.wait_for_timeout(200)  # the media query's change event reaches the page's listener
    assert B.playback(s, video) == []
    s.page.context.close()

    bare = build_good_deck(tmp_path, media_html, a11y=False)
    s = B.open_deck(browser, bare, tmp_path, reduced_motion="reduce")
    B.go(s.page, B.slide_indices(s.page)[3], settle_ms=1200)
    time, paused = B.video_state(s.page)
    assert time > 0.2 and not paused
    s.page.context.close()


def test_every_video_has_a_name_a_screen_reader_reaches(browser, good_deck):
    s = B.open_deck(browser, good_deck, good_deck.parent)
    B.go(s.page, B.slide_indices(s.page)[3])
    assert B.video_names(s.page) == ["Gradient descent on the bowl, straight to the minimum in 40 steps."]
    s.page.evaluate("Reveal.getCurrentSlide().querySelectorAll('video').forEach(v => { v.removeAttribute('aria-label'); v.removeAttribute('title'); })")
    assert B.video_names(s.page) == [""]
    s.page.context.close()


def test_the_video_count_of_a_deck(good_deck, bad_deck, tmp_path):
    """Cells' animations = <video> elements = .mp4 files; a dropped video or a missing file fails."""
    assert B.video_count(good_deck, 1, good_deck.parent) == []
    assert "the cells write 2 animations, the page has 1" in B.video_count(good_deck, 2, good_deck.parent)[0]
    # the video dropped from the page, its .mp4 not copied (what Quarto's auto-stretch did)
    dropped = tmp_path / "deck.html"
    dropped.write_text(re.sub(r"<video.*?</video>", "", good_deck.read_text(), flags=re.S))
    assert "the page has 0 <video> elements" in B.video_count(dropped, 1, tmp_path)[0]
    # the page has its video, the file is missing
    assert "has 0 .mp4 files" in B.video_count(bad_deck, 1, bad_deck.parent)[0]


def test_counting_the_animations_a_deck_writes():
    cell = "```{{python}}\n#| output: asis\n{}\n```\n"
    one = cell.format('print(S.video(anim, "gd", alt="GD"))')
    assert B.video_calls(one + "Text\n" + one) == 2
    assert B.video_calls(one + cell.format("#| eval: false\nS.video(anim, 'x', alt='')")) == 1
    assert B.video_calls(cell.format("S.figure(fig, 'x', alt='')")) == 0
    for looped in ("for n in names:\n    print(S.video(anims[n], n, alt=n))",
                   "print(''.join([S.video(a, n, alt=n) for n, a in anims.items()]))",
                   "def show(a):\n    return S.video(a, 'x', alt='')"):
        with pytest.raises(ValueError, match="inside a"):
            B.video_calls(cell.format(looped))


CLEAN_LOG = """Starting python3 kernel...Done

Executing 'lecture.quarto_ipynb'
  Cell 1/64: ''...Done
[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication (including code and outputs) is sent in plain text and is susceptible to eavesdropping.

pandoc
  to: revealjs
  output-file: lecture.html

Output created: _site/slides/lecture.html
"""


def test_render_warnings_in_a_log():
    assert B.render_warnings(CLEAN_LOG) == []
    dirty = CLEAN_LOG.replace("pandoc\n", "\x1b[33mWARNING: Duplicate identifier 'momentum'\x1b[39m\npandoc\n")
    assert B.render_warnings(dirty) == ["WARNING: Duplicate identifier 'momentum'"]
    assert B.render_warnings("[WARNING] Duplicate identifier 'momentum' at line 3 column 1\n") != []


@pytest.mark.skipif(shutil.which("quarto") is None, reason="no `quarto` on PATH")
def test_a_real_render_warning_is_caught(tmp_path):
    (tmp_path / "dup.qmd").write_text("---\ntitle: Dup\nformat: revealjs\n---\n\n# Momentum {#momentum}\n\n"
                                      "## Momentum {#momentum}\n\nText.\n")
    (tmp_path / "clean.qmd").write_text("---\ntitle: Clean\nformat: revealjs\n---\n\n## Momentum {#momentum}\n\nText.\n")
    logs = {}
    for name in ("dup", "clean"):
        result = subprocess.run(["quarto", "render", f"{name}.qmd"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        logs[name] = result.stderr
    assert B.render_warnings(logs["clean"]) == []
    assert any("Duplicate identifier" in w for w in B.render_warnings(logs["dup"])), logs["dup"]


# ------------------------------------------------------------------------------------------------
# PDF export
# ------------------------------------------------------------------------------------------------

def test_a_video_load_the_browser_cancels_is_not_a_failed_request_but_a_missing_one_is(tmp_path):
    video = tmp_path / "media" / "gd.mp4"
    video.parent.mkdir()
    video.write_bytes(b"mp4")
    s = B.Session(page=None, root=tmp_path, outside_requests=["https://example.invalid/x.png"])
    there, missing = video.as_uri(), (tmp_path / "media" / "missing.mp4").as_uri()
    assert not B.failure_counts(there, "media", "net::ERR_ABORTED", s)  # left the slide while it loaded
    assert B.failure_counts(missing, "media", "net::ERR_FILE_NOT_FOUND", s)
    assert B.failure_counts(missing, "media", "net::ERR_ABORTED", s)  # cancelled, but not there either
    assert B.failure_counts(there, "image", "net::ERR_ABORTED", s)  # only videos are cancelled so
    assert not B.failure_counts("https://example.invalid/x.png", "image", "net::ERR_FAILED", s)  # refused by us


def test_pdf_has_one_page_per_slide_and_the_stills(browser, good_deck, tmp_path):
    old = os.umask(0o022)
    try:
        written = E.export(good_deck, tmp_path, timeout=120, browser=browser)
    finally:
        os.umask(old)
    assert [p.name for p in written] == ["deck.pdf", "deck-notes.pdf"]
    # readable by others, as any output under umask 022 (the temporary file's 0600 used to survive the rename)
    assert [oct(p.stat().st_mode & 0o777) for p in written] == ["0o644", "0o644"]
    pages, text = B.pdf_pages_and_text(tmp_path / "deck.pdf")
    assert pages == 8
    for title in ("Test deck", "Plain text", "Math", "Animation", "Code", "Math and a period", "Rule and code"):
        assert title.lower() in text.lower()  # the white theme upper-cases headings
    from pypdf import PdfReader

    animation_page = PdfReader(str(tmp_path / "deck.pdf")).pages[3]
    assert len(animation_page.images) >= 1, "the animation's still image is not in the PDF"
    note_pages, note_text = B.pdf_pages_and_text(tmp_path / "deck-notes.pdf")
    assert note_pages > pages and "Notes for the first slide" in note_text
    assert not list(tmp_path.glob("*.part"))


def test_printed_notes_and_slide_numbers_are_set_in_the_slides_typeface(browser, good_deck):
    s = B.open_deck(browser, good_deck, good_deck.parent, query="?print-pdf&showNotes=separate-page")
    s.page.evaluate(E.WAIT_FOR_PRINT_LAYOUT)
    fonts = s.page.evaluate("""() => ['.pdf-page p', '.speaker-notes-pdf', '.slide-number']
        .map(q => getComputedStyle(document.querySelector(q)).fontFamily)""")
    assert fonts[1:] == fonts[:1] * 2, f"slide text in {fonts[0]}, notes and slide number in {fonts[1:]}"  # not Helvetica
    s.page.context.close()


def math_font_face(tmp: Path) -> str:
    """The deck's math font, as includes/fonts.html loads it: its @font-face rule, the file copied beside."""
    header = (ROOT / "slides" / "includes" / "fonts.html").read_text()
    face = re.search(r'@font-face \{ font-family: "Deck Math";.*\}', header).group(0)
    font = re.search(r'url\("\.\./(fonts/web/[\w-]+\.woff)"\)', face).group(1)
    (tmp / font).parent.mkdir(parents=True)
    shutil.copy(ROOT / font, tmp / font)
    return face.replace("../fonts/", "fonts/")


def math_font_deck(tmp: Path, media_html, css: str = "") -> Path:
    """The clean deck with the deck's math font."""
    return build_good_deck(tmp, media_html, css=math_font_face(tmp) + "\n" + css)


# Brackets as Quarto 1.8's pandoc (3.6) writes them in MathML, every pair a stretchy fence, kept as raw HTML:
# the tests' own pandoc (3.9) writes plain brackets as not stretchy.
FENCES = """## Brackets

<p>Inline:
<math display="inline"><mrow><mn>1</mn><mi>/</mi><mrow><mo stretchy="true" form="prefix">(</mo><mn>1</mn><mo>−</mo><mi>μ</mi><mo stretchy="true" form="postfix">)</mo></mrow></mrow></math>,
<math display="inline"><mrow><mo stretchy="true" form="prefix">(</mo><mn>1</mn><mo>−</mo><msub><mi>β</mi><mn>1</mn></msub><mo stretchy="true" form="postfix">)</mo></mrow></math>
and
<math display="inline"><mrow><mo stretchy="true" form="prefix">(</mo><mn>1</mn><mo>−</mo><mi>b</mi><mo stretchy="true" form="postfix">)</mo></mrow></math>.</p>
<p><math display="block"><mrow><msub><mi>x</mi><mi>t</mi></msub><mo>=</mo><mi>η</mi><mrow><mo stretchy="true" form="prefix">(</mo><mfrac><msub><mi>m</mi><mi>t</mi></msub><mrow><mn>1</mn><mo>−</mo><msub><mi>β</mi><mn>1</mn></msub></mrow></mfrac><mo>+</mo><mi>λ</mi><mi>x</mi><mo stretchy="true" form="postfix">)</mo></mrow></mrow></math></p>
"""

FENCE_HEIGHTS_JS = """() => [...document.querySelectorAll('math mo[form="prefix"]')]
  .map(mo => mo.getBoundingClientRect().height / parseFloat(getComputedStyle(mo).fontSize))"""


def with_and_without_math_script(browser, tmp_path, slides_md: str, measure_js: str) -> dict[bool, list]:
    """``measure_js`` evaluated on the first slide of ``slides_md`` in the deck's math font, with (True) and
    without (False) slides/includes/math.html."""
    found = {}
    for script in (True, False):
        tmp = tmp_path / f"math-script-{script}"
        tmp.mkdir()
        html = build_deck(tmp, slides_md, css=math_font_face(tmp), math_script=script)
        s = B.open_deck(browser, html, tmp)
        B.go(s.page, B.slide_indices(s.page)[1], settle_ms=300)
        found[script] = s.page.evaluate(measure_js)
        s.page.context.close()
    return found


def test_brackets_stretch_only_around_a_fraction(browser, tmp_path):
    """In the deck's math font the brackets of 1/(1 - mu), (1 - beta_1) and (1 - b) are the font's own, about
    1.1 em tall, and the one around a fraction stretches to it. Without slides/includes/math.html the three
    come out 1.25 em tall or more: a descender, a subscript or an ascender inside is enough."""
    heights = with_and_without_math_script(browser, tmp_path, FENCES, FENCE_HEIGHTS_JS)  # in em of each bracket's size
    *inline, frac = heights[True]
    assert len(inline) == 3 and all(h < 1.15 for h in inline) and frac > 2, heights
    *inline, frac = heights[False]
    assert all(h > 1.25 for h in inline) and frac > 2, heights


ROOTS = """## Roots

<p>Noise like <math display="inline"><mrow><mn>1</mn><mi>/</mi><msqrt><mi>B</mi></msqrt></mrow></math> on one processor.</p>
<p><math display="block"><mrow><msub><mi>x</mi><mi>t</mi></msub><mo>=</mo><mfrac><mi>η</mi><mrow><msqrt><msub><mi>v</mi><mi>t</mi></msub></msqrt><mo>+</mo><mi>ϵ</mi></mrow></mfrac><mfrac><mn>1</mn><msqrt><mi>t</mi></msqrt></mfrac></mrow></math></p>
"""

# The blank each root leaves after its content, in em: its box's right edge, with its end margin, less its
# content's right edge, against a 1em space put in the root for the measure.
ROOT_GAPS_JS = """() => [...document.querySelectorAll('msqrt')].map(q => {
  const box = q.getBoundingClientRect();
  const right = Math.max(...[...q.children].map(c => c.getBoundingClientRect().right));
  const em = document.createElementNS('http://www.w3.org/1998/Math/MathML', 'mspace');
  em.setAttribute('width', '1em'); q.appendChild(em);
  const unit = em.getBoundingClientRect().width; q.removeChild(em);
  return (box.right + (parseFloat(getComputedStyle(q).marginRight) || 0) * unit / parseFloat(getComputedStyle(q).fontSize) - right) / unit;
})"""


def test_a_root_leaves_no_blank_after_it(browser, tmp_path):
    """In the deck's math font, Chromium sizes a root by the font's widest root sign, so a third of an em of
    blank follows it ("1/sqrt(B)  on", "sqrt(v_t)  + eps"); slides/includes/math.html takes it back, also for
    a root that is a whole denominator."""
    gaps = with_and_without_math_script(browser, tmp_path, ROOTS, ROOT_GAPS_JS)
    assert len(gaps[True]) == 3 and all(abs(g) < 0.03 for g in gaps[True]), gaps
    assert all(g > 0.25 for g in gaps[False]), gaps


def test_formulas_are_set_in_the_decks_math_font(browser, media_html, tmp_path):
    """Every glyph of every formula comes from the shipped math font; with the theme's rule as it was (the
    browser's own math font), none does: here DejaVu Math and Liberation Serif."""
    found = {}
    for name, css in (("theme", ""), ("browser default", ".reveal math { font-family: math; }")):
        html = math_font_deck(tmp_path / name.replace(" ", "-"), media_html, css)
        s = B.open_deck(browser, html, html.parent)
        found[name] = B.math_fonts(s)
        assert s.console_errors == [] and s.failed_requests == []
        s.page.context.close()
    assert list(found["theme"]) == ["Noto Sans Math"] and found["theme"]["Noto Sans Math"] > 10, found
    assert found["browser default"] and "Noto Sans Math" not in found["browser default"], found


def test_notes_pdf_is_the_slides_pdf_interleaved_with_the_notes_pages_as_a_whole_print_lays_them_out(
        browser, good_deck, tmp_path):
    import io
    import time

    from pypdf import PdfReader, PdfWriter

    slides, notes = E.export(good_deck, tmp_path, timeout=120, browser=browser, force=True)
    E.print_pdf(browser, good_deck, tmp_path / "whole.pdf", True, time.monotonic() + 120)  # printed in one go
    merged, whole = PdfReader(notes), PdfReader(tmp_path / "whole.pdf")
    words = lambda page: "".join(page.extract_text().split())  # the text, without how runs are spaced
    assert len(merged.pages) == len(whole.pages) > len(PdfReader(slides).pages)
    assert [words(p) for p in merged.pages] == [words(p) for p in whole.pages]
    assert [p.mediabox for p in merged.pages] == [p.mediabox for p in whole.pages]
    # The two parts must match, or the notes' PDF is printed whole: a slides' PDF short of a page,
    # or a notes block owned by no slide, are refused.
    pdf, owners, count = E.print_notes_pages(browser, good_deck, time.monotonic() + 120)
    assert E.interleave(slides.read_bytes(), pdf, owners, count) is not None
    short = PdfWriter()
    for page in PdfReader(slides).pages[:-1]:
        short.add_page(page)
    buffer = io.BytesIO()
    short.write(buffer)
    assert E.interleave(buffer.getvalue(), pdf, owners, count) is None
    assert E.interleave(slides.read_bytes(), pdf, [count] * len(owners), count) is None


def test_export_respects_its_time_limit_and_leaves_no_partial_pdf(browser, good_deck, tmp_path):
    with pytest.raises(E.ExportError, match="[Tt]imeout|time limit"):
        E.export(good_deck, tmp_path, timeout=0.001, browser=browser, force=True)  # printed, not from the cache
    assert list(tmp_path.iterdir()) == []


def test_export_without_chromium_says_so_in_one_line(good_deck, tmp_path):
    # an empty build cache: nothing printed before can stand in for the print
    env = {**os.environ, "CHROMIUM": str(tmp_path / "no-such-browser"), "OPTIMIZERS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("QUARTO_PROJECT_OUTPUT_DIR", None)
    result = subprocess.run([sys.executable, str(ROOT / "code" / "export_pdf.py"), str(good_deck), "--out-dir", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs Chromium" in lines[0] and "apt-get install chromium" in lines[0]
    assert not list(tmp_path.glob("*.pdf*"))


# ------------------------------------------------------------------------------------------------
# the real deck, once rendered
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rendered(browser, rendered_deck):
    return rendered_deck


def output_root(html: Path) -> Path:
    """The output folder a rendered deck lives in (``_site`` for ``_site/slides/lecture.html``)."""
    return ROOT / Path(html).resolve().relative_to(ROOT).parts[0]


def source_of(html: Path) -> Path:
    """The .qmd a rendered deck was made from (``slides/lecture.qmd`` for ``_site/slides/lecture.html``)."""
    return ROOT.joinpath(*Path(html).resolve().relative_to(ROOT).parts[1:]).with_suffix(".qmd")


@pytest.fixture(scope="module")
def rendered_walk(browser, rendered):
    """Every check on every slide of the rendered deck, in one walk (axe-core included)."""
    return B.check_deck(browser, rendered, output_root(rendered))


def test_rendered_deck_in_the_browser(rendered_walk):
    found = rendered_walk
    assert found["visited"] > 50
    assert found["overflow"] == [], "\n".join(found["overflow"][:20])
    assert found["raw_math"] == [], "\n".join(found["raw_math"][:20])
    assert found["claims"] == [], "\n".join(found["claims"][:20])
    assert found["outside_requests"] == [], found["outside_requests"][:10]
    assert found["console_errors"] == [] and found["failed_requests"] == []


def test_rendered_deck_text_is_readable_from_the_back(rendered_walk):
    assert rendered_walk["text_size"] == [], f"{len(rendered_walk['text_size'])} problems:\n" + "\n".join(rendered_walk["text_size"])


def test_rendered_deck_prints_nothing_for_the_audience(rendered_walk):
    assert rendered_walk["output_blocks"] == [], "\n".join(rendered_walk["output_blocks"])


def test_rendered_deck_is_accessible(rendered_walk):
    assert rendered_walk["axe"] == [], f"{len(rendered_walk['axe'])} axe violations:\n" + "\n".join(rendered_walk["axe"][:40])


def test_rendered_deck_has_every_animation(rendered):
    assert B.video_count(rendered, B.expected_videos(source_of(rendered)), output_root(rendered)) == []


def test_rendered_deck_animations_play_and_are_named(browser, rendered):
    s = B.open_deck(browser, rendered, output_root(rendered))
    videos = B.video_slides(s.page)
    assert len(videos) == B.expected_videos(source_of(rendered))
    for index in videos:
        assert B.playback(s, index) == []
        B.go(s.page, index)
        names = B.video_names(s.page)
        assert names and all(len(n) > 20 for n in names), f"video on slide {index}: names {names}"
    s.page.context.close()
    s = B.open_deck(browser, rendered, output_root(rendered), reduced_motion="reduce")
    B.go(s.page, videos[0], settle_ms=1200)
    assert B.video_state(s.page) == [0, True], "a video played by itself under prefers-reduced-motion: reduce"
    s.page.context.close()


def test_rendered_deck_render_log_is_clean(render_log):
    assert B.render_warnings(render_log) == []


def test_rendered_deck_formulas_are_set_in_the_decks_math_font(browser, rendered):
    s = B.open_deck(browser, rendered, output_root(rendered))
    fonts = B.math_fonts(s)
    s.page.context.close()
    assert list(fonts) == ["Noto Sans Math"], f"formulas drawn with {fonts}"


def test_rendered_deck_pdf(browser, rendered, tmp_path):
    written = E.export(rendered, tmp_path, timeout=600, browser=browser)
    s = B.open_deck(browser, rendered, ROOT / "_site")
    n_slides = len(B.slide_indices(s.page))
    # a title's text as printed: MathML without its TeX annotation (innerText would read "η\\eta")
    titles = s.page.evaluate("""Reveal.getSlides().map(s => s.querySelector('h1, h2')).filter(h => h).map(h => {
        const c = h.cloneNode(true); c.querySelectorAll('annotation').forEach(a => a.remove()); return c.textContent; })
        .filter(t => t.trim())""")
    s.page.context.close()
    pages, text = B.pdf_pages_and_text(written[0])
    assert pages == n_slides
    # compared as a reader sees them: the PDF's text layer writes ’ as ʼ and math letters as 𝜂 (NFKC: η)
    # and spaces around sub- and superscripts: compared without white space
    same = lambda t: re.sub("[’ʼ`]", "'", "".join(unicodedata.normalize("NFKC", t).split()).lower()).replace("ϵ", "ε")
    flat = same(text)
    for title in titles:
        assert same(title)[:30] in flat, f"section title {title!r} not in the PDF text"


# ------------------------------------------------------------------------------------------------
# the interactive explorer, from a file:// page with the network off
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def explorer_deck(tmp_path_factory):
    import matplotlib

    matplotlib.use("Agg")
    import optimizers as O
    import present as S

    tmp = tmp_path_factory.mktemp("explorer")
    old, S.MEDIA = S.MEDIA, tmp / "media"
    try:
        # the deck's own data path, on a small grid: GD at 0.6 is past the valley's limit of 0.5
        data, backgrounds = S.explorer_data({"valley": (O.SURFACES["valley"], "valley")}, ["gd", "momentum"],
                                            [0.05, 0.2, 0.45, 0.6], betas=[0.0, 0.9], steps=30,
                                            default_lr=0.2, default_beta=0.9)
        still, ax = matplotlib.pyplot.subplots()
        html_block = S.explorer(data, backgrounds, still, alt="An explorer for the test deck.")
    finally:
        S.MEDIA = old
    return build_deck(tmp, f"## Explorer {{#explorer}}\n\n{html_block}\n")


def test_explorer_redraws_offline(browser, explorer_deck):
    s = B.open_deck(browser, explorer_deck, explorer_deck.parent)
    page = s.page
    B.go(page, B.slide_indices(page)[1])
    points = lambda: page.evaluate("document.querySelector('.explorer polyline').getAttribute('points')")
    status = lambda: page.evaluate("document.querySelector('[data-role=status]').textContent")
    set_input = """([role, value]) => { const el = document.querySelector(`[data-role=${role}]`);
        el.value = value; el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input')); }"""
    first = points()
    assert len(first.split()) == 31  # GD (the first method) at the default lr 0.2: 30 steps, start included
    assert page.evaluate("document.querySelector('[data-role=lr-value]').textContent") == "0.20"
    page.evaluate(set_input, ["lr", "3"])  # gd at 0.6 > 2 / lambda_max: diverges
    assert points() != first and status().startswith("diverged at step")
    assert page.evaluate("getComputedStyle(document.querySelector('[data-role=beta-row]')).visibility") == "hidden"
    page.evaluate(set_input, ["method", "momentum"])
    assert page.evaluate("getComputedStyle(document.querySelector('[data-role=beta-row]')).visibility") == "visible"
    before = points()
    page.evaluate(set_input, ["beta", "0"])
    assert points() != before
    assert page.evaluate("document.querySelector('.explorer polyline').getAttribute('stroke')") == "#D55E00"
    assert s.console_errors == [] and s.outside_requests == [] and s.failed_requests == []
    s.page.context.close()


def test_explorer_draws_the_paths_on_their_surface(browser, explorer_deck):
    """Each surface's contour image fills the box of the SVG the paths are drawn in (the same data-to-pixel
    mapping), whatever the theme does to a slide's images: a run that reaches the minimum ends on its star."""
    s = B.open_deck(browser, explorer_deck, explorer_deck.parent)
    B.go(s.page, B.slide_indices(s.page)[1])
    boxes = s.page.evaluate("""() => [...document.querySelectorAll('.explorer svg, .explorer img[data-surface]')].map(e => {
        const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })""")
    assert len(boxes) == 2 and boxes[1][2] > 500, boxes  # the SVG, then the valley's image, shown large
    assert all(abs(a - b) <= 0.5 for a, b in zip(boxes[1], boxes[0])), \
        f"the SVG is at {boxes[0]}, its surface at {boxes[1]}"
    s.page.context.close()


def test_explorer_works_from_the_keyboard_alone(browser, explorer_deck):
    """Tab reaches every control, arrow keys move the sliders and change the lists without turning the
    slide, and each value is announced (aria-valuetext, a polite live region)."""
    s = B.open_deck(browser, explorer_deck, explorer_deck.parent)
    page = s.page
    B.go(page, B.slide_indices(page)[1])
    role = "() => (document.activeElement.closest('.explorer') ? document.activeElement.dataset.role : null)"
    attr = lambda r, a: page.evaluate(f"document.querySelector('[data-role={r}]').getAttribute('{a}')")

    def tab_through(n=12):  # the explorer's controls that n presses of Tab reach (n: more than a cycle)
        reached = set()
        for _ in range(n):
            page.keyboard.press("Tab")
            reached.add(page.evaluate(role))
        return reached - {None}

    assert tab_through() == {"surface", "method", "lr"}  # GD: no momentum slider to reach
    where = page.evaluate("Reveal.getIndices()")
    page.focus("[data-role=lr]")
    assert attr("lr", "aria-valuetext") == "0.20"
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.querySelector('[data-role=lr]').value") == "2"
    assert attr("lr", "aria-valuetext") == "0.45"
    assert "learning rate 0.45" in page.evaluate("document.querySelector('[data-role=announce]').textContent")
    page.focus("[data-role=method]")
    for key in ("ArrowDown", "ArrowRight", "ArrowLeft", "ArrowDown"):
        page.keyboard.press(key)
        assert page.evaluate("Reveal.getIndices()") == where, f"{key} on the method list turned the slide"
    assert page.evaluate("document.querySelector('[data-role=method]').value") == "momentum"
    assert tab_through() == {"surface", "method", "lr", "beta"}
    page.focus("[data-role=beta]")
    page.keyboard.press("ArrowLeft")
    assert attr("beta", "aria-valuetext") == "0"
    announced = page.evaluate("document.querySelector('[data-role=announce]').textContent")
    assert "momentum μ 0:" in announced and announced.endswith(
        page.evaluate("document.querySelector('[data-role=status]').textContent"))
    assert page.evaluate("Reveal.getIndices()") == where and s.console_errors == []
    s.page.context.close()


def test_explorer_prints_as_a_still(browser, explorer_deck):
    s = B.open_deck(browser, explorer_deck, explorer_deck.parent, query="?print-pdf")
    assert s.page.evaluate(E.WAIT_FOR_PRINT_LAYOUT) == 2  # reveal.js lays the print pages out after it is ready
    shown = s.page.evaluate("""() => [getComputedStyle(document.querySelector('.explorer')).display,
                                      getComputedStyle(document.querySelector('.explorer-still')).display]""")
    assert shown == ["none", "block"]
    s.page.context.close()


# ------------------------------------------------------------------------------------------------
# figures fill the slide
# ------------------------------------------------------------------------------------------------

def fill_deck(tmp: Path, widths: list[str]) -> Path:
    """A deck with a text slide and one figure slide per entry of ``widths``, each written by
    ``present.figure`` like the deck's: 16 x 7.6 in, the shape of the room below a title, shown across
    that share of the slide. At width w its share of the room is about w squared."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import present as S

    old, S.MEDIA = S.MEDIA, tmp / "media"
    try:
        slides = ["---\ncenter: false\n---\n", "## Words {#words}\n\nA slide without a figure.\n"]
        for k, width in enumerate(widths):
            fig = plt.figure(figsize=(16, 7.6), dpi=20, layout="none")  # one axes filling the figure
            ax = fig.add_axes([0, 0, 1, 1])
            ax.plot([0, 1], [0, 1], color="#0072B2")
            ax.axis("off")
            slides.append(f"## Figure {k + 1} at {width} {{#fig{k + 1}}}\n\n"
                          f"{S.figure(fig, f'fill-{k + 1}', alt=f'A line, figure {k + 1}.', width=width)}\n")
    finally:
        S.MEDIA = old
    return build_deck(tmp, "\n".join(slides))


def test_figure_fill_of_decks_with_and_without_the_defect(browser, tmp_path):
    """A deck whose figures fill the room below the title passes; a figure slide at 20 % of it fails the
    floor; figures all above the floor but at about 40 % fail the median."""
    found = {}
    for name, widths in {"good": ["100%", "95%", "90%"], "floor": ["100%", "100%", "50%"],
                         "median": ["67%", "67%", "67%"]}.items():
        html = fill_deck(tmp_path / name, widths)
        s = B.open_deck(browser, html, html.parent)
        found[name] = B.figure_shares(s)
        assert s.console_errors == [] and s.failed_requests == []
        s.page.context.close()
    assert [n for n, _, _ in found["good"]] == [3, 4, 5]  # the title and the text slide are no figure slides
    good = [share for _, _, share in found["good"]]
    assert good[0] > 0.8 and good[0] > good[1] > good[2] > 0.65, good
    assert B.figure_fill(found["good"]) == []
    floor = B.figure_fill(found["floor"])
    assert len(floor) == 1 and floor[0].lower().startswith("slide 5 ('figure 3 at 50%'): its figure fills 0.2"), floor
    median = B.figure_fill(found["median"])
    assert all(0.3 < share < 0.45 for _, _, share in found["median"]), found["median"]
    assert len(median) == 1 and median[0].startswith("the median figure slide fills 0.3"), median


def test_figure_fill_measures_videos_and_the_explorer(browser, good_deck, explorer_deck):
    """An animation counts by its video (not its print-only still), the explorer by its drawing."""
    for deck, k in ((good_deck, 3), (explorer_deck, 1)):
        s = B.open_deck(browser, deck, deck.parent)
        shares = B.figure_shares(s)
        assert [n for n, _, _ in shares] == [k + 1], shares
        assert 0.1 < shares[0][2] < 1.0
        s.page.context.close()


def test_rendered_deck_figures_fill_the_slide(browser, rendered):
    s = B.open_deck(browser, rendered, output_root(rendered))
    shares = B.figure_shares(s)
    s.page.context.close()
    table = "\n".join(f"slide {n:3d}  {share:.2f}  {title}" for n, title, share in shares)
    assert len(shares) > 20, table
    assert B.figure_fill(shares) == [], "\n".join(B.figure_fill(shares)) + "\n" + table


# ------------------------------------------------------------------------------------------------
# code lines coloured like the terms of the rule
# ------------------------------------------------------------------------------------------------

TERM_COLOURS_JS = """() => {
  const slide = Reveal.getCurrentSlide();
  const colour = el => el ? getComputedStyle(el).color : null;
  const lines = [...slide.querySelectorAll('pre > code > span')];
  const rows = [...slide.querySelectorAll('math[display="block"] mtr')];
  return {lines: lines.map(l => [l.innerText.trim().slice(0, 12), colour(l.querySelector('span') || l)]),
          rows: rows.map(r => [colour(r.querySelector('mtd:first-child mi')), colour(r.querySelector('mtd:last-child mi'))])};
}"""


def test_term_colours_reach_the_rule_and_the_code_in_the_browser(browser, tmp_path):
    """Adam's rule and code side by side, as on its slide: each row's term and the code lines computing
    it in one colour (syntax colours inside those lines too), the rest as before; axe finds nothing. The
    part's heading makes its slides a vertical stack, with AdamW's (x_t in its third row) in it too."""
    import matplotlib.colors as mc
    import optimizers as O
    import present as S

    rgb = lambda c: "rgb({}, {}, {})".format(*(round(v * 255) for v in mc.to_rgb(c)))
    method = lambda fn, key: (f"## {key} {{#{key}}}\n\n:::: {{.columns}}\n::: {{.column width=\"35%\"}}\n{S.rule(fn)}\n"
                              f":::\n::: {{.column width=\"65%\"}}\n{S.code(fn)}\n:::\n::::\n\n")
    slide = (f"# The Adam family\n\n{method(O.adam, 'adam')}{method(O.adamw, 'adamw')}## Plain {{#plain}}\n\n"
             f"$$\n\\begin{{aligned}} m_t &= g_t \\\\ x_t &= m_t \\end{{aligned}}\n$$\n")
    html = build_deck(tmp_path, slide)
    s = B.open_deck(browser, html, tmp_path)
    indices = B.slide_indices(s.page)
    assert [i["h"] for i in indices] == [0, 1, 1, 1, 1]  # the title; one stack: heading, Adam, AdamW, plain
    B.go(s.page, indices[2])
    found = s.page.evaluate(TERM_COLOURS_JS)
    by_line = dict(found["lines"])
    assert by_line["m = beta1 * "] == rgb("#B2182B") and by_line["v = beta2 * "] == rgb("#00695C")
    assert by_line["m_hat = m / "] == by_line["v_hat = v_ma"] == rgb("#4A148C")
    assert by_line["delta = -lr "] == rgb(S.STEP_COLOUR)
    plain = {by_line[k] for k in ("if l2:", "t = state.t ", "return delta")}
    assert not plain & {rgb(c) for c in (*S.TERM_COLOURS, S.STEP_COLOUR)}
    assert [lhs for lhs, _ in found["rows"]] == [rgb(c) for c in ("#B2182B", "#00695C", "#4A148C", S.STEP_COLOUR)]
    assert len({rhs for _, rhs in found["rows"]}) == 1 and found["rows"][0][1] not in [lhs for lhs, _ in found["rows"]]
    # pandoc's default highlighting (not the deck's a11y style) has faint comments: only the coloured
    # lines and the rule are this test's business
    coloured = "|".join(str(k) for _, _, _, ks in S.terms(O.adam) for k in ks)
    assert [p for p in B.axe(s.page) if re.search(rf"#cb1-({coloured})\b|math|mtd|\bmi\b", p)] == []
    B.go(s.page, indices[3])
    assert [lhs for lhs, _ in s.page.evaluate(TERM_COLOURS_JS)["rows"]] == [
        rgb(c) for c in ("#B2182B", "#00695C", S.STEP_COLOUR)]
    B.go(s.page, indices[4])  # another slide's rule is left alone
    rows = s.page.evaluate(TERM_COLOURS_JS)["rows"]
    assert len({c for row in rows for c in row}) == 1
    s.page.context.close()


def test_post_render_prints_every_deck_the_render_wrote(monkeypatch, tmp_path):
    monkeypatch.setenv("QUARTO_PROJECT_OUTPUT_FILES", "_site-seminar/slides/seminar-adam.html\n"
                                                      "_site-seminar/slides/seminar-gd.html\n_site-seminar/media/x.png")
    assert E.rendered_decks(tmp_path) == [ROOT / "_site-seminar/slides/seminar-adam.html",
                                          ROOT / "_site-seminar/slides/seminar-gd.html"]
    monkeypatch.delenv("QUARTO_PROJECT_OUTPUT_FILES")
    assert E.rendered_decks(tmp_path) == [tmp_path / "slides" / "lecture.html"]


def test_every_variant_passes_the_browser_checks(browser, rendered_variant):
    """The core lecture and every seminar deck: overflow, raw TeX, text size, printed output, axe, the signs of
    pros and cons, offline, every animation present and counted, and figures that fill their slides (over all
    the variant's figure slides: a seminar deck has only a few), as on the full lecture."""
    profile, decks = rendered_variant
    problems, shares = [], []
    for html in decks:
        found = B.check_deck(browser, html, output_root(html))
        for check in (*B.CHECKS, "console_errors", "failed_requests", "outside_requests"):
            problems += [f"{html.name}: {check}: {p}" for p in found[check]]
        s = B.open_deck(browser, html, output_root(html))
        shares += [(n, f"{html.stem}: {title}", share) for n, title, share in B.figure_shares(s)]
        s.page.context.close()
    problems += B.figure_fill(shares)
    problems += B.variant_video_count([(html, B.expected_videos(source_of(html))) for html in decks], output_root(decks[0]))
    assert problems == [], f"{profile}: {len(problems)} problems:\n" + "\n".join(problems[:40])


def test_the_video_count_of_decks_sharing_a_folder(tmp_path):
    """Proof of variant_video_count: two decks, one folder; a dropped video or a stray file is caught."""
    video = '<video data-autoplay><source src="media/{0}.mp4" type="video/mp4"></video>'
    (tmp_path / "media").mkdir()
    for name in ("a", "b"):
        (tmp_path / f"{name}.html").write_text(video.format(name))
        (tmp_path / "media" / f"{name}.mp4").write_bytes(b"")
    decks = [(tmp_path / "a.html", 1), (tmp_path / "b.html", 1)]
    assert B.variant_video_count(decks, tmp_path) == []
    (tmp_path / "b.html").write_text("no video")
    assert B.variant_video_count(decks, tmp_path) == ["b.html: the cells write 1 animations, the page has 0"]
    (tmp_path / "b.html").write_text(video.format("b"))
    (tmp_path / "media" / "stray.mp4").write_bytes(b"")
    assert B.variant_video_count(decks, tmp_path) == [f"the decks' cells write 2 animations and {tmp_path} has 3 .mp4 files"]


def test_every_variant_has_a_clean_render_log(rendered_variant):
    profile, decks = rendered_variant
    log = decks[0].parents[1] / ".render-log.txt"
    if not log.exists():
        pytest.skip(f"no log of the {profile} render (it was rendered outside the tests)")
    assert B.render_warnings(log.read_text()) == []


def test_the_print_layout_loads_no_video(browser, good_deck):
    # nothing of a video is printed (its still is: test_pdf_has_one_page_per_slide_and_the_stills), so the
    # page that prints does not load it
    import time

    videos = "() => [...document.querySelectorAll('video')].map(v => v.readyState)"
    page = E._open(browser, good_deck, False, time.monotonic() + 60)
    try:
        page.wait_for_timeout(500)  # time for a load that would start
        states = page.evaluate(videos)
    finally:
        page.close()
    assert states and states == [0] * len(states), f"videos loaded in the print layout (readyState): {states}"

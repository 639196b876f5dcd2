"""The deck's other modes, in headless Chromium: the reading mode for self-study (reveal.js's scroll view
with each slide's notes below it, slides/includes/reading.html), the lecturer's pen (Quarto's chalkboard
plugin, offline) and the speaker view's pacing timer (slides/includes/pacing.html).

Each check runs on small decks: pandoc-built reveal.js 5.2 decks (tests/test_browser.py's `build_deck`)
with the deck's scripts added, and, where Quarto is installed, a small deck Quarto renders with the
deck's own options (slides/_metadata.yml, theme and includes). Each is also run on the same deck without
the feature, or with the one defect it guards against, and seen to fail. The pacing is then checked on
every rendered variant of the real deck against the minutes its sections plan.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import browser_checks as B
import deck as D
import test_variants as V
import export_pdf as E
from test_browser import browser, build_deck, explorer_deck, media_html  # noqa: F401 (fixtures)

SLIDES = D.ROOT / "slides"
INCLUDES = SLIDES / "includes"
PACING, READING = INCLUDES / "pacing.html", INCLUDES / "reading.html"
LONG = " ".join(["This note is long on purpose: its page is then much taller than one screen."] * 45)


def with_scripts(html: Path, *scripts: Path | str, name: str = "deck.html") -> Path:
    """A copy of the deck ``html`` (same folder, as ``name``) with ``scripts`` (files, or their text)
    at the end of its body, where `include-after-body` puts them."""
    text = "".join(s.read_text() if isinstance(s, Path) else s for s in scripts)
    out = html.with_name(name)
    out.write_text(html.read_text().replace("</body>", text + "\n</body>", 1))
    return out


def without(script: Path, *snippets: str) -> str:
    """The text of ``script`` with each of ``snippets`` (which must be in it) taken out: the defect."""
    text = script.read_text()
    for s in snippets:
        assert s in text, f"{s!r} is not in {script.name}: update the test's defect"
        text = text.replace(s, "")
    return text


# ------------------------------------------------------------------------------------------------
# pacing: the speaker view's timer adds up to the minutes the notes plan
# ------------------------------------------------------------------------------------------------

# The speaker view's own arithmetic (reveal.js 5 plugin/notes/speaker-view.html, getTimings): each
# slide's data-timing read with parseInt, else the deck's defaultTiming; no timer at all without either.
SPEAKER_TIMINGS_JS = """() => {
  const config = Reveal.getConfig();
  if (config.defaultTiming == null && config.totalTime == null) return null;
  return Reveal.getSlidesAttributes().map(a => {
    const t = parseInt(a['data-timing']);
    return 'data-timing' in a && !isNaN(t) ? t : config.defaultTiming;
  });
}"""

PACED = """
## Opening {#opening}

::: notes
*(2 minutes)* Three slides share these two minutes.
:::

## Second {#second}

No notes here.

## Third {#third}

::: notes
A note that plans nothing.
:::

## Divider {#divider}

::: notes
*(0.5 minutes)* Half a minute, one slide.
:::

## Long section {#long}

::: notes
*(3 minutes)* Seven slides share three minutes: 180 s is not a multiple of 7.
:::
""" + "".join(f"\n## Part {k} {{#part{k}}}\n\nMore.\n" for k in range(2, 8))


def speaker_timings(page) -> list | None:
    return page.evaluate(SPEAKER_TIMINGS_JS)


def test_pacing_spreads_each_sections_minutes_over_its_slides(browser, tmp_path):
    html = build_deck(tmp_path, PACED)
    paced = with_scripts(html, PACING, "<script>Reveal.configure({defaultTiming: 60});</script>", name="paced.html")
    s = B.open_deck(browser, paced, tmp_path)
    timings = s.page.evaluate("Reveal.getSlides().map(s => s.dataset.timing === undefined ? null : Number(s.dataset.timing))")
    # title (default), 2 min over 3 slides, 0.5 min over 1, 3 min over 7 (26 s for the first five, 25 for two)
    assert timings == [None, 40, 40, 40, 30, 26, 26, 26, 26, 26, 25, 25]
    assert speaker_timings(s.page) == [60] + timings[1:]
    assert sum(speaker_timings(s.page)) == 60 * (1 + 2 + 0.5 + 3)
    assert s.console_errors == []
    s.page.context.close()

    # the same deck without the script: every slide gets the default, the sections' minutes are lost
    bare = with_scripts(html, "<script>Reveal.configure({defaultTiming: 60});</script>", name="bare.html")
    s = B.open_deck(browser, bare, tmp_path)
    assert sum(speaker_timings(s.page)) == 60 * 12 != 60 * (1 + 2 + 0.5 + 3)
    s.page.context.close()


# ------------------------------------------------------------------------------------------------
# the reading mode
# ------------------------------------------------------------------------------------------------

VIEWPORT_JS = "Reveal.getViewportElement()"

# Every scroll page: where its slide and its notes are (page coordinates, px), the notes' text and the
# text of the slide's own notes (the <aside> reveal.js hides).
PAGES_JS = """() => {
  const viewport = Reveal.getViewportElement();
  const y = el => el.getBoundingClientRect().top - viewport.getBoundingClientRect().top + viewport.scrollTop;
  return [...document.querySelectorAll('.reveal .scroll-page')].map(page => {
    const slide = page.querySelector('section'), notes = page.querySelector('.scroll-notes');
    const aside = slide.querySelector('aside.notes') && slide.querySelector('aside.notes').cloneNode(true);
    if (aside) aside.querySelectorAll('style, script').forEach(e => e.remove());
    const r = slide.getBoundingClientRect();
    return {top: y(page), bottom: y(page) + page.getBoundingClientRect().height,
            slideTop: y(slide), slideBottom: y(slide) + r.height, id: slide.id,
            aside: aside ? aside.textContent.replace(/\\s+/g, ' ').trim() : '',
            notes: notes ? {top: y(notes), bottom: y(notes) + notes.getBoundingClientRect().height,
                            left: notes.getBoundingClientRect().left, right: notes.getBoundingClientRect().right,
                            label: (notes.querySelector('.scroll-notes-label') || {}).textContent,
                            text: [...notes.childNodes].filter(n => !(n.classList && n.classList.contains('scroll-notes-label')))
                                  .map(n => n.textContent).join('').replace(/\\s+/g, ' ').trim()} : null};
  });
}"""

# The element on top at a point of the notes box, after scrolling the box into view: the box itself or
# something inside it, unless another element covers it.
COVERED_JS = """(id) => {
  const page = document.getElementById(id).closest('.scroll-page');
  const box = page.querySelector('.scroll-notes');
  const viewport = Reveal.getViewportElement();
  viewport.scrollTop += box.getBoundingClientRect().top - viewport.clientHeight / 3;
  const r = box.getBoundingClientRect(), out = [];
  for (const [fx, fy] of [[0.1, 0.1], [0.5, 0.1], [0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.9, 0.9]]) {
    const x = r.left + fx * r.width, y = Math.min(r.top + fy * r.height, viewport.clientHeight - 2);
    if (y < r.top) continue;
    const hit = document.elementFromPoint(x, y);
    if (!hit || !box.contains(hit)) out.push(hit ? hit.tagName.toLowerCase() + (hit.className ? '.' + String(hit.className).split(' ')[0] : '') : 'nothing');
  }
  return out;
}"""


def reading_problems(page) -> list[str]:
    """In the scroll view: a slide whose notes are not shown below it, shown with the lecturer's planned
    minutes, overlapping the slide or the next page, wider than the screen, or covered by anything."""
    if not page.evaluate("Reveal.isScrollView()"):
        return ["the deck is not in the scroll view"]
    pages = page.evaluate(PAGES_JS)
    width = page.evaluate(f"{VIEWPORT_JS}.clientWidth")
    problems = []
    for k, p in enumerate(pages):
        where = f"page {k + 1} (#{p['id']})"
        if not p["aside"]:
            if p["notes"]:
                problems.append(f"{where}: notes shown for a slide without notes")
            continue
        n = p["notes"]
        if n is None:
            problems.append(f"{where}: its notes are not shown")
            continue
        expected = re.sub(r"^\(\d+(?:\.\d+)? minutes?\)\s*", "", p["aside"])
        if n["label"] != "Notes" or n["text"] != expected:
            problems.append(f"{where}: the notes read {n['text'][:60]!r}, the slide's notes {expected[:60]!r}")
        if n["top"] < p["slideBottom"] - 1:
            problems.append(f"{where}: the notes start {p['slideBottom'] - n['top']:.0f} px inside the slide")
        if n["bottom"] > p["bottom"] + 1 or (k + 1 < len(pages) and n["bottom"] > pages[k + 1]["slideTop"] + 1):
            problems.append(f"{where}: the notes run into the next page")
        if n["left"] < 0 or n["right"] > width:
            problems.append(f"{where}: the notes are wider than the screen")
        covered = page.evaluate(COVERED_JS, p["id"])
        if covered:
            problems.append(f"{where}: the notes are covered by {', '.join(sorted(set(covered)))}")
    return problems


def scroll_to(page, k: int, settle_ms: int = 1200):
    """Scroll the way a reader does: page ``k`` (from 0) to the top of the screen."""
    page.evaluate("""(k) => { const v = Reveal.getViewportElement(); const p = document.querySelectorAll('.reveal .scroll-page')[k];
        v.scrollTop += p.getBoundingClientRect().top - v.getBoundingClientRect().top; }""", k)
    page.wait_for_timeout(settle_ms)


def scroll_playback(page) -> list[str]:
    """Scroll each page with a video to the top of the screen: its video must play and its slide be
    reveal.js's current one; scrolled on to the next page, the video must pause."""
    n = page.evaluate("document.querySelectorAll('.reveal .scroll-page').length")
    slide = "document.querySelectorAll('.reveal .scroll-page')[k].querySelector('section')"
    problems = []
    for k in range(n):
        if not page.evaluate(f"(k) => !!{slide}.querySelector('video')", k):
            continue
        name = page.evaluate(f"(k) => '#' + {slide}.id + ' (page ' + (k + 1) + ')'", k)
        state = f"(k) => {{ const v = {slide}.querySelector('video'); return [v.currentTime, v.paused]; }}"

        def look():
            # the page comes to rest before it is judged: on a loaded machine reveal.js's scroll handler lags
            scroll_to(page, k, settle_ms=800)
            current = page.evaluate(f"(k) => Reveal.getCurrentSlide() === {slide}", k)
            for _ in range(25):  # up to 5 s: a busy machine may take a while to load the video from disk
                time, paused = page.evaluate(state, k)
                if time >= 0.2 and not paused:
                    break
                page.wait_for_timeout(200)
            return current, time, paused

        current, time, paused = look()
        if paused or time < 0.2:
            # A second look, as a reader scrolls back a page and down again: a run of the suite saw one
            # video of the lecture stay at 0 s once, its slide current, and play on the next run. A deck
            # whose videos do not start (the fixture below) fails both looks.
            scroll_to(page, max(k - 1, 0), settle_ms=300)
            current, time, paused = look()
        if not current:
            problems.append(f"{name} on screen, but reveal.js's current slide is #{page.evaluate('Reveal.getCurrentSlide().id')}")
        if paused or time < 0.2:
            problems.append(f"the video of {name} did not play when scrolled into view (time {time:.2f} s)")
        if k + 1 < n:
            scroll_to(page, k + 1, settle_ms=500)
            if not page.evaluate(f"(k) => {slide}.querySelector('video').paused", k):
                problems.append(f"the video of {name} kept playing after it was scrolled away")
    return problems


READER = """
## A long note {{#first}}

The first slide.

::: notes
*(2 minutes)* {long}
:::

## Plain {{#plain}}

A slide without notes.

## Animation {{#animation}}

{video}

::: notes
*(1 minute)* What the animation shows, in a sentence or two.
:::

## Last {{#last}}

The end.

::: notes
The last *note*, with emphasis and a [link](#first).
:::
"""


@pytest.fixture(scope="module")
def reader_deck(tmp_path_factory, media_html):
    """A pandoc-built deck with a long note before a video, and no reading script yet."""
    html_block, media = media_html
    tmp = tmp_path_factory.mktemp("reader")
    shutil.copytree(media, tmp / "media")
    return build_deck(tmp, READER.format(long=" ".join([LONG] * 4), video=html_block))


def test_the_reading_mode_shows_each_slides_notes_below_it(browser, reader_deck):
    deck = with_scripts(reader_deck, PACING, READING, name="reading.html")
    s = B.open_deck(browser, deck, deck.parent, query="?view=scroll")
    assert reading_problems(s.page) == []
    assert s.page.evaluate("document.querySelector('#title-slide .read-as-page a').textContent") == "Present as slides"
    assert s.console_errors == [] and s.failed_requests == [] and s.outside_requests == []
    s.page.context.close()

    # presented as slides: the notes stay in the speaker view, the title slide links to the reading mode
    s = B.open_deck(browser, deck, deck.parent)
    assert s.page.evaluate("document.querySelectorAll('.scroll-notes').length") == 0
    link = s.page.evaluate("[...document.querySelectorAll('#title-slide .read-as-page a')].map(a => [a.textContent, a.getAttribute('href')])")
    assert link == [["Read as a page", "?view=scroll"]]
    s.page.context.close()


def test_notes_missing_or_overlapping_are_caught(browser, reader_deck):
    s = B.open_deck(browser, reader_deck, reader_deck.parent, query="?view=scroll")  # no script: no notes
    problems = reading_problems(s.page)
    assert len(problems) == 3 and all("its notes are not shown" in p for p in problems)
    s.page.context.close()
    # the pages not grown to fit their notes: the long note runs into the next page and under its slide
    deck = with_scripts(reader_deck, without(READING, ".reveal-viewport.reveal-scroll .scroll-page.has-scroll-notes { height: auto; }"),
                        name="overlap.html")
    s = B.open_deck(browser, deck, deck.parent, query="?view=scroll")
    problems = reading_problems(s.page)
    assert any("#first" in p and "run into the next page" in p for p in problems), problems
    s.page.context.close()


def test_videos_play_as_they_scroll_into_view(browser, reader_deck):
    deck = with_scripts(reader_deck, READING, name="reading.html")
    s = B.open_deck(browser, deck, deck.parent, query="?view=scroll")
    assert scroll_playback(s.page) == []
    s.page.context.close()
    # notes shown, but reveal.js left to count pages as one screen each: the long note puts its idea of
    # the current slide a page behind the one on screen, and the video waits
    deck = with_scripts(reader_deck, without(READING, "fitRanges(this);"), name="counted.html")
    s = B.open_deck(browser, deck, deck.parent, query="?view=scroll")
    problems = scroll_playback(s.page)
    assert any("did not play" in p for p in problems) and any("current slide is" in p for p in problems), problems
    s.page.context.close()


def test_jumping_to_a_slide_in_the_reading_mode_shows_its_top(browser, reader_deck):
    """A link to a slide (#/animation) opens the reading mode at that slide's top, its video playing."""
    deck = with_scripts(reader_deck, READING, name="reading.html")
    s = B.open_deck(browser, deck, deck.parent, query="?view=scroll#/animation")
    s.page.wait_for_timeout(1200)
    top = s.page.evaluate("document.getElementById('animation').closest('.scroll-page').getBoundingClientRect().top")
    assert abs(top) <= 2 and s.page.evaluate("Reveal.getCurrentSlide().id") == "animation"
    assert not s.page.evaluate("document.querySelector('#animation video').paused")
    s.page.context.close()


EXPLORER_INPUT_JS = """([role, value]) => { const el = document.querySelector(`[data-role=${role}]`);
    const r = el.getBoundingClientRect(), hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    el.value = value; el.dispatchEvent(new Event(el.tagName === 'SELECT' ? 'change' : 'input'));
    return hit === el || el.contains(hit); }"""


def test_the_explorer_works_in_the_reading_mode(browser, explorer_deck):
    deck = with_scripts(explorer_deck, PACING, READING, name="reading.html")
    s = B.open_deck(browser, deck, deck.parent, query="?view=scroll")
    page = s.page
    scroll_to(page, page.evaluate("[...document.querySelectorAll('.reveal .scroll-page')].findIndex(p => p.querySelector('.explorer'))"), settle_ms=300)
    points = lambda: page.evaluate("document.querySelector('.explorer polyline').getAttribute('points')")
    first = points()
    assert page.evaluate(EXPLORER_INPUT_JS, ["lr", "3"]), "something covers the explorer's slider"
    assert points() != first
    assert page.evaluate(EXPLORER_INPUT_JS, ["method", "momentum"])
    assert page.evaluate("getComputedStyle(document.querySelector('[data-role=beta-row]')).visibility") == "visible"
    assert s.console_errors == [] and s.outside_requests == [] and s.failed_requests == []
    # the check sees a control covered: a transparent layer over the page
    page.evaluate("""() => { const d = document.createElement('div');
        d.style.cssText = 'position:fixed;inset:0;z-index:99'; document.body.appendChild(d); }""")
    assert not page.evaluate(EXPLORER_INPUT_JS, ["lr", "1"])
    s.page.context.close()


# ------------------------------------------------------------------------------------------------
# a small deck rendered by Quarto with the deck's own options: the pen, the PDF, the timer
# ------------------------------------------------------------------------------------------------

QUARTO_FIXTURE = """---
title: "Fixture"
---

## Opening {{#opening}}

Gradient descent steps against the gradient.

::: {{.notes}}
*(2 minutes)* {long}
:::

## Animation {{#animation}}

{video}

::: {{.notes}}
*(0.5 minutes)* The animation, in a sentence.
:::

## Last {{#last}}

The end.

::: {{.notes}}
*(1 minute)* A last note.
:::
"""
QUARTO_MINUTES = 1 + 2 + 0.5 + 1  # the title slide, then the three notes'


def render_fixture(tmp: Path, media_html, edit=lambda meta: None) -> Path:
    """Render QUARTO_FIXTURE with Quarto in a project of its own under ``tmp`` that has the deck's
    slides/_metadata.yml (without the Jupyter kernel: the fixture has no cells), theme, includes and
    fonts, after ``edit(meta)`` changed the format options; return the HTML (its project folder, two
    up, is the output folder: nothing may be requested from outside it)."""
    if shutil.which("quarto") is None:
        pytest.skip("no `quarto` on PATH: the Quarto-rendered checks need it")
    html_block, media = media_html
    slides = tmp / "slides"
    slides.mkdir(parents=True)
    (tmp / "_quarto.yml").write_text("project:\n  type: default\n")
    shutil.copy(SLIDES / "theme.scss", slides)
    shutil.copytree(INCLUDES, slides / "includes")
    shutil.copytree(media, slides / "media")
    if (D.ROOT / "fonts").is_dir():  # the typeface includes/fonts.html loads from ../fonts/
        shutil.copytree(D.ROOT / "fonts", tmp / "fonts")
    meta = yaml.safe_load((SLIDES / "_metadata.yml").read_text())
    meta.pop("jupyter", None)
    edit(meta["format"]["revealjs"])
    (slides / "_metadata.yml").write_text(yaml.safe_dump(meta, sort_keys=False))
    (slides / "fixture.qmd").write_text(QUARTO_FIXTURE.format(long=LONG, video=html_block))
    result = subprocess.run(["quarto", "render", "slides/fixture.qmd"], cwd=tmp, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return slides / "fixture.html"


@pytest.fixture(scope="module")
def quarto_deck(tmp_path_factory, media_html):
    return render_fixture(tmp_path_factory.mktemp("quarto"), media_html)


@pytest.fixture(scope="module")
def quarto_deck_without_pen(tmp_path_factory, media_html):
    return render_fixture(tmp_path_factory.mktemp("nopen"), media_html, lambda fmt: fmt.pop("chalkboard"))


CANVAS_INK_JS = """() => { const c = document.querySelector('#notescanvas canvas'); const ctx = c.getContext('2d');
  const d = ctx.getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }"""


def pen_problems(session) -> list[str]:
    """`c` must turn the pen on and a stroke leave ink on the slide; `c` again off; `b` open the
    whiteboard and `b` close it."""
    page = session.page
    if not page.evaluate("!!document.querySelector('#notescanvas')"):
        return ["no chalkboard plugin in the page"]
    problems = []
    pointer = lambda: page.evaluate("document.querySelector('#notescanvas').style.pointerEvents")

    def press(key):  # at a person's pace: the plugin drops a key that follows the last one within a few ms
        page.keyboard.press(key)
        page.wait_for_timeout(150)

    press("c")
    if pointer() != "auto":
        problems.append("`c` did not turn the pen on")
    page.mouse.move(600, 500)
    page.mouse.down()
    for x in range(620, 1000, 20):
        page.mouse.move(x, 500 + (x - 600) // 4)
    page.mouse.up()
    page.wait_for_timeout(150)
    if page.evaluate(CANVAS_INK_JS) == 0:
        problems.append("a stroke with the pen left no ink")
    press("c")
    if pointer() != "none":
        problems.append("`c` again did not turn the pen off")
    board = lambda: page.evaluate("document.querySelector('#chalkboard').style.visibility")
    press("b")
    if board() != "visible":
        problems.append("`b` did not open the whiteboard")
    press("b")
    if board() == "visible":
        problems.append("`b` again did not close the whiteboard")
    return problems


def test_the_pen_draws_offline_and_the_deck_passes_the_browser_checks(browser, quarto_deck):
    s = B.open_deck(browser, quarto_deck, quarto_deck.parent.parent)
    found = B.walk(s)
    for check in B.CHECKS:
        assert found[check] == [], (check, found[check])  # the title slide's link included
    B.go(s.page, B.slide_indices(s.page)[1])
    assert pen_problems(s) == []
    sheets = s.page.evaluate("[...document.querySelectorAll('link[rel=stylesheet]')].map(l => l.href).filter(h => /chalkboard/.test(h))")
    assert sheets and all(h.startswith(quarto_deck.parent.resolve().as_uri()) for h in sheets), sheets
    assert s.outside_requests == [] and s.failed_requests == [] and s.console_errors == []
    s.page.context.close()


def test_a_deck_without_the_pen_or_with_it_online_fails(browser, quarto_deck, quarto_deck_without_pen, tmp_path):
    s = B.open_deck(browser, quarto_deck_without_pen, quarto_deck_without_pen.parent.parent)
    B.go(s.page, B.slide_indices(s.page)[1])
    assert pen_problems(s) == ["no chalkboard plugin in the page"]
    s.page.context.close()
    # the plugin's stylesheet (and so its icon font) from a CDN instead of the output folder
    online = quarto_deck.with_name("online.html")
    online.write_text(re.sub(r'href="[^"]*reveal-chalkboard/style.css"',
                             'href="https://cdn.jsdelivr.net/npm/reveal.js-plugins@4/chalkboard/style.css"', quarto_deck.read_text()))
    s = B.open_deck(browser, online, online.parent.parent)
    assert any("chalkboard" in u for u in s.outside_requests)
    s.page.context.close()


def test_the_reading_mode_of_a_quarto_deck(browser, quarto_deck):
    """Quarto's scroll-view options and its reveal.js 5.1: notes below the slides, the video playing in
    view, the footer and the pen out of the way."""
    s = B.open_deck(browser, quarto_deck, quarto_deck.parent.parent, query="?view=scroll")
    assert s.page.evaluate("Reveal.getConfig().scrollSnap") is False
    assert reading_problems(s.page) == []
    assert scroll_playback(s.page) == []
    hidden = s.page.evaluate("['.reveal .footer', '#notescanvas'].map(q => getComputedStyle(document.querySelector(q)).display)")
    assert hidden == ["none", "none"]
    assert s.console_errors == [] and s.failed_requests == [] and s.outside_requests == []
    # `r` toggles back to the slides (Quarto's menu binds it): no notes, the link leads to the reading mode
    s.page.keyboard.press("r")
    s.page.wait_for_timeout(300)
    assert not s.page.evaluate("Reveal.isScrollView()")
    assert s.page.evaluate("document.querySelector('#title-slide .read-as-page a').textContent") == "Read as a page"
    s.page.context.close()


def test_the_pdf_has_one_page_per_slide_and_no_reading_link(browser, quarto_deck, tmp_path):
    written = E.export(quarto_deck, tmp_path, timeout=120, browser=browser, force=True)  # printed, not from the cache
    pages, text = B.pdf_pages_and_text(written[0])
    assert pages == 4 and "Fixture" in text and "Read as a page" not in text
    note_pages, note_text = B.pdf_pages_and_text(written[1])
    assert note_pages > pages and "A last note" in note_text
    # without the print rule the link, which leads nowhere on paper, is printed
    shown = quarto_deck.with_name("printed.html")
    shown.write_text(quarto_deck.read_text().replace("html.print-pdf .reveal .read-as-page { display: none !important; }", ""))
    E.export(shown, tmp_path / "shown", timeout=120, browser=browser, force=True)
    assert "Read as a page" in B.pdf_pages_and_text(tmp_path / "shown" / "printed.pdf")[1]


def test_the_timer_of_a_quarto_deck_totals_its_planned_minutes(browser, quarto_deck, quarto_deck_without_pen, tmp_path):
    s = B.open_deck(browser, quarto_deck, quarto_deck.parent.parent)
    assert sum(speaker_timings(s.page)) == 60 * QUARTO_MINUTES
    s.page.context.close()
    # the same deck without the pacing script: four slides at the default minute each
    bare = quarto_deck.with_name("bare.html")
    bare.write_text(re.sub(r"<script>\s*// Pacing for the speaker view.*?</script>", "", quarto_deck.read_text(), flags=re.S))
    s = B.open_deck(browser, bare, bare.parent.parent)
    assert sum(speaker_timings(s.page)) == 60 * 4 != 60 * QUARTO_MINUTES
    s.page.context.close()


# ------------------------------------------------------------------------------------------------
# the real decks, where rendered
# ------------------------------------------------------------------------------------------------

def rendered_variants() -> list[tuple[Path, Path]]:
    """(source .qmd, rendered .html) of every deck of every variant."""
    return [(qmd, D.output_dir(name) / "slides" / f"{qmd.stem}.html") for name, decks in D.variants().items() for qmd in decks]


@pytest.mark.parametrize("qmd,html", rendered_variants(), ids=[qmd.name for qmd, _ in rendered_variants()])
def test_the_timer_of_each_rendered_deck_totals_its_planned_minutes(browser, qmd, html):
    import conftest

    if not html.exists() or html.stat().st_mtime < conftest._newest_source():
        pytest.skip(f"{html.relative_to(D.ROOT)} is not rendered, or older than its sources: run quarto render "
                    "(with the variant's --profile) first")
    planned = V.deck_minutes(qmd)
    assert planned == planned, f"a file {qmd.name} includes plans no minutes (tests/test_variants.py)"
    s = B.open_deck(browser, html, html.parent.parent)
    timings = speaker_timings(s.page)
    s.page.context.close()
    assert timings is not None, "no default-timing: the speaker view shows no pacing timer"
    assert sum(timings) == round(60 * planned), f"{qmd.name}: the timer plans {sum(timings)} s, the sections {60 * planned:g} s"


def test_the_rendered_lecture_in_the_reading_mode(browser, rendered_deck):
    """The full lecture at ?view=scroll: every slide's notes below it, clear of everything; every
    animation plays as its page scrolls to the top and stops when the next one does; the explorer
    answers its slider."""
    s = B.open_deck(browser, rendered_deck, D.output_dir("full"), query="?view=scroll")
    page = s.page
    problems = reading_problems(page)
    assert problems == [], "\n".join(problems[:20])
    problems = scroll_playback(page)
    assert problems == [], "\n".join(problems[:20])
    if page.evaluate("!!document.querySelector('.explorer')"):
        scroll_to(page, page.evaluate("[...document.querySelectorAll('.reveal .scroll-page')].findIndex(p => p.querySelector('.explorer'))"), settle_ms=300)
        before = page.evaluate("document.querySelector('.explorer polyline').getAttribute('points')")
        other = page.evaluate("(() => { const el = document.querySelector('[data-role=lr]'); return el.value === el.max ? el.min : el.max; })()")
        assert page.evaluate(EXPLORER_INPUT_JS, ["lr", other]), "something covers the explorer's slider"
        assert page.evaluate("document.querySelector('.explorer polyline').getAttribute('points')") != before
    assert s.console_errors == [] and s.failed_requests == [] and s.outside_requests == []
    s.page.context.close()

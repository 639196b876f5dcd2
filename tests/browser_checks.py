"""Checks of a rendered reveal.js deck in headless Chromium, the way a viewer would meet it.

Each check returns a list of problems (empty when the deck is fine), so that the tests can show that a
deck built with deliberate defects fails each one, and that the real deck passes them all.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import deck as D

VIEWPORT = {"width": 1920, "height": 1080}
AXE = Path(__file__).resolve().parent / "browser" / "node_modules" / "axe-core" / "axe.min.js"


@dataclass
class Session:
    page: object
    root: Path  # the output folder: nothing may be requested from outside it
    console_errors: list = field(default_factory=list)
    failed_requests: list = field(default_factory=list)
    outside_requests: list = field(default_factory=list)


def failure_counts(url: str, resource_type: str, failure: str, session: Session) -> bool:
    """Whether a failed request is a defect: not one we refused (outside the folder), and not a video's
    load that Chromium itself cancelled (``net::ERR_ABORTED`` for a file that is there: it stops a media
    load when the slide is left or the video paused early, as a viewer's browser does); a missing video
    (``net::ERR_FILE_NOT_FOUND``) still counts."""
    if url in session.outside_requests:
        return False
    if resource_type == "media" and failure == "net::ERR_ABORTED":
        parsed = urlparse(url)
        return not (parsed.scheme == "file" and Path(unquote(parsed.path)).is_file())
    return True


def open_deck(browser, html: Path, root: Path, query: str = "", reduced_motion: str | None = None) -> Session:
    """Open ``html`` at 1920x1080 with the network cut off: every request that leaves ``root`` is
    recorded and refused; console errors and failed requests are recorded too. ``reduced_motion="reduce"``
    opens it as for a viewer who asked their system for less motion."""
    context = browser.new_context(viewport=VIEWPORT, reduced_motion=reduced_motion)
    page = context.new_page()
    session = Session(page, Path(root).resolve())

    def route(r):
        url = r.request.url
        parsed = urlparse(url)
        inside = parsed.scheme == "file" and Path(unquote(parsed.path)).resolve().is_relative_to(session.root)
        if inside or parsed.scheme in ("data", "blob", "about"):
            r.continue_()
        else:
            session.outside_requests.append(url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: session.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: session.console_errors.append(str(e)))
    page.on("requestfailed", lambda r: session.failed_requests.append(f"{r.url} ({r.failure})")
            if failure_counts(r.url, r.resource_type, r.failure, session) else None)
    page.goto(Path(html).resolve().as_uri() + query, wait_until="load")
    page.wait_for_function("window.Reveal && Reveal.isReady && Reveal.isReady()", timeout=30_000)
    # measure slides where they rest: no slide transition in flight (the lecture uses none anyway)
    page.evaluate("Reveal.configure({transition: 'none', backgroundTransition: 'none'})")
    return session


def slide_indices(page) -> list[dict]:
    """Every slide's {h, v} index, in order."""
    return page.evaluate("Reveal.getSlides().map(s => Reveal.getIndices(s))")


def go(page, index: dict, settle_ms: int = 150):
    page.evaluate("([h, v]) => Reveal.slide(h, v)", [index["h"], index.get("v") or 0])
    page.wait_for_timeout(settle_ms)


OVERFLOW_JS = """(tol) => {
  const slide = Reveal.getCurrentSlide();
  const scale = Reveal.getScale();
  const cfg = Reveal.getConfig();
  const frame = document.querySelector('.reveal .slides').getBoundingClientRect();
  const W = cfg.width * scale, H = cfg.height * scale;
  const out = [];
  const name = el => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
  const clipped = el => { for (let a = el.parentElement; a && a !== slide; a = a.parentElement) {
      const o = getComputedStyle(a); if (o.overflowY !== 'visible' || o.overflowX !== 'visible') return true; }
    return false; };
  for (const el of slide.querySelectorAll('*')) {
    if (el.closest('aside.notes, .speaker-notes, script, style')) continue;
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.visibility === 'hidden' || clipped(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const over = Math.max(r.bottom - (frame.top + H), r.right - (frame.left + W), frame.top - r.top, frame.left - r.left);
    if (over > tol * scale) out.push(`${name(el)} `
        + `runs ${Math.round(over / scale)}px past the slide: "${(el.innerText || '').trim().slice(0, 50)}"`);
  }
  // a box that clips what overflows it across (a code block scrolls: its pre, its code or the div
  // around them), with text reaching past its right edge: the end of a line is hidden. Measured on the
  // glyphs (a box's scroll width also counts lines shifted left, as numbered code's are). Boxes of a
  // few px are visually hidden text for screen readers, not something to read.
  const hides = el => {
    const st = getComputedStyle(el), r = el.getBoundingClientRect();
    if (st.display === 'none' || st.overflowX === 'visible' || r.width < 4 || r.height < 4) return 0;
    const s = r.width / el.offsetWidth, edge = r.left + (el.clientLeft + el.clientWidth) * s;
    let right = edge;
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let t = walk.nextNode(); t; t = walk.nextNode()) {
      if (!t.textContent.trim() || getComputedStyle(t.parentElement).visibility === 'hidden') continue;
      const range = document.createRange(); range.selectNodeContents(t);
      for (const q of range.getClientRects()) right = Math.max(right, q.right);
    }
    return (right - edge) / s;
  };
  for (const el of slide.querySelectorAll('*')) {
    if (el.closest('aside.notes, .speaker-notes')) continue;
    const hidden = hides(el);
    if (hidden > tol) out.push(`${name(el)} `
        + `hides ${Math.round(hidden)}px of its widest line: "${(el.innerText || '').trim().slice(0, 50)}"`);
  }
  // a column's content reaching into the next column (display math wider than its column lies under the
  // code beside it); what a box inside the column clips is the check above's
  for (const col of slide.querySelectorAll('.column')) {
    const c = col.getBoundingClientRect();
    const inClip = el => { for (let a = el.parentElement; a && a !== col; a = a.parentElement) if (getComputedStyle(a).overflowX !== 'visible') return true; return false; };
    let worst = 0, what = '';
    for (const el of col.querySelectorAll('*')) {
      if (el.closest('aside.notes, .speaker-notes')) continue;
      const st = getComputedStyle(el);
      if (st.display === 'none' || st.visibility === 'hidden') continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      const over = Math.max(r.right - c.right, c.left - r.left);
      if (over > worst && !inClip(el)) { worst = over; what = (el.closest('math') || el).textContent.trim().slice(0, 50); }
    }
    if (worst > tol * scale) out.push(`runs ${Math.round(worst / scale)}px out of its column: "${what}"`);
  }
  return out;
}"""

RAW_TEX = re.compile(r"\$[^$\s][^$]*\$|\\\(|\\\[|\\(frac|begin|end|eta|beta|sqrt|hat|mathrm|lambda|nabla|left|right)\b")

VISIBLE_TEXT_JS = """() => {
  const slide = Reveal.getCurrentSlide();
  const clone = slide.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, aside.notes, .speaker-notes, math').forEach(e => e.remove());
  const holder = document.createElement('div');
  holder.style.position = 'absolute'; holder.style.left = '-99999px';
  holder.appendChild(clone); document.body.appendChild(holder);
  const text = clone.innerText; holder.remove();
  return [text, slide.querySelectorAll('math').length];
}"""


# Content under the deck's chrome: the footer's text, the slide number and the menu button sit at the bottom of
# the screen, over the slide (Quarto places them, fixed), so a slide can stay inside its box and still run
# its last line into the footer. Compared on glyphs: each text's own boxes, and the boxes of pictures, videos
# and math; the chrome's text boxes (the footer's box spans the whole width) and the menu button's box.
UNDER_CHROME_JS = r"""(tol) => {
  const slide = Reveal.getCurrentSlide();
  const shown = el => { for (let a = el; a && a !== document.body; a = a.parentElement) {
      const st = getComputedStyle(a); if (st.display === 'none' || st.visibility === 'hidden' || +st.opacity === 0) return false; }
    return true; };
  const texts = root => { const out = []; const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let t = walk.nextNode(); t; t = walk.nextNode()) {
      if (!t.textContent.trim() || t.parentElement.closest('aside.notes, .speaker-notes, math, script, style')
          || !shown(t.parentElement)) continue;
      const range = document.createRange(); range.selectNodeContents(t);
      for (const r of range.getClientRects()) out.push([r, t.textContent.trim()]);
    }
    return out; };
  const chrome = [];
  for (const el of document.querySelectorAll('.reveal > .footer, .reveal > .slide-number')) {
    const what = el.classList.contains('footer') ? 'the footer' : 'the slide number';
    if (shown(el)) for (const [r] of texts(el)) chrome.push([r, what]);
  }
  for (const el of document.querySelectorAll('.reveal .slide-menu-button'))
    if (shown(el)) chrome.push([el.getBoundingClientRect(), 'the menu button']);
  const content = texts(slide);
  for (const el of slide.querySelectorAll('img, video, svg, canvas, math'))
    if (!el.closest('aside.notes, .speaker-notes') && !el.parentElement.closest('svg, math') && shown(el))
      content.push([el.getBoundingClientRect(), el.tagName.toLowerCase() + (el.getAttribute('alt') ? ' ' + el.getAttribute('alt') : '')]);
  const out = new Set();
  for (const [c, what] of content) for (const [r, name] of chrome)
    if (c.width && c.height && Math.min(c.right, r.right) - Math.max(c.left, r.left) > tol
        && Math.min(c.bottom, r.bottom) - Math.max(c.top, r.top) > tol)
      out.add(`runs into ${name}: "${what.slice(0, 50)}"`);
  return [...out];
}"""


def overflow(page, tol: float = 2.0) -> list[str]:
    """What the current slide does not show whole: elements that extend beyond the slide's box, text a
    scrolling box (a code block) hides past its right edge, content that reaches out of its column, content
    under the footer, the slide number or the menu button."""
    return page.evaluate(OVERFLOW_JS, tol) + page.evaluate(UNDER_CHROME_JS, tol)


# Punctuation right after inline math that the browser put at the start of the next line, alone.
LONE_PUNCTUATION_JS = r"""() => {
  const out = [];
  for (const m of Reveal.getCurrentSlide().querySelectorAll('math:not([display="block"])')) {
    const t = m.nextSibling;
    if (m.closest('aside.notes, .speaker-notes') || !t || t.nodeType !== 3 || !/^[.,;:!?)\]]/.test(t.textContent)) continue;
    const r = document.createRange(); r.setStart(t, 0); r.setEnd(t, 1);
    const mark = r.getBoundingClientRect(), box = m.getBoundingClientRect();
    if (mark.left < box.right - 1 && mark.top > box.top + box.height / 2)
      out.push(`"${t.textContent[0]}" begins a line, cut from the math "${m.textContent.trim().slice(0, 30)}"`);
  }
  return out;
}"""


def raw_math(page) -> list[str]:
    """Math not typeset as it should be on the current slide: TeX left visible, or the punctuation after
    inline math cut from it, alone at the start of a line (slides/includes/math-punctuation.lua)."""
    text, _ = page.evaluate(VISIBLE_TEXT_JS)
    return [m.group(0) for m in RAW_TEX.finditer(text)] + page.evaluate(LONE_PUNCTUATION_JS)


# ------------------------------------------------------------------------------------------------
# text size: readable from the back of a lecture hall at 1920x1080
# ------------------------------------------------------------------------------------------------

MIN_TEXT_PX = 24.0  # any text on a slide (footer and slide number, outside the slide, aside)
MIN_BODY_PX = 30.0  # paragraphs and list items

# Every rendered text node of the current slide (speaker notes aside) with its on-screen size: the
# computed font-size times the scale reveal.js draws the 1600x900 slide at. Text that is laid out but not
# yet visible (a fragment to come, the explorer's momentum row) counts: it will be shown at that size.
# Body text: inside a paragraph or list item, and not code, a table, math, a figure or the explorer.
TEXT_SIZES_JS = """() => {
  const slide = Reveal.getCurrentSlide();
  const scale = Reveal.getScale();
  const out = [];
  const walker = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const chars = node.textContent.replace(/\\s+/g, '').length;
    const el = node.parentElement;
    if (!chars || el.closest('aside.notes, .speaker-notes, script, style, noscript, template')) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    if (range.getClientRects().length === 0) continue;  // not rendered (display: none)
    const body = !el.closest('pre, code, table, math, svg, figure, figcaption, .explorer') && !!el.closest('p, li');
    out.push([parseFloat(getComputedStyle(el).fontSize) * scale, chars, body, node.textContent.trim().slice(0, 40)]);
  }
  return out;
}"""


def text_sizes(page) -> list[tuple[float, int, bool, str]]:
    """``(on-screen px, characters, is body text, sample)`` for every text node of the current slide."""
    return [tuple(t) for t in page.evaluate(TEXT_SIZES_JS)]


def text_size(page) -> list[str]:
    """Text of the current slide shown below ``MIN_TEXT_PX``, and body text below ``MIN_BODY_PX``: one
    line per rule broken, with the characters concerned, the slide's total and the smallest size."""
    sizes = text_sizes(page)
    total = sum(n for _, n, _, _ in sizes)
    problems = []
    for rule, limit, nodes in (("text", MIN_TEXT_PX, sizes), ("body text", MIN_BODY_PX, [t for t in sizes if t[2]])):
        small = [t for t in nodes if t[0] < limit - 0.05]
        if small:
            px, _, _, sample = min(small)
            problems.append(f"{sum(t[1] for t in small)} of {total} characters of {rule} under {limit:g} px "
                            f"(smallest {px:.1f} px: {sample!r})")
    return problems


# ------------------------------------------------------------------------------------------------
# printed output: text for the audience is typeset Markdown, stdout only where a slide runs code
# ------------------------------------------------------------------------------------------------

# TeX in printed output: `$...$`, a control word (`\eta`, `\times`), a braced superscript.
TEX_IN_OUTPUT = re.compile(r"\$[^$\n]+\$|\\[A-Za-z]+|\^\{")

# Quarto 1.8 writes a cell's printed output as <div class="cell-output cell-output-stdout"><pre><code>
# (stderr: cell-output-stderr; a text/plain result: a <pre> in cell-output-display). Source code shows as
# pandoc's highlighted <div class="sourceCode"> (or Quarto's echoed .cell-code).
OUTPUT_BLOCKS_JS = """() => {
  const slide = Reveal.getCurrentSlide();
  const found = [...slide.querySelectorAll('.cell-output-stdout, .cell-output-stderr, .cell-output pre')];
  const blocks = found.filter(b => !found.some(o => o !== b && o.contains(b)));
  const code = !!slide.querySelector('.cell-code, div.sourceCode:not(.cell-output *), pre.sourceCode:not(.cell-output *)');
  return [blocks.map(b => b.innerText), code];
}"""


def output_blocks(page) -> list[str]:
    """Printed output on the current slide that the audience is meant to read: any output block with
    TeX in it, and any output block on a slide that shows no source code."""
    blocks, shows_code = page.evaluate(OUTPUT_BLOCKS_JS)
    problems = []
    for text in blocks:
        sample = " ".join(text.split())[:60]
        tex = TEX_IN_OUTPUT.search(text)
        if tex:
            problems.append(f"raw TeX {tex.group(0)!r} in a printed output block: {sample!r}")
        if not shows_code:
            problems.append(f"printed output on a slide that shows no code (make it Markdown): {sample!r}")
    return problems


# ------------------------------------------------------------------------------------------------
# accessibility: axe-core on the slide on screen, with the footer and slide number
# ------------------------------------------------------------------------------------------------

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_IMPACTS = ("serious", "critical")
# The ONE list of exceptions: (axe rule, CSS selector of the elements it may skip, why).
AXE_ALLOWED = [
    # Quarto's code-line-numbers walk-through (line-highlight plugin) dims the lines it is not talking
    # about to opacity 0.4 on purpose, while it highlights others: their low contrast is the point.
    ("color-contrast", ".reveal div.sourceCode pre code.has-line-highlights > span:not(.highlight-line)",
     "lines dimmed on purpose by a code walk-through while others are highlighted"),
]

AXE_RUN_JS = """async ([tags, impacts, allowed]) => {
  const slide = Reveal.getCurrentSlide();
  const chrome = [...document.querySelectorAll('.reveal > .footer, .reveal > .slide-number')];
  const result = await axe.run({include: [slide, ...chrome]}, {runOnly: {type: 'tag', values: tags},
                                                              resultTypes: ['violations'], preload: false});
  const out = [];
  for (const v of result.violations) {
    if (!impacts.includes(v.impact)) continue;
    for (const n of v.nodes) {
      const el = typeof n.target[0] === 'string' ? document.querySelector(n.target[0]) : null;
      if (el && allowed.some(([rule, sel]) => rule === v.id && el.closest(sel))) continue;
      out.push(`${v.id} (${v.impact}): ${n.target.join(' ')}: ${(n.failureSummary || '').split('\\n').slice(1, 2).join('').trim()}`);
    }
  }
  return out;
}"""


def inject_axe(page):
    """Load axe-core (pinned in tests/browser/package.json) into the page, once."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))


def axe(page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations of impact serious or critical on the slide on screen (and the
    footer and slide number), but for the elements ``AXE_ALLOWED`` names, one line per element."""
    inject_axe(page)
    return page.evaluate(AXE_RUN_JS, [AXE_TAGS, list(AXE_IMPACTS), [[r, sel] for r, sel, _ in AXE_ALLOWED]])


# ------------------------------------------------------------------------------------------------
# pros and cons: each claim carries its sign
# ------------------------------------------------------------------------------------------------

CLAIMS_JS = """() => [...Reveal.getCurrentSlide().querySelectorAll('.pro, .con')].map(block => {
  const claim = block.querySelector('p');
  return [block.classList.contains('pro') ? 'pro' : 'con', claim ? claim.innerText : '',
          claim ? getComputedStyle(claim, '::before').content : 'none'];
})"""
SIGNS = {"pro": '"+ "', "con": '"\u2212 "'}


def unsigned_claims(page) -> list[str]:
    """The pros and cons on the current slide whose claim (the block's first paragraph, typed or printed by
    a cell) does not open with its sign, a green + or an orange −, as the theme gives it."""
    return [f"{kind} without its sign: {text[:60]!r}" for kind, text, before in page.evaluate(CLAIMS_JS)
            if before != SIGNS[kind]]


CHECKS = {"overflow": lambda page: overflow(page), "raw_math": lambda page: raw_math(page),
          "text_size": text_size, "output_blocks": output_blocks, "axe": axe, "claims": unsigned_claims}


def walk(session: Session, checks=tuple(CHECKS)) -> dict:
    """Visit every slide; return the problems found on each, by check (``checks``: names in ``CHECKS``)."""
    problems = {name: [] for name in checks}
    indices = slide_indices(session.page)
    for k, idx in enumerate(indices):
        go(session.page, idx)
        title = session.page.evaluate("(Reveal.getCurrentSlide().querySelector('h1, h2') || {}).innerText || ''")
        where = f"slide {k + 1} ({title.strip()[:40]!r})"
        for name in checks:
            problems[name] += [f"{where}: {p}" for p in CHECKS[name](session.page)]
    problems["visited"] = len(indices)
    return problems


def check_deck(browser, html: Path, root: Path, checks=tuple(CHECKS)) -> dict:
    """Open the deck ``html`` (output folder ``root``), walk every slide with ``checks``; the problems by
    check, plus the console errors, failed requests and requests that left ``root``."""
    s = open_deck(browser, html, root)
    try:
        found = walk(s, checks)
        found.update(console_errors=s.console_errors, failed_requests=s.failed_requests,
                     outside_requests=s.outside_requests)
        return found
    finally:
        s.page.context.close()


def video_slides(page) -> list[dict]:
    return page.evaluate("Reveal.getSlides().filter(s => s.querySelector('video[data-autoplay]')).map(s => Reveal.getIndices(s))")


def playback(session: Session, index: dict, wait_ms: int = 1500) -> list[str]:
    """Enter the slide: its video must play; leave it: the video must pause."""
    page = session.page
    go(page, index, settle_ms=wait_ms)
    state = page.evaluate("""() => { const v = Reveal.getCurrentSlide().querySelector('video[data-autoplay]');
        return [v.currentTime, v.paused, v.error ? v.error.message : null]; }""")
    problems = []
    if state[2] or state[0] < 0.2 or state[1]:
        problems.append(f"video on slide {index} did not play (time {state[0]:.2f} s, paused {state[1]}, error {state[2]})")
    page.evaluate("""() => { window.__leftVideo = Reveal.getCurrentSlide().querySelector('video[data-autoplay]'); }""")
    total = page.evaluate("Reveal.getTotalSlides()")
    others = [i for i in slide_indices(page) if i != index]
    if others and total > 1:
        go(page, others[0], settle_ms=400)
        if not page.evaluate("window.__leftVideo.paused"):
            problems.append(f"video on slide {index} kept playing after the slide was left")
    return problems


def pdf_pages_and_text(path: Path) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return len(reader.pages), "\n".join(page.extract_text() or "" for page in reader.pages)


# ------------------------------------------------------------------------------------------------
# every animation the cells write is a <video> in the page and an .mp4 in the output folder
# ------------------------------------------------------------------------------------------------

LOOPS = (ast.For, ast.AsyncFor, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
         ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _is_video_call(node) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "video"
            and isinstance(node.func.value, ast.Name) and node.func.value.id in ("S", "present"))


def video_calls(text: str) -> int:
    """How many animations the cells of a deck's expanded text write: every one goes through
    ``present.video`` (imported as ``S``), so this counts the ``S.video(...)`` calls of the cells that run.
    The count is exact only if each call runs once: a call inside a loop, a comprehension or a function
    raises ``ValueError``."""
    n = 0
    for cell in D.cells(text):
        if cell.options.get("eval", True) is False:
            continue
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            if isinstance(node, LOOPS) and any(_is_video_call(c) for c in ast.walk(node)):
                raise ValueError(f"cell {cell.label or cell.source.splitlines()[0][:40]!r}: S.video(...) inside a "
                                 f"{type(node).__name__} (line {node.lineno}): the number of animations the deck "
                                 "writes cannot be counted from its text; call S.video once per animation")
            n += _is_video_call(node)
    return n


def expected_videos(qmd: Path) -> int:
    """The number of animations the deck ``qmd`` writes (its includes expanded)."""
    return video_calls(D.expand_includes(Path(qmd)))


class _VideoTags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.count = 0

    def handle_starttag(self, tag, attrs):
        self.count += tag == "video"


def _videos_in(html: Path) -> int:
    """The number of ``<video>`` elements of the page ``html``."""
    parser = _VideoTags()
    parser.feed(Path(html).read_text())
    return parser.count


def video_count(html: Path, expected: int, root: Path) -> list[str]:
    """The animations the deck's cells wrote (``expected``), the ``<video>`` elements of the page
    ``html`` and the ``.mp4`` files in its output folder ``root`` must be the same number."""
    videos = _videos_in(html)
    files = sorted(Path(root).rglob("*.mp4"))
    if expected == videos == len(files):
        return []
    return [f"the cells write {expected} animations, the page has {videos} <video> elements and "
            f"{root} has {len(files)} .mp4 files ({', '.join(f.name for f in files[:5])}"
            f"{', ...' if len(files) > 5 else ''})"]


def variant_video_count(decks, root: Path) -> list[str]:
    """For a variant whose decks share one output folder (the seminar decks): each page has as many
    ``<video>`` elements as its cells wrote animations, and the folder holds exactly their ``.mp4``
    files, no more and no fewer. ``decks`` is a list of ``(html, expected)``."""
    problems, total = [], 0
    for html, expected in decks:
        videos = _videos_in(html)
        total += expected
        if videos != expected:
            problems.append(f"{Path(html).name}: the cells write {expected} animations, the page has {videos}")
    files = sorted(Path(root).rglob("*.mp4"))
    if len(files) != total:
        problems.append(f"the decks' cells write {total} animations and {root} has {len(files)} .mp4 files")
    return problems


# ------------------------------------------------------------------------------------------------
# a clean render log
# ------------------------------------------------------------------------------------------------

# Notices that are not about the deck: ipykernel warns about its own TCP transport on every start.
RENDER_NOTICES = ("Kernel is running over TCP without encryption",)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def render_warnings(log: str) -> list[str]:
    """The ``WARNING`` lines of a ``quarto render`` log (Quarto's ``WARNING: ...`` and ``WARNING (file)``,
    pandoc's ``[WARNING]``), but for ``RENDER_NOTICES``."""
    lines = (ANSI.sub("", line).strip() for line in log.splitlines())
    return [line for line in lines if re.search(r"\bWARNING\b", line) and not any(n in line for n in RENDER_NOTICES)]


# ------------------------------------------------------------------------------------------------
# motion and text alternatives of the videos
# ------------------------------------------------------------------------------------------------

def video_state(page) -> list:
    """``[currentTime, paused]`` of the current slide's video."""
    return page.evaluate("() => { const v = Reveal.getCurrentSlide().querySelector('video'); return [v.currentTime, v.paused]; }")


def video_names(page) -> list[str]:
    """The accessible name Chromium gives each video on the current slide (from its accessibility tree:
    what a screen reader reaches); '' for a video without one, none for a video hidden from it."""
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    on_slide = page.evaluate("Reveal.getCurrentSlide().querySelectorAll('video').length")
    names = [(n.get("name") or {}).get("value", "") for n in nodes
             if not n.get("ignored") and (n.get("role") or {}).get("value") == "Video"]
    return names + [""] * max(0, on_slide - len(names))


# ------------------------------------------------------------------------------------------------
# figures fill the slide: a slide that shows a figure gives it most of the room below its title
# ------------------------------------------------------------------------------------------------

MIN_FIGURE_SHARE = 0.3  # no figure slide below this
MIN_MEDIAN_FIGURE_SHARE = 0.65  # the median over the deck's figure slides

# The largest figure of the current slide (an image in figure.fig, the video of figure.anim, or the
# explorer's drawing; its print-only still is not shown, so it measures 0) as a share of the slide's area
# below its title: the slide's box (reveal.js's width x height) minus everything down to the bottom of
# the h1/h2, or the whole box on a slide without one. null on a slide without a figure.
FIGURE_SHARE_JS = """() => {
  const slide = Reveal.getCurrentSlide();
  const frame = document.querySelector('.reveal .slides').getBoundingClientRect();
  const scale = Reveal.getScale(), cfg = Reveal.getConfig();
  const W = cfg.width * scale, H = cfg.height * scale;
  const figures = slide.querySelectorAll('figure.fig img, figure.anim video, figure.anim img, .explorer .explorer-view');
  if (!figures.length) return null;
  const title = slide.querySelector('h1, h2');
  const top = title ? Math.max(title.getBoundingClientRect().bottom, frame.top) : frame.top;
  const room = W * (frame.top + H - top);
  let largest = 0;
  for (const el of figures) {
    const r = el.getBoundingClientRect();
    largest = Math.max(largest, r.width * r.height);
  }
  return room > 0 ? largest / room : null;
}"""


def math_fonts(session: Session) -> dict[str, int]:
    """The fonts the browser drew the deck's formulas with: ``{family: glyphs}`` over the tokens (``mi``,
    ``mn``, ``mo``) of every slide that has MathML, as Chromium reports them (DevTools protocol), each slide
    shown in turn since reveal.js lays out only the slides near the current one."""
    page = session.page
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    fonts: dict[str, int] = {}
    with_math = page.evaluate("Reveal.getSlides().filter(s => s.querySelector('math')).map(s => Reveal.getIndices(s))")
    for index in with_math:
        go(page, index, settle_ms=50)
        tokens = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": "section.present math :is(mi, mn, mo)"})
        for node in tokens["nodeIds"]:
            for f in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]:
                fonts[f["familyName"]] = fonts.get(f["familyName"], 0) + f["glyphCount"]
    cdp.detach()
    return fonts


def figure_share(page) -> float | None:
    """The largest figure's share of the current slide's area below its title; ``None`` without a figure."""
    return page.evaluate(FIGURE_SHARE_JS)


def figure_shares(session: Session) -> list[tuple[int, str, float]]:
    """``(slide number, title, share)`` for every slide that shows a figure, an animation or the explorer."""
    shares = []
    for k, idx in enumerate(slide_indices(session.page)):
        go(session.page, idx, settle_ms=50)
        share = figure_share(session.page)
        if share is not None:
            title = session.page.evaluate("(Reveal.getCurrentSlide().querySelector('h1, h2') || {}).innerText || ''")
            shares.append((k + 1, " ".join(title.split())[:40], share))
    return shares


def figure_fill(shares: list[tuple[int, str, float]]) -> list[str]:
    """The figure slides whose largest figure fills less than ``MIN_FIGURE_SHARE`` of the room below the
    title, and the median over all figure slides when it is below ``MIN_MEDIAN_FIGURE_SHARE``."""
    problems = [f"slide {n} ({title!r}): its figure fills {share:.2f} of the slide below the title, "
                f"need >= {MIN_FIGURE_SHARE:g}" for n, title, share in shares if share < MIN_FIGURE_SHARE]
    if shares:
        values = sorted(s for _, _, s in shares)
        mid = len(values) // 2
        median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        if median < MIN_MEDIAN_FIGURE_SHARE:
            problems.append(f"the median figure slide fills {median:.2f} of the slide below the title, "
                            f"need >= {MIN_MEDIAN_FIGURE_SHARE:g} ({len(values)} figure slides)")
    return problems

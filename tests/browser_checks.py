"""Checks of a rendered reveal.js deck in headless Chromium, the way a viewer would meet it.

Each check returns a list of problems (empty when the deck is fine), so that the tests can show that a
deck built with deliberate defects fails each one, and that the real deck passes them all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

VIEWPORT = {"width": 1920, "height": 1080}


@dataclass
class Session:
    page: object
    root: Path  # the output folder: nothing may be requested from outside it
    console_errors: list = field(default_factory=list)
    failed_requests: list = field(default_factory=list)
    outside_requests: list = field(default_factory=list)


def open_deck(browser, html: Path, root: Path, query: str = "") -> Session:
    """Open ``html`` at 1920x1080 with the network cut off: every request that leaves ``root`` is
    recorded and refused; console errors and failed requests are recorded too."""
    context = browser.new_context(viewport=VIEWPORT)
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
            if not any(r.url == o for o in session.outside_requests) else None)
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
    if (over > tol * scale) out.push(`${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : ''} `
        + `runs ${Math.round(over / scale)}px past the slide: "${(el.innerText || '').trim().slice(0, 50)}"`);
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


def overflow(page, tol: float = 2.0) -> list[str]:
    """Elements of the current slide that extend beyond the slide's box."""
    return page.evaluate(OVERFLOW_JS, tol)


def raw_math(page) -> list[str]:
    """TeX left visible on the current slide instead of typeset math."""
    text, _ = page.evaluate(VISIBLE_TEXT_JS)
    return [m.group(0) for m in RAW_TEX.finditer(text)]


def walk(session: Session) -> dict:
    """Visit every slide; return the problems found on each, by check."""
    problems = {"overflow": [], "raw_math": []}
    indices = slide_indices(session.page)
    for k, idx in enumerate(indices):
        go(session.page, idx)
        title = session.page.evaluate("(Reveal.getCurrentSlide().querySelector('h1, h2') || {}).innerText || ''")
        where = f"slide {k + 1} ({title.strip()[:40]!r})"
        problems["overflow"] += [f"{where}: {p}" for p in overflow(session.page)]
        problems["raw_math"] += [f"{where}: {p}" for p in raw_math(session.page)]
    problems["visited"] = len(indices)
    return problems


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

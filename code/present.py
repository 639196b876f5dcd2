"""Glue between the modules and the slides: media files, raw HTML, and text taken from the code.

The decks call these from cells with ``#| output: asis``, so what they print is Markdown (or a raw
HTML block) that Quarto places on the slide. Nothing here computes an optimizer step or draws a plot
itself: runs come from ``optimizers.run``, pictures from ``plots``.

* ``rule(factory)``: the update rule in LaTeX, read from the factory's docstring (the very block the
  module documents itself with), so slide and code cannot disagree;
* ``code(factory)``: the source of the factory's ``update`` function, as it runs;
* ``video(animation, name, alt)``: an H.264 video that plays when its slide is entered, with a still
  image of the full path that replaces it in print and PDF.
"""
from __future__ import annotations

import ast
import functools
import html
import inspect
import io
import os
import re
import textwrap
from pathlib import Path

import imageio_ffmpeg
import matplotlib.mathtext
import matplotlib.pyplot as plt
import numpy as np

import cache as C
import optimizers as O
import plots as P

# Media live beside the deck (slides/media/), so the HTML refers to them as "media/<name>.mp4" and Quarto
# copies them into the output folder with the page. Cells run from the project root (execute-dir: project).
MEDIA = Path(os.environ.get("DECK_MEDIA_DIR", "slides/media"))
FPS = 15


def _factory(fn):
    return fn.func if isinstance(fn, functools.partial) else fn


def rule(fn) -> str:
    """The ``$$ ... $$`` block of ``fn``'s docstring: the update rule exactly as the module states it."""
    doc = inspect.getdoc(fn) or ""
    match = re.search(r"\$\$.*?\$\$", doc, flags=re.S)
    if match is None:
        raise ValueError(f"{getattr(_factory(fn), '__name__', fn)} has no $$ ... $$ block in its docstring")
    return textwrap.dedent(match.group(0))


def update_source(fn) -> str:
    """Source of the ``update`` function nested in an optimizer factory, dedented."""
    src = inspect.getsource(_factory(fn))
    lines = src.splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip().startswith("def update("))
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    return textwrap.dedent("\n".join(lines[start:end])).rstrip()


def function_source(fn) -> str:
    """Source of a plain function or method without its docstring, dedented."""
    src = textwrap.dedent(inspect.getsource(fn))
    node = ast.parse(src).body[0]
    lines = src.splitlines()
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
            and isinstance(first.value.value, str):
        del lines[first.lineno - 1:first.end_lineno]
    return "\n".join(lines).rstrip()


def shown_code(fn) -> str:
    """The code ``code`` shows for ``fn``: an optimizer factory's ``update`` function, or any other
    function without its docstring."""
    is_factory = "def update(" in inspect.getsource(_factory(fn))
    return update_source(fn) if is_factory else function_source(fn)


def code_lines(fn, pattern: str) -> list[int]:
    """The numbers (from 1, as the slide numbers them) of the lines of ``fn``'s shown code that the
    regular expression ``pattern`` finds in, searched without their indentation. Highlights and notes
    name lines through it, so they follow the code when it changes. ``ValueError`` when no line matches."""
    found = [i for i, line in enumerate(shown_code(fn).splitlines(), 1) if re.search(pattern, line.strip())]
    if not found:
        raise ValueError(f"no line of the code shown for {_factory(fn).__name__} matches {pattern!r}")
    return found


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Consecutive numbers as (first, last) runs: [2, 3, 5] -> [(2, 3), (5, 5)]."""
    runs = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs


def line_ref(fn, pattern: str) -> str:
    """The lines ``code_lines(fn, pattern)`` in a note's words: "line 7", "lines 8 and 9", "lines 4 to 6"."""
    numbers = code_lines(fn, pattern)
    if len(numbers) == 1:
        return f"line {numbers[0]}"
    runs = _runs(numbers)
    if len(runs) == 1 and len(numbers) > 2:
        return f"lines {runs[0][0]} to {runs[0][1]}"
    return "lines " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def code(fn, highlight: str | list[str] | None = None) -> str:
    """A Markdown code block with the real code (``shown_code``). ``highlight`` walks through its lines
    (Quarto's ``code-line-numbers``): a spec such as ``"2-3|4|5-6"``, or one regular expression per step,
    each step the lines it finds (``code_lines``), so the walk follows the code. An optimizer in ``TERMS``
    gets its terms coloured: each code line in the colour of the term of the rule it computes
    (``term_style``)."""
    if highlight is not None and not isinstance(highlight, str):
        highlight = "|".join(",".join(f"{a}-{b}" if b > a else str(a) for a, b in _runs(code_lines(fn, p)))
                             for p in highlight)
    attrs = f' code-line-numbers="{highlight}"' if highlight else ""
    text = shown_code(fn)
    name = _optimizer_name(fn)
    if name not in TERMS:
        return f"\n```{{.python{attrs}}}\n{text}\n```\n"
    return term_style(fn) + f"\n```{{.python .terms-{name}{attrs}}}\n{text}\n```\n"


# Each code line in the colour of the term of the rule it computes. Pandoc's MathML writer (texmath)
# parses ``\color`` but drops it, so the colour reaches the rule through CSS instead: the n-th row of the
# rule's ``aligned`` block is the n-th <mtr> of its MathML table, its term (left of ``&=``) the first
# <mtd>; the n-th code line is the n-th <span> of the <code>. Per optimizer: (the term as the
# docstring writes it, a pattern matching the stripped code lines that compute it), top to bottom.
TERMS = {
    "momentum": [("b_t", r"b = "), ("x_t", r"return -lr \* b,")],
    "nesterov": [("b_t", r"b = "), ("x_t", r"return -lr \* \(g \+ mu \* b\)")],
    "adagrad": [("s_t", r"s = "), ("x_t", r"return -clr \* g")],
    "rmsprop": [("v_t", r"v = "), ("x_t", r"return -lr \* g")],
    "adadelta": [("v_t", r"v = "), (r"\Delta_t", r"delta = "), ("u_t", r"u = "), ("x_t", r"return -lr \* delta")],
    "adam": [("m_t", r"m = "), ("v_t", r"v = "), (r"\hat m_t", r"(m_hat|v_hat) = "), ("x_t", r"delta = -lr")],
    "adamax": [("m_t", r"m = "), ("u_t", r"u = "), ("x_t", r"return -lr")],
    "nadam": [(r"\mu_t", r"(mu, mu_next|mu_product) = "), ("m_t", r"m = "), ("v_t", r"v = "),
              ("x_t", r"(denom|delta) = ")],
    "amsgrad": [("m_t", r"m = "), ("v_t", r"v = "), (r"v^{\max}_t", r"v_max = "), ("x_t", r"(m_hat|v_hat|delta) = ")],
    "adamw": [("m_t", r"m = "), ("v_t", r"v = "), ("x_t", r"(m_hat|v_hat) = |delta = -lr|delta = delta - lr")],
}
# Dark enough for 4.5:1 on the code background and apart in CAM02-UCS for normal vision and simulated
# deuteranomaly and protanomaly (plots.check_colours); the step x_t always in the last one. Method
# colours (plots.STYLE) are not used: they mean methods.
TERM_COLOURS = ("#B2182B", "#00695C", "#4A148C")
STEP_COLOUR = "#1F5FA8"


def _optimizer_name(fn) -> str | None:
    return next((name for name, f in O.OPTIMIZERS.items() if f is fn), None)


def rule_terms(fn) -> list[str]:
    """The term each row of ``fn``'s rule defines (left of ``&=`` in its ``aligned`` block), top to bottom."""
    body = rule(fn).strip("$").strip()
    match = re.fullmatch(r"\\begin\{aligned\}(.*)\\end\{aligned\}", body, flags=re.S)
    rows = match.group(1).split(r"\\") if match else [body]
    return [row.split("&=")[0].strip() if "&=" in row else "" for row in rows]


def terms(fn) -> list[tuple[str, str, int, list[int]]]:
    """``(term, colour, row of the rule, [code lines])`` for ``fn`` from ``TERMS`` (1-based, as CSS's
    ``nth-child`` counts; code lines as shown by ``code``). ``ValueError`` when a term is not a row of
    the rule or its pattern matches no line: the table has drifted from the module."""
    name = _optimizer_name(fn)
    if name not in TERMS:
        return []
    rows = rule_terms(fn)
    lines = [line.strip() for line in update_source(fn).splitlines()]
    out, colours = [], iter(TERM_COLOURS)
    for term, pattern in TERMS[name]:
        if term not in rows:
            raise ValueError(f"TERMS[{name!r}]: {term!r} is not the term of a row of the rule ({rows})")
        hits = [i + 1 for i, line in enumerate(lines) if re.match(pattern, line)]
        if not hits:
            raise ValueError(f"TERMS[{name!r}]: no line of the update function matches {pattern!r} for {term!r}")
        out.append((term, STEP_COLOUR if term == "x_t" else next(colours), rows.index(term) + 1, hits))
    return out


def term_style(fn) -> str:
    """A raw HTML ``<style>`` that colours ``fn``'s terms (``terms``): on the slide that shows its code
    (class ``terms-<name>``; ``section.slide``, not the vertical stack of a part, which holds other
    methods' slides too), the term of each row of the display rule and the code lines computing it
    (whose syntax colours give way). Colour is not the only cue: rows and lines come in the same order,
    and a walk-through (``highlight``) still dims the lines it is not talking about."""
    name = _optimizer_name(fn)
    pre = f".reveal pre.terms-{name} > code"
    css = []
    for term, colour, row, lines in terms(fn):
        css.append(f'.reveal section.slide:has(pre.terms-{name}) math[display="block"] mtable > mtr:nth-child({row}) '
                   f"> mtd:first-child {{ color: {colour}; }}")
        for line in lines:
            css.append(f"{pre} > span:nth-child({line}) {{ color: {colour}; }}")
            css.append(f"{pre} > span:nth-child({line}) span {{ color: inherit; }}")
    return _raw_html("<style>\n" + "\n".join(css) + "\n</style>")


def _raw_html(body: str) -> str:
    return f"\n```{{=html}}\n{body}\n```\n"


# Readable from the back row: the deck is 1600 px wide and shown 1824 px wide on a 1920x1080 screen, so a
# figure drawn ``w`` inches wide and shown across ``share`` of the slide shows 1 pt of its text as
# ``share * 1824 / (72 * w)`` px, whatever its dpi. Figure text must show at 20 px at least.
SCREEN_WIDTH_PX = 1920 * (1 - 0.05)  # the slide on a 1920x1080 screen: reveal.js keeps a margin of 0.05
MIN_FIGURE_TEXT_PX = 20.0


def _share(width: str) -> float:
    """``"74%"`` -> 0.74: the share of the slide's width a figure is shown across."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)%\s*", str(width))
    if match is None or not 0 < float(match.group(1)) <= 100:
        raise ValueError(f"width must be a percentage of the slide in (0%, 100%], got {width!r}")
    return float(match.group(1)) / 100


SLIDE_WIDTH_PX = 1600  # the deck's width (slides/_metadata.yml); reveal.js scales the slide as a whole


def _css_width(width: str) -> str:
    """A figure's CSS width: ``width`` is a share of the slide, not of the column the figure sits in,
    so it is given in the slide's own pixels (and never wider than its container)."""
    return f"width:{_share(width) * SLIDE_WIDTH_PX:.0f}px;max-width:100%"


def figure_text_px(fig, width: str, drawn: bool = False) -> list[tuple[float, str]]:
    """On-screen size in px of every visible text in ``fig`` (titles, labels, ticks, legends,
    annotations) when the figure is shown across ``width`` of the slide at 1920x1080: sorted
    ``(px, text)`` pairs, smallest first. Draws the figure first so that tick labels exist, unless
    ``drawn`` says the canvas already shows it."""
    from matplotlib.text import Text

    if not drawn:
        fig.canvas.draw()
    per_pt = _share(width) * SCREEN_WIDTH_PX / (72 * fig.get_size_inches()[0])
    sizes = {(float(t.get_fontsize() * per_pt), t.get_text()) for t in fig.findobj(Text)
             if t.get_text().strip() and _drawn(t)}
    return sorted(sizes)


def _drawn(artist) -> bool:
    """Whether ``artist`` and every parent it hangs from is visible (a hidden axis hides its ticks)."""
    while artist is not None:
        if not artist.get_visible():
            return False
        artist = getattr(artist, "axes", None) if artist is not getattr(artist, "axes", None) else None
    return True


def check_figure_text(fig, width: str, name: str, drawn: bool = False):
    """``ValueError`` when any text of ``fig`` would show below ``MIN_FIGURE_TEXT_PX`` at ``width``."""
    small = [(px, text) for px, text in figure_text_px(fig, width, drawn) if px < MIN_FIGURE_TEXT_PX - 1e-9]
    if small:
        listed = ", ".join(f"{text[:30]!r} at {px:.1f} px" for px, text in small[:5])
        raise ValueError(f"{name}: figure text must show at >= {MIN_FIGURE_TEXT_PX:g} px at width {width}; "
                         f"{len(small)} below it: {listed}")


def _shown_texts(fig) -> list[tuple[object, object]]:
    """``(text, group)`` for each text of a drawn ``fig`` that shows: visible, not empty, not animated (the
    frames draw it) and, for a tick label, at a tick inside its axis' view (matplotlib keeps labels for
    ticks beyond it). A tick label's group is its axes; other texts have none."""
    from matplotlib.text import Text

    ticks, shown = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update(map(id, (tick.label1, tick.label2)))
                if lo - 1e-9 * (hi - lo) <= tick.get_loc() <= hi + 1e-9 * (hi - lo):
                    shown += [(t, (ax, axis)) for t in (tick.label1, tick.label2)]
    shown += [(t, None) for t in fig.findobj(Text) if id(t) not in ticks]
    return [(t, g) for t, g in shown if not t.get_animated() and t.get_text().strip() and _drawn(t)]


def text_overlaps(fig, drawn: bool = False) -> list[tuple[str, str]]:
    """Pairs of texts of ``fig`` that cover each other: a label on a title or on a tick label, two labels
    on one another. Their boxes (which include the line's ascent and descent) must overlap by more than
    a tenth of the smaller box, and 2 px, both across and up: boxes of lines set one above the other
    touch. Not the x and y tick labels of one axes, which meet at its corner by design. Draws the figure
    first unless ``drawn``."""
    if not drawn:
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), g, t.get_window_extent(renderer)) for t, g in _shown_texts(fig)]
    corner = lambda g, h: g is not None and h is not None and g[0] is h[0] and g[1] is not h[1]

    def cover(a, b):
        across, up = min(a.x1, b.x1) - max(a.x0, b.x0), min(a.y1, b.y1) - max(a.y0, b.y0)
        return across > max(2.0, 0.1 * min(a.width, b.width)) and up > max(2.0, 0.1 * min(a.height, b.height))

    return [(a, b) for i, (a, g, ba) in enumerate(boxes) for b, h, bb in boxes[i + 1:] if not corner(g, h) and cover(ba, bb)]


def check_figure_overlaps(fig, name: str, drawn: bool = False):
    """``ValueError`` when texts of ``fig`` cover each other (``text_overlaps``)."""
    pairs = text_overlaps(fig, drawn)
    if pairs:
        listed = "; ".join(f"{a[:30]!r} on {b[:30]!r}" for a, b in pairs[:5])
        raise ValueError(f"{name}: {len(pairs)} pair(s) of texts cover each other: {listed}")


def _on_halo(text) -> bool:
    """Whether ``text`` is drawn on a halo (a stroke path effect, ``plots.HALO``) or an opaque box."""
    from matplotlib.patheffects import Stroke

    box = text.get_bbox_patch()
    return any(isinstance(e, Stroke) for e in text.get_path_effects() or ()) or \
        (box is not None and box.get_visible() and box.get_facecolor()[3] >= 0.5)


def text_on_lines(fig, drawn: bool = False) -> list[tuple[str, str]]:
    """``(text, line)`` pairs of a drawn ``fig`` where a line, its markers or a scatter's dots run through
    a label inside an axes (not a title, axis label, tick label or legend entry) that has neither a halo
    nor a box: a line through the letters makes them hard to read. The label's box is taken without its
    outer fifth across and third up (the empty room around the letters); a marker or dot counts when its
    disc reaches into that box; a line clipped to the axes counts only inside them; lines the frames draw
    (animated) are not there yet. Draws the figure first unless ``drawn``."""
    from matplotlib.collections import PathCollection
    from matplotlib.transforms import Bbox

    if not drawn:
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    px_per_pt = fig.dpi / 72

    def reaches(area, points, radius_px) -> bool:  # a disc of radius_px around any point meets area
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        dx = np.maximum(0, np.maximum(area.x0 - points[:, 0], points[:, 0] - area.x1))
        dy = np.maximum(0, np.maximum(area.y0 - points[:, 1], points[:, 1] - area.y1))
        return bool(np.any(np.hypot(dx, dy) < np.resize(np.atleast_1d(radius_px), len(points))))  # sizes cycle

    shown = lambda a: _drawn(a) and not a.get_animated()
    geometry = {}  # per axes, once: (label, clipped, path, points, radius in px) of each line and scatter shown

    def drawn_in(ax):
        if ax not in geometry:
            geometry[ax] = []
            for line in filter(shown, ax.get_lines()):
                transform = line.get_transform()
                drawn_line = line.get_linestyle() not in ("None", "none", "", " ") and line.get_linewidth() > 0
                marked = line.get_marker() not in (None, "None", "none", "", " ")
                geometry[ax].append((line.get_label(), line.get_clip_on(),
                                     transform.transform_path(line.get_path()) if drawn_line else None,
                                     transform.transform(line.get_xydata()) if marked else None,
                                     line.get_markersize() / 2 * px_per_pt))
            for dots in ax.collections:  # a scatter's dots (not contours, not arrows)
                if type(dots) is PathCollection and shown(dots) and len(dots.get_offsets()):
                    geometry[ax].append((dots.get_label(), dots.get_clip_on(), None,
                                         dots.get_offset_transform().transform(dots.get_offsets()),
                                         np.sqrt(dots.get_sizes()) / 2 * px_per_pt))
        return geometry[ax]

    found = []
    for t, group in _shown_texts(fig):
        ax = t.axes
        if group is not None or ax is None or _on_halo(t):
            continue
        legend = ax.get_legend()
        if t in (ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label) or \
                (legend is not None and t in legend.get_texts()):
            continue
        e = t.get_window_extent(renderer)
        box = Bbox.from_extents(e.x0 + 0.1 * e.width, e.y0 + 0.17 * e.height, e.x1 - 0.1 * e.width, e.y1 - 0.17 * e.height)
        frame = ax.get_window_extent(renderer)
        for label, clipped, path, points, radius in drawn_in(ax):
            area = Bbox.intersection(box, frame) if clipped else box  # where the artist is drawn
            if area is not None and ((path is not None and path.intersects_bbox(area, filled=False)) or
                                     (points is not None and reaches(area, points, radius))):
                found.append((t.get_text(), label))
    return found


def check_figure_text_on_lines(fig, name: str, drawn: bool = False):
    """``ValueError`` when lines run through labels that have no halo (``text_on_lines``)."""
    pairs = text_on_lines(fig, drawn)
    if pairs:
        listed = "; ".join(f"{line[:30]!r} through {text[:30]!r}" for text, line in pairs[:5])
        raise ValueError(f"{name}: {len(pairs)} line(s) run through labels without a halo (plots.HALO): {listed}")


def check_figure(fig, width: str, name: str, drawn: bool = False):
    """The checks every figure and animation of the deck passes before it is written: its text readable
    at ``width`` (``check_figure_text``), no text on another (``check_figure_overlaps``), no line through
    a label without a halo (``check_figure_text_on_lines``), its series' colours few and distinguishable
    for everyone (``plots.check_figure_colours``), no legend that labels on the data should replace
    (``plots.check_figure_legends``). Draws the figure (its layout too) unless ``drawn``."""
    check_figure_text(fig, width, name, drawn)
    check_figure_overlaps(fig, name, drawn=True)
    check_figure_text_on_lines(fig, name, drawn=True)
    P.check_figure_colours(fig, name)
    P.check_figure_legends(fig, name)


BACKGROUND_ENV = "OPTIMIZERS_BACKGROUND_VIDEOS"  # "1" (Quarto renders, _environment): build media in parallel

# A figure or video built in the background is drawn in a forked copy of the kernel. An FT2Font must not
# cross a fork: it reads its font file through a descriptor, and the file offset is shared with the parent
# and every other child. matplotlib empties its own font cache in a forked child, but not mathtext's parse
# cache, whose results hold the fonts their glyphs come from: a child that drew a formula the kernel had
# already laid out read those glyphs through the shared offset, and a glyph load could fail
# ("FT_Load_Glyph ... invalid outline", seen once in a run of the deck). The child empties that cache too,
# so its formulas are parsed again with fonts of its own.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=matplotlib.mathtext.MathTextParser._parse_cached.cache_clear)


def _in_background() -> bool:
    """Whether figures and videos to build go to forked processes (``cache.background``): in a Quarto
    render (``$OPTIMIZERS_BACKGROUND_VIDEOS=1``), where the platform forks."""
    return os.environ.get(BACKGROUND_ENV) == "1" and hasattr(os, "fork")


def _build_figure(fig, name: str, width: str, png: Path):
    """Check and save one figure, drawn once: the draw that lays it out for the checks is the picture."""
    fig.canvas.draw()
    check_figure(fig, width, name, drawn=True)
    save_png(fig, png, drawn=True)


def figure(fig, name: str, alt: str, width: str = "100%") -> str:
    """Save ``fig`` as ``media/<name>.png`` and return the raw HTML that shows it across ``width`` of the
    slide with ``alt`` as its text alternative. Checks it first (``check_figure``). With
    ``$OPTIMIZERS_BACKGROUND_VIDEOS=1`` (a Quarto render) it is checked, drawn and saved in a forked
    process while the next cells run, as a video is (``video``); a failed check fails the render there."""
    MEDIA.mkdir(parents=True, exist_ok=True)
    png = MEDIA / f"{name}.png"
    w, h = fig.canvas.get_width_height(physical=True)  # the size the figure is drawn at: no drawing needed
    if _in_background():
        C.background(lambda: _build_figure(fig, name, width, png), name)
    else:
        _build_figure(fig, name, width, png)
    plt.close(fig)
    label = html.escape(plain_text(alt), quote=True)
    return _raw_html(f'<figure class="fig" style="{_css_width(width)}">\n'
                     f'<img src="media/{name}.png" width="{w}" height="{h}" alt="{label}">\n</figure>')


_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
MINUS = "\u2212"  # the minus sign of a typeset number; matplotlib's figures use it too (axes.unicode_minus)


def spoken(tex: str) -> str:
    """A short TeX formula as plain text for an alt text or a screen reader: ``0.1\\,x^2 + 2\\,y^2`` ->
    ``0.1x² + 2y²``. Handles spacing commands, simple powers and a few symbols; raises ``ValueError``
    on anything else TeX, so no raw TeX reaches a text alternative."""
    text = re.sub(r"\\[,;:! ]|\\quad", "", tex)
    text = re.sub(r"\^\{?(-?\d+)\}?", lambda m: m.group(1).translate(_SUPERSCRIPTS), text)
    for command, plain in ((r"\cdot", "·"), (r"\times", "×"), (r"\eta", "η"), (r"\lambda", "λ")):
        text = text.replace(command, plain)
    if "\\" in text or re.search(r"[{}^_$]", text):
        raise ValueError(f"tex must be a simple formula (powers, spacing, a few symbols), got {tex!r}")
    return text


def plain_text(text: str) -> str:
    """A text alternative without TeX: each ``$...$`` (as ``number`` writes small and large numbers) spoken
    as plain text, e.g. ``$2.2 \\times 10^{-14}$`` -> ``2.2 × 10⁻¹⁴``."""
    return re.sub(r"\$([^$]*)\$", lambda m: spoken(m.group(1)), text)


def check_claim(holds, claim: str, evidence: str):
    """``ValueError`` when a claim typed on a slide (a pro or a con, say) is not what the cell beside it computed:
    a change in the module or in a setting must fail the render, not leave the slide contradicting its own
    numbers. ``evidence`` says what was computed."""
    if not holds:
        raise ValueError(f"the slide says {claim!r}, but its evidence does not hold: {evidence}")


def notes(text: str) -> str:
    """Speaker notes as Markdown for an ``output: asis`` cell: the way a note states a computed number."""
    return f"\n::: {{.notes}}\n{text.strip()}\n:::\n"


# The encoder's settings, part of every video's cache key. x264 is deterministic for given settings and
# thread count, so the thread count is fixed too: the same frames give the same bytes on any machine. One
# thread: the videos are encoded side by side, one per core, and a second thread only adds its overhead
# (0.1 to 0.3 s of CPU a video here; the same size and picture).
ENCODER = {"codec": "libx264", "fps": FPS, "pix_fmt_in": "rgba", "macro_block_size": 16,
           "output_params": ["-crf", "27", "-preset", "veryfast", "-tune", "animation", "-threads", "1",
                             "-movflags", "+faststart"]}
PNG_METADATA = {"Software": None}  # no library version in the stills: the bytes depend on the pixels only
# How the 256 colours of a PNG are chosen. Maximum coverage keeps a colour few pixels have: median cut,
# which splits the colours by how many pixels have them, averaged the minimum's gold star (255, 212, 0)
# with the blues around it into khaki (209, 196, 135), off by up to 136 of 255 in a channel; maximum
# coverage stays within 19 on every figure of the deck, and its files are 12 % smaller.
QUANTIZE = "MAXCOVERAGE"
MAX_PALETTE_ERROR = 32  # of 255: the most any pixel's channel may move when the colours are reduced to 256


def save_png(fig, path, dpi=None, drawn: bool = False):
    """Save ``fig`` as a PNG of at most 256 colours: the file is about a third of the size, which keeps
    the rendered deck small, and no pixel moves by more than ``MAX_PALETTE_ERROR`` in any channel (a
    ``ValueError`` says when one would, and by how much). Deterministic: the same pixels give the same
    bytes. The pixels are those ``savefig`` writes, taken from the canvas (no PNG encoded and decoded on
    the way); ``drawn`` says the canvas already shows the figure as it is."""
    from PIL import Image, ImageChops

    if (dpi is None or dpi == fig.dpi) and hasattr(fig.canvas, "buffer_rgba"):
        if not drawn:
            fig.canvas.draw()
        image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba()))
    else:  # another resolution: matplotlib draws it anew
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, metadata=PNG_METADATA)
        image = Image.open(buffer)
    with image:
        rgb = image.convert("RGB")
    flat = rgb.quantize(colors=256, method=Image.Quantize[QUANTIZE], dither=Image.Dither.NONE)
    difference = ImageChops.difference(rgb, flat.convert("RGB"))
    if max(high for _, high in difference.getextrema()) > MAX_PALETTE_ERROR:
        moved = np.asarray(difference).max(axis=-1)
        y, x = np.unravel_index(np.argmax(moved), moved.shape)
        raise ValueError(f"{Path(path).name}: in 256 colours a pixel would change by {moved[y, x]} of 255 in a "
                         f"channel, at most {MAX_PALETTE_ERROR}: {rgb.getpixel((int(x), int(y)))} at x={x}, y={y} "
                         f"becomes {flat.convert('RGB').getpixel((int(x), int(y)))}")
    tmp = C.partial_path(path)
    # zlib's default level: level 9 (optimize=True) takes six times as long for files 6 % smaller
    flat.save(tmp, format="PNG", compress_level=6)
    os.replace(tmp, path)


BUILT: list[str] = []  # names of the videos this process encoded (not taken from the cache), for tests


@functools.lru_cache(maxsize=1)
def _video_code_key() -> str:
    """Everything a video depends on besides its animation's spec: the drawing code (plots.py), the fonts,
    this module's checks and encoding, the encoder's settings and the versions of the libraries and of
    the ffmpeg binary. Computed once per process (the code does not change while the deck runs)."""
    own = [video, _build_video, _frame_size, _encode_video, save_png, check_figure, check_figure_text,
           figure_text_px, check_figure_overlaps, text_overlaps, _shown_texts, _drawn, _share, _video_html, _css_width,
           check_figure_text_on_lines, text_on_lines, _on_halo]
    return C.digest("video", C.file_digest(Path(P.__file__), P.FONTS), [inspect.getsource(f) for f in own],
                    ENCODER, PNG_METADATA, SCREEN_WIDTH_PX, MIN_FIGURE_TEXT_PX, SLIDE_WIDTH_PX,
                    C.versions("matplotlib", "numpy", "imageio-ffmpeg", "colorspacious"),
                    imageio_ffmpeg.get_ffmpeg_version())


def video_key(anim, width: str = "100%") -> str:
    """The content key of ``anim``'s video and still: its spec (panels and keyword arguments of
    ``plots.animate``, arrays by value), the width its text is checked at, matplotlib's settings, and
    ``_video_code_key``. ``ValueError`` for an animation that ``plots.animate`` did not make."""
    if getattr(anim, "spec", None) is None:
        raise ValueError("anim must come from plots.animate (it records the spec the cache key is made of)")
    rc = {k: repr(v) for k, v in sorted(plt.rcParams.items())}
    return C.digest(anim.spec, _share(width), rc, _video_code_key())


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG from its header (the IHDR chunk)."""
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _encode_video(anim, mp4: Path, png: Path):
    """Draw ``anim``'s frames (blitting) into ffmpeg, which encodes them as they come; the still is the
    last frame, left on the canvas (each frame is the full draw of its step: ``plots.Animation.frames``)."""
    w, h = anim.fig.canvas.get_width_height(physical=True)
    writer = imageio_ffmpeg.write_frames(str(mp4), (w, h), quality=None, **ENCODER)
    writer.send(None)
    for frame in anim.frames():
        writer.send(frame)
    writer.close()
    save_png(anim.fig, png, drawn=True)


def _video_html(name: str, alt: str, width: str, w: int, h: int) -> str:
    label = html.escape(plain_text(alt), quote=True)
    return _raw_html(
        f'<figure class="anim" style="{_css_width(width)}">\n'
        f'<video class="anim-video" data-autoplay muted playsinline controls preload="auto" '
        f'width="{w}" height="{h}" aria-label="{label}" title="{label}">\n'
        f'<source src="media/{name}.mp4" type="video/mp4">\n</video>\n'
        f'<img class="anim-still" src="media/{name}.png" alt="{label}">\n</figure>')


def _build_video(anim, key: str, name: str, width: str, mp4: Path, png: Path):
    """Check, draw, encode and keep in the cache one video and its still. The figure is laid out and
    drawn once for the frames' background, which the checks read; the frames and the still are drawn in
    that layout (``plots.Animation.draw_background`` keeps it)."""
    anim.draw_background()
    check_figure(anim.fig, width, name, drawn=True)
    _encode_video(anim, mp4, png)
    C.store(key, [mp4, png])
    w, h = _png_size(png)
    if (w, h) != _frame_size(anim):  # the HTML was written with the size the spec gives
        raise ValueError(f"{name}: the still is {w}x{h} px, the spec gives {_frame_size(anim)}")


def _frame_size(anim) -> tuple[int, int]:
    """The frames' size in pixels, from the spec alone (as matplotlib sizes the canvas: int of inches x dpi)."""
    (w, h), dpi = anim.spec["size"], anim.spec["dpi"]
    return int(w * dpi), int(h * dpi)


def video(anim, name: str, alt: str, width: str = "100%") -> str:
    """Encode ``anim`` (a ``plots.Animation``) as ``media/<name>.mp4`` with a still ``media/<name>.png``
    of the full path; return the raw HTML that shows the video on screen and the still in print.
    Checks first that the animation's text is readable at ``width`` and its colours distinguishable.
    The pair is taken from the build cache (``cache``) when everything it is made from is unchanged
    (``video_key``): then nothing is drawn or encoded, and the files are the bytes a new encode gives.
    With ``$OPTIMIZERS_BACKGROUND_VIDEOS=1`` (a Quarto render) a video to build is drawn and encoded in
    a forked process while the next cells run (``cache.background``, one per core, the same bytes as
    in this process); Quarto's cleanup cell waits for them, and a failed check fails the render there."""
    MEDIA.mkdir(parents=True, exist_ok=True)
    mp4, png = MEDIA / f"{name}.mp4", MEDIA / f"{name}.png"
    key = video_key(anim, width)
    if C.restore(key, [mp4, png]):
        size = _png_size(png)
    elif _in_background():
        C.background(lambda: _build_video(anim, key, name, width, mp4, png), name)
        BUILT.append(name)
        size = _frame_size(anim)
    else:
        _build_video(anim, key, name, width, mp4, png)
        BUILT.append(name)
        size = _png_size(png)
    anim.close()  # drawn only if it was encoded here: a cached video costs no figure
    return _video_html(name, alt, width, *size)


EXPLORER_JS = Path(__file__).with_name("explorer.js")
# The hyperparameter the explorer's second slider moves, for the methods that have one.
EXPLORER_BETA = {"momentum": "momentum", "nesterov": "momentum", "adam": "beta1", "adamax": "beta1",
                 "nadam": "beta1", "amsgrad": "beta1", "adamw": "beta1"}


def explorer_data(surfaces: dict, methods, lrs, betas, steps: int, width: int = 1280, height: int = 600,
                  default_lr: float = 0.1, default_beta: float = 0.8) -> tuple[dict, dict]:
    """The explorer's paths: every method in ``methods`` (at its demo settings) for every learning rate in
    ``lrs`` and, where the method has one, every value in ``betas`` of ``EXPLORER_BETA``'s
    hyperparameter, ``steps`` steps on each of ``surfaces`` (``{key: (surface, label)}``); one
    vectorised run per method and surface. Returns ``(data, backgrounds)`` for ``explorer``; points are
    stored in thousandths, a diverged run up to its last good point; each final loss as the text the slide
    shows (``number``, spoken without TeX: ``5.0 × 10⁻⁹``)."""
    lrs = np.asarray(lrs, dtype=float)
    data = {"width": width, "height": height, "steps": steps, "surfaces": {},
            "default_lr_index": int(np.abs(lrs - default_lr).argmin()),
            "default_beta_index": int(np.abs(np.asarray(betas) - default_beta).argmin())}
    backgrounds = {}
    for key, (f, label) in surfaces.items():
        view = P.view_bounds(f, width / height)
        backgrounds[key] = P.background(f, view, width, height)
        entries = {}
        for n in methods:
            beta = EXPLORER_BETA.get(n)
            if beta:
                tr = O.run(O.demo(n, lr=lrs[:, None, None], **{beta: np.asarray(betas)[None, :, None]}), f, steps=steps)
            else:  # one row of runs: a beta axis of length 1
                tr = O.run(O.demo(n, lr=lrs[:, None]), f, steps=steps)
                tr = tr._replace(path=tr.path[:, None], loss=tr.loss[:, None], diverged_at=tr.diverged_at[:, None])
            runs = [[{"p": np.round(tr.path[i, b, :(d if d >= 0 else steps + 1)] * 1000).astype(int).ravel().tolist(),
                      "d": d, "f": plain_text(number(tr.loss[i, b, -1] - f.f_min, 2))}
                     for i in range(len(lrs)) for d in [int(tr.diverged_at[i, b])]]
                    for b in range(tr.path.shape[1])]
            entries[n] = {"label": P.STYLE[n]["label"], "color": P.STYLE[n]["color"], "lrs": lrs.round(4).tolist(),
                          "betas": list(betas) if beta else None,
                          "beta_name": {"momentum": "momentum μ", "beta1": "β₁"}.get(beta, ""), "runs": runs}
        data["surfaces"][key] = {"label": label, "bounds": [list(view[0]), list(view[1])], "methods": entries}
    return data, backgrounds


def explorer(data: dict, backgrounds: dict, still, alt: str) -> str:
    """The interactive explorer: ``data`` (surfaces, methods, learning rates, paths, from the simulation)
    embedded as JSON, drawn by ``explorer.js`` over each surface's ``backgrounds`` figure. ``still``, a
    figure of one representative path, replaces it in print. Returns the raw HTML block."""
    import json

    MEDIA.mkdir(parents=True, exist_ok=True)
    # The surfaces' images and the SVG the paths are drawn in fill the same box exactly (one data-to-pixel
    # mapping): reveal.js gives a slide's images and SVGs a margin and shrinks them to 95 % at most, which
    # would leave the contours offset from the paths drawn over them.
    fill_view = "position:absolute;left:0;top:0;width:100%;height:100%;max-width:none;max-height:none;margin:0"
    imgs = []
    for key, fig in backgrounds.items():
        path = MEDIA / f"explorer-{key}.png"
        save_png(fig, path)
        plt.close(fig)
        imgs.append(f'<img data-surface="{key}" src="media/explorer-{key}.png" alt="" aria-hidden="true" '
                    f'style="{fill_view}">')
    save_png(still, MEDIA / "explorer-still.png")
    plt.close(still)
    first = next(iter(data["surfaces"].values()))
    options = lambda items: "".join(f'<option value="{html.escape(k)}">{html.escape(v)}</option>' for k, v in items)
    w, h = data["width"], data["height"]
    label = html.escape(plain_text(alt), quote=True)
    return _raw_html(f"""<div class="explorer" role="group" aria-label="{label}">
<div class="explorer-controls" data-role="controls">
<label>surface <select data-role="surface">{options((k, s["label"]) for k, s in data["surfaces"].items())}</select></label>
<label>method <select data-role="method">{options((k, m["label"]) for k, m in first["methods"].items())}</select></label>
<label>learning rate <input type="range" data-role="lr" min="0" max="0" step="1" value="{data["default_lr_index"]}"> <output data-role="lr-value"></output></label>
<label data-role="beta-row"><span data-role="beta-name">momentum</span> <input type="range" data-role="beta" min="0" max="0" step="1" value="{data["default_beta_index"]}"> <output data-role="beta-value"></output></label>
</div>
<div class="explorer-view" style="position:relative;width:80%;aspect-ratio:{w}/{h}">
{chr(10).join(imgs)}
<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none" style="{fill_view}" aria-hidden="true">
<polyline data-role="path" fill="none" stroke-width="4" stroke-linejoin="round" points=""></polyline>
<circle data-role="start" r="9" fill="white" stroke-width="4"></circle>
<circle data-role="head" r="11" stroke="white" stroke-width="2"></circle>
<text data-role="status" x="{w - 16}" y="40" text-anchor="end" font-size="30" fill="#10355f" stroke="white" stroke-width="6" paint-order="stroke"></text>
</svg>
</div>
<p data-role="announce" aria-live="polite" style="position:absolute;width:1px;height:1px;margin:0;overflow:hidden;clip-path:inset(50%);white-space:nowrap"></p>
<script type="application/json" data-role="data">{json.dumps(data, separators=(",", ":"))}</script>
</div>
<img class="explorer-still" src="media/explorer-still.png" alt="{label}">
<script>
{EXPLORER_JS.read_text()}
</script>""")


def tex_number(x: float) -> str:
    """A setting to write inside ``$...$``: a power of ten below 0.001 as ``10^{-8}``, any other number as
    ``:g`` writes it (``0.01``, ``0.999``). For a computed number, outside math, use ``number``."""
    x = float(x)
    if 0 < x < 1e-3 and float(np.log10(x)).is_integer():
        return f"10^{{{round(np.log10(x))}}}"
    return f"{x:g}"


def number(x: float, digits: int = 3) -> str:
    """A number as Markdown for a slide: ``0.476``, ``3,200``, ``−2.24`` (a minus sign, as the figures write
    it, not a hyphen), or inline math ``$1.2 \\times 10^{-5}$``. Use it outside ``$...$``: it brings its own
    math where it needs some."""
    x = float(x)
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return str(x)
    if abs(x) >= 1000 and float(x).is_integer():
        return f"{int(x):,}".replace("-", MINUS)
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.{digits}g}".replace("-", MINUS)
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return rf"${mantissa} \times 10^{{{int(exponent)}}}$"

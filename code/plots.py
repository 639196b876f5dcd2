"""Pictures of optimizer runs: contour plots, paths and animations (matplotlib).

This module only draws: it takes surfaces and arrays computed by ``optimizers.py`` and returns
figures, artists or animations. It never computes an optimizer step, and it never saves or shows a
figure (``present.py`` writes the deck's media files).

An animation is built from panels that share one clock:

* ``PathPanel``: a surface's contours with one or more paths that grow frame by frame;
* ``SeriesPanel``: curves over the step counter (loss, step sizes, ...) revealed in step.

``animate([...panels])`` returns an ``Animation``: ``frames()`` yields RGB frames drawn with blitting
(the contours are drawn once), and ``funcanimation()`` gives a matplotlib ``FuncAnimation`` for a notebook.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import warnings

import matplotlib
import matplotlib.patheffects
import matplotlib.pyplot as plt
import numpy as np
from colorspacious import cspace_convert
from matplotlib import font_manager
from matplotlib.animation import FuncAnimation
from matplotlib.colors import LogNorm
from matplotlib.contour import ContourSet
from matplotlib.transforms import Bbox

LANDMARK = "landmark"  # gid of what every figure of a surface shares (contours, minima): not a series

# One colour and one marker per method, used in every figure of the deck and for methods only (other
# contrasts use grey, black and line styles; an ordered knob uses ``shades``). Chosen so that every pair
# of the 13 is distinguishable with normal vision and under simulated deuteranomaly and protanomaly
# (``colour_distances``; the thresholds are ``MIN_DELTA_E``), that the families differ in hue (GD, SGD,
# mini-batch: blue, violet, green), and that no method is grey or black (grey means a reference).
# Colours started from Okabe & Ito's and Paul Tol's palettes; the marker tells apart what colour cannot.
STYLE: dict[str, dict] = {
    "gd": {"color": "#0072B2", "marker": "o", "label": "GD"},
    "sgd": {"color": "#8808FF", "marker": "v", "label": "SGD"},
    "minibatch": {"color": "#009E73", "marker": "^", "label": "Mini-batch"},
    "momentum": {"color": "#D55E00", "marker": "s", "label": "Momentum"},
    "nesterov": {"color": "#E69F00", "marker": "D", "label": "Nesterov"},
    "adagrad": {"color": "#7BA251", "marker": "P", "label": "AdaGrad"},
    "rmsprop": {"color": "#882255", "marker": "X", "label": "RMSprop"},
    "adadelta": {"color": "#6F4B00", "marker": "h", "label": "AdaDelta"},
    "adam": {"color": "#BE049A", "marker": "*", "label": "Adam"},
    "adamax": {"color": "#332288", "marker": "p", "label": "AdaMax"},
    "nadam": {"color": "#00596B", "marker": "d", "label": "Nadam"},
    "amsgrad": {"color": "#2D723D", "marker": ">", "label": "AMSGrad"},
    "adamw": {"color": "#661100", "marker": "<", "label": "AdamW"},
}
# Kept for older cells; new figures draw non-method contrasts with ``EXTRA_STYLES`` (grey, black, dashes).
EXTRA_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
EXTRA_STYLES = [{"color": "#000000", "ls": "-"}, {"color": "#000000", "ls": "--"}, {"color": "#666666", "ls": "-"},
                {"color": "#666666", "ls": ":"}, {"color": "#000000", "ls": "-."}, {"color": "#666666", "ls": "--"}]
VARIANT = "#8c8c8c"  # a method's other setting, drawn beside it with the method's own marker
# The method a variant is compared with (Adam under AMSGrad, AdaMax, Nadam, AdamW): a reference like GD,
# thin and underneath, told apart from GD's grey by being darker and dashed.
BASELINE = {"color": "#4d4d4d", "ls": "--"}


def shades(n: int) -> list:
    """``n`` colours of one sequential palette (viridis), for one method run with ``n`` values of a knob."""
    return [matplotlib.colors.to_hex(c) for c in plt.cm.viridis(np.linspace(0.05, 0.8, n))]


# One typeface for slides and figures: Source Sans Pro (reveal.js's default), shipped in fonts/ (SIL OFL)
# and registered here, with mathtext in the same family (STIX sans for the symbols it lacks).
FONTS = Path(__file__).resolve().parents[1] / "fonts"
FONT_FAMILY = "Source Sans Pro"
for _ttf in sorted(FONTS.glob("*.ttf")):
    font_manager.fontManager.addfont(str(_ttf))

# Readable on a projector; importing this module sets them, as the deck wants for every figure. A figure
# ``w`` inches wide shown across ``share`` of the slide, which a 1920x1080 screen shows 1824 px wide, shows
# 1 pt as ``share * 1824 / (72 w)`` px: 17.2 pt is still 20 px for a 13-inch figure across 60 % of the
# slide (``present.check_figure_text``).
TEXT_MIN_PT = 17.2
RC = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT_FAMILY, "DejaVu Sans"],
    "mathtext.fontset": "custom",
    "mathtext.rm": FONT_FAMILY,
    "mathtext.it": f"{FONT_FAMILY}:italic",
    "mathtext.bf": f"{FONT_FAMILY}:bold",
    "mathtext.sf": FONT_FAMILY,
    "mathtext.cal": FONT_FAMILY,
    "mathtext.tt": "DejaVu Sans Mono",
    "mathtext.fallback": "stixsans",
    "font.size": 17.5,
    "axes.titlesize": 18,
    "axes.labelsize": 17,
    "legend.fontsize": TEXT_MIN_PT,
    "xtick.labelsize": TEXT_MIN_PT,
    "ytick.labelsize": TEXT_MIN_PT,
    "figure.titlesize": 18,
    "axes.unicode_minus": True,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.constrained_layout.use": True,
}
plt.rcParams.update(RC)


# ---------------------------------------------------------------------------------------------
# Colours that everyone can tell apart
# ---------------------------------------------------------------------------------------------

# Pairwise distance ΔE' in CAM02-UCS (Luo, Cui & Li 2006; colorspacious), with normal vision and with
# deuteranomaly and protanomaly simulated at severity 100 (Machado, Oliveira & Fernandes 2009: the
# strongest anomaly, i.e. dichromacy). ΔE' of 1 is about one just-noticeable difference for large
# patches; thin lines and small markers need many more, hence 12 for normal vision and 8 simulated.
CVD_SEVERITY = 100
MIN_DELTA_E = {"normal": 12.0, "deuteranomaly": 8.0, "protanomaly": 8.0}
GREY_CHROMA = 8.0  # below this CAM02-UCS chroma a colour counts as grey: a reference, not a series
MAX_SERIES = 5  # series in colour on one axes; more belong in small multiples


def _rgb(colors) -> np.ndarray:
    return np.array([matplotlib.colors.to_rgb(c) for c in colors], dtype=float).reshape(-1, 3)


def _ucs(rgb: np.ndarray, vision: str = "normal") -> np.ndarray:
    """CAM02-UCS coordinates (J', a', b') of sRGB colours in [0, 1] as seen with ``vision``."""
    if vision != "normal":
        cvd = {"name": "sRGB1+CVD", "cvd_type": vision, "severity": CVD_SEVERITY}
        rgb = np.clip(cspace_convert(rgb, cvd, "sRGB1"), 0, 1)
    return cspace_convert(rgb, "sRGB1", "CAM02-UCS")


def colour_distances(colors) -> dict[str, np.ndarray]:
    """Pairwise CAM02-UCS distances ΔE' between ``colors`` (any matplotlib colour; alpha is ignored,
    since a translucent band shares its line's hue) as ``{vision: (n, n) array}`` for ``"normal"``,
    ``"deuteranomaly"`` and ``"protanomaly"`` (simulated at ``CVD_SEVERITY``)."""
    rgb = _rgb(colors)
    out = {}
    for vision in MIN_DELTA_E:
        J = _ucs(rgb, vision)
        out[vision] = np.linalg.norm(J[:, None, :] - J[None, :, :], axis=-1)
    return out


def is_grey(color) -> bool:
    """Whether ``color`` is a grey (black and white included): chroma below ``GREY_CHROMA`` in CAM02-UCS."""
    J = _ucs(_rgb([color]))[0]
    return bool(np.hypot(J[1], J[2]) < GREY_CHROMA)


def _colour_name(color) -> str:
    hexa = matplotlib.colors.to_hex(color).upper()
    names = [st["label"] for st in STYLE.values() if st["color"].upper() == hexa]
    return f"{names[0]} ({hexa})" if names else hexa


def colour_problems(colors) -> list[tuple[str, str, str, float]]:
    """Every pair of ``colors`` closer than ``MIN_DELTA_E`` for some vision: ``(vision, colour, colour,
    ΔE')``, closest first."""
    colors = list(dict.fromkeys(matplotlib.colors.to_hex(c) for c in colors))
    dist = colour_distances(colors)
    found = [(vision, colors[i], colors[j], float(D[i, j])) for vision, D in dist.items()
             for i in range(len(colors)) for j in range(i + 1, len(colors)) if D[i, j] < MIN_DELTA_E[vision]]
    return sorted(found, key=lambda p: p[3] / MIN_DELTA_E[p[0]])


def check_colours(colors, where: str = "colors"):
    """``ValueError`` naming the closest pair of ``colors`` that is not distinguishable (``colour_problems``)."""
    problems = colour_problems(colors)
    if problems:
        vision, a, b, d = problems[0]
        seen = "normal vision" if vision == "normal" else f"simulated {vision} (severity {CVD_SEVERITY})"
        raise ValueError(f"{where}: {_colour_name(a)} and {_colour_name(b)} are ΔE' = {d:.1f} apart with {seen}, "
                         f"need >= {MIN_DELTA_E[vision]:g} in CAM02-UCS ({len(problems)} pair(s) too close)")


def _series_artists(ax):
    """The artists of ``ax`` drawn as data series: lines, collections and patches, without the ones
    tagged as landmarks (contours, minima, saddles) and without colour-mapped collections."""
    for a in [*ax.lines, *ax.collections, *ax.patches]:
        if not a.get_visible() or a.get_gid() == LANDMARK or isinstance(a, ContourSet):
            continue
        if isinstance(a, matplotlib.collections.Collection) and a.get_array() is not None:
            continue  # colour-mapped (a surface, a scatter coloured by value): a scale, not a series
        yield a


def _artist_colours(a) -> list:
    if isinstance(a, matplotlib.lines.Line2D):
        cols = []
        if a.get_linestyle() not in ("None", "none", "", " "):
            cols.append(a.get_color())
        if a.get_marker() not in (None, "None", "none", "", " "):
            cols += [a.get_markerfacecolor(), a.get_markeredgecolor()]
        return cols
    if isinstance(a, matplotlib.collections.Collection):
        return [*a.get_facecolors(), *(a.get_edgecolors() if a.get_linewidths().any() else [])]
    if isinstance(a, matplotlib.patches.Patch):
        return [a.get_facecolor(), *([a.get_edgecolor()] if a.get_linewidth() else [])]
    return []


def _chromatic(cols) -> list[str]:
    out = []
    for c in cols:
        rgba = matplotlib.colors.to_rgba(c)
        if rgba[3] == 0:
            continue
        hexa = matplotlib.colors.to_hex(rgba)
        if hexa not in out and not is_grey(hexa):
            out.append(hexa)
    return out


def figure_colours(fig) -> list[str]:
    """The colours (hex) of everything ``fig`` draws as a series: lines, markers, bands and bars, in
    the order first drawn; greys, black and white (references, axes, text boxes) and landmarks
    (contours, minima, saddles) are left out."""
    return _chromatic(c for ax in fig.axes for a in _series_artists(ax) for c in _artist_colours(a))


def check_figure_colours(fig, where: str = "figure", max_series: int = MAX_SERIES):
    """``ValueError`` when one axes of ``fig`` shows more than ``max_series`` series colours (draw small
    multiples instead), or when two series colours of ``fig`` are not distinguishable for normal or
    colour-deficient vision (``check_colours``)."""
    check_series_count(fig, where, max_series)
    check_colours(figure_colours(fig), where)


def check_series_count(fig, where: str = "figure", max_series: int = MAX_SERIES):
    """``ValueError`` when one axes of ``fig`` shows more than ``max_series`` series colours."""
    for k, ax in enumerate(fig.axes):
        cols = _chromatic(c for a in _series_artists(ax) for c in _artist_colours(a))
        if len(cols) > max_series:
            raise ValueError(f"{where}: axes {k} ({ax.get_title()!r}) shows {len(cols)} series colours, at most "
                             f"{max_series}: draw small multiples, the rest grey ({', '.join(map(_colour_name, cols))})")


def _is_line(handle) -> bool:
    """Whether a legend handle stands for a drawn line (not a marker-only series, a patch or a bar)."""
    return (isinstance(handle, matplotlib.lines.Line2D) and handle.get_linestyle() not in ("None", "none", "", " ")
            and handle.get_linewidth() > 0)


def check_figure_legends(fig, where: str = "figure", max_lines: int = MAX_SERIES):
    """``ValueError`` when a legend of ``fig`` (of an axes or of the figure) is one the reader should not
    have to look up: a single entry (say it in the title or on the data), ``max_lines`` or fewer entries
    that are all lines (label them at their ends, ``direct_labels``), or the same entries as another
    axes' legend (label the data once, or in the first panel)."""
    seen = {}
    legends = [(f"axes {k} ({ax.get_title()!r})", ax.get_legend(), True) for k, ax in enumerate(fig.axes)]
    legends += [(f"figure legend {k}", lg, False) for k, lg in enumerate(fig.legends)]
    for what, legend, on_axes in legends:
        if legend is None or not legend.get_visible():
            continue
        entries = tuple(t.get_text() for t in legend.get_texts())
        if len(entries) == 1:
            raise ValueError(f"{where}: {what} has a legend with a single entry ({entries[0]!r}): name it in the "
                             f"title or on the data")
        if len(entries) <= max_lines and all(_is_line(h) for h in legend.legend_handles):
            raise ValueError(f"{where}: {what} has a legend of {len(entries)} lines ({', '.join(entries)}): label "
                             f"them at their ends (plots.direct_labels) or where they are apart")
        if on_axes and entries in seen:
            raise ValueError(f"{where}: {what} repeats the legend of {seen[entries]} ({', '.join(entries)}): "
                             f"label the data once")
        if on_axes:
            seen[entries] = what


def style(name: str, **overrides) -> dict:
    """Colour, marker and label of a method (``STYLE``), with overrides."""
    return {**STYLE.get(name, {"color": "#444444", "marker": "o", "label": name}), **overrides}


def grid(surface, n: int = 240, bounds=None):
    """A meshgrid over ``bounds`` (default: the surface's own) and the surface's values there: ``X, Y, Z``."""
    (x0, x1), (y0, y1) = bounds or surface.bounds
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return X, Y, surface.value(np.stack([X, Y]))


def levels(surface, n_levels: int = 14) -> np.ndarray:
    """Log-spaced contour levels of ``f - f_min``, fixed by the surface alone, so that colours mean the
    same in every frame and every figure of that surface, zoomed or not."""
    _, _, Z = grid(surface, 120)
    top = np.percentile(Z - surface.f_min, 95)
    return np.geomspace(top * 1e-3, top, n_levels)


def contour(surface, ax=None, n_levels: int = 14, filled: bool = True, bounds=None):
    """Contours of ``surface`` at fixed log-spaced levels above its minimum; minima and saddles marked."""
    ax = ax or plt.gca()
    lv = levels(surface, n_levels)
    X, Y, Z = grid(surface, bounds=bounds)
    height = Z - surface.f_min
    if filled:
        ax.contourf(X, Y, np.clip(height, lv[0] / 2, lv[-1] * 2), levels=np.r_[lv[0] / 2, lv, lv[-1] * 2],
                    cmap="Blues_r", norm=LogNorm(lv[0] / 2, lv[-1] * 3), alpha=0.55).set_gid(LANDMARK)
    ax.contour(X, Y, height, levels=lv, colors="#5a6f8c", linewidths=0.7, alpha=0.8).set_gid(LANDMARK)
    for m in surface.minima:
        ax.plot(*m, marker="*", ms=18, color="#ffd400", mec="black", mew=1.0, zorder=8, ls="none", gid=LANDMARK)
    for s in surface.saddles:
        ax.plot(*s, marker="x", ms=12, color="black", mew=2.5, zorder=8, ls="none", gid=LANDMARK)
    (x0, x1), (y0, y1) = bounds or surface.bounds
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="$x$", ylabel="$y$", aspect="equal")
    return ax


def view_bounds(surface, aspect: float) -> tuple:
    """The surface's bounds widened along one axis so that width / height = ``aspect`` (equal scales)."""
    (x0, x1), (y0, y1) = surface.bounds
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    w, h = max(w, h * aspect), max(h, w / aspect)
    return (cx - w / 2, cx + w / 2), (cy - h / 2, cy + h / 2)


def background(surface, bounds, width_px: int = 1280, height_px: int = 600, dpi: int = 100):
    """The surface's contours over ``bounds``, filling the whole figure with no axes: the explorer's
    backdrop, where (x, y) sits at the pixel that follows linearly from ``bounds``."""
    fig = plt.figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    fig.set_layout_engine("none")
    ax = fig.add_axes([0, 0, 1, 1])
    contour(surface, ax, bounds=bounds)
    ax.set_aspect("auto")
    ax.axis("off")
    return fig


def draw_path(ax, path, name: str = "gd", *, markevery=None, **overrides):
    """A static path with its start marked; returns the line."""
    st = style(name, **overrides)
    (line,) = ax.plot(path[:, 0], path[:, 1], color=st["color"], lw=2.2, marker=st["marker"], ms=5,
                      markevery=markevery, label=st["label"], zorder=4)
    ax.plot(*path[0], marker="o", ms=9, mfc="white", mec=st["color"], mew=2, zorder=6, ls="none", color=st["color"])
    return line


def surface_3d(surface, ax, elev: float = 32, azim: float = -60):
    """A 3-D view of the surface (for the introduction)."""
    X, Y, Z = grid(surface, 80)
    ax.plot_surface(X, Y, Z, cmap="Blues", edgecolor="#5a6f8c", linewidth=0.2, alpha=0.9, rcount=40, ccount=40)
    ax.view_init(elev=elev, azim=azim)
    (x0, x1), (y0, y1) = surface.bounds
    # few ticks and padded labels: at slide sizes the 3-D axes' default ticks run into their labels
    ax.set(xticks=[x0, 0, x1] if x0 < 0 < x1 else [x0, x1], yticks=[y0, 0, y1] if y0 < 0 < y1 else [y0, y1],
           zticks=[0, np.round(Z.max(), -1)])
    ax.set_xlabel("$x$", labelpad=14)
    ax.set_ylabel("$y$", labelpad=14)
    ax.set_title("the loss over $(x, y)$")  # a title, not a z label: that one lands on the next panel
    return ax


# ---------------------------------------------------------------------------------------------
# Animations
# ---------------------------------------------------------------------------------------------

@dataclass
class Track:
    """One path on a ``PathPanel``; ``arrows`` (same length as ``path``) draws a vector at the current point."""

    path: np.ndarray  # (steps + 1, 2)
    name: str = "gd"
    label: str | None = None  # its name at its start point (default: the method's); "" names it nowhere
    arrows: np.ndarray | None = None
    diverged_at: int = -1
    color: str | None = None
    reference: bool = False  # a reference drawn thin and grey underneath the method compared with it
    linestyle: str = "-"


# One frame for every "<method> in the valley" slide, so that they read like a flip-book: the same
# horizon, the same loss axis, and GD at its demo rate as the grey reference.
FRAME_STEPS = 300
FRAME_YLIM = (1e-12, 1e2)
REFERENCE = "#9a9a9a"


@dataclass
class PathPanel:
    """A surface's contours and the tracks on it; ``bounds`` zooms in (default: the surface's own).
    With two or more tracks each is named at its start point in its own colour (``labels``). Dots on
    every track mark time (one every ``Animation.dot_every`` steps)."""

    surface: object
    tracks: Sequence[Track]
    title: str = ""
    bounds: tuple | None = None
    labels: bool = True
    time_dots: bool = True


@dataclass
class SeriesPanel:
    """Curves over steps, revealed with the clock: ``series`` maps a label to ``(values, method-or-colour)``
    or ``(values, method-or-colour, linestyle)``. A series in grey (``REFERENCE``, ``VARIANT``) beside
    coloured ones, or named in ``references``, is a reference: thin and underneath. Up to ``MAX_SERIES``
    series are labelled at their ends (``labels``); more get a boxed legend (and belong in small multiples).
    ``envelope`` (True, or the labels it applies to) draws a fast oscillation as the band between its
    running minimum and maximum; ``alpha`` makes the lines translucent."""

    series: dict
    title: str = ""
    ylabel: str = ""
    log: bool = True
    ylim: tuple | None = None
    hline: float | None = None
    hline_label: str = ""
    legend_columns: int = 1
    labels: bool = True
    envelope: bool | Sequence[str] = False
    alpha: float = 1.0
    references: Sequence[str] = ()


class Animation:
    """An animation of panels on one clock, drawn only when its pictures are needed: ``animate`` records
    its ``spec`` (panels and keyword arguments, as given) and the clock; the figure and its ``update``
    are made at the first use of ``fig``, ``update``, ``frames`` or ``final_frame``. So an animation
    whose video ``present.video`` takes from the cache costs nothing to make; and the spec, with this
    module's source, is everything the frames depend on (the cache key)."""

    def __init__(self, spec: dict, n_steps: int, frame_steps: np.ndarray, dot_every: int = 0):
        self.spec, self.n_steps, self.frame_steps = spec, n_steps, frame_steps  # the step shown in each frame
        self.dot_every = dot_every  # the paths carry a dot every this many steps (0: none)
        self._drawn = None
        self._background = None  # the drawn figure without what moves (``draw_background``)
        self._order, self._over = {}, []  # the full draw's order; the still artists painted over what moves

    def _draw(self):
        if self._drawn is None:
            self._drawn = _draw_animation(self.spec, self.n_steps, self.dot_every)
        return self._drawn

    @property
    def drawn(self) -> bool:
        """Whether the figure exists yet."""
        return self._drawn is not None

    @property
    def fig(self):
        return self._draw()[0]

    @property
    def update(self):
        """``update(step)`` -> the artists that change, set to show ``step``."""
        return self._draw()[1]

    def close(self):
        """Close the figure if it was drawn (pyplot keeps every open figure)."""
        if self._drawn is not None:
            plt.close(self._drawn[0])

    def draw_background(self):
        """Draw the figure without what moves (the artists ``update`` returns, set to step 0 and animated)
        and keep it as the background ``frames`` blits onto. This draw lays the figure out, and the layout
        then stays as it is (its engine is set to none): a caller that checks the drawn figure before the
        frames needs no draw of its own. What a full draw paints over the moving artists (``_over_moving``:
        the start labels, the start dots, the minimum's star) is left out of the background and painted
        again on each frame, in the full draw's order, so that each frame is the figure a full draw of
        its step would give."""
        moving = self.update(0)
        for a in moving:
            a.set_animated(True)
        if not _laid_out(self.fig):
            self.fig.draw_without_rendering()  # the layout and every text's size: nothing is rasterised
            self.fig.set_layout_engine("none")  # so the background's draw keeps the positions the layout gave
        self._order = _draw_order(self.fig)
        self._over = self._over_moving(moving)
        for a in self._over:  # out of the background (animated artists are not drawn), yet visible and placed
            a.set_animated(True)
        self.fig.canvas.draw()
        self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        for a in self._over:
            a.set_animated(False)

    def _over_moving(self, moving) -> list:
        """The still artists a full draw paints after a moving artist and where that one can paint, in the
        full draw's order (``_draw_order``). Where a moving artist can paint: its clip box (its axes, in
        whole pixels as Agg clips), or, drawn unclipped (a text), where it is at any frame. A still artist
        painted over one of these is itself repainted, so what comes after it and lies on it is too."""
        renderer = self.fig.canvas.get_renderer()
        clipped = lambda a: a.get_clip_on() and a.get_clip_box() is not None
        ever, free = {id(a): a for a in moving}, {}
        for step in np.unique(self.frame_steps):
            for a in self.update(int(step)):
                ever[id(a)] = a
                if not clipped(a) and a.get_visible():
                    box = _painted(a, renderer)
                    free[id(a)] = Bbox.union([free[id(a)], box]) if id(a) in free else box
        self.update(0)
        key = lambda a: self._order[id(a)][0]
        places = [(key(a), free[i] if i in free else Bbox(np.floor(a.get_clip_box().get_points() + 0.5)))
                  for i, a in ever.items() if clipped(a) or i in free]
        if not places:
            return []
        first = min(k for k, _ in places)
        candidates = [(k, a, _painted(a, renderer)) for k, a in self._order.values()
                      if k > first and id(a) not in ever and a.get_visible() and not a.get_animated()]
        over = {}
        while True:
            added = [(k, a, box) for k, a, box in candidates if id(a) not in over and
                     any(k > k_place and _meets(box, place) for k_place, place in places)]
            if not added:
                return sorted(over.values(), key=key)
            for k, a, box in added:
                over[id(a)] = a
                places.append((k, box))

    def frames(self):
        """Yield each frame as an ``(height, width, 4)`` RGBA uint8 array (a view of the canvas, valid
        until the next frame is drawn); the background is drawn once (``draw_background``, unless done
        already), and a frame that shows the same step as the one before it (the held end) is not drawn
        again. On the background go the moving artists and the still ones a full draw paints over them,
        in the full draw's order."""
        canvas = self.fig.canvas
        if self._background is None:
            self.draw_background()
        shown = None
        for step in self.frame_steps:
            if step != shown:
                canvas.restore_region(self._background)
                artists = list(self.update(int(step))) + self._over
                for a in sorted(artists, key=lambda a: self._order[id(a)][0]):
                    a.axes.draw_artist(a) if a.axes is not None else self.fig.draw_artist(a)
                shown = step
            yield np.asarray(canvas.buffer_rgba())

    def final_frame(self):
        """The figure as it looks at the end, for a full draw (a notebook, a saved figure): every path in
        full, with its time dots; the same pixels as the last frame, which ``present`` keeps as the still
        that print and PDF show instead of the video."""
        for a in self.update(int(self.frame_steps[-1])):
            a.set_animated(False)
        return self.fig

    def funcanimation(self, interval: int = 60) -> FuncAnimation:
        return FuncAnimation(self.fig, lambda k: self.update(int(self.frame_steps[k])),
                             frames=len(self.frame_steps), interval=interval, blit=False)


def _laid_out(fig) -> bool:
    """Whether ``fig``'s layout is fixed: laid out once and its engine then set to none (``set_layout_engine``
    keeps a placeholder for an engine it replaced), so a draw leaves every position as it is."""
    from matplotlib.layout_engine import PlaceHolderLayoutEngine

    return isinstance(fig.get_layout_engine(), PlaceHolderLayoutEngine)


def _draw_order(fig) -> dict:
    """``{id(artist): (key, artist)}`` for the figure's own artists and each axes' children: ``key`` sorts them
    in the order a full draw paints them (matplotlib sorts the figure's artists, axes among them, by
    zorder, then each axes' children by zorder, in both cases keeping the order of ``get_children``)."""
    order = {}
    own = [a for a in fig.get_children() if a is not fig.patch]
    for i, a in enumerate(own):
        if a in fig.axes:
            for j, child in enumerate(c for c in a.get_children() if c is not a.patch):
                order[id(child)] = ((a.get_zorder(), i, child.get_zorder(), j), child)
        else:
            order[id(a)] = ((a.get_zorder(), i, 0, 0), a)
    return order


def _painted(artist, renderer):
    """The display box ``artist`` can paint: its extent, widened by half its line width and half a pixel
    of antialiasing (a line's, a spine's or a patch's edge), or for a text by half its halo's stroke (a
    text's box already has room around the letters)."""
    from matplotlib.text import Text

    if isinstance(artist, Text):  # a Stroke path effect keeps its settings in _gc (no public accessor)
        widths, antialiasing = [e._gc.get("linewidth", 0) for e in artist.get_path_effects() if hasattr(e, "_gc")], 0
    else:
        widths, antialiasing = (np.ravel(artist.get_linewidth()) if hasattr(artist, "get_linewidth") else []), 0.5
    pad = max(widths, default=0) / 2 * artist.figure.dpi / 72 + antialiasing
    return artist.get_window_extent(renderer).padded(pad)


def _meets(box, place) -> bool:
    """Whether two display boxes share some area (boxes that only touch, as an axes and its title, do not)."""
    return min(box.x1, place.x1) > max(box.x0, place.x0) and min(box.y1, place.y1) > max(box.y0, place.y0)


def frame_steps(n_steps: int, max_frames: int = 90, hold: int = 12) -> np.ndarray:
    """Which step each frame shows: every step, or evenly spaced ones, then the end held for ``hold`` frames."""
    shown = np.arange(n_steps + 1) if n_steps + 1 <= max_frames else np.unique(
        np.round(np.linspace(0, n_steps, max_frames)).astype(int))
    return np.r_[shown, np.full(hold, n_steps)]


def dot_every(n_steps: int, dots: int = 10) -> int:
    """A round number of steps between time dots so that ``n_steps`` shows about ``dots`` of them:
    1, 2, 2.5 (from 25 up) or 5 times a power of ten."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    nice = [m * 10 ** e for e in range(0, 7) for m in (1, 2, 2.5, 5) if float(m * 10 ** e).is_integer()]
    return int(min(nice, key=lambda n: abs(np.log(n_steps / n / dots))))


def animate(panels: Sequence, *, n_steps: int | None = None, max_frames: int = 90, size=(10.24, 5.76),
            dpi: int = 100, widths=None, suptitle: str = "", rows: bool = False, mosaic: str | None = None,
            heights=None, max_series: int = MAX_SERIES) -> Animation:
    """Animate ``panels`` on one clock: side by side, stacked (``rows``), or in a matplotlib ``mosaic``
    such as ``"AB;CC"`` (panels in the order of their letters). Every path is fully computed
    beforehand; frame ``k`` only reveals ``path[:step_k + 1]``. The step counter sits in the figure's
    top-right corner, in a row of its own above the panels (never over a panel title), with the
    ``suptitle`` and the time-dot note on the left of that row. Nothing is drawn yet (``Animation``).
    ``ValueError`` when a panel would show more than ``max_series`` series in colour (read from the
    panels; the drawn figure is checked again when it is made)."""
    spec = dict(panels=tuple(panels), n_steps=n_steps, max_frames=max_frames, size=size, dpi=dpi, widths=widths,
                suptitle=suptitle, rows=rows, mosaic=mosaic, heights=heights, max_series=max_series)
    if n_steps is None:
        n_steps = max(len(t.path) - 1 for p in panels if isinstance(p, PathPanel) for t in p.tracks)
    for k, panel in enumerate(panels):  # as check_series_count on the drawn figure, without drawing it
        cols = _panel_colours(panel)
        if len(cols) > max_series:
            raise ValueError(f"animate: panel {k} ({panel.title!r}) shows {len(cols)} series colours, at most "
                             f"{max_series}: draw small multiples, the rest grey ({', '.join(map(_colour_name, cols))})")
    every = dot_every(n_steps) if any(isinstance(p, PathPanel) and p.time_dots for p in panels) else 0
    return Animation(spec, n_steps, frame_steps(n_steps, max_frames), every)


def _draw_animation(spec: dict, n_steps: int, every: int):
    """The figure of ``animate``'s ``spec`` and its ``update(step)``; ``ValueError`` (the figure closed)
    when an axes would show more than ``spec["max_series"]`` series in colour."""
    panels, size, dpi, widths, heights = spec["panels"], spec["size"], spec["dpi"], spec["widths"], spec["heights"]
    mosaic, rows, suptitle, max_series = spec["mosaic"], spec["rows"], spec["suptitle"], spec["max_series"]
    if mosaic:
        fig, named = plt.subplot_mosaic(mosaic, figsize=size, dpi=dpi, width_ratios=widths, height_ratios=heights)
        axes = [named[key] for key in sorted(named)]
    else:
        shape, ratios = ((len(panels), 1), "height_ratios") if rows else ((1, len(panels)), "width_ratios")
        fig, axes = plt.subplots(*shape, figsize=size, dpi=dpi, squeeze=False,
                                 gridspec_kw={ratios: widths} if widths else None)
        axes = axes.ravel()
    updaters, to_spread = [], []
    named = _end_labelled_colours(panels)
    for ax, panel in zip(axes, panels):
        if isinstance(panel, PathPanel):
            updaters.append(_path_panel(ax, panel, every if panel.time_dots else 0, named))
        else:
            update, texts = _series_panel(ax, panel, n_steps)
            updaters.append(update)
            to_spread.append((ax, texts))
    try:
        check_series_count(fig, "animate", max_series)
    except ValueError:
        plt.close(fig)
        raise
    note = f"dots every {every} steps" if every else ""
    left = "   ·   ".join(t for t in (suptitle, note) if t)
    # The counter is the figure's title line at the right, so the layout keeps a row for it above the panels.
    counter = fig.suptitle(f"step {n_steps:>4d}", x=0.995, ha="right", fontsize=plt.rcParams["font.size"])
    if left:
        fig.text(0.005, counter.get_position()[1], left, ha="left", va=counter.get_va(),
                 fontsize=plt.rcParams["font.size"], color="#333333")
    if any(len(texts) > 1 for _, texts in to_spread):
        fig.draw_without_rendering()  # the layout, so that end labels are spread in pixels
        for ax, texts in to_spread:
            spread_labels(ax, texts)
        # Spread, the labels still lie beside their axes and within its height, so the layout needs no room
        # for them that it did not give: it is kept (draw_background draws in it, not laying out again; a
        # second layout moved the deck's axes by under 2 px, constrained layout converging further).
        fig.set_layout_engine("none")

    def update(step):
        artists = [a for u in updaters for a in u(step)]
        counter.set_text(f"step {step:>4d}")
        return artists + [counter]

    return fig, update


# A label that lies on lines (contours, other curves) is drawn on a white halo, which keeps it readable
# (present.check_figure_text_on_lines asks for it).
HALO = [matplotlib.patheffects.withStroke(linewidth=4, foreground="white")]


def _start_labels(ax, tracks, colors, bounds):
    """Name each track beside its start point, in its colour (not one whose label is ""); tracks that
    start together are stacked, on the side of the start away from where the paths head."""
    (x0, x1), (y0, y1) = bounds
    groups: dict = {}
    for tr, color in zip(tracks, colors):
        if tr.label == "":  # named nowhere (a grey reference, say, named where it is in colour)
            continue
        key = tuple(np.round(np.asarray(tr.path[0], dtype=float) / [x1 - x0, y1 - y0], 2))
        groups.setdefault(key, []).append((tr, color))
    texts = []
    for members in groups.values():
        start = np.asarray(members[0][0].path[0], dtype=float)
        ahead = np.mean([np.asarray(t.path[min(len(t.path) - 1, 5)], dtype=float) - start for t, _ in members], axis=0)
        ahead = ahead / [x1 - x0, y1 - y0]
        # Label on the side away from the paths: vertically if they leave sideways, and vice versa.
        up = ahead[1] <= 0 if abs(ahead[0]) >= abs(ahead[1]) else ahead[1] < 0
        right = (start[0] - x0) / (x1 - x0) < 0.5
        sign = 1 if up else -1
        for k, (tr, color) in enumerate(members):
            text = ax.annotate(tr.label or style(tr.name)["label"], start, xytext=(0, sign * (12 + 1.5 * TEXT_MIN_PT * k)),
                               textcoords="offset points", ha="left" if right else "right",
                               va="bottom" if up else "top", color=color, fontsize=TEXT_MIN_PT,
                               zorder=10, path_effects=HALO, annotation_clip=False)
            texts.append(text)
    return texts


def _end_labelled_colours(panels) -> set:
    """The colours of the curves that series panels among ``panels`` name at their ends (``_series_panel``:
    up to ``MAX_SERIES`` named curves; more get a legend)."""
    colours = set()
    for p in panels:
        named = _named_series(p) if isinstance(p, SeriesPanel) and p.labels else []
        if len(named) <= MAX_SERIES:
            colours.update(c for _, _, c in named)
    return colours


def _path_panel(ax, panel: PathPanel, every: int = 0, named=frozenset()):
    """Draw ``panel`` on ``ax``; return its ``update(step)``. Its tracks are named at their start unless
    each has a colour of its own that a curve of ``named`` colours (named at its end in a series panel of
    the same animation) already names: the names would say twice which colour is which, and a stack of
    them over a start near a panel's top runs into its title."""
    contour(panel.surface, ax, bounds=panel.bounds)
    if panel.title:
        ax.set_title(panel.title)
    artists, colors = [], []
    for i, tr in enumerate(panel.tracks):
        st = style(tr.name, **({"color": tr.color} if tr.color else {}), **({"label": tr.label} if tr.label else {}))
        reference = tr.reference or is_grey(st["color"])  # grey means a reference: thin and underneath
        if tr.reference:
            st = {**st, "color": REFERENCE}
        colors.append(st["color"])
        lw, z = (1.4, 3) if reference else (2.6, 4)
        ax.plot(*tr.path[0], marker="o", ms=10, mfc="white", mec=st["color"], mew=2, zorder=z + 2, ls="none")
        dots = dict(marker="o", ms=4 if reference else 5.5, mfc=st["color"], mec="white", mew=0.8,
                    markevery=slice(every, None, every)) if every else {}
        (line,) = ax.plot([], [], color=st["color"], lw=lw, ls=tr.linestyle, zorder=z, label=st["label"], **dots)
        (head,) = ax.plot([], [], marker=st["marker"], ms=9 if reference else 13, color=st["color"],
                          mec="white", mew=1.2, zorder=z + 3, ls="none")
        arrow = None
        if tr.arrows is not None:
            arrow = ax.quiver([tr.path[0, 0]], [tr.path[0, 1]], [0.0], [0.0], color=st["color"], angles="xy",
                              scale_units="xy", scale=1.0, width=0.006, zorder=8, alpha=0.8)
        cross = ax.text(0, 0, "", color=st["color"], fontsize=TEXT_MIN_PT, fontweight="bold", zorder=9,
                        ha="center", va="bottom")
        artists.append((tr, st, line, head, arrow, cross))
    bounds = panel.bounds or panel.surface.bounds
    shown = [c for tr, c in zip(panel.tracks, colors) if tr.label != ""]
    named_elsewhere = len(set(shown)) == len(shown) and set(shown) <= named
    if panel.labels and len(panel.tracks) > 1 and not named_elsewhere:
        _start_labels(ax, panel.tracks, colors, bounds)

    (x0, x1), (y0, y1) = bounds

    def update(step):
        out = []
        for tr, st, line, head, arrow, cross in artists:
            stop = len(tr.path) - 1 if tr.diverged_at < 0 else tr.diverged_at - 1
            k = min(step, stop)
            line.set_data(tr.path[:k + 1, 0], tr.path[:k + 1, 1])
            head.set_data([tr.path[k, 0]], [tr.path[k, 1]])
            out += [line, head]
            if arrow is not None:
                arrow.set_offsets([tr.path[k]])
                arrow.set_UVC([tr.arrows[k, 0]], [tr.arrows[k, 1]])
                out.append(arrow)
            if tr.diverged_at >= 0 and step >= tr.diverged_at:
                cross.set_position(((x0 + x1) / 2, y1 - 0.12 * (y1 - y0)))
                cross.set_text(f"diverged at step {tr.diverged_at}")
                cross.set_bbox(dict(boxstyle="round,pad=0.2", fc="white", ec=st["color"]))
                out.append(cross)  # drawn only once there is something to say: text is slow to draw
            else:
                cross.set_text("")
        return out

    return update


def _running_band(values: np.ndarray, window: int):
    """Trailing running minimum and maximum of ``values`` over ``window`` points (no look-ahead, so
    an animation reveals nothing of the future)."""
    pad = np.r_[np.full(window - 1, np.nan), values]
    view = np.lib.stride_tricks.sliding_window_view(pad, window)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmin(view, axis=1), np.nanmax(view, axis=1)


def end_labels(ax, entries, x: float = 1.02):
    """Labels at the right end of an axes: ``entries`` of ``(text, y in data, colour)``, placed just
    right of the axes at that height (clamped into the axes); call ``spread_labels`` once the layout is
    known to pull overlapping ones apart. Returns the texts."""
    lo, hi = ax.get_ylim()
    texts = []
    for text, y, color in entries:
        y = float(np.clip(y, min(lo, hi), max(lo, hi))) if np.isfinite(y) else hi
        frac = ax.transLimits.transform(ax.transScale.transform((ax.get_xlim()[0], y)))[1]
        texts.append(ax.text(x, float(np.clip(frac, 0, 1)), text, transform=ax.transAxes, ha="left", va="center",
                             color=color, fontsize=TEXT_MIN_PT, clip_on=False))
    return texts


def spread_labels(ax, texts, gap: float = 1.1):
    """Move ``texts`` (in axes coordinates, one above the other) apart vertically so that none
    overlaps the next, keeping their order and staying as close to their own heights as possible."""
    if len(texts) < 2:
        return texts
    renderer = ax.figure.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    heights = [t.get_window_extent(renderer).height for t in texts]
    ys = np.array([box.y0 + t.get_position()[1] * box.height for t in texts])
    order = np.argsort(ys)
    placed = ys[order].copy()
    half = np.array(heights)[order] / 2  # a label is centred on its height: its box is +- half of it
    need = (half[:-1] + half[1:]) * gap
    for _ in range(len(placed)):  # push up, then shift the whole stack down if it left the axes top
        for i in range(1, len(placed)):
            placed[i] = max(placed[i], placed[i - 1] + need[i - 1])
        over = placed[-1] + half[-1] - box.y1  # whole labels inside the axes' height: none on a tick label
        if over > 0:
            placed -= over
        below = box.y0 - (placed[0] - half[0])
        if below > 0:
            placed += below
            break
        if np.all(np.diff(placed) >= need - 1e-6):
            break
    for j, t in zip(order, placed):
        texts[j].set_position((texts[j].get_position()[0], (t - box.y0) / box.height))
    return texts


def direct_labels(ax, lines=None, max_labels: int = MAX_SERIES):
    """Label the ``lines`` of a static plot (default: every labelled line of ``ax``) at their right ends
    in their colours, spread apart vertically: the direct labels that replace a legend. More than
    ``max_labels`` lines get a legend instead (and belong in small multiples). Returns the texts."""
    lines = [l for l in (lines if lines is not None else ax.get_lines()) if not l.get_label().startswith("_")]
    if len(lines) > max_labels:
        ax.legend(handles=lines, loc="best", framealpha=0.9)
        return []
    entries = []
    for line in lines:
        y = np.asarray(line.get_ydata(), dtype=float)
        good = y[np.isfinite(y)]
        entries.append((line.get_label(), good[-1] if good.size else np.nan, line.get_color()))
    texts = end_labels(ax, entries)
    ax.figure.draw_without_rendering()
    return spread_labels(ax, texts)


def label_apart(ax, items, offset: float = 8):
    """Label lines on the data where they are apart: ``items`` are ``(points (n, 2), text, colour)``; each
    text goes beside a point of its own line, on the side and at the point where its box keeps the
    largest clearance from the other lines and the labels already placed, inside the axes. For paths
    that share their start and end, where labels at the ends would collide. Returns the texts."""
    fig = ax.figure
    fig.draw_without_rendering()  # the final layout: positions on screen are known from here on
    renderer = fig.canvas.get_renderer()
    px = offset * fig.dpi / 72
    frame = ax.get_window_extent(renderer)
    # the lines as points on screen, a few pixels apart (a two-point line included)
    screen = []
    for xy, _, _ in items:
        pts = ax.transData.transform(np.asarray(xy, dtype=float))
        steps = np.maximum(2, (np.linalg.norm(np.diff(pts, axis=0), axis=1) / 4).astype(int))
        screen.append(np.concatenate([np.linspace(a, b, k, endpoint=False) for a, b, k in zip(pts[:-1], pts[1:], steps)]
                                     + [pts[-1:]]))
    directions = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy], dtype=float)
    boxes, texts = [], []
    for i, (_, text, color) in enumerate(items):
        t = ax.annotate(text, (0, 0), color=color, zorder=9, annotation_clip=False,
                        path_effects=HALO)
        ext = t.get_window_extent(renderer)
        w, h = ext.width, ext.height
        anchors = screen[i][:: max(1, len(screen[i]) // 150)]
        # every anchor and side: the text box's corners (x0, y0, x1, y1) on screen
        a = anchors[:, None, :] + px * directions[None] / np.linalg.norm(directions, axis=1)[None, :, None]
        x0 = a[..., 0] - w * (directions[:, 0] < 0) - w / 2 * (directions[:, 0] == 0)
        y0 = a[..., 1] - h * (directions[:, 1] < 0) - h / 2 * (directions[:, 1] == 0)
        x1, y1 = x0 + w, y0 + h

        def clearance(pts):  # the distance of each box to the nearest of pts, less the number of pts it covers
            dx = np.maximum(0, np.maximum(x0[..., None] - pts[:, 0], pts[:, 0] - x1[..., None]))
            dy = np.maximum(0, np.maximum(y0[..., None] - pts[:, 1], pts[:, 1] - y1[..., None]))
            dist = np.hypot(dx, dy)
            return dist.min(axis=-1) - (dist == 0).sum(axis=-1)

        others = np.concatenate([sc for j, sc in enumerate(screen) if j != i])
        score = clearance(others[:: max(1, len(others) // 1500)])
        for b in boxes:  # never over a label already placed
            gap = np.hypot(np.maximum(0, np.maximum(b[0] - x1, x0 - b[2])), np.maximum(0, np.maximum(b[1] - y1, y0 - b[3])))
            score = np.where(gap > 0, np.minimum(score, gap), score - 1e5)
        score = np.where(clearance(screen[i][:: max(1, len(screen[i]) // 400)]) >= px / 2, score, score - 1e6)
        inside = (x0 >= frame.x0) & (x1 <= frame.x1) & (y0 >= frame.y0) & (y1 <= frame.y1)
        k, d = np.unravel_index(np.argmax(np.where(inside, score, score - 1e9)), score.shape)
        t.xy = tuple(ax.transData.inverted().transform(a[k, d]))
        t.set_position(t.xy)
        t.set(ha={-1: "right", 0: "center", 1: "left"}[int(directions[d, 0])],
              va={-1: "top", 0: "center", 1: "bottom"}[int(directions[d, 1])])
        boxes.append((x0[k, d], y0[k, d], x1[k, d], y1[k, d]))
        texts.append(t)
    return texts


def _series_styles(panel: SeriesPanel) -> list[tuple]:
    """``(label, values, colour, line style)`` of each series of ``panel``, as ``_series_panel`` draws it."""
    specs = []
    for i, (label, spec) in enumerate(panel.series.items()):
        values, key, ls = (*spec, None) if len(spec) == 2 else spec
        if key in STYLE:
            st = style(key)
        elif isinstance(key, str) and matplotlib.colors.is_color_like(key) and not key.isdigit():
            st = {"color": key}
        else:  # not a method: black and grey with line styles, no method colour spent on it
            st = dict(EXTRA_STYLES[i % len(EXTRA_STYLES)])
        specs.append((label, np.asarray(values, dtype=float), st["color"], ls or st.get("ls", "-")))
    return specs


def _track_colour(tr) -> str:
    """The colour ``_path_panel`` draws ``tr`` in (a reference track in ``REFERENCE`` grey)."""
    return REFERENCE if tr.reference else style(tr.name, **({"color": tr.color} if tr.color else {}))["color"]


def _panel_colours(panel) -> list[str]:
    """The series colours a panel of ``animate`` will show, read from the panel without drawing it."""
    if isinstance(panel, PathPanel):
        return _chromatic(_track_colour(tr) for tr in panel.tracks)
    return _chromatic(c for _, _, c, _ in _series_styles(panel))


def _named_series(panel: SeriesPanel) -> list:
    """``(label, values, colour)`` of each curve ``panel`` names: its series but those whose label starts
    with "_", and its horizontal line if that has a label."""
    named = [(l, v, c) for (l, v, c, _) in _series_styles(panel) if not str(l).startswith("_")]
    if panel.hline is not None and panel.hline_label:
        named.append((panel.hline_label, np.array([panel.hline]), "#555555"))
    return named


def _series_panel(ax, panel: SeriesPanel, n_steps: int):
    lines, bands = [], []
    ymin, ymax = np.inf, -np.inf
    specs = _series_styles(panel)
    coloured = any(not is_grey(c) for _, _, c, _ in specs)
    wide = panel.envelope if not isinstance(panel.envelope, bool) else ([l for l, *_ in specs] if panel.envelope else [])
    for label, values, color, ls in specs:
        reference = label in panel.references or color == REFERENCE or (coloured and is_grey(color))
        lw, z = (1.4, 1.5) if reference else (2.4, 3)
        (line,) = ax.plot([], [], color=color, lw=lw, ls=ls, label=label, zorder=z,
                          alpha=1.0 if reference else panel.alpha)
        band = None
        if label in wide and not reference:
            window = max(3, int(np.ceil(len(values) / 150)))
            lo, hi = _running_band(np.where(np.isfinite(values), values, np.nan), window)
            band = ax.fill_between([0, 0], [1, 1], [1, 1], color=color, alpha=0.3, lw=0.8, zorder=z - 0.1)
            band.set_edgecolor(color)
            line.set_alpha(0.35 * panel.alpha)
            line.set_linewidth(1.0)
            bands.append((band, lo, hi))
        lines.append((line, values))
        finite = values[np.isfinite(values) & ((values > 0) if panel.log else True)]
        if finite.size:
            ymin, ymax = min(ymin, finite.min()), max(ymax, finite.max())
    if not np.isfinite(ymin):
        ymin, ymax = (1e-3, 1.0) if panel.log else (0.0, 1.0)
    if panel.log:
        ax.set_yscale("log")
        ax.set_ylim(panel.ylim or (ymin / 2, ymax * 2))
    else:
        pad = 0.05 * (ymax - ymin or 1.0)
        ax.set_ylim(panel.ylim or (ymin - pad, ymax + pad))
    if panel.hline is not None:
        ax.axhline(panel.hline, color="#555555", ls="--", lw=1.2, label=panel.hline_label or None, zorder=1)
    ax.set(xlim=(0, n_steps), xlabel="step", ylabel=panel.ylabel, title=panel.title)
    named = _named_series(panel)
    texts = []
    if panel.labels and len(named) > MAX_SERIES:
        ax.legend(loc="best", framealpha=0.9, ncol=panel.legend_columns, fontsize=plt.rcParams["legend.fontsize"])
    elif panel.labels and named:
        ends = []
        for label, values, color in named:
            good = values[np.isfinite(values) & ((values > 0) if panel.log else True)]
            ends.append((label, good[-1] if good.size else np.nan, color))
        texts = end_labels(ax, ends)
    cursor = ax.axvline(0, color="#888888", lw=1)

    def update(step):
        for line, values in lines:
            k = min(step, len(values) - 1)
            line.set_data(np.arange(k + 1), values[:k + 1])
        out = [l for l, _ in lines]
        for band, lo, hi in bands:
            k = min(step, len(lo) - 1)
            x = np.arange(k + 1)
            ok = np.isfinite(lo[:k + 1]) & np.isfinite(hi[:k + 1])
            x, a, b = x[ok], lo[:k + 1][ok], hi[:k + 1][ok]
            band.set_verts([np.c_[np.r_[x, x[::-1]], np.r_[b, a[::-1]]]] if x.size else [])
            out.append(band)
        cursor.set_xdata([step, step])
        return out + [cursor]

    return update, texts


# ---------------------------------------------------------------------------------------------
# The family map: how the methods relate (section dividers highlight the current method)
# ---------------------------------------------------------------------------------------------

# Each method, where it sits on the map (columns: generations, left to right), the method it is built
# on, and what it changes, in a few words: the lecture's "How the methods relate". Adam also takes
# momentum's running mean (``FAMILY_ALSO``).
FAMILY: dict[str, tuple[tuple[float, float], str | None, str]] = {
    "gd": ((0.0, 2.2), None, "the gradient"),
    "sgd": ((2.6, 0.2), "gd", "sampled gradient"),
    "momentum": ((2.6, 4.2), "gd", "sum of gradients"),
    "adagrad": ((2.6, 2.2), "gd", "rate per coordinate"),
    "minibatch": ((5.2, 0.2), "sgd", "batch of samples"),
    "nesterov": ((5.2, 4.2), "momentum", "look ahead"),
    "rmsprop": ((5.2, 2.2), "adagrad", "forgets old g²"),
    "adadelta": ((7.8, 1.2), "adagrad", "units of x, no η"),  # from AdaGrad, as RMSprop (Zeiler 2012)
    "adam": ((7.8, 2.8), "rmsprop", "+ momentum"),
    "amsgrad": ((10.4, 4.6), "adam", "v never shrinks"),
    "nadam": ((10.4, 3.3), "adam", "Nesterov in Adam"),
    "adamax": ((10.4, 2.0), "adam", "max, not mean"),
    "adamw": ((10.4, 0.7), "adam", "decoupled decay"),
}
FAMILY_ALSO = {"adam": "momentum"}
FAMILY_GREY = "#a8a8a8"


def family_map(highlight: Sequence[str] = (), ax=None, size=(13.0, 6.6), title: str = "How the methods relate"):
    """The map of the 13 methods: one box per method with what it changes written under it, arrows from
    each method to those built on it. Methods in ``highlight`` (and the arrows into them) are in their
    colours and bold, the rest grey, so that a section divider shows where the lecture is. Big text:
    the map fills most of a slide. Returns the figure."""
    unknown = [n for n in highlight if n not in FAMILY]
    if unknown:
        raise ValueError(f"highlight must name methods of {sorted(FAMILY)}, got {unknown}")
    fig, ax = plt.subplots(figsize=size) if ax is None else (ax.figure, ax)
    big = plt.rcParams["font.size"] * 1.3
    boxes = {}
    for name, ((x, y), parent, change) in FAMILY.items():
        on = name in highlight
        color = STYLE[name]["color"] if on else FAMILY_GREY
        boxes[name] = ax.text(x, y, STYLE[name]["label"], ha="center", va="center", fontsize=big, zorder=4,
                              fontweight="bold" if on else "normal", color="white" if on else "#4a4a4a",
                              bbox=dict(boxstyle="round,pad=0.3", fc=color if on else "white", ec=color,
                                        lw=2.5 if on else 1.5))
        ax.annotate(change, (x, y), xytext=(0, -0.95 * big), textcoords="offset points", ha="center", va="top",
                    fontsize=TEXT_MIN_PT, color="#1b2230" if on else "#7a7a7a", zorder=4)
    edges = [(p, n) for n, (_, p, _) in FAMILY.items() if p] + [(p, n) for n, p in FAMILY_ALSO.items()]
    for parent, name in edges:
        on = name in highlight
        ax.annotate("", xy=(0, 0.5), xycoords=boxes[name], xytext=(1, 0.5), textcoords=boxes[parent], zorder=2,
                    arrowprops=dict(arrowstyle="-|>", color=STYLE[name]["color"] if on else "#c4c4c4",
                                    lw=3 if on else 1.6, shrinkA=9, shrinkB=9, mutation_scale=22,
                                    ls="--" if FAMILY_ALSO.get(name) == parent else "-"))
    ax.set_xlim(-0.9, 11.3)
    ax.set_ylim(-0.5, 5.0)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=big, loc="left")
    return fig

# ---------------------------------------------------------------------------------------------
# Charts that replace tables (the race, the summary): rows sorted by what they compare, in grey and
# black, so that no method colour is spent on a contrast that is not a method.
# ---------------------------------------------------------------------------------------------

PAIR_STYLES = ({"marker": "o", "mfc": "white", "mec": "#555555", "color": "#555555"},
               {"marker": "o", "mfc": "#000000", "mec": "#000000", "color": "#000000"})


def paired_dots(ax, labels, values, *, missing: str = "not within", xlabel: str = "", log: bool = True):
    """A dot plot with one row per label and two paired values per row (``values`` has shape
    ``(rows, 2)``): an open grey dot for the first, a black dot for the second, joined by a thin line,
    and each value written beside its dot. Rows are drawn in the given order, top to bottom (sort them
    first). A non-finite value is drawn as an arrow at the right edge with ``missing``. Returns ``ax``."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape != (len(labels), 2):
        raise ValueError(f"values must have shape ({len(labels)}, 2), got {values.shape}")
    finite = values[np.isfinite(values)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (1.0, 10.0)
    right = hi * 3 if log else hi + 0.15 * (hi - lo or 1)
    y = np.arange(len(labels))[::-1]
    for row, (yy, pair) in enumerate(zip(y, values)):
        shown = np.where(np.isfinite(pair), pair, right)
        ax.plot(shown, [yy, yy], color="#bbbbbb", lw=2, zorder=1)
        lower = int(np.argmin(shown))  # its number goes on the left of its dot, the other's on the right
        for j, (v, s) in enumerate(zip(pair, PAIR_STYLES)):
            off = (j - 0.5) * 0.36
            if np.isfinite(v):
                ax.plot([v], [yy], ls="none", ms=13, mew=2, zorder=3, **s)
                left = j == lower
                ax.annotate(f"{v:,.0f}", (v, yy), xytext=(-12 if left else 12, 0), textcoords="offset points",
                            ha="right" if left else "left", va="center", color=s["color"])
            else:
                ax.plot([right], [yy + off / 3], ls="none", ms=13, zorder=3, **{**s, "marker": ">"})
                # on its own row, before its arrow, over the line (a white box): clear of the rows around it
                ax.annotate(missing, (right, yy + off / 3), xytext=(-14, 0), textcoords="offset points",
                            ha="right", va="center", color=s["color"], zorder=4,
                            bbox=dict(boxstyle="square,pad=0.15", fc="white", ec="none"))
    ax.set_yticks(y, labels)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(lo / 1.8 if log else lo - 0.05 * (hi - lo), right * (1.6 if log else 1.05))
    ax.set_ylim(-0.8, len(labels) - 0.2)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", length=0)
    return ax


def _runs(mask):
    """``(start, stop)`` index pairs of the contiguous runs of True in a 1-D boolean array."""
    m = np.r_[False, np.asarray(mask, dtype=bool), False]
    edges = np.flatnonzero(np.diff(m.astype(int)))
    return list(zip(edges[::2], edges[1::2] - 1))


def range_strip(ax, labels, lrs, ok, best=None):
    """The sensitivity strip: for each row (method), the learning rates of ``lrs`` that work, as
    horizontal bars on a log axis, one thin bar per surface (``ok`` has shape ``(rows, 2, len(lrs))``,
    grey for the first surface, black for the second); ``best`` (``(rows, 2)``) marks each surface's
    best learning rate with a dot. Rows top to bottom in the given order. Returns ``ax``."""
    lrs = np.asarray(lrs, dtype=float)
    ok = np.asarray(ok, dtype=bool)
    if ok.shape != (len(labels), 2, len(lrs)):
        raise ValueError(f"ok must have shape ({len(labels)}, 2, {len(lrs)}), got {ok.shape}")
    half = np.sqrt(lrs[1] / lrs[0]) if len(lrs) > 1 else 1.2  # a bar covers half a grid step either side
    y = np.arange(len(labels))[::-1]
    for yy, row_ok, row_best in zip(y, ok, best if best is not None else [None] * len(labels)):
        for j, s in enumerate(PAIR_STYLES):
            yj = yy + (0.17 if j == 0 else -0.17)
            for a, b in _runs(row_ok[j]):
                ax.plot([lrs[a] / half, lrs[b] * half], [yj, yj], color=s["color"], lw=9,
                        solid_capstyle="butt", alpha=0.55 if j == 0 else 1.0)
            if row_best is not None and np.isfinite(row_best[j]):
                ax.plot([row_best[j]], [yj], ls="none", marker="o", ms=12, mfc="white", mec=s["color"], mew=2.5,
                        zorder=4)
    ax.set_xscale("log")
    ax.set_xlim(lrs[0] / half, lrs[-1] * half)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.tick_params(axis="y", length=0)
    return ax

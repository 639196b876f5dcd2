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
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.colors import LogNorm

# One colour and one marker per method, used in every figure of the deck. Colours from the
# colour-blind-safe palettes of Okabe & Ito and of Paul Tol; the marker tells apart what colour cannot.
STYLE: dict[str, dict] = {
    "gd": {"color": "#0072B2", "marker": "o", "label": "GD"},
    "sgd": {"color": "#56B4E9", "marker": "v", "label": "SGD"},
    "minibatch": {"color": "#009E73", "marker": "^", "label": "Mini-batch"},
    "momentum": {"color": "#D55E00", "marker": "s", "label": "Momentum"},
    "nesterov": {"color": "#E69F00", "marker": "D", "label": "Nesterov"},
    "adagrad": {"color": "#CC79A7", "marker": "P", "label": "AdaGrad"},
    "rmsprop": {"color": "#882255", "marker": "X", "label": "RMSprop"},
    "adadelta": {"color": "#999933", "marker": "h", "label": "AdaDelta"},
    "adam": {"color": "#000000", "marker": "*", "label": "Adam"},
    "adamax": {"color": "#332288", "marker": "p", "label": "AdaMax"},
    "nadam": {"color": "#AA4499", "marker": "d", "label": "Nadam"},
    "amsgrad": {"color": "#44AA99", "marker": ">", "label": "AMSGrad"},
    "adamw": {"color": "#661100", "marker": "<", "label": "AdamW"},
}
EXTRA_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
VARIANT = "#8c8c8c"  # a method's other setting, drawn beside it with the method's own marker


def shades(n: int) -> list:
    """``n`` colours of one sequential palette (viridis), for one method run with ``n`` values of a knob."""
    return [matplotlib.colors.to_hex(c) for c in plt.cm.viridis(np.linspace(0.05, 0.8, n))]


# Readable on a projector; importing this module sets them, as the deck wants for every figure.
RC = {
    "font.size": 15,
    "axes.titlesize": 16,
    "axes.labelsize": 15,
    "legend.fontsize": 13,
    "xtick.labelsize": 13,
    "ytick.labelsize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.constrained_layout.use": True,
}
plt.rcParams.update(RC)


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
                    cmap="Blues_r", norm=LogNorm(lv[0] / 2, lv[-1] * 3), alpha=0.55)
    ax.contour(X, Y, height, levels=lv, colors="#5a6f8c", linewidths=0.7, alpha=0.8)
    for m in surface.minima:
        ax.plot(*m, marker="*", ms=18, color="#ffd400", mec="black", mew=1.0, zorder=8, ls="none")
    for s in surface.saddles:
        ax.plot(*s, marker="x", ms=12, color="black", mew=2.5, zorder=8, ls="none")
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
    ax.plot(*path[0], marker="o", ms=9, mfc="white", mec=st["color"], mew=2, zorder=6)
    return line


def surface_3d(surface, ax, elev: float = 32, azim: float = -60):
    """A 3-D view of the surface (for the introduction)."""
    X, Y, Z = grid(surface, 80)
    ax.plot_surface(X, Y, Z, cmap="Blues", edgecolor="#5a6f8c", linewidth=0.2, alpha=0.9, rcount=40, ccount=40)
    ax.view_init(elev=elev, azim=azim)
    ax.set(xlabel="$x$", ylabel="$y$", zlabel="loss")
    return ax


# ---------------------------------------------------------------------------------------------
# Animations
# ---------------------------------------------------------------------------------------------

@dataclass
class Track:
    """One path on a ``PathPanel``; ``arrows`` (same length as ``path``) draws a vector at the current point."""

    path: np.ndarray  # (steps + 1, 2)
    name: str = "gd"
    label: str | None = None
    arrows: np.ndarray | None = None
    diverged_at: int = -1
    color: str | None = None
    reference: bool = False  # a reference drawn thin and grey underneath the method compared with it


# One frame for every "<method> in the valley" slide, so that they read like a flip-book: the same
# horizon, the same loss axis, and GD at its demo rate as the grey reference.
FRAME_STEPS = 300
FRAME_YLIM = (1e-12, 1e2)
REFERENCE = "#9a9a9a"


@dataclass
class PathPanel:
    """A surface's contours and the tracks on it; ``bounds`` zooms in (default: the surface's own)."""

    surface: object
    tracks: Sequence[Track]
    title: str = ""
    legend: bool = True
    bounds: tuple | None = None


@dataclass
class SeriesPanel:
    """Curves over steps, revealed with the clock: ``series`` maps a label to ``(values, method-or-colour)``
    or ``(values, method-or-colour, linestyle)``."""

    series: dict
    title: str = ""
    ylabel: str = ""
    log: bool = True
    ylim: tuple | None = None
    hline: float | None = None
    hline_label: str = ""
    legend_columns: int = 1


@dataclass
class Animation:
    fig: object
    n_steps: int
    frame_steps: np.ndarray  # the step shown in each frame
    update: object  # update(step) -> list of artists to draw
    static_artists: list = field(default_factory=list)

    def frames(self):
        """Yield each frame as an ``(height, width, 4)`` RGBA uint8 array (a view of the canvas, valid
        until the next frame is drawn); the background is drawn once."""
        canvas = self.fig.canvas
        dynamic = self.update(0)
        for a in dynamic:
            a.set_animated(True)
        canvas.draw()
        background = canvas.copy_from_bbox(self.fig.bbox)
        for step in self.frame_steps:
            canvas.restore_region(background)
            for a in self.update(int(step)):
                a.axes.draw_artist(a) if a.axes is not None else self.fig.draw_artist(a)
            yield np.asarray(canvas.buffer_rgba())

    def final_frame(self):
        """The figure as it looks at the end: every path in full."""
        for a in self.update(int(self.frame_steps[-1])):
            a.set_animated(False)
        return self.fig

    def funcanimation(self, interval: int = 60) -> FuncAnimation:
        return FuncAnimation(self.fig, lambda k: self.update(int(self.frame_steps[k])),
                             frames=len(self.frame_steps), interval=interval, blit=False)


def frame_steps(n_steps: int, max_frames: int = 90, hold: int = 12) -> np.ndarray:
    """Which step each frame shows: every step, or evenly spaced ones, then the end held for ``hold`` frames."""
    shown = np.arange(n_steps + 1) if n_steps + 1 <= max_frames else np.unique(
        np.round(np.linspace(0, n_steps, max_frames)).astype(int))
    return np.r_[shown, np.full(hold, n_steps)]


def animate(panels: Sequence, *, n_steps: int | None = None, max_frames: int = 90, size=(10.24, 5.76),
            dpi: int = 100, widths=None, suptitle: str = "", rows: bool = False, mosaic: str | None = None,
            heights=None) -> Animation:
    """Animate ``panels`` on one clock: side by side, stacked (``rows``), or in a matplotlib ``mosaic``
    such as ``"AB;CC"`` (panels in the order of their letters). Every path is fully computed
    beforehand; frame ``k`` only reveals ``path[:step_k + 1]``. The iteration counter is the title line."""
    if n_steps is None:
        n_steps = max(len(t.path) - 1 for p in panels if isinstance(p, PathPanel) for t in p.tracks)
    if mosaic:
        fig, named = plt.subplot_mosaic(mosaic, figsize=size, dpi=dpi, width_ratios=widths, height_ratios=heights)
        axes = [named[key] for key in sorted(named)]
    else:
        shape, ratios = ((len(panels), 1), "height_ratios") if rows else ((1, len(panels)), "width_ratios")
        fig, axes = plt.subplots(*shape, figsize=size, dpi=dpi, squeeze=False,
                                 gridspec_kw={ratios: widths} if widths else None)
        axes = axes.ravel()
    updaters = []
    for ax, panel in zip(axes, panels):
        updaters.append(_path_panel(ax, panel) if isinstance(panel, PathPanel) else _series_panel(ax, panel, n_steps))
    # The iteration counter is the figure's title line, so the layout keeps room for it above the panels.
    prefix = f"{suptitle}    " if suptitle else ""
    counter = fig.suptitle(f"{prefix}step {n_steps:>4d}", fontsize=16, family="monospace")

    def update(step):
        artists = [a for u in updaters for a in u(step)]
        counter.set_text(f"{prefix}step {step:>4d}")
        return artists + [counter]

    return Animation(fig, n_steps, frame_steps(n_steps, max_frames), update)


def _path_panel(ax, panel: PathPanel):
    contour(panel.surface, ax, bounds=panel.bounds)
    if panel.title:
        ax.set_title(panel.title)
    artists = []
    for i, tr in enumerate(panel.tracks):
        st = style(tr.name, **({"color": tr.color} if tr.color else {}), **({"label": tr.label} if tr.label else {}))
        if tr.reference:
            st = {**st, "color": REFERENCE}
        lw, z = (1.4, 3) if tr.reference else (2.6, 4)
        ax.plot(*tr.path[0], marker="o", ms=10, mfc="white", mec=st["color"], mew=2, zorder=6, ls="none")
        (line,) = ax.plot([], [], color=st["color"], lw=lw, zorder=z, label=st["label"])
        (head,) = ax.plot([], [], marker=st["marker"], ms=9 if tr.reference else 13, color=st["color"],
                          mec="white", mew=1.2, zorder=z + 3, ls="none")
        arrow = None
        if tr.arrows is not None:
            arrow = ax.quiver([tr.path[0, 0]], [tr.path[0, 1]], [0.0], [0.0], color=st["color"], angles="xy",
                              scale_units="xy", scale=1.0, width=0.006, zorder=8, alpha=0.8)
        cross = ax.text(0, 0, "", color=st["color"], fontsize=13, fontweight="bold", zorder=9,
                        ha="center", va="bottom")
        artists.append((tr, st, line, head, arrow, cross))
    if panel.legend and len(panel.tracks) > 1:
        ax.legend(loc="lower right", framealpha=0.9)

    (x0, x1), (y0, y1) = panel.bounds or panel.surface.bounds

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


def _series_panel(ax, panel: SeriesPanel, n_steps: int):
    lines = []
    ymin, ymax = np.inf, -np.inf
    for i, (label, spec) in enumerate(panel.series.items()):
        values, key, ls = (*spec, "-") if len(spec) == 2 else spec
        st = style(key) if key in STYLE else {"color": key if key.startswith("#") else EXTRA_COLORS[i % 7]}
        values = np.asarray(values, dtype=float)
        (line,) = ax.plot([], [], color=st["color"], lw=2.2, ls=ls, label=label)
        lines.append((line, values))
        finite = values[np.isfinite(values) & ((values > 0) if panel.log else True)]
        if finite.size:
            ymin, ymax = min(ymin, finite.min()), max(ymax, finite.max())
    if panel.log:
        ax.set_yscale("log")
        ax.set_ylim(panel.ylim or (ymin / 2, ymax * 2))
    else:
        pad = 0.05 * (ymax - ymin or 1.0)
        ax.set_ylim(panel.ylim or (ymin - pad, ymax + pad))
    if panel.hline is not None:
        ax.axhline(panel.hline, color="#555555", ls="--", lw=1.2, label=panel.hline_label or None)
    ax.set(xlim=(0, n_steps), xlabel="step", ylabel=panel.ylabel, title=panel.title)
    ax.legend(loc="best", framealpha=0.9, ncol=panel.legend_columns,
              fontsize=plt.rcParams["legend.fontsize"] * (0.8 if panel.legend_columns > 1 else 1.0))
    cursor = ax.axvline(0, color="#888888", lw=1)

    def update(step):
        for line, values in lines:
            k = min(step, len(values) - 1)
            line.set_data(np.arange(k + 1), values[:k + 1])
        cursor.set_xdata([step, step])
        return [l for l, _ in lines] + [cursor]

    return update


# Charts that replace tables (the race, the summary): rows sorted by what they compare, in grey and
# black, so that no method colour is spent on a contrast that is not a method.
# ---------------------------------------------------------------------------------------------

PAIR_STYLES = ({"marker": "o", "mfc": "white", "mec": "#555555", "color": "#555555"},
               {"marker": "o", "mfc": "#000000", "mec": "#000000", "color": "#000000"})


def paired_dots(ax, labels, values, names=("bowl", "valley"), *, missing: str = "not within",
                xlabel: str = "", log: bool = True):
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
                ax.annotate(missing, (right, yy + off / 3), xytext=(-12, 4), textcoords="offset points",
                            ha="right", va="bottom", color=s["color"])
    ax.set_yticks(y, labels)
    if log:
        ax.set_xscale("log")
    ax.set_xlim(lo / 1.8 if log else lo - 0.05 * (hi - lo), right * (1.6 if log else 1.05))
    ax.set_ylim(-0.8, len(labels) - 0.2)
    ax.set_xlabel(xlabel)
    ax.tick_params(axis="y", length=0)
    for j, (name, s) in enumerate(zip(names, PAIR_STYLES)):
        ax.plot([], [], ls="none", ms=13, mew=2, label=name, **s)
    return ax


def _runs(mask):
    """``(start, stop)`` index pairs of the contiguous runs of True in a 1-D boolean array."""
    m = np.r_[False, np.asarray(mask, dtype=bool), False]
    edges = np.flatnonzero(np.diff(m.astype(int)))
    return list(zip(edges[::2], edges[1::2] - 1))


def range_strip(ax, labels, lrs, ok, best=None, names=("bowl", "valley")):
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
    for j, (name, s) in enumerate(zip(names, PAIR_STYLES)):
        ax.plot([], [], color=s["color"], lw=9, alpha=0.55 if j == 0 else 1.0, label=name)
    ax.set_xscale("log")
    ax.set_xlim(lrs[0] / half, lrs[-1] * half)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.tick_params(axis="y", length=0)
    return ax

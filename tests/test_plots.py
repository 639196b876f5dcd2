"""The drawing rules of the deck (issue 12): colours everyone can tell apart, the compared thing on top,
labels on the data, time on the stills, a counter clear of the titles, one typeface, the family map."""
import itertools

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import optimizers as O  # noqa: E402
import plots as P  # noqa: E402

V, Q = O.SURFACES["valley"], O.SURFACES["quadratic"]


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_colour_distance_matches_published_values():
    # CAM02-UCS of sRGB white and black (Luo, Cui & Li 2006 with colorspacious' default viewing
    # conditions): J' = 100 and 0, so their distance is 100; the review measured AdaGrad (#CC79A7) and
    # AMSGrad (#44AA99) of the old palette 3.6 apart under deuteranomaly at severity 100.
    d = P.colour_distances(["#ffffff", "#000000"])
    assert d["normal"][0, 1] == pytest.approx(100.0, abs=0.5)
    old = P.colour_distances(["#CC79A7", "#44AA99"])
    assert old["deuteranomaly"][0, 1] == pytest.approx(3.6, abs=0.05)
    assert old["normal"][0, 1] > P.MIN_DELTA_E["normal"]  # fine with normal vision, not for everyone


def test_every_pair_of_method_colours_is_distinguishable_for_everyone():
    colors = [s["color"] for s in P.STYLE.values()]
    P.check_colours(colors, "STYLE")  # raises naming the pair otherwise
    assert not any(P.is_grey(c) for c in colors), "grey means a reference, never a method"
    with pytest.raises(ValueError, match=r"AdaGrad|#CC79A7"):
        P.check_colours(["#CC79A7", "#44AA99"])


def _lines(colors):
    fig, ax = plt.subplots()
    P.contour(Q, ax)
    x = np.arange(10)
    for i, c in enumerate(colors):
        ax.plot(x, x * (i + 1), color=c)
    ax.plot(x, x, color=P.REFERENCE)  # grey: a reference, not a series
    return fig


def test_figure_colours_are_the_series_only():
    fig = _lines([P.STYLE["gd"]["color"], P.STYLE["adam"]["color"]])
    assert P.figure_colours(fig) == [P.STYLE["gd"]["color"].lower(), P.STYLE["adam"]["color"].lower()]
    P.check_figure_colours(fig)


def test_figure_colour_check_names_the_close_pair():
    fig = _lines([P.STYLE["gd"]["color"], "#0a77b8"])
    with pytest.raises(ValueError, match=r"GD \(#0072B2\) and #0A77B8 .* normal vision"):
        P.check_figure_colours(fig)


def test_more_than_five_series_in_colour_is_refused():
    six = [P.STYLE[n]["color"] for n in ("gd", "sgd", "minibatch", "momentum", "nesterov", "adam")]
    P.check_figure_colours(_lines(six[:5]))
    with pytest.raises(ValueError, match="6 series colours, at most 5"):
        P.check_figure_colours(_lines(six))
    tracks = [P.Track(O.run(O.demo(n), V, steps=20).path, n) for n in ("gd", "momentum", "nesterov", "adagrad",
                                                                       "rmsprop", "adam")]
    with pytest.raises(ValueError, match="small multiples"):
        P.animate([P.PathPanel(V, tracks)])
    P.animate([P.PathPanel(V, tracks[:5])])


def _compare(**series_kw):
    gd = O.run(O.demo("gd"), V, steps=60)
    adam = O.run(O.demo("adam"), V, steps=60)
    return P.animate([P.PathPanel(V, [P.Track(gd.path, "gd", reference=True), P.Track(adam.path, "adam")]),
                      P.SeriesPanel({"GD": (gd.loss, P.REFERENCE), "Adam": (adam.loss, "adam")}, **series_kw)],
                     size=(12.8, 5.6))


def _drawn_lines(ax):
    return {l.get_label(): l for l in ax.lines if not l.get_label().startswith("_")}


def test_reference_is_thin_grey_and_underneath():
    anim = _compare()
    path_ax, series_ax = anim.fig.axes
    for ax in (path_ax, series_ax):
        lines = _drawn_lines(ax)
        ref, method = lines["GD"], lines["Adam"]
        assert P.is_grey(ref.get_color()) and not P.is_grey(method.get_color())
        assert ref.get_zorder() < method.get_zorder() and ref.get_linewidth() < method.get_linewidth()
    # Without the flag or a grey colour, both are drawn alike: the check above can fail.
    gd = O.run(O.demo("gd"), V, steps=10).loss
    a = P.animate([P.SeriesPanel({"GD": (gd, "gd"), "Adam": (gd * 2, "adam")})], n_steps=10)
    lines = _drawn_lines(a.fig.axes[0])
    assert lines["GD"].get_zorder() == lines["Adam"].get_zorder()


def test_baseline_method_is_a_dashed_dark_grey_reference_beside_gd():
    """Adam under AMSGrad: a second reference, thin and underneath like GD, told apart by dashes."""
    gd, adam, ams = (O.run(O.demo(n), V, steps=20) for n in ("gd", "adam", "amsgrad"))
    anim = P.animate([P.PathPanel(V, [P.Track(gd.path, "gd", reference=True),
                                      P.Track(adam.path, "adam", color=P.BASELINE["color"], linestyle=P.BASELINE["ls"]),
                                      P.Track(ams.path, "amsgrad")]),
                      P.SeriesPanel({"GD": (gd.loss, P.REFERENCE), "Adam": (adam.loss, *P.BASELINE.values()),
                                     "AMSGrad": (ams.loss, "amsgrad")})], n_steps=20, size=(12.8, 5.6))
    for ax in anim.fig.axes:
        lines = _drawn_lines(ax)
        base, ref, method = lines["Adam"], lines["GD"], lines["AMSGrad"]
        assert P.is_grey(base.get_color()) and base.get_linestyle() == "--" and ref.get_linestyle() == "-"
        assert base.get_zorder() < method.get_zorder() and base.get_linewidth() < method.get_linewidth()
    assert P.figure_colours(anim.fig) == [P.STYLE["amsgrad"]["color"].lower()]


def test_direct_labels_instead_of_a_legend():
    anim = _compare()
    anim.fig.canvas.draw()
    path_ax, series_ax = anim.fig.axes
    assert path_ax.get_legend() is None and series_ax.get_legend() is None
    # named once, at the ends of the loss curves (the paths' colours are the same: no names at their start)
    assert [t.get_text() for t in path_ax.texts if t.get_text() in ("GD", "Adam")] == []
    texts = [t for t in series_ax.texts if t.get_text() in ("GD", "Adam")]
    assert sorted(t.get_text() for t in texts) == ["Adam", "GD"]
    colors = {t.get_text(): matplotlib.colors.to_hex(t.get_color()) for t in texts}
    assert colors["Adam"] == P.STYLE["adam"]["color"].lower()
    boxes = [t.get_window_extent() for t in texts]
    assert not boxes[0].overlaps(boxes[1])
    # The end labels sit right of the axes, beside the data, not over it.
    end = [t for t in series_ax.texts if t.get_text() == "Adam"][0]
    assert end.get_window_extent().x0 >= series_ax.get_window_extent().x1


def test_end_labels_are_spread_apart():
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(50)
    for name, off in (("gd", 0.0), ("adam", 0.01), ("momentum", 0.02)):  # three lines ending together
        ax.plot(x, 1 + off + 0 * x, color=P.STYLE[name]["color"], label=P.STYLE[name]["label"])
    texts = P.direct_labels(ax)
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in texts]
    assert len(boxes) == 3 and not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


def _three_lines(ax, names=("gd", "momentum", "adam")):
    x = np.arange(50)
    for k, name in enumerate(names):
        ax.plot(x, np.exp(-(k + 1) * x / 20), color=P.STYLE[name]["color"], label=P.STYLE[name]["label"])


def test_legend_check_passes_direct_labels_and_a_legend_of_many_lines():
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax in axes:
        _three_lines(ax)
        P.direct_labels(ax)
    P.check_figure_legends(fig, "clean")
    # Six lines are more than direct labels can place: direct_labels falls back to a legend, which passes.
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(10)
    for k in range(6):
        ax.plot(x, x * (k + 1), color=P.shades(6)[k], label=f"B = {2 ** k}")
    assert P.direct_labels(ax) == [] and len(ax.get_legend().get_texts()) == 6
    P.check_figure_legends(fig, "six")
    # Two kinds of marker (no line) in one legend: a key to the marks, not lines to label at their ends.
    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2], ls="none", marker="o", color="black", label="valley")
    ax.plot([1, 2], [2, 1], ls="none", marker="o", mfc="white", color="grey", label="bowl")
    ax.legend()
    P.check_figure_legends(fig, "markers")


def test_legend_check_refuses_a_single_entry():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], color=P.STYLE["gd"]["color"], label="GD")
    ax.legend()
    with pytest.raises(ValueError, match=r"one-entry: axes 0 .* single entry \('GD'\)"):
        P.check_figure_legends(fig, "one-entry")
    fig, ax = plt.subplots()
    ax.scatter([0, 1], [0, 1], color="black", label="starts")
    fig.legend()  # a figure legend counts too, and not only of lines
    with pytest.raises(ValueError, match="figure legend 0 has a legend with a single entry"):
        P.check_figure_legends(fig, "one-entry")


def test_legend_check_refuses_a_legend_of_few_lines():
    fig, ax = plt.subplots()
    _three_lines(ax)
    ax.legend()
    with pytest.raises(ValueError, match=r"three: axes 0 .* legend of 3 lines \(GD, Momentum, Adam\).*direct_labels"):
        P.check_figure_legends(fig, "three")
    fig, axes = plt.subplots(1, 2)  # the same, as a figure legend under two panels
    for ax in axes:
        _three_lines(ax)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center")
    with pytest.raises(ValueError, match="figure legend 0 has a legend of 3 lines"):
        P.check_figure_legends(fig, "three")


def test_legend_check_refuses_the_same_legend_on_two_panels():
    fig, axes = plt.subplots(1, 2)
    for ax in axes:
        ax.plot([1, 2], [1, 2], ls="none", marker="o", color="black", label="valley")
        ax.plot([1, 2], [2, 1], ls="none", marker="s", color="grey", label="bowl")
    axes[0].legend()
    P.check_figure_legends(fig, "twice")  # one panel's legend is fine
    axes[1].legend()
    with pytest.raises(ValueError, match=r"twice: axes 1 .* repeats the legend of axes 0 .*valley, bowl"):
        P.check_figure_legends(fig, "twice")


def test_figures_and_animations_are_checked_for_legends(tmp_path, monkeypatch):
    import present as S

    monkeypatch.setattr(S, "MEDIA", tmp_path)
    fig, ax = plt.subplots(figsize=(8, 4))
    _three_lines(ax)
    ax.legend()
    with pytest.raises(ValueError, match="legend of 3 lines"):
        S.figure(fig, "legend-of-lines", alt="Three lines.", width="100%")
    assert not (tmp_path / "legend-of-lines.png").exists()
    anim = _compare()
    anim.fig.axes[0].legend()  # two tracks in a boxed legend instead of labels at their starts
    with pytest.raises(ValueError, match="legend of 2 lines"):
        S.check_figure(anim.fig, "100%", "boxed")
    S.check_figure(_compare().fig, "100%", "labelled")


def test_still_marks_time_with_dots():
    assert [P.dot_every(n) for n in (10, 60, 100, 150, 300, 3000)] == [1, 5, 10, 20, 25, 250]
    anim = _compare()
    fig = anim.final_frame()
    path_ax = fig.axes[0]
    adam = _drawn_lines(path_ax)["Adam"]
    every = anim.dot_every
    assert every == 5 and adam.get_marker() == "o" and adam.get_markevery() == slice(every, None, every)
    assert len(adam.get_xdata()) == 61  # the whole path, so 12 dots
    notes = [t.get_text() for t in fig.texts]
    assert any("dots every 5 steps" in t for t in notes)
    off = P.animate([P.PathPanel(V, [P.Track(O.run(O.demo("gd"), V, steps=60).path, "gd")], time_dots=False)])
    assert off.dot_every == 0 and _drawn_lines(off.fig.axes[0])["GD"].get_marker() in ("None", "", None)


def test_step_counter_clears_every_title():
    anim = _compare(title="loss")
    anim.fig.axes[0].set_title("the valley")
    anim.update(60)
    anim.fig.canvas.draw()
    counter = anim.fig._suptitle
    assert counter.get_text().strip().endswith("60")
    box = counter.get_window_extent()
    for ax in anim.fig.axes:
        assert not box.overlaps(ax.title.get_window_extent())
        assert not box.overlaps(ax.get_window_extent())
    assert box.x1 > 0.9 * anim.fig.bbox.width  # in the top-right corner


def test_envelope_draws_a_band_for_an_oscillation():
    steps = 400
    wiggle = 10 + 50 * (np.arange(steps + 1) % 2)  # fills in as a block when drawn as a line
    anim = P.animate([P.SeriesPanel({"clipped": (wiggle, "gd")}, envelope=True)], n_steps=steps)
    artists = anim.update(steps)
    band = [a for a in artists if isinstance(a, matplotlib.collections.PolyCollection)]
    assert len(band) == 1
    y = band[0].get_paths()[0].vertices[:, 1]
    assert y.min() == pytest.approx(10) and y.max() == pytest.approx(60)
    plain = P.animate([P.SeriesPanel({"clipped": (wiggle, "gd")})], n_steps=steps)
    assert not [a for a in plain.update(steps) if isinstance(a, matplotlib.collections.PolyCollection)]


def test_one_typeface_for_text_and_math():
    from matplotlib import font_manager

    path = font_manager.findfont(font_manager.FontProperties(family=P.FONT_FAMILY))
    assert path.startswith(str(P.FONTS)) and path.endswith("SourceSansPro-Regular.ttf")
    assert (P.FONTS / "OFL.txt").exists()
    assert plt.rcParams["mathtext.fontset"] == "custom" and plt.rcParams["mathtext.rm"] == P.FONT_FAMILY
    fig, ax = plt.subplots()
    t = ax.set_title(r"$\eta = 0.1$ in the valley")
    assert font_manager.findfont(t.get_fontproperties()) == path


def test_family_map_highlights_the_current_methods():
    fig = P.family_map(("momentum", "nesterov"))
    boxes = {t.get_text(): t for t in fig.axes[0].texts}
    assert set(boxes) >= {s["label"] for s in P.STYLE.values()}
    on = {n: matplotlib.colors.to_hex(boxes[P.STYLE[n]["label"]].get_bbox_patch().get_facecolor()) for n in P.STYLE}
    assert on["momentum"] == P.STYLE["momentum"]["color"].lower() and on["nesterov"] == P.STYLE["nesterov"]["color"].lower()
    assert all(on[n] == "#ffffff" for n in P.STYLE if n not in ("momentum", "nesterov"))
    with pytest.raises(ValueError, match="highlight must name methods"):
        P.family_map(("momentun",))


@pytest.mark.parametrize("width", ["60%", "100%"])
def test_typical_figures_have_readable_text(width):
    import present as S

    anim = _compare(title="loss")
    S.check_figure_text(anim.fig, width, "compare")
    S.check_figure_text(P.family_map(("adam",)), width, "family")


def test_label_apart_names_each_line_beside_itself_clear_of_the_others():
    """Two paths from one start to one end (end labels would collide): each label sits next to its own
    line, inside the axes, over no point of the other line and not over the other label."""
    t = np.linspace(0, 1, 200)
    a = np.c_[t, np.sin(np.pi * t)]
    b = np.c_[t, -0.6 * np.sin(np.pi * t)]
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.plot(*a.T, color=P.STYLE["adam"]["color"])
    ax.plot(*b.T, color=P.REFERENCE)
    ax.set(xlim=(-0.1, 1.1), ylim=(-1, 1.3))
    texts = P.label_apart(ax, [(a, "upper", P.STYLE["adam"]["color"]), (b, "lower", P.REFERENCE)])
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in texts]
    frame = ax.get_window_extent()
    assert not boxes[0].overlaps(boxes[1])
    for box, own, other in ((boxes[0], a, b), (boxes[1], b, a)):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        pts = ax.transData.transform(other)
        assert not any(box.contains(x, y) for x, y in pts)
        mine = ax.transData.transform(own)
        near = np.hypot(np.clip(mine[:, 0], box.x0, box.x1) - mine[:, 0], np.clip(mine[:, 1], box.y0, box.y1) - mine[:, 1])
        assert near.min() < 30  # beside its own line, within a few points
    assert texts[0].get_text() == "upper" and texts[0].get_color() == P.STYLE["adam"]["color"]
    plt.close(fig)


def test_end_labels_stay_inside_the_axes_height():
    # two lines ending at the axis' floor: their labels are pushed up whole into the axes, none hangs
    # below it onto the x tick labels (a label used to be centred on the floor, its lower half below)
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(50)
    for name in ("gd", "adam"):
        ax.plot(x, np.full(50, 1e-20), color=P.STYLE[name]["color"], label=P.STYLE[name]["label"])
    ax.set_yscale("log")
    ax.set_ylim(1e-12, 1e2)
    texts = P.direct_labels(ax)
    fig.canvas.draw()
    frame = ax.get_window_extent()
    assert all(t.get_window_extent().y0 >= frame.y0 - 0.5 for t in texts)
    plt.close(fig)


def _start_label_texts(anim):
    """The names written on the first panel (the paths'), once drawn."""
    anim.draw_background()
    return sorted(t.get_text() for t in anim.fig.axes[0].texts if t.get_text().strip())


def test_paths_are_named_at_their_start_unless_their_loss_curves_name_them():
    Q = O.SURFACES["quadratic"]
    runs = {n: O.run(O.demo(n), Q, steps=40) for n in ("gd", "momentum")}
    tracks = [P.Track(runs["gd"].path, "gd", reference=True), P.Track(runs["momentum"].path, "momentum")]
    alone = P.animate([P.PathPanel(Q, tracks)])
    assert _start_label_texts(alone) == sorted(P.STYLE[n]["label"] for n in runs)
    # the same colours named at the ends of the loss curves: a second name at the start would only repeat
    # them (and a stack of names over a start near the top ran into the panel's title)
    losses = P.SeriesPanel({P.STYLE[n]["label"]: (r.loss, P.REFERENCE if n == "gd" else n) for n, r in runs.items()})
    both = P.animate([P.PathPanel(Q, tracks), losses])
    assert _start_label_texts(both) == []
    # curves hidden from the labels ("_" names, grey context as in the race) do not count: the two named
    # ones are still named at their ends, so not at the start either
    context = {f"_{k}": (runs["gd"].loss * (k + 2), P.REFERENCE) for k in range(P.MAX_SERIES)}
    hidden = P.animate([P.PathPanel(Q, tracks), P.SeriesPanel({**context, **losses.series})])
    assert _start_label_texts(hidden) == []
    # a track labelled "" is named nowhere; the others still are
    unnamed = P.animate([P.PathPanel(Q, [P.Track(runs["gd"].path, "gd", label="", reference=True), tracks[1]])])
    assert _start_label_texts(unnamed) == [P.STYLE["momentum"]["label"]]
    for a in (alone, both, hidden, unnamed):
        a.close()


def test_a_missing_value_is_written_on_its_own_row():
    # the upper row's number sits near the right edge, where the lower row's "not within" text goes: that
    # text stays on its row, before its arrow (it used to sit above its arrow, on the upper row's number)
    import present as S

    fig, ax = plt.subplots(figsize=(8, 4.5))
    P.paired_dots(ax, list("abcdefgh"), [[10, 290], [10, np.nan]] + [[10, 20]] * 6, missing="not within 3,000")
    assert S.text_overlaps(fig) == []
    plt.close(fig)


def _crossing_labels():
    """The deck's clipping slide in small: two runs from one start on Rosenbrock's banana, one diverging
    (its note appears), one zig-zagging across its start, its dot and both names; the minimum's star; the
    loss below, its curve along the axes' edges."""
    f = O.SURFACES["rosenbrock"]
    wild = O.run(O.gd(0.003), f, steps=120)
    tame = O.run(O.clipped(O.gd(0.003), 100.0), f, steps=120)
    tracks = [P.Track(wild.path, "gd", label="GD, not clipped", reference=True, diverged_at=int(wild.diverged_at)),
              P.Track(tame.path, "gd", label="GD, clipped")]
    return P.animate([P.PathPanel(f, tracks), P.SeriesPanel({"clipped": (tame.loss, "gd")})], size=(12.8, 5.6))


def _differs_from_full_draws(anim, steps) -> dict:
    """For each of ``steps``: how many pixels of its blitted frame differ from a full draw of the figure
    at that step (every artist drawn in matplotlib's order)."""
    frames = {}
    for step, frame in zip(anim.frame_steps, anim.frames()):
        if int(step) in steps:
            frames[int(step)] = frame.copy()
    differ = {}
    for step in steps:
        for a in anim.update(step):
            a.set_animated(False)
        anim.fig.canvas.draw()
        differ[step] = int(np.any(np.asarray(anim.fig.canvas.buffer_rgba()) != frames[step], axis=-1).sum())
    return differ


def test_each_frame_is_the_full_draw_of_its_step(monkeypatch):
    anim = _crossing_labels()
    notes = [a.get_text() for a in anim.update(120) if hasattr(a, "get_text")]
    assert any(n.startswith("diverged at step") for n in notes), f"the fixture should show the note: {notes}"
    steps = [0, 3, 40, 120]
    assert _differs_from_full_draws(anim, steps) == dict.fromkeys(steps, 0)
    # The defect: blitting the moving paths over a background that holds everything else paints them over
    # the start dots, the names, the star and the loss panel's spines, which a full draw paints over them.
    monkeypatch.setattr(P.Animation, "_over_moving", lambda self, moving: [])
    differ = _differs_from_full_draws(_crossing_labels(), steps)
    assert all(n > 50 for n in differ.values()), differ

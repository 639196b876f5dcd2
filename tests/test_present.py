"""The plotting and presentation modules: what they put on a slide must come from the code."""
import ast
from pathlib import Path
import functools
import inspect
import os
import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import optimizers as O  # noqa: E402
import plots as P  # noqa: E402
import present as S  # noqa: E402


@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_rule_is_the_docstring_block(name):
    fn = O.OPTIMIZERS[name]
    latex = S.rule(fn)
    assert latex.startswith("$$") and latex.endswith("$$")
    assert latex in inspect.cleandoc(fn.__doc__) or latex.replace("\n", "\n    ") in fn.__doc__
    assert r"\eta" in latex and "x_t" in latex


@pytest.mark.parametrize("name", list(O.OPTIMIZERS))
def test_code_is_the_update_function_that_runs(name):
    fn = O.OPTIMIZERS[name]
    src = S.update_source(fn)
    assert src.startswith("def update(g, state, x):")
    ast.parse(src)
    factory = fn.func if isinstance(fn, functools.partial) else fn
    assert src.splitlines()[1].strip() in inspect.getsource(factory)
    block = S.code(fn, highlight="2|3")
    fence = block.strip().split("```{.python", 1)
    assert len(fence) == 2 and fence[1].split("\n", 1)[0].endswith(' code-line-numbers="2|3"}')
    assert block.strip().endswith(f"{src}\n```")


def _walked(x):
    y = x + 1
    z = y * 2
    return z


def _walked_with_a_comment(x):
    # a line more above the step: every number below it moves
    y = x + 1
    z = y * 2
    return z


def test_highlights_and_notes_name_lines_by_what_they_hold_and_follow_the_code():
    for fn, spec, ref in ((_walked, "2|3-4", "lines 3 and 4"), (_walked_with_a_comment, "3|4-5", "lines 4 and 5")):
        block = S.code(fn, highlight=[r"^y = ", r"^z = |^return"])
        assert f'code-line-numbers="{spec}"' in block
        assert S.line_ref(fn, r"^z = |^return") == ref
    assert S.code_lines(_walked, r"^(y|z) = |^return") == [2, 3, 4]
    assert S.line_ref(_walked, r"^y = ") == "line 2"
    assert S.line_ref(_walked, r"^(y|z) = |^return") == "lines 2 to 4"
    assert S.line_ref(_walked, r"^def |^z = ") == "lines 1 and 3"
    assert 'code-line-numbers="1,3"' in S.code(_walked, highlight=[r"^def |^z = "])
    assert S.code_lines(O.amsgrad, r"^v_max = ") == [7]  # the update function of a factory, as the slide shows it
    with pytest.raises(ValueError, match="no line of the code shown for _walked matches 'w = '"):
        S.code_lines(_walked, "w = ")


def test_code_of_a_plain_function_drops_the_docstring():
    src = S.function_source(O.LeastSquares.batch_grad)
    assert src.startswith("def batch_grad(") and '"""' not in src and "$$" not in src
    ast.parse(src)


def test_rule_without_a_block_is_an_error():
    with pytest.raises(ValueError, match="no \\$\\$"):
        S.rule(O.run)


@pytest.mark.parametrize("x, text", [(0.476, "0.476"), (1.0, "1"), (0.0, "0"), (-0.0, "0"), (3200.0, "3,200"),
                                     (12.5, "12.5"), (2.19e-8, r"$2.19 \times 10^{-8}$"),
                                     (1e-6, r"$1.00 \times 10^{-6}$"), (-2.24, "\u22122.24"),
                                     (-3200.0, "\u22123,200")])
def test_number(x, text):
    assert S.number(x) == text


def test_explorer_shows_each_final_loss_as_typeset_text():
    data, backgrounds = S.explorer_data({"bowl": (O.SURFACES["quadratic"], "bowl")}, ["gd"], [0.1, 0.4, 0.5],
                                        betas=[0.0], steps=60)
    for fig in backgrounds.values():
        matplotlib.pyplot.close(fig)
    shown = [r["f"] for r in data["surfaces"]["bowl"]["methods"]["gd"]["runs"][0]]
    # the losses after 60 steps are 5.87e-11, 3.32e-83 and 0 (lr 0.5 lands on the minimum in one step)
    assert shown == ["5.9 × 10⁻¹¹", "3.3 × 10⁻⁸³", "0"]  # as the slides write numbers, not "5.9e-11"


def test_animation_reveals_only_the_path_so_far():
    f = O.SURFACES["quadratic"]
    tr = O.run(O.gd(0.1), f, steps=30)
    bad = O.run(O.gd(1.1), f, steps=60)
    anim = P.animate([P.PathPanel(f, [P.Track(tr.path, "gd"), P.Track(bad.path, "momentum", diverged_at=int(bad.diverged_at))]),
                      P.SeriesPanel({"loss": (tr.loss, "gd")})], max_frames=20)
    assert anim.frame_steps[0] == 0 and anim.frame_steps[-1] == 60 and len(anim.frame_steps) <= 20 + 12
    artists = anim.update(10)
    lines = [a for a in artists if isinstance(a, matplotlib.lines.Line2D)]
    good_line = lines[0]
    assert len(good_line.get_xdata()) == 11
    np.testing.assert_array_equal(good_line.get_xdata(), tr.path[:11, 0])
    later = anim.update(59)
    texts = [a.get_text() for a in later if isinstance(a, matplotlib.text.Text)]
    assert f"diverged at step {bad.diverged_at}" in texts
    assert any(t.strip().endswith("59") for t in texts)  # the iteration counter
    frames = [f.copy() for f in anim.frames()]
    assert len(frames) == len(anim.frame_steps)
    h, w, c = frames[0].shape
    assert c == 4 and (w, h) == anim.fig.canvas.get_width_height(physical=True)
    assert not np.array_equal(frames[0], frames[-1])
    matplotlib.pyplot.close(anim.fig)


def test_a_video_is_laid_out_once_and_drawn_whole_twice(tmp_path, monkeypatch):
    # the background (which the checks read) and the still; the frames only blit onto the background
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    monkeypatch.setenv("OPTIMIZERS_CACHE_DIR", str(tmp_path / "cache"))
    f = O.SURFACES["valley"]
    anim = P.animate([P.PathPanel(f, [P.Track(O.run(O.demo("adam"), f, steps=40).path, "adam")])], max_frames=41)
    anim.fig.set_layout_engine("constrained")
    counts = {"draw": 0, "layout": 0}
    draw, execute = FigureCanvasAgg.draw, ConstrainedLayoutEngine.execute

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(FigureCanvasAgg, "draw", counted("draw", draw))
    monkeypatch.setattr(ConstrainedLayoutEngine, "execute", counted("layout", execute))
    S._build_video(anim, "k" * 64, "unit", "100%", tmp_path / "unit.mp4", tmp_path / "unit.png")
    assert counts == {"draw": 2, "layout": 1}


def test_video_writes_mp4_and_still_and_returns_raw_html(tmp_path, monkeypatch):
    import imageio_ffmpeg

    monkeypatch.setattr(S, "MEDIA", tmp_path)
    monkeypatch.setenv("OPTIMIZERS_CACHE_DIR", str(tmp_path / "cache"))  # not the project's build cache
    f = O.SURFACES["valley"]
    tr = O.run(O.demo("adam"), f, steps=40)
    html = S.video(P.animate([P.PathPanel(f, [P.Track(tr.path, "adam")])], max_frames=41), "unit",
                   alt='Adam in the valley, "quoted"')
    assert (tmp_path / "unit.mp4").stat().st_size > 1000 and (tmp_path / "unit.png").exists()
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "unit.mp4"))
    assert frames == 41 + 12
    assert html.strip().startswith("```{=html}") and html.strip().endswith("```")
    assert re.search(r"<video [^>]*data-autoplay[^>]*muted[^>]*controls", html)
    assert '<source src="media/unit.mp4" type="video/mp4">' in html
    assert 'alt="Adam in the valley, &quot;quoted&quot;"' in html


@pytest.mark.skipif(not hasattr(os, "fork"), reason="background builds fork; this platform does not")
def test_a_forked_build_draws_math_with_fonts_of_its_own():
    # The kernel lays out a formula (a label spread apart, a check), then forks a build that draws it. The
    # fonts of the kernel's parse read their files through descriptors whose offsets the kernel and every
    # child share, so the child must parse the formula again with fonts of its own (present's at-fork hook).
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties

    fig = plt.figure()
    parser = fig.canvas.get_renderer().mathtext_parser
    prop = FontProperties(size=20)
    kernel = parser.parse(r"$\eta\,10^{-6}$", 100, prop)  # kept alive, so no later object takes its fonts' ids
    kernel_fonts = {id(glyph[0]) for glyph in kernel.glyphs}
    plt.close(fig)
    assert kernel_fonts
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether its glyphs come from the kernel's fonts
        try:
            shared = any(id(glyph[0]) in kernel_fonts for glyph in parser.parse(r"$\eta\,10^{-6}$", 100, prop).glyphs)
            os.write(write, b"shared" if shared else b"own")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"own"


def test_figures_script_makes_its_images(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "figures" / "make_figures.py"), "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    from PIL import Image

    with Image.open(tmp_path / "overview.png") as im:
        assert im.size[0] >= 1200
    committed = root / "figures" / "overview.png"
    assert committed.exists(), "figures/overview.png (used by the README) is missing: run figures/make_figures.py"


# ------------------------------------------------------------------------------------------------
# figures readable from the back row
# ------------------------------------------------------------------------------------------------

def _figure_with_text(size_pt, width_in=8.0):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width_in, width_in / 2))
    ax.plot([0, 1], [0, 1])
    ax.set_title("a title", fontsize=size_pt)
    ax.tick_params(labelsize=size_pt)
    ax.set_xlabel("x", fontsize=size_pt)
    ax.set_ylabel("y", fontsize=size_pt)
    return fig


def test_figure_text_is_measured_on_screen_from_size_dpi_and_share():
    # 12 pt on a 7.6-inch figure shown across half the slide, which a 1920x1080 screen shows 1824 px wide:
    # 12 / 72 * 1824 * 0.5 / 7.6 = 20 px, whatever the dpi
    for dpi in (72, 150):
        fig = _figure_with_text(12, width_in=7.6)
        fig.set_dpi(dpi)
        sizes = {round(px, 6) for px, _ in S.figure_text_px(fig, "50%")}
        assert sizes == {20.0}
        S.check_figure_text(fig, "50%", "ok")  # exactly at the limit passes
        with pytest.raises(ValueError, match=r"11 below it: '0.0' at 16\.0 px"):
            S.check_figure_text(fig, "40%", "small")


def test_figure_refuses_unreadable_text_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "MEDIA", tmp_path)
    with pytest.raises(ValueError, match="small-fig: figure text must show at >= 20 px"):
        S.figure(_figure_with_text(8), "small-fig", alt="A figure with small text.", width="60%")
    assert not (tmp_path / "small-fig.png").exists()
    html = S.figure(_figure_with_text(16), "big-fig", alt='A "quoted" figure.', width="60%")
    assert (tmp_path / "big-fig.png").exists()
    assert 'style="width:960px;max-width:100%"' in html and 'alt="A &quot;quoted&quot; figure."' in html


@pytest.mark.parametrize("width", ["0%", "120%", "50", "half"])
def test_figure_width_must_be_a_share_of_the_slide(width):
    with pytest.raises(ValueError, match="width must be a percentage"):
        S.figure_text_px(_figure_with_text(16), width)


def test_notes_are_a_notes_block():
    assert S.notes("  It took 3 steps.\n") == "\n::: {.notes}\nIt took 3 steps.\n:::\n"


def test_figure_refuses_colours_that_not_everyone_can_tell_apart(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setattr(S, "MEDIA", tmp_path)
    fig = _figure_with_text(16)
    fig.axes[0].plot([0, 1], [1, 0], color="#0A77B8")  # beside matplotlib's default blue #1f77b4: too close
    with pytest.raises(ValueError, match="close-colours"):
        S.figure(fig, "close-colours", alt="Two lines in nearly the same blue.", width="60%")
    assert not (tmp_path / "close-colours.png").exists()
    plt.close("all")


# ------------------------------------------------------------------------------------------------
# code lines coloured like the terms of the rule they compute
# ------------------------------------------------------------------------------------------------

def _contrast(colour, background="#ffffff"):
    def luminance(c):
        rgb = np.array(matplotlib.colors.to_rgb(c))
        rgb = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
        return rgb @ [0.2126, 0.7152, 0.0722]
    hi, lo = sorted([luminance(colour), luminance(background)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_every_method_with_a_multi_row_rule_has_its_terms_coloured():
    for name, fn in O.OPTIMIZERS.items():
        rows = S.rule_terms(fn)
        found = S.terms(fn)
        if len(rows) < 2:
            assert found == [] and name == "gd"
            continue
        assert found, name
        assert [row for _, _, row, _ in found] == sorted(row for _, _, row, _ in found), name  # top to bottom
        assert found[-1][0] == "x_t" and found[-1][1] == S.STEP_COLOUR
        colours = [c for _, c, _, _ in found]
        assert len(set(colours)) == len(colours), name
        lines = S.update_source(fn).splitlines()
        assert all(1 <= k <= len(lines) for _, _, _, ks in found for k in ks)


def test_term_colours_are_readable_and_distinguishable():
    colours = [*S.TERM_COLOURS, S.STEP_COLOUR]
    P.check_colours(colours, "term colours")  # CAM02-UCS, with simulated deuteranomaly and protanomaly
    assert min(_contrast(c) for c in colours) >= 4.5 and min(_contrast(c, "#f1f3f5") for c in colours) >= 4.5
    method_colours = {st["color"].upper() for st in P.STYLE.values()}
    assert not method_colours & {c.upper() for c in colours}  # method colours mean methods


def test_adam_code_lines_and_rule_rows_share_their_colours():
    block = S.code(O.adam, highlight="4-6|8-9|10")
    lines = S.update_source(O.adam).splitlines()
    assert '```{.python .terms-adam code-line-numbers="4-6|8-9|10"}' in block
    style = block.split("<style>", 1)[1].split("</style>", 1)[0]
    expected = {"m = beta1": ("#B2182B", 1), "v = beta2": ("#00695C", 2), "m_hat = ": ("#4A148C", 3),
                "v_hat = ": ("#4A148C", 3), "delta = -lr": ("#1F5FA8", 4)}
    for start, (colour, row) in expected.items():
        k = next(i + 1 for i, line in enumerate(lines) if line.strip().startswith(start))
        assert f".reveal pre.terms-adam > code > span:nth-child({k}) {{ color: {colour}; }}" in style
        assert (f'.reveal section.slide:has(pre.terms-adam) math[display="block"] mtable > mtr:nth-child({row}) '
                f"> mtd:first-child {{ color: {colour}; }}") in style
    coloured = {int(k) for k in re.findall(r"span:nth-child\((\d+)\) \{", style)}
    assert coloured == {5, 6, 8, 9, 10}  # the L2 line, t, v_max (AMSGrad's) and the state stay as they are
    assert S.rule_terms(O.adam) == ["m_t", "v_t", r"\hat m_t", "x_t"]


def test_momentum_and_nesterov_colour_their_own_step_in_the_shared_code():
    step = lambda fn: next(ks for t, _, _, ks in S.terms(fn) if t == "x_t")
    lines = S.update_source(O.momentum).splitlines()
    assert lines[step(O.momentum)[0] - 1].strip().startswith("return -lr * b,")
    assert lines[step(O.nesterov)[0] - 1].strip().startswith("return -lr * (g + mu * b)")
    assert ".terms-nesterov" in S.code(O.nesterov) and ".terms-momentum" in S.code(O.momentum)


def test_code_without_terms_is_a_plain_block():
    assert "<style>" not in S.code(O.gd) and "<style>" not in S.code(O.LeastSquares.batch_grad)
    assert S.code(O.gd).strip().startswith("```{.python}")


def test_a_terms_table_that_drifted_from_the_module_is_an_error(monkeypatch):
    monkeypatch.setitem(S.TERMS, "rmsprop", [("w_t", r"v = "), ("x_t", r"return -lr \\* g")])
    with pytest.raises(ValueError, match="'w_t' is not the term of a row"):
        S.code(O.rmsprop)
    monkeypatch.setitem(S.TERMS, "rmsprop", [("v_t", r"v_avg = "), ("x_t", r"return -lr \\* g")])
    with pytest.raises(ValueError, match="no line of the update function matches"):
        S.code(O.rmsprop)


def test_spoken_turns_a_simple_formula_into_text_and_refuses_the_rest():
    assert S.spoken(r"0.1\,x^2 + 2\,y^2") == "0.1x² + 2y²"
    assert S.spoken(r"x^{-1} \cdot \eta") == "x⁻¹ · η"
    with pytest.raises(ValueError, match="simple formula"):
        S.spoken(r"\frac{1}{2} x^2")


def test_alt_texts_carry_no_tex(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "MEDIA", tmp_path)
    html = S.figure(_figure_with_text(16), "small-number", alt=f"The loss ends at {S.number(2.2e-14)}.", width="60%")
    assert 'alt="The loss ends at 2.20 × 10⁻¹⁴."' in html


def test_the_overlap_check_finds_a_label_on_a_title_and_nothing_in_a_clean_figure():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([-5, 5], [-5, 5])
    ax.set(title="a title", xlabel="x", ylabel="y", xlim=(-5, 5), ylim=(-5, 5), xticks=[-5, 0, 5, 7], yticks=[-5, 0, 5])
    ax.set_xlim(-5, 5)
    # where matplotlib keeps the label of the tick at 7, beyond the view and not drawn: it does not count
    ax.text(1.2, -0.02, "beside", transform=ax.transAxes, ha="center", va="top")
    S.check_figure_overlaps(fig, "clean")  # nor do the x and y tick labels -5 meeting at the corner
    # the valley's contours in a small panel, as in the race: its x tick label -10 and y tick label -2.5 meet
    # at the corner, by matplotlib's design, and do not count either
    small, corner = plt.subplots(figsize=(4, 2))
    P.contour(O.SURFACES["valley"], corner)
    S.check_figure_overlaps(small, "clean")
    plt.close(small)
    ax.text(0.5, 1.0, "a label on the title", transform=ax.transAxes, ha="center", va="bottom")
    with pytest.raises(ValueError, match="cover each other: 'a label on the title' on 'a title'"):
        S.check_figure_overlaps(fig, "defect")
    with pytest.raises(ValueError, match="cover each other"):  # every figure and video passes it
        S.check_figure(fig, "100%", "defect")
    plt.close(fig)


def test_the_line_check_finds_a_line_or_its_markers_through_a_bare_label_and_passes_one_on_a_halo():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot([0, 10], [0, 10], label="rising")
    ax.plot([0, 10], [9, 9], "o", ls="none", label="dots")
    ax.plot([0, 14], [5, 5], label="level")  # it runs on past the axes' right edge, where it is clipped
    ax.set(title="a title", xlabel="x", ylabel="y", xlim=(0, 10), ylim=(0, 10))
    ax.text(6.5, 3, "apart from both")  # no line near it
    ax.text(9, 9.8, "above the dots", va="bottom")  # the markers pass below its letters
    ax.text(5, 5, "on a halo", ha="center", va="center", path_effects=P.HALO)
    ax.text(5, 2, "in a box", ha="center", va="center", bbox=dict(fc="white", ec="none"))
    ax.text(1.02, 0.5, "beside the axes", transform=ax.transAxes, va="center")  # where "level" is not drawn
    S.check_figure_text_on_lines(fig, "clean")
    bare = ax.text(5, 5.5, "on the line", ha="center", va="center")
    with pytest.raises(ValueError, match="'rising' through 'on the line'"):
        S.check_figure_text_on_lines(fig, "defect")
    bare.remove()
    ax.text(5, 9, "on the dots", ha="center", va="center")  # the marker at x = 5 is not a line's point:
    ax.plot([5], [9], "s", label="a dot")  # a marker inside its box counts
    with pytest.raises(ValueError, match="'a dot' through 'on the dots'"):
        S.check_figure(fig, "100%", "defect")  # every figure and video passes it
    plt.close(fig)
    # a scatter's dots, by the size they are drawn at: their centres below the letters, their discs not
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.set(xlim=(0, 10), ylim=(0, 10))
    ax.scatter([2, 4, 6], [5, 5, 5], s=20, label="small dots")
    ax.text(4, 5.6, "over small dots", ha="center", va="bottom")
    S.check_figure_text_on_lines(fig, "clean")
    ax.scatter([4], [5], s=2000, label="a big dot")
    with pytest.raises(ValueError, match="'a big dot' through 'over small dots'"):
        S.check_figure_text_on_lines(fig, "defect")
    plt.close(fig)


def _shaded_surface_with_star():
    """Rosenbrock's contours as the deck shades them (``plots.contour``): many blues, and the minimum's gold
    star, a colour few pixels have."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.6, 4.8), dpi=100)
    P.contour(O.rosenbrock(), ax)
    fig.canvas.draw()
    return fig


def test_save_png_keeps_a_colour_few_pixels_have(tmp_path, monkeypatch):
    from PIL import Image

    fig = _shaded_surface_with_star()
    drawn = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    gold = np.all(drawn == (255, 212, 0), axis=-1)
    assert 0 < gold.sum() < 0.002 * gold.size, "the fixture's star should be a few gold pixels"
    S.save_png(fig, tmp_path / "star.png", drawn=True)
    with Image.open(tmp_path / "star.png") as png:
        assert png.mode == "P" and len(png.getcolors()) <= 256
        saved = np.asarray(png.convert("RGB")).astype(int)
    assert np.abs(saved - drawn).max() <= S.MAX_PALETTE_ERROR
    assert np.all(saved[gold] == (255, 212, 0)), "the star is still gold"
    # The defect the check is for: median cut, which the deck used, turns the star khaki.
    monkeypatch.setattr(S, "QUANTIZE", "MEDIANCUT")
    with pytest.raises(ValueError, match=r"star\.png: in 256 colours a pixel would change by \d+ of 255"):
        S.save_png(fig, tmp_path / "star.png", drawn=True)
    P.plt.close(fig)


def test_a_claim_its_evidence_contradicts_fails_the_cell():
    S.check_claim(3 < 5, "Faster than Adam", "steps 3 against 5")
    with pytest.raises(ValueError, match=r"the slide says 'Faster than Adam', but its evidence does not hold: steps 5 against 3"):
        S.check_claim(5 < 3, "Faster than Adam", "steps 5 against 3")


def test_tex_number_writes_small_powers_of_ten_as_powers():
    assert [S.tex_number(x) for x in (1e-8, 1e-10, 1e-6, 1e-2, 0.001, 0.999, 1.0, 0.004, 2.5e-4)] == \
        ["10^{-8}", "10^{-10}", "10^{-6}", "0.01", "0.001", "0.999", "1", "0.004", "0.00025"]

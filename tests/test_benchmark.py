"""The benchmark's fallback where Quarto is absent: the render mode times the cells through the kernel."""
import benchmark as B
import deck as D


def test_figure_options_read_the_format_in_either_form(tmp_path):
    # `format: revealjs` (a string, as the benchmark's floor deck writes it) gives Quarto's defaults; a
    # mapping gives its options
    plain = tmp_path / "plain.qmd"
    plain.write_text("---\ntitle: t\nformat: revealjs\n---\n\n## One\n")
    assert D.figure_options(plain) == {"fig-width": 10, "fig-height": 5, "fig-dpi": 96, "fig-format": "png"}
    mapped = tmp_path / "mapped.qmd"
    mapped.write_text("---\ntitle: t\nformat:\n  revealjs:\n    fig-dpi: 150\n---\n\n## One\n")
    assert D.figure_options(mapped)["fig-dpi"] == 150


def test_the_render_benchmark_times_the_floor_deck_through_the_kernel(tmp_path):
    # what `benchmark.py render` does for Quarto's floor where Quarto is not installed
    floor = tmp_path / "floor.qmd"
    floor.write_text(B.FLOOR_DECK)
    times = B.cell_times(floor, B.ROOT)
    assert len(times) == 1 and times[0][0] > 0, times

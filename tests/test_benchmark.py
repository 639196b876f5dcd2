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


def test_the_render_benchmark_reads_the_phases_of_a_render_from_quartos_progress():
    # Quarto's output as a cold render prints it (bold set with terminal escapes), with when each line came
    log = [(1.8, "prerender: slides/lecture.qmd: new, executed again\n"), (6.0, "Executing 'lecture.quarto_ipynb'\n"),
           (6.3, "  Cell 1/3: 'setup'..........Done\n"), (30.0, "  Cell 2/3: 'plot'...........Done\n"),
           (50.0, "  Cell 3/3: 'last'...........Done\n"), (57.0, "\x1b[1mpandoc \x1b[22m\n"),
           (57.0, "  to: revealjs\n"), (70.0, "Output created: _site/slides/lecture.html\n")]
    marks = B.phases(log)
    assert marks == {"first cell": 6.3, "last cell": 50.0, "pandoc": 57.0}
    assert B.phase_report(marks, 70.0) == ("start to the first cell 6.3 s, cells 43.7 s, drawing jobs after the last "
                                           "cell 7.0 s, pandoc, HTML and PDFs 13.0 s")
    # a frozen render executes no cell: only what it did is named
    assert B.phases([(5.0, "\x1b[1mpandoc \x1b[22m\n")]) == {"pandoc": 5.0}
    assert B.phase_report({}, 5.0) == "Quarto printed none of its progress marks (5.0 s in all)"

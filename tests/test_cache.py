"""The build cache never serves a stale artefact and never rebuilds a fresh one (code/cache.py), the
pre-render step drops frozen results whose sources changed (code/prerender.py), and the PDF export is
skipped when what it prints is unchanged (code/export_pdf.py)."""
import hashlib
import inspect
import os
import shutil
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

import cache as C
import optimizers as O
import plots as P
import present as S

Q, V = O.SURFACES["quadratic"], O.SURFACES["valley"]


@pytest.fixture
def build(tmp_path, monkeypatch):
    """A fresh cache and media folder; ``build()`` makes a small deck-like sequence of artefacts, as the
    sections do (each method's animation with GD as reference, a race over both), and returns the names
    it encoded in this call (the others came from the cache)."""
    monkeypatch.setenv("OPTIMIZERS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(S, "MEDIA", tmp_path / "media")

    def run_deck():
        S.BUILT.clear()
        gd = O.run(O.demo("gd"), V, steps=40)
        for name in ("momentum", "adam"):
            tr = O.run(O.demo(name), V, steps=40)
            anim = P.animate([P.PathPanel(V, [P.Track(gd.path, "gd", reference=True), P.Track(tr.path, name)])],
                             size=(8, 4.48))
            S.video(anim, f"anim-{name}", f"{name} in the valley")
        race = {n: O.run(O.demo(n), Q, steps=30) for n in ("gd", "rmsprop")}
        anim = P.animate([P.SeriesPanel({n: (t.loss - Q.f_min, n) for n, t in race.items()}, ylabel="loss")], n_steps=30,
                         size=(8, 4.48))
        S.video(anim, "race", "gd and rmsprop on the bowl")
        return list(S.BUILT)

    return run_deck


def _hashes(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_unchanged_nothing_rebuilt_and_one_learning_rate_rebuilds_exactly_its_pictures(build, monkeypatch, tmp_path):
    assert build() == ["anim-momentum", "anim-adam", "race"]  # cold: everything encoded
    assert build() == []  # nothing changed: nothing encoded
    monkeypatch.setitem(O.DEMO, "adam", {**O.DEMO["adam"], "lr": O.DEMO["adam"]["lr"] / 2})
    assert build() == ["anim-adam"]  # only Adam's data changed; the race has no Adam in it
    monkeypatch.setitem(O.DEMO, "rmsprop", {**O.DEMO["rmsprop"], "lr": O.DEMO["rmsprop"]["lr"] / 2})
    assert build() == ["race"]
    assert build() == []


def test_a_change_in_the_drawing_code_or_the_encoder_invalidates(build, monkeypatch):
    build()
    # plots.py's source is part of the key: simulate an edit through the key function's file digest
    real = C.file_digest
    monkeypatch.setattr(C, "file_digest", lambda *paths: real(*paths) + ("edited" if any(
        str(p).endswith("plots.py") for p in paths) else ""))
    S._video_code_key.cache_clear()
    assert build() == ["anim-momentum", "anim-adam", "race"]
    monkeypatch.setattr(C, "file_digest", real)
    S._video_code_key.cache_clear()
    monkeypatch.setitem(S.ENCODER, "output_params", [*S.ENCODER["output_params"][:1], "28",
                                                     *S.ENCODER["output_params"][2:]])
    S._video_code_key.cache_clear()
    assert build() == ["anim-momentum", "anim-adam", "race"]
    S._video_code_key.cache_clear()


def test_deleting_the_cache_gives_byte_identical_media(build, tmp_path):
    build()
    first = _hashes(tmp_path / "media")
    assert len(first) == 6
    shutil.rmtree(tmp_path / "cache")
    shutil.rmtree(tmp_path / "media")
    assert build() == ["anim-momentum", "anim-adam", "race"]
    assert _hashes(tmp_path / "media") == first
    shutil.rmtree(tmp_path / "media")  # media deleted, cache kept: restored, the same bytes
    assert build() == [] and _hashes(tmp_path / "media") == first


def test_digest_is_canonical_and_sees_every_value():
    a = np.arange(6.0).reshape(2, 3)
    assert C.digest(a, {"x": 1.0}) == C.digest(a.copy(), {"x": np.float64(1.0)})
    different = [a.reshape(3, 2), a.astype(np.float32), a + 1e-15 * (a == 5), {"x": 1.0000000001}, ("x", 1.0)]
    keys = {C.digest(v) for v in different} | {C.digest(a)}
    assert len(keys) == len(different) + 1
    assert C.digest(P.Track(a[:, :2], "gd")) != C.digest(P.Track(a[:, :2], "adam"))
    with pytest.raises(TypeError, match="cannot hash"):
        C.digest(object())


def _helper(x):
    return x + 1


def _uses_helper(x):
    return _helper(x) * 2


def test_a_function_is_keyed_on_the_helpers_it_calls(monkeypatch):
    """A surface's value function hashes through the globals it reads: a changed helper changes the key,
    and so does a changed value in its closure."""
    before = C.digest(_uses_helper)
    monkeypatch.setitem(globals(), "_helper", lambda x: x + 2)
    assert C.digest(_uses_helper) != before
    assert C.digest(O.quadratic(np.diag([1.0, 10.0]))) != C.digest(O.quadratic(np.diag([1.0, 11.0])))


def test_memo_is_keyed_on_source_and_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIMIZERS_CACHE_DIR", str(tmp_path / "cache"))
    C.HITS.clear(), C.MISSES.clear()
    first = C.memo(O.run, O.demo("adam"), V, steps=20)
    again = C.memo(O.run, O.demo("adam"), V, steps=20)
    assert len(C.MISSES) == 1 and len(C.HITS) == 1 and np.array_equal(first.path, again.path)
    C.memo(O.run, O.demo("adam"), V, steps=21)  # another argument: computed
    assert len(C.MISSES) == 2
    real = C.file_digest
    monkeypatch.setattr(C, "file_digest", lambda *p: real(*p) + "edited")  # optimizers.py edited
    C.memo(O.run, O.demo("adam"), V, steps=20)
    assert len(C.MISSES) == 3
    with pytest.raises(ValueError, match="fn must be a function of a module in"):
        C.memo(np.add, 1, 2)


# --- the pre-render step ---------------------------------------------------------------------

import prerender as R  # noqa: E402


@pytest.fixture
def project(tmp_path):
    """A tiny project: a deck including a section, code/, and a frozen result referring to a media file."""
    (tmp_path / "slides" / "sections").mkdir(parents=True)
    (tmp_path / "slides" / "media").mkdir()
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "optimizers.py").write_text("LR = 0.1\n")
    (tmp_path / "slides" / "sections" / "_a.qmd").write_text("## A\n\n::: {.notes}\nA note.\n:::\n")
    deck = tmp_path / "slides" / "deck.qmd"
    deck.write_text("---\ntitle: t\n---\n\n{{< include sections/_a.qmd >}}\n")
    (tmp_path / "slides" / "media" / "anim.mp4").write_bytes(b"video")

    def freeze():  # what Quarto writes when it executes the deck
        results = R.freeze_dir(deck, tmp_path) / "execute-results"
        results.mkdir(parents=True, exist_ok=True)
        (results / "html.json").write_text('{"markdown": "<source src=\\"media/anim.mp4\\">"}')

    return tmp_path, deck, freeze


def test_prerender_keeps_fresh_results_and_drops_stale_ones(project):
    root, deck, freeze = project
    assert R.check(deck, root) == "new"
    freeze()
    assert R.check(deck, root) == "kept"
    (root / "slides" / "sections" / "_a.qmd").write_text("## A\n\n::: {.notes}\nA better note.\n:::\n")
    assert R.check(deck, root) == "stale"  # an included section changed
    assert not R.freeze_dir(deck, root).exists()
    freeze()
    assert R.check(deck, root) == "kept"
    (root / "code" / "optimizers.py").write_text("LR = 0.2\n")
    assert R.check(deck, root) == "stale"  # code/ changed
    freeze()
    assert R.check(deck, root) == "kept"
    (root / "slides" / "media" / "anim.mp4").unlink()
    assert R.check(deck, root) == "media"  # the frozen page would refer to a missing video
    assert not R.freeze_dir(deck, root).exists()


# --- the PDF export ----------------------------------------------------------------------------

import export_pdf as E  # noqa: E402


def test_pdf_export_is_skipped_when_what_it_prints_is_unchanged(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIMIZERS_CACHE_DIR", str(tmp_path / "cache"))
    site = tmp_path / "site"
    (site / "media").mkdir(parents=True)
    deck = site / "lecture.html"
    page = '<html>slides<aside class="notes">\n<p>a note</p>\n</aside></html>'
    deck.write_text(page)
    (site / "media" / "a.png").write_bytes(b"png")
    printed = []

    def fake_print(jobs, timeout, chromium, browser):
        for deck, out, notes in jobs:
            printed.append(out.name)
            out.write_bytes(b"%PDF " + deck.read_bytes())

    monkeypatch.setattr(E, "_print", fake_print)
    E.export(deck)
    E.export(deck)
    assert printed == ["lecture.pdf", "lecture-notes.pdf"]  # unchanged: copied back, not printed
    (site / "lecture.pdf").unlink()
    E.export(deck)
    assert len(printed) == 2 and (site / "lecture.pdf").read_bytes() == b"%PDF " + page.encode()
    (site / "media" / "a.png").write_bytes(b"png2")  # a still changed: both printed again
    E.export(deck)
    assert len(printed) == 4
    deck.write_text(page.replace("a note", "an edited note"))  # only the notes' PDF shows it
    E.export(deck)
    assert printed[4:] == ["lecture-notes.pdf"]
    deck.write_text(page.replace("slides", "new slides"))
    E.export(deck)
    assert printed[5:] == ["lecture.pdf", "lecture-notes.pdf"]
    E.export(deck, force=True)
    assert len(printed) == 9


def test_pdfs_of_several_decks_are_printed_at_once_in_one_call(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIMIZERS_CACHE_DIR", str(tmp_path / "cache"))
    decks = []
    for name in ("one", "two"):
        (tmp_path / f"{name}.html").write_text(f"<html>{name}</html>")
        decks.append(tmp_path / f"{name}.html")
    calls = []
    monkeypatch.setattr(E, "_print", lambda jobs, *a: calls.append([out.name for _, out, _ in jobs]) or
                        [out.write_bytes(b"%PDF") for _, out, _ in jobs])
    assert [p.name for p in E.export_all(decks)] == ["one.pdf", "one-notes.pdf", "two.pdf", "two-notes.pdf"]
    assert calls == [["one.pdf", "one-notes.pdf", "two.pdf", "two-notes.pdf"]]  # one batch, printed together


# --- the cell cache: a deck's cells replayed in a real kernel ----------------------------------

CELL_DECK = '''---
title: t
---

```{python}
import os, sys
from pathlib import Path
sys.path.insert(0, os.environ["CELL_TEST_CODE"])
import cache as C
C.enable_cell_cache(In[-1], Path("media"), sources=[Path(os.environ["CELL_TEST_SOURCE"])])
```

## One

```{python}
#| label: one
open("ran.txt", "a").write("1")
x = 1
print("one", x)
```

::: {.notes}
A note outside the cells.
:::

```{python}
#| label: two
open("ran.txt", "a").write("2")
import matplotlib.pyplot as plt
Path("media").mkdir(exist_ok=True)
Path("media/two.png").write_bytes(b"png" * (x + 1))
y = x + 1
print(f'<img src="media/two.png"> y={y}')
plt.plot([0, 1], [x, y])
y * 10
```

```{python}
#| label: three
open("ran.txt", "a").write("3")
print("three", x + y)
```

```{python}
# reset state (as Quarto's cleanup cell, after the last cell: no catch-up)
%reset -f
```
'''


@pytest.fixture
def cell_deck(tmp_path, monkeypatch):
    """A three-cell deck run in a real kernel with the cell cache on (``run()`` returns the cells' outputs
    and which cells executed, read from the file each cell appends its number to)."""
    import deck as D

    monkeypatch.setenv("OPTIMIZERS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CELL_TEST_CODE", str(C.CODE))
    monkeypatch.setenv("CELL_TEST_SOURCE", str(tmp_path / "source.py"))
    monkeypatch.delenv(C.CELL_CACHE_ENV, raising=False)
    (tmp_path / "source.py").write_text("LR = 0.1\n")
    path, run_dir = tmp_path / "deck.qmd", tmp_path / "run"
    path.write_text(CELL_DECK)
    run_dir.mkdir()

    def run():
        (run_dir / "ran.txt").unlink(missing_ok=True)
        cells = D.execute_deck(path, run_dir=run_dir, timeout=120)
        ran = (run_dir / "ran.txt").read_text() if (run_dir / "ran.txt").exists() else ""
        return [c.outputs for c in cells[:-1]], ran

    return path, run_dir, run


def test_unchanged_cells_are_replayed_not_executed_with_the_same_outputs_and_media(cell_deck):
    path, run_dir, run = cell_deck
    first, ran = run()
    assert ran == "123"
    kinds = [o["output_type"] for o in first[2]]
    assert kinds == ["stream", "execute_result", "display_data"]  # printed, shown value, inline figure
    (run_dir / "media" / "two.png").unlink()
    path.write_text(CELL_DECK.replace("A note outside", "An edited note outside"))  # a note edit
    again, ran = run()
    assert ran == "" and again == first  # nothing executed, every output the same, in the same order
    assert (run_dir / "media" / "two.png").read_bytes() == b"png" * 2  # the media it wrote, put back


def test_a_changed_cell_reruns_after_catching_up_and_code_or_the_switch_reruns_all(cell_deck, tmp_path, monkeypatch):
    path, run_dir, run = cell_deck
    run()
    path.write_text(CELL_DECK.replace("y = x + 1", "y = x + 2"))
    outputs, ran = run()
    assert ran == "123"  # cell 1 caught up silently (x is needed), 2 changed, 3 reads y
    assert outputs[1] == [{"name": "stdout", "output_type": "stream", "text": "one 1\n"}]  # shown once
    assert "y=3" in outputs[2][0]["text"] and outputs[3][0]["text"] == "three 4\n"
    assert run()[1] == ""
    (tmp_path / "source.py").write_text("LR = 0.2\n")  # the code every cell may run changed
    assert run()[1] == "123"
    monkeypatch.setenv(C.CELL_CACHE_ENV, "0")  # the escape hatch
    assert run()[1] == "123"


def test_videos_built_in_the_background_are_the_bytes_of_a_serial_build(build, tmp_path, monkeypatch):
    serial = build()
    first = _hashes(tmp_path / "media")
    shutil.rmtree(tmp_path / "cache")
    shutil.rmtree(tmp_path / "media")
    monkeypatch.setenv(S.BACKGROUND_ENV, "1")
    assert build() == serial  # submitted, one forked process per video (at most one per core at a time)
    C.wait_background()
    assert _hashes(tmp_path / "media") == first
    assert build() == []  # kept in the cache by the background processes


def _static_figure(text_pt: float = 16):
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(np.arange(10.0), np.arange(10.0) ** 2, color=P.STYLE["adam"]["color"])
    ax.set_title("squares", fontsize=text_pt)
    ax.tick_params(labelsize=text_pt)
    ax.xaxis.label.set_size(text_pt)
    return fig


def test_figures_saved_in_the_background_are_the_bytes_of_a_serial_save_and_a_failed_check_fails_the_wait(
        tmp_path, monkeypatch):
    monkeypatch.setattr(S, "MEDIA", tmp_path / "media")
    serial_html = S.figure(_static_figure(), "squares", "squares", width="60%")
    serial = (tmp_path / "media" / "squares.png").read_bytes()
    (tmp_path / "media" / "squares.png").unlink()
    monkeypatch.setenv(S.BACKGROUND_ENV, "1")
    assert S.figure(_static_figure(), "squares", "squares", width="60%") == serial_html  # the size, undrawn
    C.wait_background()
    assert (tmp_path / "media" / "squares.png").read_bytes() == serial
    S.figure(_static_figure(text_pt=6), "tiny", "tiny text", width="60%")  # returns: the check runs in the job
    with pytest.raises(RuntimeError, match="tiny: ValueError: tiny: figure text must show"):
        C.wait_background()
    assert not (tmp_path / "media" / "tiny.png").exists()


def test_a_failed_background_job_fails_the_wait_and_the_cell_entries_wait_for_the_jobs(tmp_path):
    stored = []
    C.background(lambda: (tmp_path / "done").write_text("ok"), "fine")
    C.after_background(lambda: stored.append("entry"))
    assert stored == []  # a job runs: the entry waits for it
    C.wait_background()
    assert stored == ["entry"] and (tmp_path / "done").read_text() == "ok"
    C.background(lambda: 1 / 0, "broken video")
    C.after_background(lambda: stored.append("never"))
    with pytest.raises(RuntimeError, match="broken video: ZeroDivisionError"):
        C.wait_background()
    assert stored == ["entry"]  # not kept: its media may be missing
    C.after_background(lambda: stored.append("now"))  # nothing runs: at once
    assert stored == ["entry", "now"]


def test_background_returns_at_once_and_runs_at_most_limit_jobs_at_a_time_below_the_callers_priority(tmp_path):
    def job(k):
        def run():
            start = time.time()
            time.sleep(0.4)
            (tmp_path / f"{k}.txt").write_text(f"{start} {time.time()} {os.nice(0)}")
        return run

    t0 = time.perf_counter()
    for k in range(3):
        C.background(job(k), f"job {k}", limit=1)
    submitted = time.perf_counter() - t0
    C.wait_background()
    runs = sorted(tuple(map(float, (tmp_path / f"{k}.txt").read_text().split())) for k in range(3))
    assert submitted < 0.35  # the caller went on while the first job ran and the others waited for it
    assert all(end <= next_start for (_, end, _), (next_start, _, _) in zip(runs, runs[1:]))  # one at a time
    assert {nice for *_, nice in runs} == {min(19, os.nice(0) + 10)}  # the caller's cells come first


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="jobs end with their kernel on Linux only (prctl)")
def test_background_jobs_end_when_the_kernel_that_forked_them_dies(tmp_path):
    # A stopped render: Quarto ends the kernel, which must not leave its jobs building on for nobody.
    import signal
    import subprocess

    kernel = subprocess.Popen(
        [sys.executable, "-c", "import os, signal, sys, time; sys.path.insert(0, sys.argv[1]); import cache as C; "
         "C.background(lambda: time.sleep(60), 'sleeper'); time.sleep(0.5); print(C._JOBS[0][0], flush=True); "
         "os.kill(os.getpid(), signal.SIGKILL)", str(Path(C.__file__).parent)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "OPTIMIZERS_CACHE_DIR": str(tmp_path), "TMPDIR": str(tmp_path)})  # its report file too
    job = int(kernel.stdout.readline())
    kernel.wait(10)

    def running() -> bool:  # a job whose parent died is reaped by init; a zombie has ended too
        try:
            return (Path(f"/proc/{job}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
        except FileNotFoundError:
            return False

    try:
        deadline = time.monotonic() + 5
        while running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(), "the job still runs after its kernel died"
    finally:
        if running():
            os.kill(job, signal.SIGKILL)


def test_the_media_state_passes_over_files_a_background_job_is_writing_or_renaming(tmp_path, monkeypatch):
    """A cell's end lists the media while a background job may still write one: its partial file (a dot file)
    is not media, and a file renamed away between the listing and its ``stat`` is passed over, not an error
    (a render once failed on ``slides/media/.sgd.png.16711.part``)."""
    media = tmp_path / "media"
    media.mkdir()
    (media / "gd.png").write_bytes(b"png")
    (media / ".sgd.png.16711.part").write_bytes(b"half")
    cells = C.CellCache.__new__(C.CellCache)  # only its media folder matters here
    cells.media = media
    assert list(cells._media_state()) == [media / "gd.png"]
    listed = [media / "gd.png", media / "sgd.png"]  # sgd.png: listed, then renamed away before its stat
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: iter(listed))
    assert list(cells._media_state()) == [media / "gd.png"]

"""Benchmarks: prints numbers, asserts nothing. Run `python tests/benchmark.py [simulation|deck|network|render|all]`.

simulation: 10,000 Adam trajectories x 1,000 steps on the valley in one vectorised `run`, against
            looping `run` over single trajectories in Python (timed on a sample, scaled up), and against
            torch.optim.Adam, plain and fused, doing the same (skipped when torch is not installed).
            Target: at most 0.5 s, at least 50x faster than the loop, and faster than fused torch.
deck:       executes every cell of every deck in a Jupyter kernel, as the deck test and Quarto do, and
            prints the time and the size of the media it generated. Target: at most 60 s (first half)
            and 90 s (whole lecture) on a 2-core machine; the rendered deck at most 15 MB.
render:     on a temporary copy of the project, Quarto's floor (a 3-slide deck with one matplotlib cell),
            a cold `quarto render` (build cache and _freeze/ deleted; PDF export included), a warm one
            (nothing changed) and one after a one-line note edit in a section, in one run, with their
            ratios to the floor; then the ten slowest cells of a run through the Jupyter kernel. Without
            Quarto, the same steps time the cells through the kernel (tests/deck.py) and say so.
            Targets: cold <= 8 x floor, warm <= 1.6 x floor, note edit <= 3 x floor. For the cold render it
            also prints the least wall time its CPU allows on this machine's cores. Not in `all`.
"""
import pathlib
import re
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code"))
import optimizers as O  # noqa: E402


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def torch_adam(starts, steps, lr, fused):
    """The benchmark's runs with ``torch.optim.Adam`` on one (k, 2) float64 tensor: the valley's gradient
    ``H p`` set by hand each step, every point and loss kept in tensors allocated here (as ``run`` does)."""
    import torch

    h = torch.tensor(np.diag(O.SURFACES["valley"].hessian).copy())
    p = torch.tensor(starts, requires_grad=True)
    p.grad = torch.empty_like(p)
    opt = torch.optim.Adam([p], lr=lr, fused=fused)  # unfused, on the CPU, is the default: one tensor at a time
    points = torch.empty((steps + 1,) + p.shape, dtype=p.dtype)
    losses = torch.empty((steps + 1, p.shape[0]), dtype=p.dtype)
    with torch.no_grad():
        points[0] = p
        torch.mv(p * p, h / 2, out=losses[0])  # the loss (x^T H x) / 2; faster than a sum over dim 1
        for i in range(1, steps + 1):
            torch.mul(p, h, out=p.grad)
            opt.step()
            points[i] = p
            torch.mv(p * p, h / 2, out=losses[i])
    return points, losses


def simulation(k=10_000, steps=1_000, sample=100, repeat=5):
    f = O.SURFACES["valley"]
    starts = np.random.default_rng(0).uniform(-8, 8, size=(k, 2))
    opt = O.adam(lr=0.1)
    try:
        import torch
    except ImportError:
        torch = None
    contenders = {"vectorised batch": lambda: O.run(opt, f, start=starts, steps=steps)}
    if torch is not None:
        # numpy's elementwise operations run on one thread, so torch gets one too (by default it
        # would use every core)
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        contenders["torch.optim.Adam"] = lambda: torch_adam(starts, steps, 0.1, fused=False)
        contenders["torch Adam(fused)"] = lambda: torch_adam(starts, steps, 0.1, fused=True)
        ours, theirs = O.run(opt, f, start=starts, steps=steps), torch_adam(starts, steps, 0.1, fused=True)
        gap = max(np.max(np.abs(ours.path - np.moveaxis(theirs[0].numpy(), 0, -2))),
                  np.max(np.abs(ours.loss - theirs[1].numpy().T)))
    # The contenders take turns, so that a slow spell of a shared machine does not fall on one only.
    # CPU time (this thread's) is printed too: other processes inflate it less than the wall clock.
    wall, cpu = {name: [] for name in contenders}, {name: [] for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            w, c = time.perf_counter(), time.thread_time()
            fn()
            cpu[name].append(time.thread_time() - c)
            wall[name].append(time.perf_counter() - w)
    wall, cpu = {n: min(t) for n, t in wall.items()}, {n: min(t) for n, t in cpu.items()}
    batch = wall["vectorised batch"]
    loop = best_of(lambda: [O.run(opt, f, start=s, steps=steps) for s in starts[:sample]], 1) * k / sample
    print(f"simulation: {k:,} Adam trajectories x {steps:,} steps, every point and loss kept (best of {repeat})")
    print(f"  vectorised batch : {batch:8.3f} s   ({k * steps / batch / 1e6:6.1f} M steps/s)   target <= 0.5 s"
          f"   (CPU {cpu['vectorised batch']:.3f} s)")
    print(f"  Python loop      : {loop:8.3f} s   (timed on {sample} runs, scaled)")
    print(f"  speed-up         : {loop / batch:8.1f} x   target >= 50 x")
    if torch is None:
        print("  torch is not installed: the comparison with torch.optim.Adam is skipped")
        return
    print(f"  torch {torch.__version__} on 1 thread (numpy's elementwise operations use one; torch's default "
          f"here: {torch_threads}), one ({k}, 2) float64 tensor, the valley's gradient set by hand, points and "
          "losses kept in tensors allocated in the timed call, as run does")
    for name in ("torch.optim.Adam", "torch Adam(fused)"):
        print(f"  {name:17s}: {wall[name]:8.3f} s   ours takes {batch / wall[name]:4.2f} x its time   target < 1"
              f"   (CPU {cpu[name]:.3f} s, ratio {cpu['vectorised batch'] / cpu[name]:4.2f})")
    print(f"  largest difference from fused torch's points and losses: {gap:.1e}")
    torch.set_num_threads(torch_threads)


def deck():
    import base64

    sys.path.insert(0, str(ROOT / "tests"))
    import deck as D

    total_time = 0.0
    for path in D.decks():
        t0 = time.perf_counter()
        cells = D.execute_deck(path)
        seconds = time.perf_counter() - t0
        total_time += seconds
        images = sum(len(base64.b64decode(o["data"]["image/png"])) for c in cells for o in c.outputs
                     if "image/png" in o.get("data", {}))
        print(f"deck {path.relative_to(ROOT)}: {len(cells)} cells executed in {seconds:6.1f} s   target <= 60 s "
              f"(first half), 90 s (whole)")
        print(f"  figures in the page : {images / 1e6:6.2f} MB")
    # the first half alone (issue target: 60 s): the same deck without the second half's sections
    deck_path = D.decks()[0]
    second_half = ("_race", "_pitfalls", "_theory", "_practice", "_explorer")
    first = deck_path.with_name("_bench_first_half.qmd")
    first.write_text("\n".join(l for l in deck_path.read_text().splitlines() if not any(h in l for h in second_half)))
    try:
        t0 = time.perf_counter()
        n = len(D.execute_deck(first))
        print(f"  first half alone   : {n} cells in {time.perf_counter() - t0:6.1f} s   target <= 60 s")
    finally:
        first.unlink()
    media = sorted((ROOT / "slides" / "media").glob("*"))
    videos = [p for p in media if p.suffix == ".mp4"]
    size = sum(p.stat().st_size for p in media)
    print(f"  media files         : {size / 1e6:6.2f} MB in {len(media)} files; largest video "
          f"{max(p.stat().st_size for p in videos) / 1e3:.0f} KB (target <= 400 KB each)")


def network(epochs=20, seeds=(0, 1, 2)):
    """`python tests/benchmark.py network`: the deck's representative sweep, every rule in `O.OPTIMIZERS`
    x 5 learning rates x 3 seeds (165 networks 64-32-10 on the digits, mini-batches of 32), trained for
    20 epochs by `network.sweep`. Cold: the first sweep in this process (importing scikit-learn and
    loading the digits included). Target: at most 20 s cold on a 2-core machine, for all of the deck's
    network runs together."""
    t0 = time.perf_counter()
    import network as N

    cpu0 = time.process_time()
    s = N.sweep(seeds=seeds, epochs=epochs)
    cold, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    warm = best_of(lambda: N.sweep(seeds=seeds, epochs=epochs), 2)
    runs = s.diverged.size
    print(f"network: {len(s.methods)} methods x {s.lrs.shape[1]} learning rates x {len(seeds)} seeds = {runs} runs, "
          f"{epochs} epochs of {N.digits(0).n_train // 32} mini-batches")
    print(f"  cold (import + data + sweep) : {cold:6.2f} s   target <= 20 s (all of the deck's network runs)")
    print(f"  warm sweep                   : {warm:6.2f} s   ({runs * epochs / warm:6.0f} run-epochs/s; "
          f"process CPU time of the cold sweep {cpu:.2f} s)")
    print(f"  best lr per method (val)     : " + ", ".join(f"{m} {lr:g}" for m, lr in zip(s.methods, s.best_lr)))


FLOOR_DECK = """---
title: Floor
format: revealjs
jupyter: python3
---

## One

```{python}
import matplotlib.pyplot as plt
plt.plot([0, 1], [1, 0])
plt.show()
```

## Two

Text.

## Three

More text.
"""


def cell_times(deck_path, run_dir):
    """Execute ``deck_path``'s cells in a fresh kernel from ``run_dir``, as the deck tests do
    (``tests/deck.py``); return ``(seconds, label)`` per cell."""
    sys.path.insert(0, str(ROOT / "tests"))
    import deck as D

    return [(c.seconds, c.label or "(no label)") for c in D.execute_deck(deck_path, run_dir, timeout=1800)
            if c.seconds is not None]


# Lines of Quarto's progress output that mark where a render is: the first and the last cell done (Quarto
# writes a cell's line when it ends), then pandoc's start. Between the last cell and pandoc, the cleanup
# cell waits for the drawing jobs still running; after pandoc come the HTML's finishing and the PDF export.
PHASES = {"first cell": re.compile(r"Cell 1/\d+"), "last cell": re.compile(r"Cell (\d+)/\1\b"),
          "pandoc": re.compile(r"^\W*pandoc\W*$")}


def phases(lines) -> dict:
    """``{mark: seconds}``: when each ``PHASES`` mark first appeared among ``(seconds, line)`` pairs."""
    seen = {}
    for seconds, line in lines:
        line = re.sub(r"\x1b\[[0-9;]*m", "", line)  # Quarto's bold and colours
        for name, pattern in PHASES.items():
            if name not in seen and pattern.search(line):
                seen[name] = seconds
    return seen


def phase_report(marks: dict, total: float) -> str:
    """The time between the marks a render passed, e.g. ``start 6.1 s, cells 50.5 s, ...``."""
    if not marks:
        return f"Quarto printed none of its progress marks ({total:.1f} s in all)"
    names = {"first cell": "start to the first cell", "last cell": "cells", "pandoc": "drawing jobs after the last cell"}
    out, last = [], 0.0
    for name in PHASES:
        if name in marks:
            out.append(f"{names[name]} {marks[name] - last:.1f} s")
            last = marks[name]
    return ", ".join(out + [f"pandoc, HTML and PDFs {total - last:.1f} s"])


def _children_cpu() -> float:
    """User + system CPU seconds of every finished child process (and theirs) so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def render():
    """Cold, warm and one-note-edit renders on a copy of the project, against Quarto's floor."""
    import os
    import shutil
    import subprocess
    import tempfile

    quarto = shutil.which("quarto")
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-render-"))
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    project = work / "project"
    for f in files:
        if (ROOT / f).is_file():
            (project / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, project / f)
    os.environ["OPTIMIZERS_CACHE_DIR"] = str(project / ".cache")  # for Quarto's kernel and for ours
    os.environ.pop("DECK_MEDIA_DIR", None)
    env = dict(os.environ)
    floor_dir = work / "floor"
    floor_dir.mkdir()
    (floor_dir / "floor.qmd").write_text(FLOOR_DECK)
    section = project / "slides" / "sections" / "_gd.qmd"

    if quarto:
        def timed(cwd, *args):
            t0, c0 = time.perf_counter(), _children_cpu()
            lines = []
            with subprocess.Popen([quarto, "render", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) as proc:
                for line in proc.stdout:  # Quarto's progress, timed as it comes
                    lines.append((time.perf_counter() - t0, line))
            seconds, cpu[0] = time.perf_counter() - t0, _children_cpu() - c0
            if proc.returncode != 0:
                raise SystemExit(f"quarto render failed in {cwd}:\n{''.join(l for _, l in lines)[-3000:]}")
            marks[0] = phases(lines)
            return seconds
        how = f"quarto render ({subprocess.run([quarto, '--version'], capture_output=True, text=True).stdout.strip()})"
        floor = lambda: timed(floor_dir, "floor.qmd")
        full = lambda: timed(project)
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        import deck as D

        def kernel(path):
            t0, c0 = time.perf_counter(), _children_cpu()
            cell_times(path, project)
            cpu[0] = _children_cpu() - c0  # the kernel's, once it has exited
            return time.perf_counter() - t0
        how = "Quarto is not installed: cells timed through the Jupyter kernel (tests/deck.py), no pandoc, no PDF"
        floor = lambda: kernel(floor_dir / "floor.qmd")
        full = lambda: kernel(project / D.decks()[0].relative_to(ROOT))
    cpu, marks = [0.0], [{}]
    targets = {"cold": 8, "warm": 1.6, "note edit": 3}
    times, cpus = {}, {}

    def report(name, seconds):
        times[name], cpus[name] = seconds, cpu[0]
        target = f"   target <= {targets[name]:g} x floor" if name in targets else ""
        print(f"  {name:10s}: {seconds:7.1f} s   {seconds / times['floor']:5.2f} x floor{target}   (CPU of all "
              f"processes {cpu[0]:6.1f} s, {cpu[0] / cpus['floor']:5.2f} x the floor's)", flush=True)
        if name == "cold":  # what the cores could do at best with that CPU: every one busy from start to end
            cores = os.cpu_count() or 1
            print(f"  {'':10s}  that CPU on {cores} cores, all busy throughout, takes at least {cpu[0] / cores:.1f} s = "
                  f"{cpu[0] / cores / times['floor']:.2f} x floor", flush=True)
            if quarto:
                print(f"  {'':10s}  {phase_report(marks[0], seconds)}", flush=True)

    try:
        print(f"render: {how}; a copy of the project in {project}; {os.cpu_count()} cores, load average "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (wall times on a shared machine vary)", flush=True)
        report("floor", floor())
        shutil.rmtree(project / ".cache", ignore_errors=True)
        shutil.rmtree(project / "_freeze", ignore_errors=True)
        report("cold", full())
        report("warm", full())
        text = section.read_text()
        note = text.index("::: {.notes}") + len("::: {.notes}\n")
        section.write_text(text[:note] + "A one-line note added by the render benchmark.\n" + text[note:])
        report("note edit", full())
        print("  ten slowest cells (a run through the Jupyter kernel, every cell executed: the cell cache off, "
              "the videos' cache warm, as after a change in a cell at the top):", flush=True)
        deck_path = project / "slides" / "lecture.qmd"
        os.environ["OPTIMIZERS_CELL_CACHE"] = "0"
        for seconds, label in sorted(cell_times(deck_path, project), reverse=True)[:10]:
            print(f"    {seconds:6.2f} s  {label}")
        os.environ.pop("OPTIMIZERS_CELL_CACHE")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("simulation", "all"):
        simulation()
    if what in ("deck", "all"):
        deck()
    if what in ("network", "all"):
        network()
    if what == "render":
        render()

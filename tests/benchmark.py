"""Benchmarks: prints numbers, asserts nothing. Run `python tests/benchmark.py [simulation|deck|all]`.

simulation: 10,000 Adam trajectories x 1,000 steps on the valley in one vectorised `run`, against
            looping `run` over single trajectories in Python (timed on a sample, scaled up).
            Target: at most 0.5 s, and at least 50x faster than the loop.
deck:       executes every cell of every deck in a Jupyter kernel, as the deck test and Quarto do, and
            prints the time and the size of the media it generated. Target: at most 60 s (first half)
            and 90 s (whole lecture) on a 2-core machine; the rendered deck at most 15 MB.
"""
import pathlib
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


def simulation(k=10_000, steps=1_000, sample=100):
    f = O.SURFACES["valley"]
    starts = np.random.default_rng(0).uniform(-8, 8, size=(k, 2))
    opt = O.adam(lr=0.1)
    batch = best_of(lambda: O.run(opt, f, start=starts, steps=steps), 3)
    loop = best_of(lambda: [O.run(opt, f, start=s, steps=steps) for s in starts[:sample]], 1) * k / sample
    print(f"simulation: {k:,} Adam trajectories x {steps:,} steps")
    print(f"  vectorised batch : {batch:8.3f} s   ({k * steps / batch / 1e6:6.1f} M steps/s)   target <= 0.5 s")
    print(f"  Python loop      : {loop:8.3f} s   (timed on {sample} runs, scaled)")
    print(f"  speed-up         : {loop / batch:8.1f} x   target >= 50 x")


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


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("simulation", "all"):
        simulation()
    if what in ("deck", "all"):
        deck()

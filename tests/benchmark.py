"""Benchmarks: prints numbers, asserts nothing. Run `python tests/benchmark.py [simulation|deck|all]`.

simulation: 10,000 Adam trajectories x 1,000 steps on the valley in one vectorised `run`, against
            looping `run` over single trajectories in Python (timed on a sample, scaled up).
            Target: at most 0.5 s, and at least 50x faster than the loop.
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


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("simulation", "all"):
        simulation()

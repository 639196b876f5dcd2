"""Make the static images in figures/ (the README's picture). Every image here comes from this script:

    python figures/make_figures.py [--out figures]
"""
import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code"))

import matplotlib.pyplot as plt  # noqa: E402
import optimizers as O  # noqa: E402
import plots as P  # noqa: E402


def overview(path: Path, steps: int = 150):
    """Every update rule in the valley, ``steps`` steps at the deck's demo settings, as small multiples:
    one panel per rule, that rule in its colour with a dot every few steps, every other rule thin and
    light grey behind it (more than five colours on one axes is spaghetti)."""
    f = O.SURFACES["valley"]
    names = list(O.OPTIMIZERS)
    paths = {n: O.run(O.demo(n), f, steps=steps).path for n in names}
    every = P.dot_every(steps)
    cols = 4
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(16, 1.6 * rows + 0.9), dpi=100, sharex=True, sharey=True)
    for ax, name in zip(axes.flat, names):
        P.contour(f, ax)
        for other in names:
            if other != name:
                ax.plot(paths[other][:, 0], paths[other][:, 1], color="#c4c4c4", lw=1.0, zorder=3)
        P.draw_path(ax, paths[name], name, markevery=slice(every, None, every), marker="o")
        ax.set_title(P.STYLE[name]["label"], color=P.STYLE[name]["color"], fontweight="bold", loc="left")
        ax.set(xlabel="", ylabel="")
        ax.label_outer()
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"{len(names)} update rules in the valley $0.1x^2 + 2y^2$: {steps} steps at the deck's demo "
                 f"settings, a dot every {every} steps", x=0.01, ha="left")
    P.check_figure_colours(fig, "overview")
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "figures"))
    out = Path(parser.parse_args(argv).out)
    out.mkdir(parents=True, exist_ok=True)
    overview(out / "overview.png")
    print(f"wrote {out / 'overview.png'}")


if __name__ == "__main__":
    main()

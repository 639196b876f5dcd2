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


def overview(path: Path):
    """Every update rule in the valley, 150 steps at the deck's demo settings."""
    f = O.SURFACES["valley"]
    fig, ax = plt.subplots(figsize=(12, 4.6), dpi=110)
    P.contour(f, ax)
    for name in O.OPTIMIZERS:
        P.draw_path(ax, O.run(O.demo(name), f, steps=150).path, name, markevery=10)
    ax.legend(ncol=4, fontsize=10, loc="lower right")
    ax.set_title("Eleven update rules in the valley $0.1x^2 + 2y^2$, 150 steps, the deck's demo settings")
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

"""Make the slides' web fonts from the TTFs that matplotlib draws with: the same Source Sans Pro files,
subset to the scripts the deck writes (Latin, Greek, punctuation, super- and subscripts, arrows, math
operators) and packed as WOFF, so the rendered deck carries about a sixth of the bytes.

    python fonts/make_web_fonts.py      # writes fonts/web/<name>.woff for every fonts/<name>.ttf
"""
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

HERE = Path(__file__).resolve().parent
RANGES = [(0x20, 0x250), (0x370, 0x400), (0x2000, 0x20A0), (0x2190, 0x2300)]


def web_font(ttf: Path, out: Path):
    options = subset.Options()
    options.flavor = "woff"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = TTFont(ttf, recalcTimestamp=False)  # keep the TTF's date: the same input gives the same bytes
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[u for lo, hi in RANGES for u in range(lo, hi)])
    subsetter.subset(font)
    font.flavor = "woff"
    font.save(out)


if __name__ == "__main__":
    (HERE / "web").mkdir(exist_ok=True)
    for ttf in sorted(HERE.glob("*.ttf")):
        web_font(ttf, HERE / "web" / f"{ttf.stem}.woff")
        print(f"wrote fonts/web/{ttf.stem}.woff")

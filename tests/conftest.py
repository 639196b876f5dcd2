"""Put `code/` on sys.path, as the decks' setup cell does (`code/` is not a package on purpose)."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "code"))

"""The rendered output folder: self-contained, offline, small enough to carry."""
import re

import deck as D

OUTPUT = D.ROOT / "_site"


def test_rendered_deck_is_self_contained_and_small(rendered_deck):
    html = rendered_deck.read_text()
    remote = re.findall(r"""<(?:script|link|img|source|video|iframe)\b[^>]*\b(?:src|href)=["']?(https?://[^"' >]+)""", html)
    assert remote == [], f"the page loads resources from the internet: {remote[:5]}"
    assert "mathjax" not in html.lower() or "cdn" not in html.lower()
    assert "<math" in html, "no MathML: the equations would need a script from the network"
    assert len(re.findall(r'<video class="anim-video"', html)) >= 13
    for name in re.findall(r'src="media/([\w-]+)\.mp4"', html):
        assert (rendered_deck.parent / "media" / f"{name}.mp4").exists(), f"media/{name}.mp4 was not copied"
    size = sum(p.stat().st_size for p in OUTPUT.rglob("*") if p.is_file() and p.suffix != ".pdf")
    assert size <= 15e6, f"the rendered deck is {size / 1e6:.1f} MB"

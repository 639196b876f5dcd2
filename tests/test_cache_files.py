"""The build cache keeps every output of an entry apart, even two with one suffix (a PDF and its notes)."""
import cache


def test_two_outputs_with_one_suffix_come_back_each_to_its_place(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIMIZERS_CACHE_DIR", str(tmp_path / "cache"))
    deck, notes = tmp_path / "deck.pdf", tmp_path / "deck-notes.pdf"
    deck.write_bytes(b"slides")
    notes.write_bytes(b"slides and notes")
    cache.store("k", [deck, notes], kind="pdf")
    out = [tmp_path / "out" / "deck.pdf", tmp_path / "out" / "deck-notes.pdf"]
    assert cache.restore("k", out, kind="pdf")
    assert [p.read_bytes() for p in out] == [b"slides", b"slides and notes"]

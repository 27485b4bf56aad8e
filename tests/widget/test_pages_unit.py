"""The source viewer's paragraph splitter keeps exact offsets into the original article text."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from service.api.pages import split_segments

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
MANIFEST = tomllib.loads((CORPUS / "manifest.toml").read_text(encoding="utf-8"))["documents"]


def pieces(segments):
    for seg in segments:
        yield from (seg.items or []) if seg.kind == "ul" else [seg]


@pytest.mark.parametrize("entry", MANIFEST, ids=[d["doc_id"] for d in MANIFEST])
def test_segments_are_exact_slices_and_cover_the_text(entry):
    text = (CORPUS / f"{entry['doc_id']}.txt").read_text(encoding="utf-8")
    segs = split_segments(text, entry["title"])
    covered = [False] * len(text)
    last_end = -1
    for piece in pieces(segs):
        assert piece.text == text[piece.start:piece.end]
        assert piece.text == piece.text.strip() and piece.text
        assert piece.start >= last_end, "pieces are in document order and do not overlap"
        last_end = piece.end
        for i in range(piece.start, piece.end):
            covered[i] = True
    missing = "".join(ch for ch, c in zip(text, covered) if not c)
    # Only whitespace, list bullets and the article's own title line are left out.
    leftover = re.sub(r"[\s\u2022*\-]", "", missing.replace(entry["title"], "", 1))
    assert leftover == ""


def test_bullets_headings_and_paragraphs():
    text = "Title\n\nIntro line one.\nLine two.\n\nA heading\n\n  \u2022 First item\n  \u2022 Second \U0001f3c3 item\nAfter list.\n"
    segs = split_segments(text, "Title")
    kinds = [s.kind for s in segs]
    assert kinds == ["p", "h", "ul", "p"]
    assert [i.text for i in segs[2].items] == ["First item", "Second \U0001f3c3 item"]
    assert segs[0].text == "Intro line one.\nLine two."

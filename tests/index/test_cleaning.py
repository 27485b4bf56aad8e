"""Cleaning on the real corpus, as built into the real artifact: page furniture is gone,
headings are section titles, and no line of real content was lost.
"""

from __future__ import annotations

import re

import pytest

from index.chunking import collapse
from index.cleaning import sectionize

BOILERPLATE = (
    "Leave a Reply",
    "Brought to you by",
    "Video of the Day",
    "Latest posts by",
    "Click on a link below",
    "About the Author",
    "Ari Reid has a bachelor",
    "Cheryl Petermann is a",
    "Author bio",
    "Brenda Draper",
    "skerstetter",
    "Your email address will not be published",
    "Polka Dot Images",
    "thoughts on",
)
CAPTIONS = ("Stretching hip pain", "Hip pain foam rolling", "KT tape for hip pain", "Hip pain - hip flexors")

# Every non-blank line of the articles that is neither kept as sentences nor a section
# title, with why. A line dropped that is not listed here is lost content: the test fails.
EXPECTED_DROPS = {
    "000_8c60f68409ff19b6": (
        "Athletic tape can compress muscles to improve pain symptoms while running.",  # the second copy of a caption printed twice
        "Video of the Day",
        "Brought to you by LIVESTRONG.COM",
        "About the Author",
        "Ari Reid has a bachelor",  # author bio (under About the Author)
        "Photo Credits",
        "• Polka Dot Images",
    ),
    "001_ec155ae1e04ba13d": ("Leave a Reply", "Your email address will not be published"),
    "002_35260b83777a9522": ("Megan Rinzel", "Latest posts by Megan Rinzel"),
    "003_8bf0d0f96f61588d": (
        "Click on a link below to learn more.",
        "Hip pain - hip flexors",  # caption
        "Stretching hip pain",
        "Hip pain foam rolling",
        "KT tape for hip pain",
        "Author bio: Cheryl Petermann",
        "3 thoughts on",
        "1. Brenda Draper says:",
        "This article was VERY helpful.",  # reader comment
        "• skerstetter says:",
        "I’m so glad you enjoyed it, Brenda!",  # reply
        "Leave a Reply",
        "Your email address will not be published",
    ),
    "004_a3cab82aa58c6236": (),
}



@pytest.fixture(scope="module")
def sections_by_doc(artifact) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for sentence in artifact.sentences:
        out.setdefault(sentence.doc_id, set()).add(sentence.section)
    return out


def test_no_boilerplate_in_any_chunk_sentence_or_title(artifact):
    for phrase in BOILERPLATE:
        for chunk in artifact.chunks:
            assert phrase.casefold() not in collapse(chunk.text).casefold(), (phrase, chunk.id)
            assert phrase.casefold() not in chunk.section.casefold(), (phrase, chunk.id)
        for sentence in artifact.sentences:
            assert phrase.casefold() not in collapse(sentence.text).casefold(), (phrase, sentence.id)


def test_image_captions_are_not_standalone_text(artifact):
    for caption in CAPTIONS:
        assert not any(collapse(s.text) == caption for s in artifact.sentences), caption
        assert not any(caption in chunk.text for chunk in artifact.chunks), caption
        assert caption not in {s.section for s in artifact.sentences}, caption


@pytest.mark.parametrize(
    ("doc_id", "title"),
    [
        ("000_8c60f68409ff19b6", "RICE Your Injury"),
        ("000_8c60f68409ff19b6", "Improve Hip Strength"),
        ("001_ec155ae1e04ba13d", "Why do my hips hurt when I run?"),  # FAQ "1. ..." heading, number dropped
        ("001_ec155ae1e04ba13d", "Piriformis syndrome"),
        ("002_35260b83777a9522", "Fractured Hip"),
        ("002_35260b83777a9522", "IT Band Syndrome"),
        ("003_8bf0d0f96f61588d", "What can cause hip pain from running?"),
        ("003_8bf0d0f96f61588d", "Garland Pose (Malasana)"),
        ("004_a3cab82aa58c6236", "Ice and Heat"),
        ("004_a3cab82aa58c6236", "When to Seek Professional Help"),
    ],
)
def test_headings_are_section_titles(sections_by_doc, doc_id, title):
    assert title in sections_by_doc[doc_id]


def test_headings_are_not_sentences(artifact, sections_by_doc):
    for sentence in artifact.sentences:
        titles = sections_by_doc[sentence.doc_id] | {artifact.documents[sentence.doc_id].title}
        assert collapse(sentence.text) not in titles, sentence


def test_content_before_the_first_heading_is_filed_under_the_article_title(artifact):
    for doc_id, doc in artifact.documents.items():
        first = min((s for s in artifact.sentences if s.doc_id == doc_id), key=lambda s: s.start)
        assert first.section == doc.title, doc_id


def test_no_line_of_real_content_is_lost(artifact, sections_by_doc):
    """Each non-blank line is kept (covered by sentences), a heading, or an expected drop."""
    assert set(EXPECTED_DROPS) == set(artifact.documents)
    for doc_id, doc in artifact.documents.items():
        text = doc.text
        covered = bytearray(len(text))
        for s in (s for s in artifact.sentences if s.doc_id == doc_id):
            covered[s.start : s.end] = b"\x01" * (s.end - s.start)
        titles = {t.casefold() for t in sections_by_doc[doc_id]}
        unexpected, pos, headline_seen = [], 0, False
        for raw in text.splitlines(keepends=True):
            stripped = raw.strip()
            start = pos + len(raw) - len(raw.lstrip())
            pos += len(raw)
            if not stripped:
                continue
            is_headline, headline_seen = not headline_seen, True
            uncovered = "".join(ch for i, ch in enumerate(stripped) if not covered[start + i] and not ch.isspace())
            # A list marker ("•", "-", "1.") in front of kept text is not content.
            if not uncovered or re.fullmatch(r"[•·▪◦●*\-–]|\d{1,2}[.)]", uncovered) and not covered[start] and covered[start + len(stripped) - 1]:
                continue
            heading = re.sub(r"^(#{1,6}|\d{1,2}[.)])\s+", "", stripped).strip()
            if heading.casefold() in titles or is_headline:
                continue
            if any(collapse(stripped).startswith(prefix) for prefix in EXPECTED_DROPS[doc_id]):
                continue
            unexpected.append(stripped[:80])
        assert not unexpected, f"{doc_id}: lines neither kept nor expected to be dropped: {unexpected}"


def test_expected_drops_are_really_in_the_articles(artifact):
    """Keeps EXPECTED_DROPS honest: each entry names a real line."""
    for doc_id, prefixes in EXPECTED_DROPS.items():
        lines = [collapse(line) for line in artifact.documents[doc_id].text.splitlines()]
        for prefix in prefixes:
            assert any(line.startswith(prefix) for line in lines), (doc_id, prefix)


def test_comment_thread_and_everything_after_it_is_dropped():
    text = "Title\n\nReal content here.\n\n2 thoughts on “Title”\n\nA reader says:\n\nGreat post.\n\nLeave a Reply\n\nMore.\n"
    sections = sectionize(text)
    kept = " ".join(text[b.start : b.end] for s in sections for b in s.blocks)
    assert kept == "Real content here."


def test_about_the_author_section_is_dropped_until_the_next_heading():
    text = "Title\n\nIntro text.\n\nAbout the Author\n\nJane runs a lot and writes about it.\n\nNext Heading\n\nMore content.\n"
    sections = sectionize(text, authors=("Jane Doe",))
    assert [(s.title, [text[b.start : b.end] for b in s.blocks]) for s in sections] == [
        ("Title", ["Intro text."]),
        ("Next Heading", ["More content."]),
    ]


def test_bare_byline_of_the_author_is_dropped():
    text = "Title\n\nContent sentence.\n\nJane Doe\n"
    sections = sectionize(text, authors=("Jane Doe",))
    assert [text[b.start : b.end] for s in sections for b in s.blocks] == ["Content sentence."]

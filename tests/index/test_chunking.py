"""Sentences and chunks: verbatim, located by offsets, never crossing a section."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from index.chunking import ChunkingParams, chunk_document, collapse, split_sentences
from index.documents import Document



@pytest.fixture(scope="module")
def collapsed_docs(artifact) -> dict[str, str]:
    return {doc_id: collapse(doc.text) for doc_id, doc in artifact.documents.items()}


def test_every_chunk_is_verbatim_at_its_offsets(artifact, collapsed_docs):
    assert len(artifact.chunks) == artifact.manifest["counts"]["chunks"] > 0
    for chunk in artifact.chunks:
        doc = artifact.documents[chunk.doc_id]
        assert 0 <= chunk.start < chunk.end <= len(doc.text)
        assert collapse(chunk.text) == collapse(doc.text[chunk.start : chunk.end]), chunk.id
        assert collapse(chunk.text) in collapsed_docs[chunk.doc_id], chunk.id
        assert chunk.id == f"{chunk.doc_id}:{chunk.start}-{chunk.end}"


def test_every_sentence_is_verbatim_at_its_offsets(artifact, collapsed_docs):
    assert len(artifact.sentences) == artifact.manifest["counts"]["sentences"] == len(artifact.sentence_vectors)
    for position, sentence in enumerate(artifact.sentences):
        doc = artifact.documents[sentence.doc_id]
        assert sentence.id == position
        assert 0 <= sentence.start < sentence.end <= len(doc.text)
        assert collapse(sentence.text) == collapse(doc.text[sentence.start : sentence.end]), sentence.id
        assert collapse(sentence.text) in collapsed_docs[sentence.doc_id], sentence.id
        assert sentence.text == sentence.text.strip()
        assert sentence.kind in ("sentence", "list")


def test_sentences_are_in_document_order_and_do_not_overlap(artifact):
    by_doc = defaultdict(list)
    for sentence in artifact.sentences:
        by_doc[sentence.doc_id].append(sentence)
    for sentences in by_doc.values():
        for before, after in zip(sentences, sentences[1:]):
            assert before.end <= after.start, (before, after)


def test_chunks_are_runs_of_consecutive_sentences_of_one_section(artifact):
    sentences = artifact.sentences
    for chunk in artifact.chunks:
        ids = chunk.sentence_ids
        assert ids and list(ids) == list(range(ids[0], ids[-1] + 1)), chunk.id
        members = [sentences[i] for i in ids]
        assert {s.doc_id for s in members} == {chunk.doc_id}
        assert {s.section for s in members} == {chunk.section}, chunk.id
        assert (members[0].start, members[-1].end) == (chunk.start, chunk.end)


def test_chunks_never_cross_a_section(artifact):
    """No sentence of another section lies inside a chunk's span."""
    for chunk in artifact.chunks:
        inside = [s for s in artifact.sentences if s.doc_id == chunk.doc_id and s.start < chunk.end and s.end > chunk.start]
        assert {s.section for s in inside} == {chunk.section}, chunk.id
        assert {s.id for s in inside} == set(chunk.sentence_ids), chunk.id


def test_every_sentence_is_in_some_chunk(artifact):
    in_chunks = {i for chunk in artifact.chunks for i in chunk.sentence_ids}
    assert in_chunks == set(range(len(artifact.sentences)))


def test_chunk_size_and_overlap_follow_the_recorded_parameters(artifact):
    params = artifact.manifest["chunking"]
    assert params["splitter"] == "pysbd"
    sentences = artifact.sentences
    by_section = defaultdict(list)
    for chunk in artifact.chunks:
        words = sum(len(sentences[i].text.split()) for i in chunk.sentence_ids)
        assert len(chunk.sentence_ids) == 1 or words <= params["chunk_words"], chunk.id
        by_section[(chunk.doc_id, chunk.section)].append(chunk)
    for chunks in by_section.values():
        for before, after in zip(chunks, chunks[1:]):
            shared = set(before.sentence_ids) & set(after.sentence_ids)
            assert len(shared) <= params["overlap_sentences"], (before.id, after.id)
            assert after.sentence_ids[0] <= before.sentence_ids[-1] + 1, "a gap between neighbouring chunks"


def test_the_eleven_causes_form_one_list_unit(artifact):
    """Short list items ("Hip flexor strains", ...) are kept together, not as fragments."""
    lists = [s for s in artifact.sentences if s.kind == "list" and "General injury" in s.text]
    assert len(lists) == 1
    text = lists[0].text
    for cause in ("Hip flexor strains", "Hamstring strains", "Hip alignment issues", "Groin pulls or tears", "Strength imbalances", "IT band syndrome", "Piriformis syndrome", "Hip bursitis", "Stress fractures", "Impinged sciatic nerve", "General injury"):
        assert cause in text
    assert lists[0].section == "What can cause hip pain from running?"


# -- the splitter on its own ---------------------------------------------------------------


def test_splitter_handles_abbreviations_and_decimals():
    text = "See Dr. Smith for a 2.5 km test. He uses ice, e.g. twice a day. Then rest!"
    assert [text[s:e] for s, e in split_sentences(text, 0, len(text))] == [
        "See Dr. Smith for a 2.5 km test.",
        "He uses ice, e.g. twice a day.",
        "Then rest!",
    ]


def test_splitter_offsets_survive_repeated_sentences_and_an_offset_start():
    text = "xxHold for 10 breaths. Switch sides. Hold for 10 breaths. Switch sides.  "
    spans = split_sentences(text, 2, len(text))
    assert [text[s:e] for s, e in spans] == ["Hold for 10 breaths.", "Switch sides.", "Hold for 10 breaths.", "Switch sides."]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_chunk_document_on_a_synthetic_article(tmp_path):
    body = " ".join(f"Sentence number {i} talks about hip pain in runners." for i in range(12))
    text = f"My Article\n\nIntro line one. Intro line two.\n\nFirst Heading\n\n{body}\n\nSecond Heading\n\n- Ice\n- Rest\n- Stretching\n\nLast words here.\n"
    doc = Document("d1", "My Article", "", "", "", Path(tmp_path / "d1.txt"), text)
    sentences, chunks = chunk_document(doc, ChunkingParams(chunk_words=30, overlap_sentences=1), first_sentence_id=7)
    assert sentences[0].id == 7
    assert [s.section for s in sentences[:2]] == ["My Article", "My Article"]
    assert [c.section for c in chunks].count("First Heading") >= 4  # 12 x 9 words at 30 words a chunk
    bullet_list = next(s for s in sentences if s.kind == "list")
    assert bullet_list.text == "Ice\n- Rest\n- Stretching" and bullet_list.section == "Second Heading"
    for chunk in chunks:
        assert chunk.text == text[chunk.start : chunk.end]
        assert "Heading" not in chunk.text

"""Sentences and chunks, both located by character offsets in the original article.

Sentences are the units the answer composer quotes; chunks are what retrieval ranks.
A chunk is a run of consecutive sentences of one section (never crossing a heading),
about `chunk_words` long, overlapping its neighbour by `overlap_sentences`.
A run of short list items ("Hip flexor strains", "Hamstring strains", ...) forms a single
unit: quoting one fragment on its own would say nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import pysbd

from index.cleaning import Block, Section, sectionize
from index.documents import Document

SHORT_ITEM_WORDS = 6


@dataclass(frozen=True)
class ChunkingParams:
    chunk_words: int = 90
    overlap_sentences: int = 1
    splitter: str = "pysbd"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Sentence:
    id: int
    doc_id: str
    section: str
    start: int
    end: int
    text: str  # == document.text[start:end]
    kind: str  # "sentence" | "list"


@dataclass(frozen=True)
class Chunk:
    id: str
    doc_id: str
    section: str
    start: int
    end: int
    text: str  # == document.text[start:end]
    sentence_ids: tuple[int, ...]


@lru_cache(maxsize=1)
def _segmenter() -> pysbd.Segmenter:
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each sentence of text[start:end], trimmed of surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    piece = text[start:end]
    cursor = 0
    for span in _segmenter().segment(piece):
        sentence = span.sent.strip()
        if not sentence:
            continue
        # Locate by search rather than trusting pysbd's offsets, which drift on repeats.
        found = piece.find(sentence, cursor)
        if found < 0:
            found = cursor
            sentence = piece[cursor : span.end].strip()
        spans.append((start + found, start + found + len(sentence)))
        cursor = found + len(sentence)
    if cursor < len(piece.rstrip()):  # pysbd dropped a tail: keep it rather than lose text
        tail = piece[cursor:].strip()
        tail_at = piece.find(tail, cursor)
        spans.append((start + tail_at, start + tail_at + len(tail)))
    return spans


def _units(text: str, blocks: list[Block]) -> list[tuple[int, int, str]]:
    units: list[tuple[int, int, str]] = []
    run: list[Block] = []

    def flush_run() -> None:
        if run:
            units.append((run[0].start, run[-1].end, "list"))
            run.clear()

    for block in blocks:
        words = len(text[block.start : block.end].split())
        is_fragment = block.kind == "item" and words <= SHORT_ITEM_WORDS and not text[block.start : block.end].rstrip().endswith((".", "!", "?"))
        if is_fragment:
            run.append(block)
            continue
        flush_run()
        units.extend((s, e, "sentence") for s, e in split_sentences(text, block.start, block.end))
    flush_run()
    return units


def chunk_document(doc: Document, params: ChunkingParams, *, first_sentence_id: int = 0) -> tuple[list[Sentence], list[Chunk]]:
    sections: list[Section] = sectionize(doc.text, title=doc.title, authors=(doc.author,))
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    next_id = first_sentence_id
    for section in sections:
        section_sentences = []
        for start, end, kind in _units(doc.text, section.blocks):
            section_sentences.append(Sentence(next_id, doc.doc_id, section.title, start, end, doc.text[start:end], kind))
            next_id += 1
        sentences.extend(section_sentences)
        chunks.extend(_pack(doc, section.title, section_sentences, params))
    return sentences, chunks


def _pack(doc: Document, section: str, sentences: list[Sentence], params: ChunkingParams) -> list[Chunk]:
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j, words = i, 0
        while j < len(sentences) and (j == i or words + len(sentences[j].text.split()) <= params.chunk_words):
            words += len(sentences[j].text.split())
            j += 1
        members = sentences[i:j]
        start, end = members[0].start, members[-1].end
        chunks.append(Chunk(f"{doc.doc_id}:{start}-{end}", doc.doc_id, section, start, end, doc.text[start:end], tuple(s.id for s in members)))
        if j >= len(sentences):
            break
        i = max(j - params.overlap_sentences, i + 1)
    return chunks


def chunk_corpus(docs: list[Document], params: ChunkingParams) -> tuple[list[Sentence], list[Chunk]]:
    sentences: list[Sentence] = []
    chunks: list[Chunk] = []
    for doc in docs:
        doc_sentences, doc_chunks = chunk_document(doc, params, first_sentence_id=len(sentences))
        sentences.extend(doc_sentences)
        chunks.extend(doc_chunks)
    return sentences, chunks


def collapse(text: str) -> str:
    """Whitespace runs as one space: the form in which quotes and passages are compared."""
    return " ".join(text.split())


def embedding_texts(units: Sequence[Sentence | Chunk], docs: Sequence[Document]) -> list[str]:
    """`embedding_text` of each sentence or chunk: what the index embeds, and what the
    encoder adapter is trained against."""
    titles = {doc.doc_id: doc.title for doc in docs}
    return [embedding_text(u.section, u.text, titles[u.doc_id]) for u in units]


def embedding_text(section: str, text: str, doc_title: str) -> str:
    """What the encoder sees: the passage with its heading as context.

    Headings such as "Hip flexor strain" or "Why do my hips hurt when I run?" say what a
    passage is about better than its first words do.
    """
    body = collapse(text)
    return body if section == doc_title else f"{section}: {body}"

"""The index artifact: one directory, one manifest, checked before anything is served.

Layout (all written by `index.build`, only read here):
    manifest.json        format version, model + corpus fingerprints, chunking parameters,
                         library versions, counts, build time, sha256 of every file below
    documents.json       article metadata and the text all offsets point into
    chunks.jsonl         chunks (doc_id, section, start, end, text, sentence ids)
    sentences.jsonl      sentences (doc_id, section, start, end, text, kind, tokens)
    chunks.faiss         normalised chunk vectors (FAISS)
    sentences.npy        normalised sentence vectors (the composer ranks sentences with them)
    bm25/                the lexical index (bm25s) over the chunks
    query_encoder.onnx   the model's transformer for query encoding at serve time
    tokenizer.json       its tokenizer (truncation 256, no padding)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.chunking import Chunk, Sentence
from index.documents import corpus_fingerprint
from index.embedding import model_dir, model_fingerprint

FORMAT_VERSION = 3  # 2: the query encoder is fused and int8; 3: a caption printed twice is kept once
MANIFEST = "manifest.json"
DOCUMENTS = "documents.json"
CHUNKS = "chunks.jsonl"
SENTENCES = "sentences.jsonl"
CHUNK_VECTORS = "chunks.faiss"
SENTENCE_VECTORS = "sentences.npy"
BM25_DIR = "bm25"
QUERY_ENCODER = "query_encoder.onnx"
TOKENIZER = "tokenizer.json"
BUILD_HINT = "run `stride index build` (or `make serve`, which rebuilds it)"


class IndexUnavailable(Exception):
    """The artifact cannot be served; str() is one line saying why and what to run."""


class IndexMissing(IndexUnavailable):
    pass


class IndexStale(IndexUnavailable):
    pass


class IndexCorrupt(IndexUnavailable):
    pass


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    title: str
    publisher: str
    author: str
    url: str
    file: str
    text: str


@dataclass(frozen=True)
class IndexArtifact:
    """Everything the service needs, loaded read-only."""

    path: Path
    manifest: dict[str, Any]
    documents: dict[str, DocumentInfo]
    chunks: list[Chunk]
    sentences: list[Sentence]
    sentence_tokens: list[frozenset[str]]
    sentence_vectors: np.ndarray
    chunk_index: Any  # faiss.Index
    bm25: Any  # bm25s.BM25

    @property
    def query_encoder_path(self) -> Path:
        return self.path / QUERY_ENCODER

    @property
    def tokenizer_path(self) -> Path:
        return self.path / TOKENIZER


def sha256_path(path: Path) -> str:
    digest = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for item in paths:
        digest.update(item.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        with item.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise IndexMissing(f"no index at {path}: {BUILD_HINT}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"index manifest {manifest_path} is unreadable ({exc.__class__.__name__}): {BUILD_HINT}") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexStale(f"index at {path} has format {manifest.get('format_version')!r}, this Stride reads {FORMAT_VERSION}: {BUILD_HINT}")
    return manifest


def staleness(manifest: dict[str, Any], corpus_dir: Path) -> str | None:
    """Why the artifact no longer matches the corpus or the installed model, or None."""
    built_corpus = manifest.get("corpus", {}).get("files", {})
    if not corpus_dir.is_dir():
        return f"corpus folder {corpus_dir} does not exist"
    current = corpus_fingerprint(corpus_dir)
    for name in sorted(set(built_corpus) | set(current)):
        if name not in current:
            return f"corpus file {name} was removed"
        if name not in built_corpus:
            return f"corpus file {name} was added"
        if built_corpus[name] != current[name]:
            return f"corpus file {name} changed"
    if manifest.get("model", {}).get("sha256") != model_fingerprint(model_dir())["sha256"]:
        return "the embedding model changed"
    return None


def verify_files(path: Path, manifest: dict[str, Any]) -> None:
    for name, expected in manifest.get("files", {}).items():
        target = path / name
        if not target.exists():
            raise IndexCorrupt(f"index file {target} is missing: {BUILD_HINT}")
        if sha256_path(target) != expected:
            raise IndexCorrupt(f"index file {target} is corrupt (checksum mismatch): {BUILD_HINT}")


def check(path: Path, corpus_dir: Path) -> dict[str, Any]:
    """The manifest of a servable artifact; raises IndexMissing/IndexStale/IndexCorrupt otherwise."""
    manifest = read_manifest(path)
    reason = staleness(manifest, corpus_dir)
    if reason:
        raise IndexStale(f"index at {path} is stale ({reason}): {BUILD_HINT}")
    verify_files(path, manifest)
    return manifest


def load(path: Path, corpus_dir: Path) -> IndexArtifact:
    from index import lexical, vectorstore

    manifest = check(path, corpus_dir)
    try:
        documents = {d["doc_id"]: DocumentInfo(**d) for d in json.loads((path / DOCUMENTS).read_text(encoding="utf-8"))}
        chunk_rows = [json.loads(line) for line in (path / CHUNKS).read_text(encoding="utf-8").splitlines()]
        sentence_rows = [json.loads(line) for line in (path / SENTENCES).read_text(encoding="utf-8").splitlines()]
        chunks = [Chunk(**{**row, "sentence_ids": tuple(row["sentence_ids"])}) for row in chunk_rows]
        sentences = [Sentence(**{k: v for k, v in row.items() if k != "tokens"}) for row in sentence_rows]
        sentence_tokens = [frozenset(row["tokens"]) for row in sentence_rows]
        sentence_vectors = np.load(path / SENTENCE_VECTORS)
        chunk_index = vectorstore.load(path / CHUNK_VECTORS)
        bm25 = lexical.load(path / BM25_DIR)
    except Exception as exc:  # any parse failure of a checksummed file means a broken build
        raise IndexCorrupt(f"index at {path} could not be read ({exc.__class__.__name__}: {exc}): {BUILD_HINT}") from exc
    if chunk_index.ntotal != len(chunks) or len(sentence_vectors) != len(sentences):
        raise IndexCorrupt(f"index at {path} has mismatched counts: {BUILD_HINT}")
    return IndexArtifact(path, manifest, documents, chunks, sentences, sentence_tokens, sentence_vectors, chunk_index, bm25)

"""Build the index artifact from the corpus: clean, section, chunk, embed, index, write.

Deterministic: the same corpus and model give the same chunk ids and vectors. The new
artifact is written beside the old one and swapped in only when complete, so a failed
build never leaves a half-written index behind.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np

from index import artifact, embedding, lexical, vectorstore
from index.chunking import ChunkingParams, chunk_corpus, embedding_texts
from index.documents import corpus_fingerprint, load_corpus

LIBRARIES = ("sentence-transformers", "torch", "transformers", "faiss-cpu", "bm25s", "pysbd", "onnxruntime", "numpy")


def build(corpus_dir: Path, out_dir: Path, params: ChunkingParams | None = None, *, progress: bool = False) -> dict:
    """Write a complete artifact to out_dir and return its manifest."""
    params = params or ChunkingParams()
    started = time.perf_counter()
    docs = load_corpus(corpus_dir)
    sentences, chunks = chunk_corpus(docs, params)
    chunk_texts = embedding_texts(chunks, docs)
    sentence_texts = embedding_texts(sentences, docs)

    path = embedding.model_dir()
    model = embedding.load_sentence_transformer(path)
    vectors = embedding.encode(model, chunk_texts + sentence_texts, progress=progress)
    chunk_vectors, sentence_vectors = vectors[: len(chunks)], vectors[len(chunks) :]

    staging = out_dir.with_name(out_dir.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _write_json(staging / artifact.DOCUMENTS, [_document_row(doc) for doc in docs])
    _write_jsonl(staging / artifact.CHUNKS, [{**asdict(c), "sentence_ids": list(c.sentence_ids)} for c in chunks])
    sentence_tokens = lexical.tokens([s.text for s in sentences])
    _write_jsonl(staging / artifact.SENTENCES, [{**asdict(s), "tokens": sorted(set(t))} for s, t in zip(sentences, sentence_tokens)])
    vector_index = vectorstore.build(chunk_vectors)
    vectorstore.save(vector_index, staging / artifact.CHUNK_VECTORS)
    np.save(staging / artifact.SENTENCE_VECTORS, sentence_vectors)
    lexical.save(lexical.build(chunk_texts), staging / artifact.BM25_DIR)
    embedding.export_onnx(model, staging / artifact.QUERY_ENCODER)
    _write_tokenizer(path / "tokenizer.json", staging / artifact.TOKENIZER)

    files = {p.name: artifact.sha256_path(p) for p in sorted(staging.iterdir())}
    manifest = {
        "format_version": artifact.FORMAT_VERSION,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 2),
        "model": {**embedding.model_fingerprint(path), "max_seq_length": embedding.MAX_SEQ_LENGTH, "dimensions": int(vectors.shape[1])},
        "corpus": {"files": corpus_fingerprint(corpus_dir)},
        "chunking": params.as_dict(),
        "query_encoder": embedding.QUERY_ENCODER_RECIPE,
        "vector_index": type(vector_index).__name__,
        "libraries": {name: version(name) for name in LIBRARIES},
        "counts": {"documents": len(docs), "chunks": len(chunks), "sentences": len(sentences)},
        "files": files,
    }
    _write_json(staging / artifact.MANIFEST, manifest)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
    return manifest


def _document_row(doc) -> dict:
    return {"doc_id": doc.doc_id, "title": doc.title, "publisher": doc.publisher, "author": doc.author, "url": doc.url, "file": doc.path.name, "text": doc.text}


def _write_tokenizer(source: Path, target: Path) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(source))
    # The shipped tokenizer pads every input to 128 tokens: 4x the work for a short query.
    tokenizer.no_padding()
    tokenizer.enable_truncation(embedding.MAX_SEQ_LENGTH)
    tokenizer.save(str(target))


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows), encoding="utf-8")

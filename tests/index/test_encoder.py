"""The serve-time ONNX query encoder agrees with sentence-transformers, the encoder that
embedded the passages: same tokenisation, truncation, pooling and normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from index.embedding import MAX_SEQ_LENGTH, encode, load_sentence_transformer, model_dir
from service.encoder import QueryEncoder

LONG = " ".join(
    [
        "Hip pain while running can be caused by a variety of factors such as muscle strains, tendinitis, impingement, osteoarthritis and labral tears.",
        "Strengthening the glutes, hip flexors and core, warming up properly, foam rolling, choosing supportive shoes and increasing mileage gradually all help.",
    ]
    * 12
)

TEXTS = [
    "why do my hips hurt when I run",
    "ice",
    "How long should I ice my hip? 15-20 minutes?",
    "Piriformis syndrome: the piriformis muscle in the buttock irritates the sciatic nerve.",
    "Meine Hüfte schmerzt beim Laufen – was tun?",  # non-English, umlauts, en dash
    "It’s “IT band syndrome”, isn’t it…",  # curly quotes and ellipsis
    "HIP POINTER!!! after a fall 🙁",
    "a b c d e f g",
    "Lie on your back with your knees bent and feet flat on the floor. Lift your hips towards the ceiling, squeezing your glutes at the top.",
    LONG,
]


@pytest.fixture(scope="module")
def query_encoder(artifact) -> QueryEncoder:
    return QueryEncoder(artifact.query_encoder_path, artifact.tokenizer_path)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    model = load_sentence_transformer(model_dir())
    assert model.max_seq_length == MAX_SEQ_LENGTH
    return encode(model, TEXTS)


def test_long_text_exceeds_the_model_window(query_encoder):
    assert len(query_encoder._tokenizer.encode(LONG, add_special_tokens=True).ids) == MAX_SEQ_LENGTH  # truncated
    from tokenizers import Tokenizer

    untruncated = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    untruncated.no_truncation()
    assert len(untruncated.encode(LONG).ids) > 2 * MAX_SEQ_LENGTH


def test_onnx_matches_sentence_transformers_one_at_a_time(query_encoder, reference):
    for text, expected in zip(TEXTS, reference):
        got = query_encoder.encode([text])[0]
        assert got.shape == expected.shape == (384,)
        assert abs(float(np.linalg.norm(got)) - 1.0) < 1e-5
        assert float(got @ expected) >= 0.999, text[:40]


def test_onnx_batch_with_padding_matches_single_encodes(query_encoder, reference):
    batch = query_encoder.encode(TEXTS)  # mixed lengths: padding must not leak into pooling
    cosines = np.sum(batch * reference, axis=1)
    assert cosines.min() >= 0.999, cosines
    singles = np.stack([query_encoder.encode([t])[0] for t in TEXTS])
    assert np.allclose(batch, singles, atol=1e-4)


def test_query_vectors_rank_the_index_like_the_build_encoder(query_encoder, reference, artifact):
    """Same top passages whichever encoder produced the query vector."""
    for i in range(3):
        _, onnx_ids = artifact.chunk_index.search(query_encoder.encode([TEXTS[i]]).astype(np.float32), 5)
        _, st_ids = artifact.chunk_index.search(reference[i : i + 1], 5)
        assert list(onnx_ids[0][:3]) == list(st_ids[0][:3]), TEXTS[i]

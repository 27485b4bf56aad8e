"""The serve-time ONNX query encoder agrees with sentence-transformers, the encoder that
embedded the passages: same tokenisation, truncation, pooling and normalisation.

The serve-time graph is int8 (index/embedding.py), so agreement is a cosine of at least
0.99, not equality: over the eval questions it is 0.996 at worst, and the eval answers did
not get worse (bench/RESULTS.md)."""

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


AGREEMENT = 0.99


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
        assert float(got @ expected) >= AGREEMENT, text[:40]


def test_onnx_batch_with_padding_matches_single_encodes(query_encoder, reference):
    """Padding must not leak into pooling. int8 activations are scaled per batch, so a text
    in a batch is close to, not equal to, itself alone: a follow-up's batch of two (the
    service's only batch) agrees as closely as single texts do; a batch of ten very
    different lengths, padded to 256 word pieces, a little less."""
    follow_up = [f"{TEXTS[0]} {TEXTS[2]}", TEXTS[2]]
    pair = query_encoder.encode(follow_up)
    for row, text in zip(pair, follow_up):
        assert float(row @ query_encoder.encode([text])[0]) >= AGREEMENT
    assert float(pair[1] @ reference[2]) >= AGREEMENT
    batch = query_encoder.encode(TEXTS)
    assert np.sum(batch * reference, axis=1).min() >= 0.98
    singles = np.stack([query_encoder.encode([t])[0] for t in TEXTS])
    assert np.sum(batch * singles, axis=1).min() >= 0.98


def test_query_vectors_rank_the_index_like_the_build_encoder(query_encoder, reference, artifact):
    """Same best passage whichever encoder produced the query vector, and mostly the same
    next ones (for a one-word query, ranks 2-3 are near ties)."""
    for i in range(3):
        _, onnx_ids = artifact.chunk_index.search(query_encoder.encode([TEXTS[i]]).astype(np.float32), 5)
        _, st_ids = artifact.chunk_index.search(reference[i : i + 1], 5)
        assert onnx_ids[0][0] == st_ids[0][0], TEXTS[i]
        assert len(set(onnx_ids[0][:3]) & set(st_ids[0][:3])) >= 2, TEXTS[i]

"""Query encoding at serve time: the build's ONNX export of the model on onnxruntime.

Same weights and pooling as the sentence-transformers encoder that embedded the
passages (cosine ≥ 0.9999, checked in tests), without importing torch: a worker is
ready in about a second and a short query costs ~5 ms on one core.

Two sessions over the same graph: the everyday one with `threads` intra-op threads
(1: under load, requests already run in parallel and more threads per encoding only
oversubscribe the cores), and a "solo" one with `solo_threads` threads used only for a request
answered alone (`solo_allowed`) while no other encoding is in flight. The forward pass is bound by reading ~40 MB of fp32 weights,
so a lone request gets its answer ~40% sooner on two cores (bench/RESULTS.md); under load
nearly every encoding overlaps another and takes the single-thread session. Both give
bit-identical outputs (the thread split does not change any reduction order; checked in
tests/index/test_encoder.py).
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MAX_TOKENS = 256

# Whether the caller is the only request being answered (the server sets it per request;
# the CLI and the evaluation answer one at a time). Checking other encodings in flight is
# not enough: under load the Python parts of other requests run between encodings, and
# two spinning threads would take their core.
solo_allowed: ContextVar[bool] = ContextVar("solo_allowed", default=True)


def _session(model_path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    if threads > 1:
        # Spinning workers pick up each of the graph's ~300 small ops without a wake-up
        # (without it two threads gain little: 5.4 vs 5.9 ms); they only spin while this
        # session runs, which is only when nothing else is encoding.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


class QueryEncoder:
    def __init__(self, model_path: Path, tokenizer_path: Path, *, threads: int = 1, solo_threads: int = 0) -> None:
        self._session = _session(model_path, threads)
        self._solo = _session(model_path, solo_threads) if solo_threads > max(1, threads) else None
        self._in_flight = 0
        self._lock = threading.Lock()
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalised mean-pooled embeddings, one row per text, in a single forward pass."""
        # Padded here, not by the tokenizer: its padding setting is shared state and
        # requests encode concurrently.
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
        states = self._run({"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        weights = mask[..., None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def _run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        with self._lock:
            alone = self._in_flight == 0
            self._in_flight += 1
        try:
            session = self._solo if alone and self._solo is not None and solo_allowed.get() else self._session
            return session.run(None, feed)[0]
        finally:
            with self._lock:
                self._in_flight -= 1

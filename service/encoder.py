"""Query encoding at serve time: the build's ONNX export of the model on onnxruntime.

Same weights, tokenisation and pooling as the sentence-transformers encoder that embedded
the passages, fused and quantized to int8 at build time (index/embedding.py): cosine to it
at least 0.99 (checked in tests; 0.996 at worst over the eval questions), without importing
torch. A worker is ready in about a second and a short query costs ~4 ms on one core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

MAX_TOKENS = 256


class QueryEncoder:
    def __init__(self, model_path: Path, tokenizer_path: Path, *, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalised mean-pooled embeddings, one row per text, in a single forward pass."""
        return self.run(self.tokenize(texts))

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """The model's inputs for `texts`, padded to the longest."""
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
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The forward pass (onnxruntime releases the GIL for it) and the pooling."""
        states = self._session.run(None, inputs)[0]
        weights = inputs["attention_mask"][..., None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

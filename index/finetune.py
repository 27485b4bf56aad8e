"""Adapting the embedding model to runners' questions: a LoRA adapter trained on the dev split.

all-MiniLM-L6-v2 was trained on general sentence pairs. Here a question like "hips r
killing me after long runs whats up" must land near "Overuse: Putting too much stress on
your hips by increasing mileage too quickly…", and the eval set's dev split holds ~940
such questions with their gold passages. Training low-rank updates (LoRA, Hu et al. 2021)
of every linear layer on those pairs raised retrieval recall@5 from 0.83 to 0.93 on dev
questions held out of training by writer, and key facts in the first 150 words from 0.82
to 0.88 (eval/EXPERIMENTS.md §9).

The adapter is small (~1.3 MB) and lives in the repository beside this file, like a lock
file: `stride index train` remakes it from the dev split (minutes on a 2-core CPU); the
index build merges it into the model before embedding, so passages, chunks and the
exported query encoder all use the adapted weights. The test split is never read here:
the adapter records the ids of the items it was trained on and a test checks they are all
dev items.

Objective: multiple-negatives ranking (InfoNCE) of each question against its gold
sentences and chunks, with the batch's other passages and some random passages of the
corpus as negatives (a passage that is gold for the question is never its negative).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from index.chunking import ChunkingParams, chunk_corpus, embedding_texts
from index.documents import load_corpus
from index.embedding import ModelMissingError

FORMAT = "stride-lora-1"
# Every linear layer of each transformer block: attention projections and feed-forward.
TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense")


class AdapterError(ModelMissingError):
    """The adapter file cannot be used with this model; str() says what to do."""


@dataclass(frozen=True)
class TrainingParams:
    """Chosen on dev questions held out of training by writer (eval/EXPERIMENTS.md §9)."""

    rank: int = 16
    alpha: float = 32.0
    epochs: float = 2.0
    learning_rate: float = 3e-4
    batch_size: int = 32
    extra_negatives: int = 32  # random corpus passages added to each batch's negatives
    scale: float = 20.0  # cosine -> logit
    seed: int = 0


@dataclass(frozen=True)
class Example:
    """A training question: the user turns joined, and where its gold passages are."""

    id: str
    text: str
    spans: tuple[tuple[str, int, int], ...]  # (doc_id, start, end) in the original article text


@dataclass(frozen=True)
class _Pair:
    text: str
    passage: int
    gold: frozenset[int]


def _lora(base: Any, rank: int, alpha: float, generator: Any) -> Any:
    """`base` (a frozen nn.Linear) as y = W x + (alpha / r) B A x, with B starting at zero so
    that training starts from the base model exactly. (Defined here, not at module level, so
    that reading an adapter's metadata needs no torch.)"""
    import torch

    class LoRALinear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = base
            self.scale = alpha / rank
            bound = 1.0 / math.sqrt(base.in_features)
            self.A = torch.nn.Parameter(torch.empty(rank, base.in_features).uniform_(-bound, bound, generator=generator))
            self.B = torch.nn.Parameter(torch.zeros(base.out_features, rank))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.base(x) + (x @ self.A.T @ self.B.T) * self.scale

    return LoRALinear()


def _module(root: Any, dotted: str) -> tuple[Any, str]:
    *path, leaf = dotted.split(".")
    for name in path:
        root = root[int(name)] if name.isdigit() else getattr(root, name)
    return root, leaf


def _targets(bert: Any) -> list[str]:
    return [f"encoder.layer.{i}.{t}" for i in range(len(bert.encoder.layer)) for t in TARGETS]


def training_pairs(corpus_dir: Path, examples: Sequence[Example], chunking: ChunkingParams | None = None) -> tuple[list[str], list[_Pair]]:
    """The passages as the index embeds them (sentences, then chunks) and one pair per
    (question, gold passage): a passage is gold when it overlaps a gold span."""
    docs = load_corpus(corpus_dir)
    sentences, chunks = chunk_corpus(docs, chunking or ChunkingParams())
    units = [*sentences, *chunks]
    passages = embedding_texts(units, docs)
    pairs = []
    for example in examples:
        gold = frozenset(i for i, u in enumerate(units) if any(doc == u.doc_id and u.start < end and start < u.end for doc, start, end in example.spans))
        pairs.extend(_Pair(example.text, passage, gold) for passage in sorted(gold))
    return passages, pairs


def data_fingerprint(examples: Sequence[Example]) -> str:
    digest = hashlib.sha256()
    for example in sorted(examples, key=lambda e: e.id):
        digest.update(json.dumps([example.id, example.text, example.spans]).encode())
    return digest.hexdigest()


def train(model: Any, corpus_dir: Path, examples: Sequence[Example], out: Path, params: TrainingParams | None = None, *, base_sha256: str, log: Any = None) -> dict[str, str]:
    """Train a LoRA adapter for `model` (a SentenceTransformer, left unchanged) and write it
    to `out`; returns the metadata stored with it."""
    import torch
    from safetensors.torch import save_file

    params = params or TrainingParams()
    passages, pairs = training_pairs(corpus_dir, examples)
    if not pairs:
        raise ValueError("no training pairs: no example's gold span overlaps a passage of the corpus")
    rng = random.Random(params.seed)
    torch.manual_seed(params.seed)
    generator = torch.Generator().manual_seed(params.seed)
    bert = model[0].auto_model
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad = False
    wrapped = {}
    for name in _targets(bert):
        parent, leaf = _module(bert, name)
        wrapped[name] = _lora(getattr(parent, leaf), params.rank, params.alpha, generator)
        setattr(parent, leaf, wrapped[name])
    trainable = [p for w in wrapped.values() for p in (w.A, w.B)]
    steps = max(1, int(math.ceil(len(pairs) / params.batch_size) * params.epochs))
    optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps))

    def embed(texts: list[str]) -> torch.Tensor:
        return torch.nn.functional.normalize(model(model.preprocess(texts))["sentence_embedding"], dim=-1)

    losses: list[float] = []
    started = time.perf_counter()
    model.train()
    try:
        step = 0
        while step < steps:
            order = list(range(len(pairs)))
            rng.shuffle(order)
            for first in range(0, len(order), params.batch_size):
                if step >= steps:
                    break
                batch = [pairs[i] for i in order[first : first + params.batch_size]]
                candidates = [p.passage for p in batch] + rng.sample(range(len(passages)), min(params.extra_negatives, len(passages)))
                logits = params.scale * embed([p.text for p in batch]) @ embed([passages[c] for c in candidates]).T
                # Another gold passage of the same question is not a negative.
                mask = torch.tensor([[j != i and c in pair.gold for j, c in enumerate(candidates)] for i, pair in enumerate(batch)])
                loss = torch.nn.functional.cross_entropy(logits.masked_fill(mask, -1e4), torch.arange(len(batch)))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(loss.item())
                step += 1
                if log is not None and (step % 10 == 0 or step == steps):
                    log(f"step {step}/{steps}: loss {sum(losses[-10:]) / len(losses[-10:]):.3f} ({time.perf_counter() - started:.0f} s)")
    finally:
        model.eval()
        for name, module in wrapped.items():  # put the frozen layers back: `model` is unchanged
            parent, leaf = _module(bert, name)
            setattr(parent, leaf, module.base)
        for p, flag in zip(model.parameters(), frozen):
            p.requires_grad = flag

    tensors = {}
    for name, module in wrapped.items():
        tensors[f"{name}.lora_A"] = module.A.detach().to(torch.float16).contiguous()
        tensors[f"{name}.lora_B"] = module.B.detach().to(torch.float16).contiguous()
    head = max(1, len(losses) // 10)
    metadata = {
        "format": FORMAT,
        "base_sha256": base_sha256,
        "params": json.dumps(asdict(params), sort_keys=True),
        "examples": str(len(examples)),
        "pairs": str(len(pairs)),
        "steps": str(steps),
        "loss_first": f"{sum(losses[:head]) / head:.4f}",
        "loss_last": f"{sum(losses[-head:]) / head:.4f}",
        "items": ",".join(sorted(e.id for e in examples)),
        "data_sha256": data_fingerprint(examples),
        "torch": torch.__version__,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(out.name + ".tmp")
    save_file(tensors, str(staging), metadata=metadata)
    staging.chmod(0o644)  # safetensors writes owner-only; the adapter is a project file
    staging.replace(out)
    return metadata


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        raise AdapterError(f"encoder adapter {path} is unreadable ({exc}): run `stride index train`") from exc
    if metadata.get("format") != FORMAT:
        raise AdapterError(f"encoder adapter {path} has format {metadata.get('format')!r}, this Stride reads {FORMAT}: run `stride index train`")
    return metadata


def apply(model: Any, path: Path, *, base_sha256: str) -> None:
    """Merge the adapter at `path` into `model`'s weights, in place: W += (alpha / r) B A."""
    import torch
    from safetensors.torch import load_file

    metadata = read_metadata(path)
    if metadata["base_sha256"] != base_sha256:
        raise AdapterError(f"encoder adapter {path} was trained for another version of the model: run `stride index train`")
    params = json.loads(metadata["params"])
    scale = params["alpha"] / params["rank"]
    tensors = load_file(str(path))
    bert = model[0].auto_model
    names = _targets(bert)
    if set(tensors) != {f"{n}.lora_{m}" for n in names for m in "AB"}:
        raise AdapterError(f"encoder adapter {path} does not fit this model's layers: run `stride index train`")
    with torch.no_grad():
        for name in names:
            parent, leaf = _module(bert, name)
            weight = getattr(parent, leaf).weight
            weight += scale * (tensors[f"{name}.lora_B"].float() @ tensors[f"{name}.lora_A"].float())

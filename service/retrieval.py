"""Hybrid retrieval: dense (FAISS) and BM25 fused by a weighted sum.

Fusion is a weighted sum of absolute scores rather than reciprocal rank fusion: ranks
throw away how good the best match is, and the abstention decision needs exactly that.
BM25 is squashed to [0, 1) with s / (s + saturation) so both sides share a scale.
Follow-up questions carry the earlier turns' topic in with `context_weight`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from index import lexical, vectorstore
from index.artifact import IndexArtifact

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class RetrievalParams:
    dense_weight: float = 0.75
    bm25_saturation: float = 2.0  # bm25s scores (no k1+1 factor): one rare word matched ≈ 1.4
    context_weight: float = 0.5
    candidates: int = 50


@dataclass(frozen=True)
class Query:
    text: str
    vector: np.ndarray  # normalised; already blended with the context for follow-ups
    tokens: list[str]
    context_tokens: list[str]  # earlier user turns' words, empty for self-contained questions


@dataclass(frozen=True)
class ScoredChunk:
    index: int  # position in artifact.chunks
    score: float
    dense: float
    lexical: float


class Retriever:
    def __init__(self, artifact: IndexArtifact, params: RetrievalParams | None = None) -> None:
        self.artifact = artifact
        self.params = params or RetrievalParams()
        self._bm25 = lexical.TermScores(artifact.bm25)

    def lexical_scores(self, query: Query) -> np.ndarray:
        raw = self._bm25.scores(query.tokens)
        if query.context_tokens:
            raw = raw + self.params.context_weight * self._bm25.scores(query.context_tokens)
        return raw / (raw + self.params.bm25_saturation)

    def search(self, query: Query, k: int = 5, mode: Mode = "hybrid") -> list[ScoredChunk]:
        total = len(self.artifact.chunks)
        dense = np.zeros(total, dtype=np.float32)
        if mode != "bm25":
            # Unretrieved chunks get the lowest retrieved score: a bound, never a bonus.
            scores, ids = vectorstore.search(self.artifact.chunk_index, query.vector, self.params.candidates)
            keep = ids >= 0
            dense[:] = scores[keep].min() if keep.any() else 0.0
            dense[ids[keep]] = scores[keep]
        lex = self.lexical_scores(query) if mode != "dense" else np.zeros(total, dtype=np.float32)
        w = {"hybrid": self.params.dense_weight, "dense": 1.0, "bm25": 0.0}[mode]
        fused = w * dense + (1.0 - w) * lex
        top = np.argsort(-fused, kind="stable")[:k]
        return [ScoredChunk(int(i), float(fused[i]), float(dense[i]), float(lex[i])) for i in top]

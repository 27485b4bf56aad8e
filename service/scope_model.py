"""A second opinion on the scope rules, learned from the eval set's dev split.

The scope rules and the vocabulary gate refuse a question the articles do not cover by
what it says: "how many mg", "my ankle", a subject no article names. Written against the
questions we have seen, they also refuse some covered questions worded in ways we have not
seen: "any form tweaks to take the load off them?" ("tweaks" named no subject we know),
"does core work do anything for running hips or is that more of a cycling thing?" (read as
a cross-training question). On writers in new voices those refusals were most of the wrongly
abstained answers (eval/EXPERIMENTS.md §12).

This model reads the question's meaning instead of its words: a logistic regression over
the query vector the request already computes (no second forward pass), fitted on the dev
split's answerable and uncovered questions. When a rule refuses but the model is nearly
sure the question is like the answerable ones, the question goes on to retrieval, where
the usual evidence thresholds still decide. The model never refuses anything itself, and
it never overrides the safety layer.

The fitted weights live beside this file, like the encoder adapter: they are tied to the
encoder that produced the training vectors, and are ignored (with a warning) when the index
was built with another one. `stride index train-scope` refits them after the adapter changes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("stride.scope_model")

DEFAULT_SCOPE_MODEL_PATH = Path(__file__).with_name("scope_model.json")
FORMAT = "stride-scope-logreg-1"


class ScopeModelError(ValueError):
    """The scope model file cannot be read; str() says why."""


@dataclass(frozen=True)
class FitParams:
    """Chosen on the dev split, holding out one writer's set at a time (EXPERIMENTS.md §12)."""

    c: float = 3.0  # inverse L2 strength, as in scikit-learn's LogisticRegression
    # Let a refused question through only when the model gives it at most this chance of
    # being uncovered. Low on purpose: a covered question wrongly refused costs one answer,
    # an uncovered one answered costs a guess.
    override_below: float = 0.03


@dataclass(frozen=True)
class ScopeModel:
    weights: np.ndarray  # (dimensions,)
    bias: float
    # The index manifest's model fingerprint (index.embedding.model_fingerprint: the base
    # model with the adapter merged in) when the training vectors were made.
    encoder: str
    override_below: float
    trained_on: tuple[str, ...] = ()  # eval item ids (all from the dev split)

    def uncovered(self, vector: np.ndarray) -> float:
        """The model's probability that the question is one the articles do not cover."""
        return 0.5 * (1.0 + math.tanh((float(vector @ self.weights) + self.bias) / 2))  # the logistic function, without overflow

    def overrides(self, vector: np.ndarray) -> bool:
        return self.uncovered(vector) < self.override_below

    @classmethod
    def fit(cls, vectors: np.ndarray, uncovered: Sequence[bool], encoder: str, ids: Sequence[str] = (), params: FitParams | None = None) -> ScopeModel:
        """L2-regularised logistic regression with classes weighted equally, by Newton's
        method (385 parameters: a handful of exact steps). The objective is scikit-learn's
        ``LogisticRegression(C=c, class_weight="balanced")``; the intercept is not penalised."""
        p = params or FitParams()
        y = np.asarray(uncovered, dtype=np.float64)
        n = len(y)
        positives = y.sum()
        if not 0 < positives < n:
            raise ScopeModelError("training needs both covered and uncovered questions")
        sample = np.where(y == 1, n / (2 * positives), n / (2 * (n - positives)))
        x = np.hstack([np.asarray(vectors, dtype=np.float64), np.ones((n, 1))])
        penalty = np.full(x.shape[1], 1.0 / p.c)
        penalty[-1] = 0.0
        theta = np.zeros(x.shape[1])
        for _ in range(50):
            prob = 1.0 / (1.0 + np.exp(-(x @ theta)))
            gradient = x.T @ (sample * (prob - y)) + penalty * theta
            hessian = (x * (sample * prob * (1 - prob))[:, None]).T @ x + np.diag(penalty)
            step = np.linalg.solve(hessian, gradient)
            theta -= step
            if np.abs(step).max() < 1e-9:
                break
        return cls(theta[:-1].astype(np.float32), float(theta[-1]), encoder, p.override_below, tuple(ids))

    def save(self, path: Path) -> None:
        data = {
            "format": FORMAT,
            "encoder": self.encoder,
            "override_below": self.override_below,
            "bias": self.bias,
            "weights": [round(float(w), 7) for w in self.weights],
            "trained_on": list(self.trained_on),
        }
        path.write_text(json.dumps(data, indent=0) + "\n")

    @classmethod
    def load(cls, path: Path = DEFAULT_SCOPE_MODEL_PATH) -> ScopeModel:
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise ScopeModelError(f"unknown format {data.get('format')!r} (expected {FORMAT})")
            return cls(np.asarray(data["weights"], dtype=np.float32), float(data["bias"]), str(data["encoder"]), float(data["override_below"]), tuple(data.get("trained_on", ())))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ScopeModelError(f"{path}: {exc}") from exc

    @classmethod
    def for_index(cls, path: Path, manifest: dict[str, Any]) -> ScopeModel | None:
        """The model if it was fitted on this index's encoder; None (rules alone) otherwise."""
        if not path.exists():
            log.warning("no scope model at %s; the scope rules decide alone", path)
            return None
        model = cls.load(path)
        if model.encoder != manifest["model"]["sha256"]:
            log.warning("scope model %s was fitted for another encoder; the scope rules decide alone (run `stride index train-scope`)", path)
            return None
        return model

"""The scope model: fitting, its file, its tie to the encoder, and where it may overrule."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from eval.items import load_items
from service.engine import Engine, Message
from service.scope_model import DEFAULT_SCOPE_MODEL_PATH, ScopeModel, ScopeModelError


def _model(bias: float, encoder: str = "any") -> ScopeModel:
    return ScopeModel(np.zeros(384, dtype=np.float32), bias, encoder, override_below=0.03)


def test_fit_separates_and_matches_the_regularised_optimum():
    rng = np.random.default_rng(0)
    direction = rng.normal(size=16)
    vectors = rng.normal(size=(400, 16))
    uncovered = vectors @ direction + rng.normal(scale=0.5, size=400) > 1.0  # unbalanced, like the eval set
    model = ScopeModel.fit(vectors, uncovered, "enc")
    p = np.array([model.uncovered(v) for v in vectors])
    assert p[uncovered].mean() > 0.8 > 0.2 > p[~uncovered].mean()
    # At the optimum the gradient vanishes: class-weighted residuals balance the L2 pull.
    n, pos = len(uncovered), uncovered.sum()
    weight = np.where(uncovered, n / (2 * pos), n / (2 * (n - pos)))
    residual = weight * (p - uncovered)
    assert abs(residual.sum()) < 1e-4  # intercept, unpenalised
    np.testing.assert_allclose(vectors.T @ residual + model.weights / 3.0, 0, atol=1e-3)


def test_fit_needs_both_kinds_of_question():
    with pytest.raises(ScopeModelError, match="both"):
        ScopeModel.fit(np.ones((4, 3)), [True] * 4, "enc")


def test_saved_model_loads_the_same(tmp_path: Path):
    model = ScopeModel.fit(np.random.default_rng(1).normal(size=(50, 384)), [i % 3 == 0 for i in range(50)], "enc", [f"x-{i}" for i in range(50)])
    model.save(tmp_path / "m.json")
    loaded = ScopeModel.load(tmp_path / "m.json")
    vector = np.random.default_rng(2).normal(size=384).astype(np.float32)
    assert loaded.uncovered(vector) == pytest.approx(model.uncovered(vector), abs=1e-5)
    assert (loaded.encoder, loaded.override_below, loaded.trained_on) == (model.encoder, model.override_below, model.trained_on)


@pytest.mark.parametrize("text", ["", "{}", '{"format": "other"}', '{"format": "stride-scope-logreg-1", "weights": "x"}'])
def test_a_damaged_file_is_refused_with_its_name(tmp_path: Path, text: str):
    path = tmp_path / "m.json"
    path.write_text(text)
    with pytest.raises(ScopeModelError, match="m.json"):
        ScopeModel.load(path)


def test_a_model_fitted_for_another_encoder_is_ignored(artifact, tmp_path: Path, caplog):
    path = tmp_path / "m.json"
    _model(-50.0, encoder="someone else's encoder").save(path)
    with caplog.at_level(logging.WARNING, logger="stride.scope_model"):
        assert ScopeModel.for_index(path, artifact.manifest) is None
    assert "another encoder" in caplog.text
    assert ScopeModel.for_index(tmp_path / "missing.json", artifact.manifest) is None


def test_the_committed_model_fits_the_index_and_was_fitted_on_dev_items_only(engine: Engine):
    committed = ScopeModel.load(DEFAULT_SCOPE_MODEL_PATH)
    assert committed.encoder == engine.artifact.manifest["model"]["sha256"]  # else: stride index train-scope
    assert engine.scope_model is not None
    dev = {item.id for item in load_items("dev")}
    assert committed.trained_on and set(committed.trained_on) <= dev
    assert not set(committed.trained_on) & {item.id for item in load_items("test")}
    assert json.loads(DEFAULT_SCOPE_MODEL_PATH.read_text())["format"] == "stride-scope-logreg-1"


def _with(engine: Engine, model: ScopeModel | None) -> Engine:
    return Engine(engine.artifact, engine.encoder, engine.safety, engine.scope, scope_model=model)


def test_the_model_lets_a_refused_question_through_only_to_the_evidence_thresholds(engine: Engine):
    refused = [Message("user", "Does core work actually do anything for running hips or is that more of a cycling thing?")]
    off_topic = [Message("user", "Write me a Python function that sorts a list by a key.")]
    never, always = _with(engine, _model(50.0)), _with(engine, _model(-50.0))
    assert never.answer(refused).abstained
    through = always.answer(refused)
    assert not through.abstained and through.citations and "overruled" in through.debug
    # Let through, an off-topic question still finds no evidence and abstains.
    assert always.answer(off_topic).abstained


@pytest.mark.parametrize(
    "message, level",
    [
        ("I crashed my bike and now I can't put any weight on my leg and it looks shorter", "emergency"),
        ("hip is hot, swollen and I have a fever of 39", "emergency"),
        ("my calf has been swollen and painful since the long flight home", "urgent"),
    ],
)
def test_the_model_never_overrules_a_warning_sign(engine: Engine, message: str, level: str):
    result = _with(engine, _model(-50.0)).answer([Message("user", message)])
    assert result.safety.level == level and not result.citations

"""The encoder adapter: training on gold pairs, merging, refusing a misfit, and the committed
adapter's provenance (trained on dev items only, for the installed model, used by the index)."""

from __future__ import annotations

import numpy as np
import pytest

from eval.items import load_items, locate_gold
from index import embedding, finetune
from index.artifact import read_manifest
from index.documents import load_corpus


@pytest.fixture(scope="module")
def texts(settings) -> dict[str, str]:
    return {doc.doc_id: doc.text for doc in load_corpus(settings.corpus_dir)}


def example(item, texts) -> finetune.Example:
    spans = tuple((g.doc_id, start, end) for g in locate_gold(item, texts) for start, end in g.spans)
    return finetune.Example(item.id, " ".join(item.messages), spans)


def test_pairs_are_the_passages_overlapping_the_gold(settings, texts):
    text = texts["002_35260b83777a9522"]
    quote = "Bursitis is a condition where fluid-filled sacs called bursae form on muscles, tendons, and bones."
    start = text.index(quote)
    passages, pairs = finetune.training_pairs(settings.corpus_dir, [finetune.Example("x-001", "what is bursitis", (("002_35260b83777a9522", start, start + len(quote)),))])
    assert pairs and all(p.text == "what is bursitis" for p in pairs)
    assert all(quote in passages[p.passage] for p in pairs)  # the sentence itself, and every chunk holding it
    assert len(pairs) >= 2 and all(p.gold == frozenset(q.passage for q in pairs) for p in pairs)


def test_training_moves_questions_towards_their_gold_and_merges_into_the_model(settings, texts, tmp_path):
    """A few steps on a few real dev questions (a high learning rate, so that a few steps
    show): the questions come closer to their gold passages, the model passed in is left
    as it was, and the saved adapter merged into a fresh model gives the trained encoding."""
    items = [i for i in load_items("dev") if i.expect == "answer" and i.category == "factual"][:6]
    examples = [example(i, texts) for i in items]
    passages, pairs = finetune.training_pairs(settings.corpus_dir, examples)
    path = embedding.model_dir()
    model = embedding.load_sentence_transformer(path, adapter=None)

    def gold_cosine(m) -> float:
        questions = m.encode([p.text for p in pairs], normalize_embeddings=True)
        gold = m.encode([passages[p.passage] for p in pairs], normalize_embeddings=True)
        return float(np.mean(np.sum(questions * gold, axis=1)))

    before = gold_cosine(model)
    out = tmp_path / "adapter.safetensors"
    params = finetune.TrainingParams(batch_size=8, extra_negatives=8, epochs=2, learning_rate=2e-3)
    metadata = finetune.train(model, settings.corpus_dir, examples, out, params, base_sha256=embedding.base_fingerprint(path))
    assert gold_cosine(model) == pytest.approx(before, abs=1e-6)  # training leaves the base model alone
    assert float(metadata["loss_last"]) < float(metadata["loss_first"])
    assert metadata["items"].split(",") == sorted(i.id for i in items)

    adapted = embedding.load_sentence_transformer(path, adapter=out)
    assert gold_cosine(adapted) > before + 0.02
    fingerprint = embedding.model_fingerprint(path, out)
    assert fingerprint["sha256"] != fingerprint["base_sha256"]  # a new adapter makes the index stale


def test_an_adapter_for_another_model_or_a_damaged_file_is_refused(settings, tmp_path):
    path = embedding.model_dir()
    model = embedding.load_sentence_transformer(path, adapter=None)
    with pytest.raises(finetune.AdapterError, match="another version of the model"):
        finetune.apply(model, embedding.ADAPTER, base_sha256="0" * 64)
    damaged = tmp_path / "adapter.safetensors"
    damaged.write_bytes(embedding.ADAPTER.read_bytes()[:1000])
    with pytest.raises(finetune.AdapterError, match="stride index train") as caught:
        finetune.apply(model, damaged, base_sha256=embedding.base_fingerprint(path))
    assert "\n" not in str(caught.value)


def test_the_committed_adapter_was_trained_on_dev_items_only():
    metadata = finetune.read_metadata(embedding.ADAPTER)
    trained = set(metadata["items"].split(","))
    splits = {item.id: item.split for item in load_items("all")}
    assert trained, "the adapter lists the items it was trained on"
    assert not trained - set(splits), f"trained on items no longer in the eval set: {sorted(trained - set(splits))[:5]}"
    assert {splits[i] for i in trained} == {"dev"}, "the adapter must never see a test item"
    assert metadata["base_sha256"] == embedding.base_fingerprint(embedding.model_dir())


def test_the_index_is_embedded_with_the_adapter(settings):
    manifest = read_manifest(settings.index_dir)
    adapter = manifest["model"]["adapter"]
    assert adapter["sha256"] == embedding.model_fingerprint(embedding.model_dir())["adapter"]["sha256"]
    assert adapter["trained_on_examples"] > 500


def test_an_index_embedded_without_the_adapter_is_stale(settings):
    from index.artifact import staleness

    manifest = read_manifest(settings.index_dir)
    assert staleness(manifest, settings.corpus_dir) is None
    manifest["model"]["sha256"] = manifest["model"]["base_sha256"]  # as built from the packaged model alone
    assert staleness(manifest, settings.corpus_dir) == "the embedding model changed"

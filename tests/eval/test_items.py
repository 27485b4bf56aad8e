"""The eval set itself: schema, verbatim gold quotes and split sizes (via eval/data/validate.py)."""

from __future__ import annotations

from collections import Counter

from eval.data import validate
from eval.items import ITEMS_PATH, collapse, load_items, locate, locate_gold


def test_validator_accepts_the_dataset(capsys) -> None:
    assert validate.validate(ITEMS_PATH, validate.DEFAULT_CORPUS, quiet=True) == 0, capsys.readouterr().out


def test_split_sizes_and_balance() -> None:
    items = load_items("all")
    assert len(items) >= validate.MIN_ITEMS
    splits = Counter(item.split for item in items)
    assert set(splits) == {"dev", "test"}
    # Test holds a fifth or more of every category (dev grew with blind-written items).
    assert splits["test"] >= validate.MIN_SPLIT_SHARE * len(items)
    assert len(load_items("dev")) == splits["dev"] and len(load_items("test")) == splits["test"]
    for category in validate.CATEGORIES:
        per = Counter(item.split for item in items if item.category == category)
        assert min(per["dev"], per["test"]) >= validate.MIN_SPLIT_SHARE * (per["dev"] + per["test"]), category


def test_every_gold_quote_is_located_at_original_offsets() -> None:
    corpus = {p.stem: p.read_text(encoding="utf-8") for p in validate.DEFAULT_CORPUS.iterdir() if p.suffix == ".txt"}
    for item in load_items("all"):
        evidence = locate_gold(item, corpus)
        assert len(evidence) == len({(g.doc_id, g.quote) for g in item.gold}), item.id
        for gold, found in zip(item.gold, evidence):
            start, end = found.spans[0]
            assert collapse(corpus[found.doc_id][start:end]) == collapse(gold.quote), item.id


def test_locate_maps_collapsed_matches_back_to_original_offsets() -> None:
    text = "  Rest\n\n up  when\tyou need.  Rest up again."
    assert locate(text, "Rest up") == [(2, 11), (29, 36)]
    assert locate(text, "up when you") == [(9, 21)]
    assert locate(text, "absent") == [] and locate(text, "   ") == []

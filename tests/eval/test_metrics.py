"""Each metric on small hand-computed examples, edge cases included."""

from __future__ import annotations

import math

import pytest

from eval import metrics as m
from eval.items import GoldEvidence
from eval.metrics import ItemResult, Span

# two gold quotes in doc "a": [10, 20) and [50, 60); one in doc "b" at [0, 5)
GOLD = [GoldEvidence("a", ((10, 20),)), GoldEvidence("a", ((50, 60),)), GoldEvidence("b", ((0, 5),))]
HIT1 = Span("a", 15, 30)  # overlaps gold 0
HIT2 = Span("a", 40, 51)  # overlaps gold 1
HIT3 = Span("b", 4, 9)  # overlaps gold 2
MISS = Span("a", 20, 50)  # touches both ends of a gold span but [start, end) shares no character
OTHER_DOC = Span("c", 10, 20)


def test_overlap_is_half_open_and_per_document() -> None:
    assert m.is_relevant(HIT1, GOLD) and m.is_relevant(HIT3, GOLD)
    assert not m.is_relevant(MISS, GOLD)
    assert not m.is_relevant(OTHER_DOC, GOLD)
    assert m.units_hit(Span("a", 0, 100), GOLD) == {0, 1}


def test_recall_at_k() -> None:
    ranking = [MISS, HIT1, HIT2, HIT1, HIT3]
    assert m.recall_at_k(ranking, GOLD, 1) == 0.0
    assert m.recall_at_k(ranking, GOLD, 3) == pytest.approx(2 / 3)
    assert m.recall_at_k(ranking, GOLD, 5) == 1.0
    # a gold quote found twice counts once; a quote occurring twice in the article is one unit
    assert m.recall_at_k([HIT1, HIT1], GOLD, 2) == pytest.approx(1 / 3)
    assert m.recall_at_k([Span("x", 100, 110)], [GoldEvidence("x", ((0, 5), (100, 105)))], 1) == 1.0


def test_mrr() -> None:
    assert m.mrr_at_k([MISS, OTHER_DOC, HIT2], GOLD) == pytest.approx(1 / 3)
    assert m.mrr_at_k([HIT1], GOLD) == 1.0
    assert m.mrr_at_k([MISS] * 10 + [HIT1], GOLD, 10) == 0.0  # beyond the cut-off


def test_ndcg() -> None:
    # relevant at ranks 2 and 3; 3 gold units -> ideal has relevant at ranks 1..3
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m.ndcg_at_k([MISS, HIT1, HIT2], GOLD) == pytest.approx(dcg / ideal)
    assert m.ndcg_at_k([HIT1, HIT2, HIT3], GOLD) == pytest.approx(1.0)
    # one gold quote straddling two relevant passages: clipped to 1
    one = [GoldEvidence("a", ((10, 20),))]
    assert m.ndcg_at_k([Span("a", 0, 12), Span("a", 12, 30)], one) == 1.0


def test_ideal_dcg_is_capped_at_k() -> None:
    gold = [GoldEvidence("a", ((i * 10, i * 10 + 5),)) for i in range(12)]
    ranking = [Span("a", i * 10, i * 10 + 5) for i in range(10)]
    assert m.ndcg_at_k(ranking, gold, 10) == pytest.approx(1.0)
    assert m.recall_at_k(ranking, gold, 5) == pytest.approx(5 / 12)


def test_retrieval_edge_cases() -> None:
    assert m.retrieval_scores([HIT1], []) is None  # no gold: excluded, not zero
    assert m.recall_at_k([], GOLD, 5) == 0.0 and m.mrr_at_k([], GOLD) == 0.0 and m.ndcg_at_k([], GOLD) == 0.0
    scores = m.retrieval_scores([HIT1, MISS, HIT2], GOLD)
    assert scores is not None and set(scores) == {"recall@1", "recall@3", "recall@5", "mrr@10", "ndcg@10"}
    assert scores["recall@1"] == pytest.approx(1 / 3) and scores["mrr@10"] == 1.0


def test_citation_verbatim() -> None:
    text = "Rest up\n when you   need to. Ice it."
    assert m.citation_verbatim("Rest up when you need to.", text, 0, 28)
    assert m.citation_verbatim("Ice it.", text, 29, 36)
    assert not m.citation_verbatim("Rest up\n when you   need to.", text, 0, 28)  # quotes are collapsed
    assert not m.citation_verbatim("Rest up when you need to.", text, 0, 27)  # wrong end
    assert not m.citation_verbatim("Ice it.", text, 30, 99)  # out of range
    assert not m.citation_verbatim("", text, 5, 5)  # empty span


def test_evidence_hit_and_citation_precision() -> None:
    assert m.evidence_hit([MISS, HIT2], GOLD) is True
    assert m.evidence_hit([MISS], GOLD) is False
    assert m.evidence_hit([], GOLD) is False  # zero citations: no evidence
    assert m.evidence_hit([HIT1], []) is None  # no gold: not applicable
    assert m.citation_precision([HIT1, MISS, HIT3, OTHER_DOC], GOLD) == 0.5
    assert m.citation_precision([], GOLD) is None  # zero citations: undefined, excluded
    assert m.citation_precision([HIT1], []) is None


def test_key_fact_recall() -> None:
    facts = [["tendinitis", "tendonitis"], ["rest ", "resting"], ["ice"]]
    answer = "Hip TENDONITIS\n is common [1]. Rest [2] and stretch."
    assert m.key_fact_hits(answer, facts) == [True, True, False]
    assert m.key_fact_recall(answer, facts) == pytest.approx(2 / 3)
    assert m.key_fact_recall(answer, []) is None
    assert m.key_fact_recall("", facts) == 0.0
    # only the first N words count for the windowed variant; the whole answer for the other
    late = " ".join(["word"] * 150) + " ice"
    assert m.key_fact_recall(late, [["ice"]]) == 0.0
    assert m.key_fact_recall(late, [["ice"]], max_words=None) == 1.0
    # citation markers are not words
    assert m.answer_words("Rest up. [1] Ice it [2]") == ["Rest", "up.", "Ice", "it"]


def test_safety_order() -> None:
    assert m.escalated_enough("emergency", "urgent") and m.escalated_enough("urgent", "urgent")
    assert not m.escalated_enough("see_doctor", "urgent") and not m.escalated_enough("none", "see_doctor")


def test_aggregation_helpers() -> None:
    assert m.mean([1.0, None, 0.0]) == 0.5 and m.mean([]) is None and m.mean([None]) is None
    assert m.percentile([1, 2, 3, 4], 50) == 2.5 and m.percentile([5], 95) == 5 and m.percentile([], 50) is None
    assert m.percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert m.median([3.0, 1.0, 2.0]) == 2.0
    assert m.precision_recall([(True, True), (False, True), (True, False), (False, False)]) == (0.5, 0.5)
    assert m.precision_recall([(True, False)]) == (None, 0.0)  # nothing predicted: precision undefined
    assert m.precision_recall([(False, False)]) == (None, None)


def result(expect: str, *, category: str = "factual", abstained: bool = False, level: str = "none", evidence: bool | None = None, kf: float | None = None, expected_level: str | None = None, citations: int = 0, ms: float = 10.0) -> ItemResult:
    r = ItemResult(
        id=f"{category}-000", category=category, expect=expect, expected_level=expected_level, messages=["q"],
        answer="one two three", abstained=abstained, level=level, rules=[],
        citations=[{"doc_id": "a", "start": 0, "end": 1, "quote": "x", "verbatim": True, "relevant": True}] * citations,
        latency_ms=ms, request_latencies_ms=[ms],
    )
    if expect == "answer":
        r.evidence_hit, r.key_fact_recall, r.key_fact_recall_full = evidence, kf, kf
    return r


def test_pass_definition() -> None:
    assert result("answer", evidence=True, kf=0.5).passed
    assert not result("answer", evidence=True, kf=0.4).passed
    assert not result("answer", evidence=False, kf=1.0).passed
    assert not result("answer", abstained=True, evidence=True, kf=1.0).passed
    assert not result("answer", level="urgent", evidence=True, kf=1.0).passed
    assert result("answer", level="see_doctor", evidence=True, kf=1.0).passed  # a notice is not a refusal
    assert result("abstain", abstained=True).passed and not result("abstain").passed
    assert result("escalate", level="emergency", expected_level="urgent").passed
    assert not result("escalate", level="see_doctor", expected_level="urgent").passed
    assert result("escalate", level="urgent").got == "escalate:urgent" and result("abstain", abstained=True).got == "abstain"
    assert result("escalate", level="see_doctor").got == "answer+see_doctor"


def test_summarize_hand_computed() -> None:
    results = [
        result("answer", evidence=True, kf=1.0, citations=2, ms=10),
        result("answer", abstained=True, evidence=False, kf=0.0, ms=20),
        result("abstain", category="out_of_scope", abstained=True, ms=30),
        result("abstain", category="adversarial", ms=40),
        result("answer", category="adversarial", abstained=True, evidence=False, kf=0.0, ms=50),
        result("escalate", category="red_flag", level="urgent", expected_level="emergency", ms=60),
        result("escalate", category="red_flag", level="emergency", expected_level="emergency", ms=70),
        result("answer", category="negated_flag", level="urgent", evidence=False, kf=0.0, ms=80),
        result("answer", category="negated_flag", level="see_doctor", evidence=True, kf=0.5, ms=90),
    ]
    s = m.summarize(results)
    assert s["n_items"] == 9
    assert s["pass_rate"] == pytest.approx(4 / 9)  # items 1, 3, 7, 9
    assert s["answered_when_covered"] == pytest.approx(2 / 5)
    assert s["wrongly_abstained_rate"] == pytest.approx(2 / 5)
    assert s["evidence_hit_rate"] == pytest.approx(2 / 5)
    assert s["key_fact_recall@150w"] == pytest.approx(1.5 / 5)
    # out_of_scope + adversarial: actual abstain = {3, 4}, predicted = {3, 5}
    assert s["abstention_precision_oos_adv"] == 0.5 and s["abstention_recall_oos_adv"] == 0.5
    # all: predicted = {2, 3, 5}, actual = {3, 4}
    assert s["abstention_precision"] == pytest.approx(1 / 3) and s["abstention_recall"] == 0.5
    assert s["escalation_recall"] == 0.5 and s["escalation_recall_any"] == 1.0
    assert s["false_escalation_rate"] == pytest.approx(1 / 7)
    assert s["see_doctor_rate_non_escalate"] == pytest.approx(1 / 7)
    assert s["citation_verbatim_rate"] == 1.0 and s["n_citations"] == 2
    assert s["citation_precision"] is None  # no item had citation_precision computed
    assert s["retrieval_recall@5"] is None  # no retrieval data (e.g. --url)
    assert s["latency_p50_ms"] == 50 and s["latency_p95_ms"] == pytest.approx(86.0)
    assert s["answer_words_mean"] == 3 and s["answer_words_median"] == 3  # the 2 answered answer items


def test_summarize_empty_subset_is_all_undefined() -> None:
    s = m.summarize([])
    assert s["n_items"] == 0 and s["n_citations"] == 0
    assert all(v is None for k, v in s.items() if not k.startswith("n_"))

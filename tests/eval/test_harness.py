"""The real harness, in-process, on a small slice of the eval set: report files, sane metrics, gate, compare."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from rich.console import Console

from eval import cli, gate
from eval.items import load_items
from eval.metrics import METRIC_NAMES, RATE_METRICS
from eval.runner import HttpTarget, InProcessTarget

PER_CATEGORY = 2  # 7 categories -> 14 items, multi-turn ones included


def slice_items() -> list:
    items, seen = [], {}
    for item in load_items("dev"):
        if seen.get(item.category, 0) < PER_CATEGORY:
            seen[item.category] = seen.get(item.category, 0) + 1
            items.append(item)
    return items


@pytest.fixture(scope="module")
def outcome(engine, tmp_path_factory):
    targets = [InProcessTarget(engine, mode) for mode in ("hybrid", *cli.BASELINE_MODES)]
    thresholds = gate.Thresholds("dev", "hybrid", {"citation_verbatim_rate": 1.0, "pass_rate": 1.01, "retrieval_recall@5": 0.0}, {"n_errors": 0})
    return cli.evaluate(targets, slice_items(), split="dev", target_desc="test slice", out=tmp_path_factory.mktemp("run") / "a", thresholds=thresholds)


def test_report_files(outcome) -> None:
    folder: Path = outcome.folder
    for name in ("report.json", "summary.md", "report.html", "per_category.png", "per_system.png", "latency.png"):
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # nothing loaded from the internet
    assert "<script" not in html
    assert "Failed items" in html and "per_category.png" in html
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert "| metric | full pipeline (hybrid) | BM25 only | dense only |" in summary


def test_metrics_are_sane(outcome) -> None:
    report = json.loads((outcome.folder / "report.json").read_text(encoding="utf-8"))
    assert set(report["systems"]) == {"hybrid", "bm25", "dense"}
    for system in report["systems"].values():
        assert system["overall"]["n_items"] == len(slice_items())
        # extractive: every quote verbatim (None only when a baseline cited nothing at all)
        assert system["overall"]["citation_verbatim_rate"] in ((1.0,) if system is report["systems"]["hybrid"] else (1.0, None))
        assert system["overall"]["retrieval_ndcg@10"] is not None
        for scope in [system["overall"], *system["per_category"].values()]:
            assert list(scope) == list(METRIC_NAMES)
            for name, value in scope.items():
                if name in RATE_METRICS and value is not None:
                    assert 0.0 <= value <= 1.0, (name, value)
        for item in system["items"]:
            assert item["got"] in {"answer", "abstain", "answer+see_doctor", "abstain+see_doctor", "escalate:urgent", "escalate:emergency"}
            assert item["latency_ms"] is not None and item["latency_ms"] >= 0
            assert item["error"] is None
            if item["category"] == "multi_turn":
                assert len(item["request_latencies_ms"]) == len(item["messages"])  # replayed turn by turn


def test_gate_reports_the_failing_metric(outcome) -> None:
    checks = {c["metric"]: c["status"] for c in outcome.gate["checks"]}
    assert checks == {"citation_verbatim_rate": "PASS", "pass_rate": "FAIL", "retrieval_recall@5": "PASS", "n_errors": "PASS"}
    assert outcome.gate["passed"] is False


def test_thresholds_file_is_valid() -> None:
    thresholds = gate.load_thresholds()
    assert thresholds.split == "test" and thresholds.system == "hybrid"
    assert thresholds.minimum["citation_verbatim_rate"] == 1.0
    assert {"false_escalation_rate", "wrongly_abstained_rate", "latency_p95_ms"} <= set(thresholds.maximum)


def test_compare_with_itself(outcome, tmp_path) -> None:
    console = Console(record=True, width=200)
    code = cli.run(split="dev", url=None, gate=False, compare=(outcome.folder, outcome.folder), baselines=True, out=tmp_path, console=console, load_engine=lambda: None)
    assert code == 0
    assert (tmp_path / "compare.md").is_file() and (tmp_path / "compare.html").is_file()
    text = console.export_text()
    assert "Items that flipped (0)" in text


def test_compare_missing_folder(tmp_path) -> None:
    code = cli.run(split="dev", url=None, gate=False, compare=(tmp_path, tmp_path), baselines=True, out=None, console=Console(file=open("/dev/null", "w")), load_engine=lambda: None)
    assert code == 2


@pytest.mark.skipif(importlib.util.find_spec("service.app") is None, reason="the HTTP app is not written yet")
def test_over_http(live_server, tmp_path) -> None:
    items = [i for i in slice_items() if i.category in ("factual", "multi_turn")][:3]
    target = HttpTarget(live_server)
    try:
        result = cli.evaluate([target], items, split="dev", target_desc=live_server, out=tmp_path)
    finally:
        target.close()
    overall = result.runs[0].overall
    assert overall["n_errors"] == 0
    assert overall["retrieval_recall@5"] is None  # not measurable over HTTP
    assert overall["citation_verbatim_rate"] in (None, 1.0)

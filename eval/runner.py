"""Run the eval items against a target (the in-process engine in one retrieval mode, or a
live server over HTTP) and score every item.

Multi-turn items are replayed turn by turn: each earlier user turn is sent with the
conversation so far and the target's own answer is appended as the assistant message;
only the last turn is scored.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eval import metrics
from eval.items import EvalItem, categories_in, locate_gold
from eval.metrics import ItemResult, Span

Turn = tuple[str, str]  # (role, content)
RETRIEVAL_K = 10
HTTP_MAX_CHARS = 4000  # the API's per-message limit (service/api/schemas.py MAX_CHARS)
SYSTEM_LABELS = {"hybrid": "full pipeline (hybrid)", "bm25": "BM25 only", "dense": "dense only", "http": "live server"}
WARMUP = [("user", "why does my hip hurt when I run?")]


class Target(Protocol):
    name: str
    supports_retrieval: bool

    def answer(self, turns: Sequence[Turn]) -> dict[str, Any]: ...

    def retrieve(self, turns: Sequence[Turn], k: int) -> list[Span] | None: ...

    def document_text(self, doc_id: str) -> str | None: ...


class InProcessTarget:
    """`Engine.answer` / `Engine.retrieve` with one retrieval mode (hybrid = the full pipeline)."""

    supports_retrieval = True

    def __init__(self, engine: Any, mode: str = "hybrid") -> None:
        from service.engine import Message

        self.engine = engine
        self.mode = mode
        self.name = mode
        self._message = Message

    def _messages(self, turns: Sequence[Turn]) -> list[Any]:
        return [self._message(role, content) for role, content in turns]  # type: ignore[arg-type]

    def answer(self, turns: Sequence[Turn]) -> dict[str, Any]:
        return self.engine.answer(self._messages(turns), mode=self.mode).payload()

    def retrieve(self, turns: Sequence[Turn], k: int) -> list[Span] | None:
        return [Span(p.doc_id, p.start, p.end) for p in self.engine.retrieve(self._messages(turns), k=k, mode=self.mode)]

    def document_text(self, doc_id: str) -> str | None:
        doc = self.engine.documents.get(doc_id)
        return None if doc is None else doc.text

    def config(self) -> dict[str, Any]:
        """The tunable settings in force (recorded in the report for EXPERIMENTS.md)."""
        found: dict[str, Any] = {"mode": self.mode}
        for name, obj in (("retrieval", getattr(getattr(self.engine, "retriever", None), "params", None)), ("composition", getattr(getattr(self.engine, "composer", None), "params", None)), ("abstain", getattr(self.engine, "abstain", None))):
            if obj is not None and dataclasses.is_dataclass(obj):
                found[name] = dataclasses.asdict(obj)  # type: ignore[arg-type]
        manifest = getattr(getattr(self.engine, "artifact", None), "manifest", None)
        if isinstance(manifest, dict):
            found["index"] = {k: manifest[k] for k in ("built_at", "counts", "chunking") if k in manifest}
        return found


class HttpTarget:
    """A running server: POST /api/chat and GET /api/documents/{doc_id}; no retrieval access."""

    supports_retrieval = False
    name = "http"

    def __init__(self, url: str, timeout: float = 30.0, retries: int = 5) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout)
        self.retries = retries
        self._docs: dict[str, str | None] = {}

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in range(self.retries + 1):
            response = self.client.request(method, self.url + path, **kwargs)
            if response.status_code == 429 and attempt < self.retries:  # rate limited: wait as told
                time.sleep(min(float(response.headers.get("retry-after", "1") or 1), 30.0))
                continue
            response.raise_for_status()
            return response.json()
        raise RuntimeError("unreachable")

    def answer(self, turns: Sequence[Turn]) -> dict[str, Any]:
        messages = [{"role": role, "content": content[:HTTP_MAX_CHARS]} for role, content in turns]
        return self._request("POST", "/api/chat", json={"messages": messages, "stream": False})

    def retrieve(self, turns: Sequence[Turn], k: int) -> list[Span] | None:
        return None

    def document_text(self, doc_id: str) -> str | None:
        if doc_id not in self._docs:
            try:
                self._docs[doc_id] = self._request("GET", f"/api/documents/{doc_id}")["text"]
            except Exception:
                self._docs[doc_id] = None
        return self._docs[doc_id]

    def config(self) -> dict[str, Any]:
        return {"url": self.url}

    def close(self) -> None:
        self.client.close()


@dataclass
class SystemRun:
    name: str
    label: str
    items: list[ItemResult]
    overall: dict[str, float | None]
    per_category: dict[str, dict[str, float | None]]
    config: dict[str, Any]


def _timed(target: Target, turns: Sequence[Turn]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    payload = target.answer(turns)
    return payload, (time.perf_counter() - started) * 1000.0


def score_item(target: Target, item: EvalItem) -> ItemResult:
    turns: list[Turn] = []
    latencies: list[float] = []
    payload: dict[str, Any] = {"answer": "", "citations": [], "safety": {"level": "none", "rules": []}, "abstained": False}
    error = None
    try:
        for earlier in item.messages[:-1]:
            turns.append(("user", earlier))
            previous, ms = _timed(target, turns)
            latencies.append(ms)
            turns.append(("assistant", previous.get("answer") or " "))
        turns.append(("user", item.question))
        payload, ms = _timed(target, turns)
        latencies.append(ms)
        ranking = target.retrieve(turns, RETRIEVAL_K) if target.supports_retrieval else None
    except Exception as exc:  # a failed request fails the item; the run goes on
        error = f"{type(exc).__name__}: {exc}"[:500]
        ranking = None

    texts = {doc_id: text for doc_id in {g.doc_id for g in item.gold} if (text := target.document_text(doc_id)) is not None}
    gold = locate_gold(item, texts)
    citations = []
    for c in payload.get("citations", []):
        text = target.document_text(c["doc_id"])
        span = Span(c["doc_id"], int(c["start"]), int(c["end"]))
        citations.append(
            {
                "doc_id": c["doc_id"],
                "start": span.start,
                "end": span.end,
                "quote": c["quote"],
                "verbatim": text is not None and metrics.citation_verbatim(c["quote"], text, span.start, span.end),
                "relevant": metrics.is_relevant(span, gold),
            }
        )
    safety = payload.get("safety") or {}
    result = ItemResult(
        id=item.id,
        category=item.category,
        expect=item.expect,
        expected_level=item.level,
        messages=list(item.messages),
        answer=payload.get("answer") or "",
        abstained=bool(payload.get("abstained")),
        level=safety.get("level") or "none",
        rules=list(safety.get("rules") or []),
        citations=citations,
        latency_ms=latencies[-1] if latencies and error is None else None,
        request_latencies_ms=latencies,
        error=error,
    )
    if item.expect == "answer":
        spans = [Span(c["doc_id"], c["start"], c["end"]) for c in citations]
        result.retrieval = metrics.retrieval_scores(ranking, gold) if ranking is not None else None
        result.evidence_hit = bool(metrics.evidence_hit(spans, gold))
        result.citation_precision = metrics.citation_precision(spans, gold)
        # Key facts only count in a real answer (the abstain/escalation texts mention topics too).
        text = result.answer if result.answered else ""
        result.key_facts_hit = metrics.key_fact_hits(text, item.key_facts)
        result.key_fact_recall = metrics.key_fact_recall(text, item.key_facts)
        result.key_fact_recall_full = metrics.key_fact_recall(text, item.key_facts, max_words=None)
    return result


def run_system(target: Target, items: Sequence[EvalItem], on_item: Callable[[ItemResult], None] | None = None) -> SystemRun:
    try:
        target.answer(WARMUP)  # first call pays one-off costs (thread pools, caches); don't time it
    except Exception:
        pass
    results = []
    for item in items:
        result = score_item(target, item)
        results.append(result)
        if on_item is not None:
            on_item(result)
    per_category = {cat: metrics.summarize([r for r in results if r.category == cat]) for cat in categories_in(items)}
    config = target.config() if hasattr(target, "config") else {}
    return SystemRun(target.name, SYSTEM_LABELS.get(target.name, target.name), results, metrics.summarize(results), per_category, config)

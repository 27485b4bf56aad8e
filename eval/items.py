"""The evaluation items (eval/data/items.jsonl) and their gold evidence located in the articles.

Gold quotes are stored whitespace-collapsed; `locate` finds them in an article's original
text with the same collapsing the validator uses and maps the match back to original
character offsets, which is what retrieved passages and citations are expressed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from eval.data.validate import CATEGORIES, LEVELS, collapse

__all__ = ["CATEGORIES", "LEVELS", "ITEMS_PATH", "EvalItem", "GoldEvidence", "Gold", "collapse", "load_items", "locate", "locate_gold"]

ITEMS_PATH = Path(__file__).resolve().parent / "data" / "items.jsonl"
SPLITS = ("dev", "test", "all")


@dataclass(frozen=True)
class Gold:
    doc_id: str
    quote: str


@dataclass(frozen=True)
class EvalItem:
    id: str
    split: str
    category: str
    messages: tuple[str, ...]
    expect: str  # answer | abstain | escalate
    level: str | None  # expected minimum safety level when expect == "escalate"
    gold: tuple[Gold, ...]
    key_facts: tuple[tuple[str, ...], ...]
    notes: str = ""

    @property
    def question(self) -> str:
        return self.messages[-1]


@dataclass(frozen=True)
class GoldEvidence:
    """One gold quote: every place it occurs, as [start, end) offsets into the original text."""

    doc_id: str
    spans: tuple[tuple[int, int], ...]


def load_items(split: str = "all", path: Path = ITEMS_PATH) -> list[EvalItem]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        if split != "all" and raw["split"] != split:
            continue
        items.append(
            EvalItem(
                id=raw["id"],
                split=raw["split"],
                category=raw["category"],
                messages=tuple(raw["messages"]),
                expect=raw["expect"],
                level=raw.get("level"),
                gold=tuple(Gold(g["doc_id"], g["quote"]) for g in raw["gold"]),
                key_facts=tuple(tuple(group) for group in raw["key_facts"]),
                notes=raw.get("notes", ""),
            )
        )
    return items


def locate(text: str, quote: str) -> list[tuple[int, int]]:
    """Every [start, end) span of `text` whose whitespace-collapsed form equals collapse(quote)."""
    words = quote.split()
    if not words:
        return []
    # The quote's words with any whitespace run between them; a lookahead so overlapping
    # occurrences are all found.
    pattern = re.compile("(?=(" + r"\s+".join(map(re.escape, words)) + "))")
    return [match.span(1) for match in pattern.finditer(text)]


def locate_gold(item: EvalItem, texts: Mapping[str, str]) -> list[GoldEvidence]:
    """The item's distinct gold quotes located in the articles (quotes not found are dropped)."""
    seen: set[tuple[str, str]] = set()
    evidence = []
    for gold in item.gold:
        key = (gold.doc_id, collapse(gold.quote))
        if key in seen or gold.doc_id not in texts:
            continue
        seen.add(key)
        spans = locate(texts[gold.doc_id], gold.quote)
        if spans:
            evidence.append(GoldEvidence(gold.doc_id, tuple(spans)))
    return evidence


def categories_in(items: Iterable[EvalItem]) -> list[str]:
    present = {item.category for item in items}
    return [c for c in CATEGORIES if c in present] + sorted(present - set(CATEGORIES))

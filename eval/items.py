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
_WS = re.compile(r"\s+")


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


def _collapsed_with_offsets(text: str) -> tuple[str, list[int]]:
    """`collapse(text)` plus, for each of its characters, the offset it came from in `text`."""
    out: list[str] = []
    where: list[int] = []
    pos = 0
    for match in _WS.finditer(text):
        for i in range(pos, match.start()):
            out.append(text[i])
            where.append(i)
        out.append(" ")
        where.append(match.start())
        pos = match.end()
    for i in range(pos, len(text)):
        out.append(text[i])
        where.append(i)
    # strip, as collapse() does
    lo, hi = 0, len(out)
    while lo < hi and out[lo] == " ":
        lo += 1
    while hi > lo and out[hi - 1] == " ":
        hi -= 1
    return "".join(out[lo:hi]), where[lo:hi]


def locate(text: str, quote: str) -> list[tuple[int, int]]:
    """Every [start, end) span of `text` whose whitespace-collapsed form equals collapse(quote)."""
    needle = collapse(quote)
    if not needle:
        return []
    haystack, where = _collapsed_with_offsets(text)
    spans = []
    i = haystack.find(needle)
    while i >= 0:
        spans.append((where[i], where[i + len(needle) - 1] + 1))
        i = haystack.find(needle, i + 1)
    return spans


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

#!/usr/bin/env python3
"""Validate the Stride evaluation test set (eval/data/items.jsonl).

Stdlib only. Usage:

    python eval/data/validate.py [path/to/items.jsonl] [--corpus DIR] [--quiet]

Checks
  * every line is a JSON object with the required fields and allowed values;
  * ids are unique;
  * `split` is "dev" or "test", and each split holds at least 20% of every category;
  * expect=answer  -> non-empty `gold`, 1-4 `key_facts` groups, no `level`;
    expect=abstain -> empty `gold` and `key_facts`, no `level`;
    expect=escalate-> empty `gold` and `key_facts`, `level` in emergency|urgent|see_doctor;
  * every gold `doc_id` is an article in the corpus and every gold `quote` occurs
    verbatim in that article after collapsing runs of whitespace to one space
    (Python's Unicode-aware `\\s`, so a no-break space counts as whitespace);
  * every key-fact group has at least one phrasing that occurs (case-insensitively)
    in one of the item's gold quotes, so the fact is reachable by an extractive answer;
  * multi_turn items have 2-3 user turns; every category has its usual `expect`
    (warnings only for the deliberate exceptions).

Prints a table of counts per category x split x expect. Exit status 1 on any error.
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_ITEMS = HERE / "items.jsonl"
DEFAULT_CORPUS = ROOT / "corpus"

CATEGORIES = ["factual", "paraphrase", "multi_turn", "out_of_scope", "red_flag", "negated_flag", "adversarial"]
EXPECTS = ["answer", "abstain", "escalate"]
LEVELS = ["emergency", "urgent", "see_doctor"]
SPLITS = ["dev", "test"]
REQUIRED = {"id", "split", "category", "messages", "expect", "gold", "key_facts"}
OPTIONAL = {"level", "notes"}
# the expect value a category normally has; other values are allowed where listed
USUAL_EXPECT = {
    "factual": {"answer"},
    "paraphrase": {"answer"},
    "multi_turn": {"answer", "abstain", "escalate"},
    "out_of_scope": {"abstain"},
    "red_flag": {"escalate"},
    "negated_flag": {"answer"},
    "adversarial": {"answer", "abstain"},
}
MIN_ITEMS = 200
MIN_SPLIT_SHARE = 0.2
ID_RE = re.compile(r"^[a-z_]+-\d{3}$")


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def load_corpus(corpus_dir: Path) -> dict[str, str]:
    docs = {}
    for p in sorted(corpus_dir.iterdir()):
        if p.suffix.lower() in {".txt", ".md", ".html"} and p.is_file():
            docs[p.stem] = collapse(p.read_text(encoding="utf-8"))
    return docs


def validate(items_path: Path, corpus_dir: Path, quiet: bool = False) -> int:
    docs = load_corpus(corpus_dir)
    errors: list[str] = []
    warnings: list[str] = []
    items = []

    if not docs:
        errors.append(f"no articles found in {corpus_dir}")

    with open(items_path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                errors.append(f"line {lineno}: blank line")
                continue
            try:
                it = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"line {lineno}: invalid JSON ({e})")
                continue
            if not isinstance(it, dict):
                errors.append(f"line {lineno}: not a JSON object")
                continue
            items.append((lineno, it))

    seen_ids: dict[str, int] = {}
    seen_msgs: dict[tuple, str] = {}
    for lineno, it in items:
        where = f"line {lineno} ({it.get('id', '?')})"

        def err(msg: str) -> None:
            errors.append(f"{where}: {msg}")

        keys = set(it)
        missing = REQUIRED - keys
        unknown = keys - REQUIRED - OPTIONAL
        if missing:
            err(f"missing fields {sorted(missing)}")
            continue
        if unknown:
            err(f"unknown fields {sorted(unknown)}")

        iid = it["id"]
        if not isinstance(iid, str) or not ID_RE.match(iid):
            err(f"bad id {iid!r} (want e.g. 'fact-017')")
        elif iid in seen_ids:
            err(f"duplicate id (first on line {seen_ids[iid]})")
        else:
            seen_ids[iid] = lineno

        if it["split"] not in SPLITS:
            err(f"split must be one of {SPLITS}, got {it['split']!r}")
        cat = it["category"]
        if cat not in CATEGORIES:
            err(f"category must be one of {CATEGORIES}, got {cat!r}")
        exp = it["expect"]
        if exp not in EXPECTS:
            err(f"expect must be one of {EXPECTS}, got {exp!r}")

        msgs = it["messages"]
        if not isinstance(msgs, list) or not msgs or not all(isinstance(m, str) for m in msgs):
            err("messages must be a non-empty list of strings")
        else:
            if not msgs[-1].strip():
                err("last message is empty")
            if cat == "multi_turn" and not 2 <= len(msgs) <= 3:
                err(f"multi_turn needs 2-3 user turns, got {len(msgs)}")
            key = tuple(collapse(m).lower() for m in msgs)
            if key in seen_msgs:
                err(f"duplicate messages (same as {seen_msgs[key]})")
            else:
                seen_msgs[key] = iid

        if "notes" in it and not isinstance(it["notes"], str):
            err("notes must be a string")

        # level
        if exp == "escalate":
            if it.get("level") not in LEVELS:
                err(f"escalate items need level in {LEVELS}, got {it.get('level')!r}")
        elif "level" in it:
            err("level is only allowed when expect == 'escalate'")

        gold, kf = it["gold"], it["key_facts"]
        if not isinstance(gold, list):
            err("gold must be a list")
            gold = []
        if not isinstance(kf, list):
            err("key_facts must be a list")
            kf = []

        if exp == "answer":
            if not gold:
                err("expect=answer needs at least one gold passage")
            if not 1 <= len(kf) <= 4:
                err(f"expect=answer needs 1-4 key_facts groups, got {len(kf)}")
        elif exp in ("abstain", "escalate"):
            if gold:
                err(f"expect={exp} must have an empty gold list")
            if kf:
                err(f"expect={exp} must have an empty key_facts list")

        quotes = []
        seen_gold = set()
        for g in gold:
            if not isinstance(g, dict) or set(g) != {"doc_id", "quote"}:
                err(f"gold entry must be {{doc_id, quote}}: {g!r}")
                continue
            doc, quote = g["doc_id"], g["quote"]
            if doc not in docs:
                err(f"unknown doc_id {doc!r}")
                continue
            if not isinstance(quote, str) or not quote.strip():
                err("empty gold quote")
                continue
            if quote != collapse(quote):
                err(f"gold quote has uncollapsed/leading/trailing whitespace: {quote[:60]!r}")
            if (doc, quote) in seen_gold:
                err(f"duplicate gold entry {quote[:60]!r}")
            seen_gold.add((doc, quote))
            if collapse(quote) not in docs[doc]:
                err(f"gold quote not found verbatim in {doc}: {quote[:80]!r}")
            quotes.append(collapse(quote).lower())

        blob = " \n ".join(quotes)
        for grp in kf:
            if not isinstance(grp, list) or not grp or not all(isinstance(p, str) and p.strip() for p in grp):
                err(f"each key_facts entry must be a non-empty list of non-empty strings: {grp!r}")
                continue
            for p in grp:
                if len(p.split()) > 6:
                    warnings.append(f"{where}: long key-fact phrasing {p!r}")
            if quotes and not any(p.lower() in blob for p in grp):
                err(f"no phrasing of key fact {grp!r} occurs in the item's gold quotes")

        if cat in USUAL_EXPECT and exp in EXPECTS and exp not in USUAL_EXPECT[cat]:
            err(f"category {cat} does not take expect={exp}")

    # split balance per category
    per_cat = defaultdict(Counter)
    for _, it in items:
        per_cat[it.get("category")][it.get("split")] += 1
    for cat, c in per_cat.items():
        n = c["dev"] + c["test"]
        # Each split keeps a fair share of every category: enough test items to gate on,
        # enough dev items to tune on (dev grew with three blind-written sets, all tuned on).
        if n and min(c["dev"], c["test"]) < MIN_SPLIT_SHARE * n:
            errors.append(f"category {cat}: unbalanced split dev={c['dev']} test={c['test']}")
    if len(items) < MIN_ITEMS:
        errors.append(f"only {len(items)} items; need at least {MIN_ITEMS}")

    print_table(items)

    if warnings and not quiet:
        print(f"\n{len(warnings)} warning(s):")
        for w in warnings:
            print("  WARN", w)
    if errors:
        print(f"\n{len(errors)} error(s):")
        for e in errors:
            print("  ERROR", e)
        return 1
    print(f"\nOK: {len(items)} items, {len(docs)} articles, all gold quotes found verbatim.")
    return 0


def print_table(items) -> None:
    counts = Counter((it.get("category"), it.get("split"), it.get("expect")) for _, it in items)
    cols = [(s, e) for s in SPLITS for e in EXPECTS]
    head = ["category"] + [f"{s}/{e}" for s, e in cols] + ["dev", "test", "total"]
    rows = []
    for cat in CATEGORIES:
        vals = [counts[(cat, s, e)] for s, e in cols]
        dev = sum(counts[(cat, "dev", e)] for e in EXPECTS)
        test = sum(counts[(cat, "test", e)] for e in EXPECTS)
        rows.append([cat] + vals + [dev, test, dev + test])
    tot = ["TOTAL"] + [sum(r[i] for r in rows) for i in range(1, len(head))]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, tot)]

    def fmt(r):
        return "  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w) for i, (x, w) in enumerate(zip(r, widths)))

    print(fmt(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(fmt(r))
    print("  ".join("-" * w for w in widths))
    print(fmt(tot))
    levels = Counter(it.get("level") for _, it in items if it.get("expect") == "escalate")
    print("escalation levels: " + ", ".join(f"{k}={levels[k]}" for k in LEVELS))


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    corpus = DEFAULT_CORPUS
    if "--corpus" in argv:
        i = argv.index("--corpus")
        corpus = Path(argv[i + 1])
        args = [a for a in args if a != argv[i + 1]]
    items_path = Path(args[0]) if args else DEFAULT_ITEMS
    return validate(items_path, corpus, quiet="--quiet" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

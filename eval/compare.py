"""`stride eval --compare A B`: metric deltas and pass/fail flips between two report folders."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from eval.metrics import METRIC_NAMES
from eval.report import expected_label, fmt, html_table, md_table, page, rich_table, short

@dataclass(frozen=True)
class Flip:
    system: str
    id: str
    category: str
    expected: str
    got_a: str
    got_b: str
    now_passes: bool
    question: str


@dataclass
class Comparison:
    a: Path
    b: Path
    report_a: dict[str, Any]
    report_b: dict[str, Any]
    systems: list[str]
    deltas: dict[str, dict[str, tuple[float | None, float | None]]]  # system -> metric -> (a, b), overall
    category_deltas: dict[str, dict[str, dict[str, tuple[float | None, float | None]]]]  # system -> category -> metric -> (a, b)
    flips: list[Flip]


def load_report(folder: Path) -> dict[str, Any]:
    path = folder / "report.json" if folder.is_dir() else folder
    return json.loads(path.read_text(encoding="utf-8"))


def compare(a: Path, b: Path) -> Comparison:
    ra, rb = load_report(a), load_report(b)
    systems = [s for s in ra["systems"] if s in rb["systems"]]
    deltas = {s: {m: (ra["systems"][s]["overall"].get(m), rb["systems"][s]["overall"].get(m)) for m in METRIC_NAMES} for s in systems}
    category_deltas: dict[str, dict[str, dict[str, tuple[float | None, float | None]]]] = {}
    for s in systems:
        pa, pb = ra["systems"][s]["per_category"], rb["systems"][s]["per_category"]
        category_deltas[s] = {c: {m: (pa[c].get(m), pb[c].get(m)) for m in METRIC_NAMES} for c in pa if c in pb}
    flips = []
    for s in systems:
        before = {i["id"]: i for i in ra["systems"][s]["items"]}
        for item in rb["systems"][s]["items"]:
            old = before.get(item["id"])
            if old is not None and old["passed"] != item["passed"]:
                flips.append(Flip(s, item["id"], item["category"], expected_label(item), old["got"], item["got"], item["passed"], item["messages"][-1]))
    return Comparison(a, b, ra, rb, systems, deltas, category_deltas, flips)


def delta_text(metric: str, pair: tuple[float | None, float | None]) -> str:
    a, b = pair
    if a is None or b is None:
        return f"{fmt(metric, a)} → {fmt(metric, b)}"
    diff = b - a
    shown = fmt(metric, abs(diff))
    if float(shown) == 0:
        return f"{fmt(metric, a)} → {fmt(metric, b)} (=)"
    return f"{fmt(metric, a)} → {fmt(metric, b)} ({'+' if diff > 0 else '-'}{shown})"


def output_folder(cmp: Comparison) -> Path:
    """The newer of the two report folders (by generation time)."""
    newer_b = cmp.report_b.get("generated_at", "") >= cmp.report_a.get("generated_at", "")
    folder = cmp.b if newer_b else cmp.a
    return folder if folder.is_dir() else folder.parent


def _tables(cmp: Comparison) -> tuple[tuple[list[str], list[list[str]]], tuple[list[str], list[list[str]]]]:
    labels = [cmp.report_b["systems"][s]["label"] for s in cmp.systems]
    metric_rows = [[m, *(delta_text(m, cmp.deltas[s][m]) for s in cmp.systems)] for m in METRIC_NAMES]
    flip_rows = [[f.system, f.id, f.category, f.expected, f.got_a, f.got_b, "fail → pass" if f.now_passes else "pass → fail", short(f.question, 100)] for f in cmp.flips]
    return (["metric", *labels], metric_rows), (["system", "id", "category", "expected", "got A", "got B", "flip", "question"], flip_rows)


def render(cmp: Comparison, folder: Path) -> None:
    (header, rows), (fheader, frows) = _tables(cmp)
    primary = cmp.systems[0] if cmp.systems else None
    intro = f"A = {cmp.a} ({cmp.report_a.get('generated_at')}, split {cmp.report_a.get('split')}), B = {cmp.b} ({cmp.report_b.get('generated_at')}, split {cmp.report_b.get('split')})"
    md = ["# Stride eval comparison", "", intro, "", "## Overall metrics (A → B)", "", md_table(header, rows)]
    htm = ["<h1>Stride eval comparison</h1>", f"<p>{html.escape(intro)}</p>", "<h2>Overall metrics (A → B)</h2>", html_table(header, rows)]
    if primary is not None:
        cats = list(cmp.category_deltas[primary])
        crows = [[m, *(delta_text(m, cmp.category_deltas[primary][c][m]) for c in cats)] for m in METRIC_NAMES]
        label = cmp.report_b["systems"][primary]["label"]
        md += ["", f"## {label}: per category (A → B)", "", md_table(["metric", *cats], crows)]
        htm += [f"<h2>{html.escape(label)}: per category (A → B)</h2>", html_table(["metric", *cats], crows)]
    md += ["", f"## Items that flipped: {len(frows)}", "", md_table(fheader, frows)]
    htm += [f"<h2>Items that flipped: {len(frows)}</h2>", html_table(fheader, frows, numeric_from=len(fheader))]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compare.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    (folder / "compare.html").write_text(page("Stride eval comparison", "\n".join(htm)), encoding="utf-8")


def print_comparison(cmp: Comparison, console: Console) -> None:
    (header, rows), (fheader, frows) = _tables(cmp)
    if cmp.report_a.get("split") != cmp.report_b.get("split"):
        console.print(f"[yellow]warning:[/yellow] the runs used different splits ({cmp.report_a.get('split')} vs {cmp.report_b.get('split')}); deltas compare different items")
    console.print(rich_table("Overall metrics, A → B", header, rows))
    console.print(f"[bold]Items that flipped ({len(cmp.flips)})[/bold]")
    for f in cmp.flips:
        colour = "green" if f.now_passes else "red"
        console.print(
            f"  [{colour}]{'fail → pass' if f.now_passes else 'pass → fail'}[/{colour}] {f.system} {f.id} ({f.category}, expected {f.expected}): {f.got_a} → {f.got_b} · {short(f.question, 70)}",
            highlight=False,
            soft_wrap=True,
        )

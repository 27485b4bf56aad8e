"""`stride eval`: run the items against the engine (and the baselines), write the report, gate, compare."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from eval import compare as compare_mod
from eval import gate as gate_mod
from eval import report as report_mod
from eval.items import SPLITS, EvalItem, load_items
from eval.runner import HttpTarget, InProcessTarget, SystemRun, Target, run_system

BASELINE_MODES = ("bm25", "dense")


@dataclass
class Outcome:
    report: dict[str, Any]
    runs: list[SystemRun]
    folder: Path
    gate: dict[str, Any] | None


def evaluate(
    targets: list[Target],
    items: list[EvalItem],
    *,
    split: str,
    target_desc: str,
    out: Path | None = None,
    thresholds: gate_mod.Thresholds | None = None,
    console: Console | None = None,
) -> Outcome:
    """Run every target on the items (the first is the system gated) and write the report folder."""
    stamp = report_mod.timestamp()
    folder = out or report_mod.REPORTS_DIR / stamp
    runs = []
    for target in targets:
        started = time.perf_counter()
        runs.append(run_system(target, items))
        if console is not None:
            console.print(f"[dim]{target.name}: {len(items)} items in {time.perf_counter() - started:.1f} s[/dim]", highlight=False)
    report = report_mod.build_report(runs, split=split, target=target_desc, generated_at=stamp)
    gate_result = None
    if thresholds is not None:
        gate_result = gate_mod.gate_record(gate_mod.check(runs[0].overall, thresholds), thresholds, split)
    report_mod.write_report(report, folder, gate_result)
    return Outcome(report, runs, folder, gate_result)


def run(
    *,
    split: str,
    url: str | None,
    gate: bool,
    compare: tuple[Path, Path] | None,
    baselines: bool,
    out: Path | None,
    console: Console,
    load_engine: Callable[[], Any],
) -> int:
    """`stride eval`; returns the exit status (0 ok, 1 gate failed, 2 usage error)."""
    if compare is not None:
        return _compare(compare, out, console)
    if split not in SPLITS:
        console.print(f"[red]error:[/red] --split must be one of {', '.join(SPLITS)}")
        return 2
    items = load_items(split)
    if not items:
        console.print(f"[red]error:[/red] no items in split {split!r}")
        return 2

    thresholds = None
    if gate:
        try:
            thresholds = gate_mod.load_thresholds()
        except (OSError, ValueError) as exc:
            console.print(f"[red]error:[/red] cannot read thresholds: {exc}")
            return 2
        if split != thresholds.split:
            console.print(f"[yellow]warning:[/yellow] thresholds are set for the {thresholds.split!r} split; gating the {split!r} split anyway")

    targets: list[Target]
    if url:
        targets = [HttpTarget(url)]
        target_desc = url
        if baselines:
            console.print("[dim]--url: retrieval metrics and the BM25/dense baselines need the in-process engine; reported as n/a[/dim]")
    else:
        engine = load_engine()
        targets = [InProcessTarget(engine, "hybrid")]
        if baselines:
            targets += [InProcessTarget(engine, mode) for mode in BASELINE_MODES]
        target_desc = "in-process engine"

    try:
        outcome = evaluate(targets, items, split=split, target_desc=target_desc, out=out, thresholds=thresholds, console=console)
    finally:
        for target in targets:
            if isinstance(target, HttpTarget):
                target.close()
    report, folder, gate_result = outcome.report, outcome.folder, outcome.gate
    report_mod.print_summary(report, console)
    console.print(f"report: {folder / 'report.html'}", highlight=False, soft_wrap=True)

    if gate_result is None:
        return 0
    failed = [c for c in gate_result["checks"] if c["status"] == "FAIL"]
    skipped = [c for c in gate_result["checks"] if c["status"] == "n/a"]
    if skipped:
        console.print("gate: not measurable here (skipped): " + ", ".join(c["metric"] for c in skipped), highlight=False, soft_wrap=True)
    if failed:
        for c in failed:
            relation = "below the minimum" if c["kind"] == "min" else "above the maximum"
            console.print(
                f"[red]gate FAILED:[/red] {c['metric']} = {report_mod.fmt(c['metric'], c['value'])} is {relation} {c['bound']}",
                highlight=False,
                soft_wrap=True,
            )
        return 1
    console.print(f"[green]gate passed[/green]: {len(gate_result['checks']) - len(skipped)} thresholds met", highlight=False)
    return 0


def _compare(paths: tuple[Path, Path], out: Path | None, console: Console) -> int:
    a, b = paths
    for p in (a, b):
        if not (p / "report.json" if p.is_dir() else p).is_file():
            console.print(f"[red]error:[/red] no report.json in {p}")
            return 2
    cmp = compare_mod.compare(a, b)
    folder = out or compare_mod.output_folder(cmp)
    compare_mod.render(cmp, folder)
    compare_mod.print_comparison(cmp, console)
    console.print(f"comparison: {folder / 'compare.html'}", highlight=False, soft_wrap=True)
    return 0

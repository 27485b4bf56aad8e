"""Write a run's report folder: report.json, summary.md, report.html (+ PNG charts) and the console table."""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from eval.metrics import KEY_FACT_WORDS, METRIC_NAMES, ItemResult
from eval.runner import SystemRun

ROOT = Path(__file__).resolve().parent.parent
REPORTS_DIR = Path(__file__).resolve().parent / "reports"
SCHEMA_VERSION = 1

# One-line meaning of each metric (shown under the tables).
METRIC_HELP: dict[str, str] = {
    "n_items": "items scored",
    "pass_rate": "share of items passing (answer: answered + evidence hit + key-fact recall ≥ 0.5; abstain: abstained; escalate: level ≥ expected)",
    "retrieval_recall@1": "share of gold quotes overlapped by the top 1 passage (expect=answer items)",
    "retrieval_recall@3": "… by the top 3 passages",
    "retrieval_recall@5": "… by the top 5 passages",
    "retrieval_mrr@10": "reciprocal rank of the first passage overlapping gold evidence",
    "retrieval_ndcg@10": "nDCG@10, binary gains, ideal from the number of gold quotes",
    "citation_verbatim_rate": "citations whose quote is exactly the (whitespace-collapsed) article text at their offsets; must be 1.0",
    "evidence_hit_rate": "expect=answer items with a citation overlapping a gold quote",
    "citation_precision": "ALCE-style: share of an answer's citations overlapping gold (items with ≥1 citation)",
    "key_fact_recall@150w": f"share of key facts found in the first {KEY_FACT_WORDS} words (0 when not answered)",
    "key_fact_recall_full": "share of key facts found anywhere in the answer",
    "answer_words_mean": "mean answer length in words (answered expect=answer items, citation markers excluded)",
    "answer_words_median": "median answer length in words",
    "answered_when_covered": "expect=answer items answered (not abstained, no urgent/emergency)",
    "wrongly_abstained_rate": "expect=answer items where the system abstained",
    "abstention_precision_oos_adv": "abstention precision on out_of_scope + adversarial",
    "abstention_recall_oos_adv": "abstention recall on out_of_scope + adversarial",
    "abstention_precision": "abstention precision on all items",
    "abstention_recall": "abstention recall on all items",
    "escalation_recall": "expect=escalate items with safety level ≥ the expected level",
    "escalation_recall_any": "expect=escalate items with any safety level above none",
    "false_escalation_rate": "items not expecting escalation that got urgent/emergency",
    "see_doctor_rate_non_escalate": "items not expecting escalation that got a see_doctor notice",
    "latency_p50_ms": "median latency per request (ms)",
    "latency_p95_ms": "95th percentile latency per request (ms)",
    "n_citations": "citations returned",
    "n_errors": "items whose request failed",
}


def fmt(name: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if name.startswith("n_"):
        return str(int(value))
    if name.startswith(("latency", "answer_words")):
        return f"{value:.1f}"
    return f"{value:.3f}"


def timestamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


# -- report.json --------------------------------------------------------------------------


def item_record(r: ItemResult) -> dict[str, Any]:
    return {
        "id": r.id,
        "category": r.category,
        "expect": r.expect,
        "expected_level": r.expected_level,
        "got": r.got,
        "passed": r.passed,
        "abstained": r.abstained,
        "level": r.level,
        "rules": r.rules,
        "key_facts_hit": r.key_facts_hit,
        "key_fact_recall": r.key_fact_recall,
        "key_fact_recall_full": r.key_fact_recall_full,
        "evidence_hit": r.evidence_hit,
        "citation_precision": r.citation_precision,
        "retrieval": r.retrieval,
        "latency_ms": None if r.latency_ms is None else round(r.latency_ms, 3),
        "request_latencies_ms": [round(ms, 3) for ms in r.request_latencies_ms],
        "n_citations": len(r.citations),
        "citations": r.citations,
        "messages": r.messages,
        "answer": r.answer,
        "error": r.error,
    }


def build_report(runs: Sequence[SystemRun], *, split: str, target: str, generated_at: str) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "generated_at": generated_at,
        "split": split,
        "target": target,
        "git": git_state(),
        "primary": runs[0].name,
        "metric_help": METRIC_HELP,
        "systems": {
            run.name: {
                "label": run.label,
                "config": run.config,
                "overall": run.overall,
                "per_category": run.per_category,
                "items": [item_record(r) for r in run.items],
            }
            for run in runs
        },
    }


# -- Markdown -----------------------------------------------------------------------------


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def systems_table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    systems = report["systems"]
    header = ["metric", *(systems[name]["label"] for name in systems)]
    rows = [[name, *(fmt(name, systems[s]["overall"].get(name)) for s in systems)] for name in METRIC_NAMES]
    return header, rows


def category_table(system: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    cats = list(system["per_category"])
    header = ["metric", "overall", *cats]
    rows = [[name, fmt(name, system["overall"].get(name)), *(fmt(name, system["per_category"][c].get(name)) for c in cats)] for name in METRIC_NAMES]
    return header, rows


def short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def expected_label(item: dict[str, Any]) -> str:
    return f"escalate:≥{item['expected_level']}" if item["expect"] == "escalate" else item["expect"]


def write_markdown(report: dict[str, Any], path: Path, gate: dict[str, Any] | None) -> None:
    parts = [
        "# Stride eval summary",
        "",
        f"- generated: {report['generated_at']} · split: **{report['split']}** · target: {report['target']}"
        f" · commit: {(report['git']['commit'] or 'n/a')[:12]}{' (dirty)' if report['git']['dirty'] else ''}",
        "",
        "## Overall: the three systems side by side",
        "",
        md_table(*systems_table(report)),
    ]
    for name, system in report["systems"].items():
        parts += ["", f"## {system['label']}: overall and per category", "", md_table(*category_table(system))]
    if gate is not None:
        parts += ["", f"## Gate ({'PASS' if gate['passed'] else 'FAIL'})", "", md_table(["metric", "value", "bound", "status"], [[c["metric"], fmt(c["metric"], c["value"]), f"{c['kind']} {c['bound']}", c["status"]] for c in gate["checks"]])]
    primary = report["systems"][report["primary"]]
    failed = [i for i in primary["items"] if not i["passed"]]
    parts += ["", f"## Failed items ({primary['label']}): {len(failed)}", ""]
    parts.append(md_table(["id", "category", "expected", "got", "question"], [[i["id"], i["category"], expected_label(i), i["got"], short(i["messages"][-1], 100)] for i in failed]))
    parts += ["", "## Metric definitions", ""] + [f"- `{k}`: {v}" for k, v in METRIC_HELP.items()]
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


# -- charts -------------------------------------------------------------------------------

CATEGORY_CHART_METRICS = ("pass_rate", "retrieval_recall@5", "evidence_hit_rate", "key_fact_recall@150w", "answered_when_covered", "abstention_recall", "escalation_recall")
SYSTEM_CHART_METRICS = ("retrieval_recall@1", "retrieval_recall@3", "retrieval_recall@5", "retrieval_mrr@10", "retrieval_ndcg@10", "evidence_hit_rate", "citation_precision", "key_fact_recall@150w", "answered_when_covered", "pass_rate")


def _bars(ax: Any, groups: Sequence[str], series: dict[str, Sequence[float | None]], ylabel: str) -> None:
    n = max(1, len(series))
    width = 0.8 / n
    for i, (label, values) in enumerate(series.items()):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, [float("nan") if v is None else v for v in values], width, label=label)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=min(4, n), loc="upper center", bbox_to_anchor=(0.5, -0.28))


@dataclass(frozen=True)
class Chart:
    file: str
    caption: str


def write_charts(report: dict[str, Any], folder: Path) -> list[Chart]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = report["systems"]
    primary = systems[report["primary"]]
    charts = []
    cats = list(primary["per_category"])

    fig, ax = plt.subplots(figsize=(10, 4.8))
    _bars(ax, cats, {m: [primary["per_category"][c].get(m) for c in cats] for m in CATEGORY_CHART_METRICS}, "score")
    ax.set_title(f"{primary['label']}: metrics per category (missing bar = not applicable)")
    fig.tight_layout()
    fig.savefig(folder / "per_category.png", dpi=100)
    plt.close(fig)
    charts.append(Chart("per_category.png", "Metrics per category, full pipeline"))

    if len(systems) > 1:
        fig, ax = plt.subplots(figsize=(10, 4.8))
        _bars(ax, list(SYSTEM_CHART_METRICS), {s["label"]: [s["overall"].get(m) for m in SYSTEM_CHART_METRICS] for s in systems.values()}, "score")
        ax.set_title("Overall metrics per system")
        fig.tight_layout()
        fig.savefig(folder / "per_system.png", dpi=100)
        plt.close(fig)
        charts.append(Chart("per_system.png", "Overall metrics per system (baselines)"))

        fig, ax = plt.subplots(figsize=(10, 4.8))
        _bars(ax, cats, {s["label"]: [s["per_category"].get(c, {}).get("pass_rate") for c in cats] for s in systems.values()}, "pass rate")
        ax.set_title("Pass rate per category and system")
        fig.tight_layout()
        fig.savefig(folder / "pass_rate_per_system.png", dpi=100)
        plt.close(fig)
        charts.append(Chart("pass_rate_per_system.png", "Pass rate per category and system"))

    fig, ax = plt.subplots(figsize=(8, 4))
    for s in systems.values():
        values = [ms for i in s["items"] for ms in i["request_latencies_ms"]]
        if values:
            ax.hist(values, bins=30, histtype="step", linewidth=1.5, label=s["label"])
    ax.set_xlabel("latency per request (ms)")
    ax.set_ylabel("requests")
    ax.set_title("Latency")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=100)
    plt.close(fig)
    charts.append(Chart("latency.png", "Latency histogram per request"))
    return charts


# -- HTML ---------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;vertical-align:top}
th{background:#f2f2f2;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td.status{color:#a40000;font-weight:600}tr.pass td.status{color:#176b00}
td.answer{white-space:pre-wrap;max-width:520px}figure{margin:1rem 0}img{max-width:100%;border:1px solid #ddd}
.meta{color:#555}dt{font-family:monospace}dd{margin:0 0 .3rem 1.5rem;color:#444}
"""


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class=\"num\">{html.escape(c)}</td>" if i >= numeric_from else f"<td>{html.escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    return f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n"


def write_html(report: dict[str, Any], path: Path, charts: Sequence[Chart], gate: dict[str, Any] | None) -> None:
    git = report["git"]
    parts = [
        "<h1>Stride eval report</h1>",
        f"<p class=\"meta\">generated {html.escape(report['generated_at'])} · split <b>{html.escape(report['split'])}</b> · target {html.escape(report['target'])}"
        f" · commit {html.escape((git['commit'] or 'n/a')[:12])}{' (dirty)' if git['dirty'] else ''}</p>",
        "<h2>Overall: systems side by side</h2>",
        html_table(*systems_table(report)),
    ]
    if gate is not None:
        rows = "".join(
            f"<tr class=\"{'fail' if c['status'] == 'FAIL' else 'pass'}\"><td>{html.escape(c['metric'])}</td><td class=\"num\">{html.escape(fmt(c['metric'], c['value']))}</td><td>{html.escape(c['kind'])} {html.escape(str(c['bound']))}</td><td class=\"status\">{html.escape(c['status'])}</td></tr>"
            for c in gate["checks"]
        )
        parts += [f"<h2>Gate: {'PASS' if gate['passed'] else 'FAIL'}</h2>", f"<table><thead><tr><th>metric</th><th>value</th><th>bound</th><th>status</th></tr></thead><tbody>{rows}</tbody></table>"]
    parts.append("<h2>Charts</h2>")
    parts += [f"<figure><img src=\"{html.escape(c.file)}\" alt=\"{html.escape(c.caption)}\"><figcaption>{html.escape(c.caption)}</figcaption></figure>" for c in charts]
    for system in report["systems"].values():
        parts += [f"<h2>{html.escape(system['label'])}: per category</h2>", html_table(*category_table(system))]
    primary = report["systems"][report["primary"]]
    failed = [i for i in primary["items"] if not i["passed"]]
    rows = "".join(
        "<tr>"
        + f"<td>{html.escape(i['id'])}</td><td>{html.escape(i['category'])}</td>"
        + "<td>" + "<br>".join(f"{n}. {html.escape(m)}" for n, m in enumerate(i["messages"], start=1)) + "</td>"
        + f"<td>{html.escape(expected_label(i))}</td><td>{html.escape(i['got'])}</td>"
        + f"<td class=\"num\">{html.escape(fmt('x', i['key_fact_recall']))}</td><td>{html.escape('n/a' if i['evidence_hit'] is None else str(i['evidence_hit']).lower())}</td>"
        + f"<td class=\"answer\">{html.escape(i['error'] or i['answer'])}</td>"
        + "</tr>"
        for i in failed
    )
    parts += [
        f"<h2>Failed items ({html.escape(primary['label'])}): {len(failed)} of {len(primary['items'])}</h2>",
        "<table><thead><tr><th>id</th><th>category</th><th>question (turns)</th><th>expected</th><th>got</th><th>key facts</th><th>evidence hit</th><th>answer</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>",
        "<h2>Metric definitions</h2><dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in METRIC_HELP.items()) + "</dl>",
    ]
    path.write_text(page("Stride eval report", "\n".join(parts)), encoding="utf-8")


# -- folder + console ---------------------------------------------------------------------


def write_report(report: dict[str, Any], folder: Path, gate: dict[str, Any] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if gate is not None:
        report["gate"] = gate
    (folder / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1, allow_nan=False), encoding="utf-8")
    write_markdown(report, folder / "summary.md", gate)
    charts = write_charts(report, folder)
    write_html(report, folder / "report.html", charts, gate)


def rich_table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    """A console table: the first column names the row, the others are right-aligned numbers."""
    table = Table(title=title, show_lines=False)
    table.add_column(header[0], no_wrap=True)
    for h in header[1:]:
        table.add_column(h, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def print_summary(report: dict[str, Any], console: Console) -> None:
    header, rows = systems_table(report)
    console.print(rich_table(f"Stride eval · split {report['split']} · {report['target']}", header, rows))
    primary = report["systems"][report["primary"]]
    cats = primary["per_category"]
    console.print(
        "pass rate per category ("
        + primary["label"]
        + "): "
        + ", ".join(f"{c} {fmt('pass_rate', m.get('pass_rate'))}" for c, m in cats.items()),
        highlight=False,
        soft_wrap=True,
    )

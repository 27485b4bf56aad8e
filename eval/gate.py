"""The CI gate: compare a run's overall metrics with eval/thresholds.toml."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eval.metrics import METRIC_NAMES

THRESHOLDS_PATH = Path(__file__).resolve().parent / "thresholds.toml"


@dataclass(frozen=True)
class Check:
    metric: str
    kind: str  # "min" | "max"
    bound: float
    value: float | None
    status: str  # PASS | FAIL | n/a (metric not measurable for this target, e.g. retrieval over --url)


@dataclass(frozen=True)
class Thresholds:
    split: str
    system: str
    minimum: dict[str, float]
    maximum: dict[str, float]


def load_thresholds(path: Path = THRESHOLDS_PATH) -> Thresholds:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    thresholds = Thresholds(raw.get("split", "test"), raw.get("system", "hybrid"), {k: float(v) for k, v in raw.get("min", {}).items()}, {k: float(v) for k, v in raw.get("max", {}).items()})
    unknown = sorted((set(thresholds.minimum) | set(thresholds.maximum)) - set(METRIC_NAMES))
    if unknown:
        raise ValueError(f"{path}: unknown metric(s) {', '.join(unknown)}")
    return thresholds


def check(overall: dict[str, float | None], thresholds: Thresholds) -> list[Check]:
    checks = []
    for kind, bounds in (("min", thresholds.minimum), ("max", thresholds.maximum)):
        for metric, bound in bounds.items():
            value = overall.get(metric)
            if value is None:
                status = "n/a"
            elif kind == "min":
                status = "PASS" if value >= bound else "FAIL"
            else:
                status = "PASS" if value <= bound else "FAIL"
            checks.append(Check(metric, kind, bound, value, status))
    return checks


def gate_record(checks: list[Check], thresholds: Thresholds, split: str) -> dict[str, Any]:
    return {
        "passed": all(c.status != "FAIL" for c in checks),
        "split": split,
        "thresholds_split": thresholds.split,
        "system": thresholds.system,
        "checks": [asdict(c) for c in checks],
    }

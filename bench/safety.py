"""How long the red-flag check takes: a short conversation and a worst-case 50 × 4,000
characters. Speed is a benchmark figure here, not a unit-test assertion.

    .venv/bin/python bench/safety.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.safety import DEFAULT_RULES_PATH, SafetyLayer  # noqa: E402


def best_ms(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        fn()
        best = min(best, (time.process_time() - started) * 1000)
    return best


def main() -> None:
    layer = SafetyLayer.load(DEFAULT_RULES_PATH)
    short = ["My hip is a bit sore after my long run, what stretches help?", "is foam rolling good for hip flexors?"]
    corpus = " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "corpus").glob("*.txt")))
    long_turns = [(corpus[i * 1700 :] + corpus)[:4000] for i in range(50)]
    per_call = best_ms(lambda: [layer.check(short) for _ in range(200)], 5) / 200
    long_ms = best_ms(lambda: layer.check(long_turns), 7)
    print("| conversation | CPU ms per check (best of runs) |\n|---|---:|")
    print(f"| 2 short turns | {per_call:.3f} |\n| 50 turns x 4,000 characters | {long_ms:.1f} |")


if __name__ == "__main__":
    main()

"""How long the red-flag check takes: a short conversation and a worst-case 50 × 4,000
characters. Speed is a benchmark figure here, not a unit-test assertion.

    .venv/bin/python bench/safety.py [--against OLD_RULES.toml]

With --against, the same conversations are timed on both rules files in one run, so a rules
change is compared on the same machine at the same moment.
"""

from __future__ import annotations

import argparse
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


def timings(layer: SafetyLayer, short: list[str], long_turns: list[str]) -> tuple[float, float]:
    per_call = best_ms(lambda: [layer.check(short) for _ in range(200)], 5) / 200
    return per_call, best_ms(lambda: layer.check(long_turns), 7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another rules file to time side by side")
    args = parser.parse_args()
    layers = {"rules": SafetyLayer.load(DEFAULT_RULES_PATH)}
    if args.against:
        layers[args.against.name] = SafetyLayer.load(args.against)
    short = ["My hip is a bit sore after my long run, what stretches help?", "is foam rolling good for hip flexors?"]
    corpus = " ".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "corpus").glob("*.txt")))
    long_turns = [(corpus[i * 1700 :] + corpus)[:4000] for i in range(50)]
    # Interleaved rounds, best of each, so both files see the same machine state.
    best: dict[str, list[float]] = {name: [float("inf"), float("inf")] for name in layers}
    for _ in range(3):
        for name, layer in layers.items():
            best[name] = [min(a, b) for a, b in zip(best[name], timings(layer, short, long_turns))]
    names = list(layers)
    print("| conversation | " + " | ".join(f"CPU ms, {n} {layers[n].version}" for n in names) + " |\n|---|" + "---:|" * len(names))
    print("| 2 short turns | " + " | ".join(f"{best[n][0]:.3f}" for n in names) + " |")
    print("| 50 turns x 4,000 characters | " + " | ".join(f"{best[n][1]:.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()

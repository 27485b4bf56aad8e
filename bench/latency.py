"""Latency, measured side by side in one run: the floor (query encoding alone), the whole
in-process answer, and the whole HTTP round trip to a real server (with the standard
library's client and with load.py's raw-socket client, so the client's own parsing can be told
apart from the server's time), interleaved; plus start-up time and resident memory of that
server.

    .venv/bin/python bench/latency.py [--repeat 10] [--threads 1]

Prints a Markdown table; copy it into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.metrics import percentile  # noqa: E402
from load import RawClient, rss_mb, start_server, stop_server  # noqa: E402  (bench/load.py, beside this script)

QUESTIONS = [
    "why do my hips hurt when I run",
    "how long should I ice my hip",
    "what stretches help tight hip flexors",
    "is foam rolling good for sore hips after a long run?",
    "hip clicks and catches when i run",
    "what causes IT band syndrome",
    "how often should I replace my running shoes",
    "whats the best way to strengthen my glutes",
    "should I use heat or ice on my hip",
    "when should I see a physical therapist about hip pain",
    "what is hip bursitis",
    "how do I do clamshells",
]


def interleaved(paths: dict[str, object], repeat: int) -> dict[str, list[float]]:
    """The paths take turns, a block of all the questions each, with the order of the
    blocks rotated every repeat: a slower minute on this shared machine weighs on all of
    them alike, and no path always runs right after another.

    Blocks rather than one question at a time: alternating every request between this
    process and the server process evicts each one's caches for the other, and the cost
    fell unevenly (measured side by side, 2026-12-07: per question, in process 1.43-1.46x
    and HTTP 1.82-1.90x the floor; per block 1.14-1.15x and 1.72-1.74x; a server answering
    alone, as in production, measured like the blocks)."""
    for fn in paths.values():  # warm-up
        for q in QUESTIONS:
            fn(q)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for turn in range(repeat):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            fn = paths[name]
            for q in QUESTIONS:
                started = time.perf_counter()
                fn(q)
                samples[name].append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("STRIDE_ENCODER_THREADS", "0") or 0), help="encoder threads (0: the service default)")
    args = parser.parse_args()

    from service.config import Settings
    from service.engine import Engine, Message

    settings = Settings(rate_limit="", **({"encoder_threads": args.threads} if args.threads else {}))
    engine = Engine.load(settings)

    from index.embedding import load_sentence_transformer, model_dir

    torch_model = load_sentence_transformer(model_dir())
    started = time.perf_counter()
    server, base = start_server(1, args.threads or None, ROOT / "test-artifacts" / "logs" / "bench_latency.log")
    ready_s = time.perf_counter() - started
    port = urlsplit(base).port
    try:
        # Two keep-alive clients: the standard library's, as most Python callers would use, and
        # load.py's raw-socket client on one event loop, so the client's own parsing (which
        # http.client does with the email package) is not counted as the server's time.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        raw, loop = RawClient(base), asyncio.new_event_loop()

        def round_trip(q: str) -> None:
            connection.request("POST", "/api/chat", body=json.dumps({"messages": [{"role": "user", "content": q}]}), headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}")

        def raw_round_trip(q: str) -> None:
            status, _ = loop.run_until_complete(raw.post("/api/chat", json.dumps({"messages": [{"role": "user", "content": q}]}).encode()))
            if status != 200:
                raise SystemExit(f"HTTP {status}")

        samples = interleaved(
            {
                "query encoding (onnxruntime, serving path) = floor": lambda q: engine.encoder.encode([q]),
                "full answer, in process": lambda q: engine.answer([Message("user", q)]),
                "full answer, HTTP round trip (1 worker), http.client": round_trip,
                "full answer, HTTP round trip (1 worker), raw-socket client": raw_round_trip,
            },
            args.repeat,
        )
        # Torch's forward pass evicts the caches the others rely on, so it is timed on its own.
        samples["query encoding (sentence-transformers on torch), timed separately"] = interleaved(
            {"torch": lambda q: torch_model.encode([q], normalize_embeddings=True)}, args.repeat
        )["torch"]
        connection.close()
        loop.run_until_complete(raw.close())
        loop.close()
        memory = rss_mb(server.pid)
    finally:
        stop_server(server)
    rows = list(samples.items())

    floor = statistics.median(rows[0][1])
    print(f"{len(QUESTIONS)} questions x {args.repeat} repeats, encoder threads {engine.encoder._session.get_session_options().intra_op_num_threads}\n")
    print("| path | p50 ms | p95 ms | p50 / floor |")
    print("|---|---:|---:|---:|")
    for name, samples in rows:
        p50 = statistics.median(samples)
        print(f"| {name} | {p50:.2f} | {percentile(samples, 95):.2f} | {p50 / floor:.2f}x |")
    print(f"\nserver ready after {ready_s:.2f} s (process start to /readyz 200, index already built); resident memory {memory:.0f} MB")


if __name__ == "__main__":
    main()

"""Benchmark: the vector store's large-corpus path (HNSW) against exact search (flat).

Not a test: it takes about a minute. It builds a synthetic corpus of normalised 384-d
vectors (seeded, clustered like real embeddings: topics with passages spread around
them), builds `index.vectorstore.build` (which picks HNSW above EXACT_LIMIT vectors) and
an exact `IndexFlatIP` side by side, and measures build time, one-query-at-a-time
latency (what serving does) and HNSW recall@10 against the exact answer. The same is
run at 300 vectors, where the builder picks flat search.

    .venv/bin/python bench/ann.py [--sizes 100000 300] [--queries 500] [--threads N]

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index import vectorstore  # noqa: E402

DIM = 384
K = 10
SEED = 20240601


def clustered(count: int, rng: np.random.Generator, centres: np.ndarray, spread: float = 0.35) -> np.ndarray:
    """Normalised vectors around random topic centres (cosine to own centre ≈ 0.6-0.8)."""
    topic = rng.integers(0, len(centres), size=count)
    vectors = centres[topic] + spread * rng.standard_normal((count, DIM), dtype=np.float32) / np.sqrt(DIM) * 2.0
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def latencies(index: faiss.Index, queries: np.ndarray) -> np.ndarray:
    """Seconds per query, one query per call (as the service searches)."""
    for q in queries[:20]:  # warm up
        vectorstore.search(index, q, K)
    out = np.empty(len(queries))
    for i, q in enumerate(queries):
        started = time.perf_counter()
        vectorstore.search(index, q, K)
        out[i] = time.perf_counter() - started
    return out


def recall_at_k(approx: faiss.Index, exact: faiss.Index, queries: np.ndarray) -> float:
    _, truth = exact.search(queries, K)
    _, found = approx.search(queries, K)
    hits = sum(len(set(t) & set(f)) for t, f in zip(truth, found))
    return hits / (len(queries) * K)


def run(size: int, n_queries: int, workdir: Path) -> list[dict]:
    rng = np.random.default_rng(SEED + size)
    centres = rng.standard_normal((max(8, size // 500), DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    corpus = clustered(size, rng, centres)
    queries = clustered(n_queries, rng, centres)

    started = time.perf_counter()
    chosen = vectorstore.build(corpus)
    chosen_build = time.perf_counter() - started
    # Round-trip through save/load: serving searches the loaded index (efSearch set there).
    path = workdir / f"bench-{size}.faiss"
    vectorstore.save(chosen, path)
    chosen = vectorstore.load(path)

    started = time.perf_counter()
    flat = faiss.IndexFlatIP(DIM)
    flat.add(corpus)
    flat_build = time.perf_counter() - started

    flat_lat = latencies(flat, queries)
    rows = []
    chosen_lat = latencies(chosen, queries)
    recall = recall_at_k(chosen, flat, queries)
    name = type(chosen).__name__
    if isinstance(chosen, faiss.IndexHNSW):
        name += f" (M={vectorstore.HNSW_NEIGHBOURS}, efC={vectorstore.HNSW_EF_CONSTRUCTION}, efS={chosen.hnsw.efSearch})"
    rows.append({"size": size, "index": f"vectorstore.build → {name}", "build": chosen_build, "lat": chosen_lat, "recall": recall, "ratio": np.median(flat_lat) / np.median(chosen_lat)})
    rows.append({"size": size, "index": "IndexFlatIP (exact)", "build": flat_build, "lat": flat_lat, "recall": 1.0, "ratio": 1.0})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--threads", type=int, default=0, help="FAISS OpenMP threads (0 = library default)")
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            rows.extend(run(size, args.queries, Path(tmp)))

    print(f"FAISS {faiss.__version__}, {DIM}-d normalised clustered vectors, {args.queries} queries searched one at a time, "
          f"k={K}, OpenMP threads={faiss.omp_get_max_threads()}, EXACT_LIMIT={vectorstore.EXACT_LIMIT}\n")
    print("| vectors | index | build (s) | p50 (ms) | p95 (ms) | recall@10 vs flat | flat p50 / this p50 |")
    print("|--:|---|--:|--:|--:|--:|--:|")
    for r in rows:
        p50, p95 = np.percentile(r["lat"], [50, 95]) * 1000
        print(f"| {r['size']:,} | {r['index']} | {r['build']:.2f} | {p50:.3f} | {p95:.3f} | {r['recall']:.4f} | {r['ratio']:.1f}× |")


if __name__ == "__main__":
    main()

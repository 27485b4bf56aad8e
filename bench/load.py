"""Load benchmark: N chat requests at concurrency C against a Stride server on loopback.

Not a test. By default it starts its own server (`python -m stride serve --no-build` on a
free loopback port, rate limiting off) for each configuration, fires N requests at
concurrency C cycling a fixed list of 20 realistic questions, and reports requests,
errors, throughput, p50/p95/p99 latency and the server's resident memory (summed over
its process tree, from /proc/<pid>/status VmRSS) sampled after
the first 1,000 and after the last 1,000 requests, with the growth between them.

    .venv/bin/python bench/load.py                       # 20,000 requests, c=32, 1 worker
    .venv/bin/python bench/load.py --matrix              # workers 1 vs 2 x concurrency 8 vs 32
    .venv/bin/python bench/load.py --url http://127.0.0.1:8000 -n 5000 -c 8
    .venv/bin/python bench/load.py --client httpx        # the httpx client instead of raw sockets

The default client is a small raw-socket HTTP/1.1 keep-alive client on asyncio: on 2
cores the load generator shares the CPU with the server, and httpx's per-request cost
(measured with --client httpx) takes throughput away from the server it is measuring.
Loopback only; every run is bounded by -n.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eval.metrics import percentile  # noqa: E402
from service.config import Settings  # noqa: E402

QUESTIONS = [
    "why do my hips hurt when I run?",
    "what are the common causes of hip pain in runners?",
    "what stretches help tight hip flexors?",
    "how do I strengthen my glutes to protect my hips?",
    "is foam rolling good for hip pain?",
    "should I ice or heat my hip after a run?",
    "how long should I rest a sore hip before running again?",
    "can my running shoes cause hip pain?",
    "does overstriding cause hip pain?",
    "what is hip bursitis?",
    "what does pain on the outside of the hip mean?",
    "my groin hurts when I run, what could it be?",
    "can a tight IT band cause hip pain?",
    "how do I know if I have a stress fracture in my hip?",
    "when should I see a doctor about hip pain?",
    "what exercises help with piriformis syndrome?",
    "is it ok to run through hip pain?",
    "how can I change my running form to ease hip pain?",
    "what is a hip labral tear?",
    "does running on hills make hip pain worse?",
]
SAMPLE_AT = 1000


# -- memory ------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def rss_mb(pid: int) -> float:
    """Resident memory of the server's process tree (workers included), in MB."""
    total_kb = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


# -- server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workers: int, encoder_threads: int | None, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "STRIDE_RATE_LIMIT": "", "STRIDE_WORKERS": str(workers), "STRIDE_LOG_LEVEL": "warning", "STRIDE_PORT": str(port)}
    if encoder_threads:
        env["STRIDE_ENCODER_THREADS"] = str(encoder_threads)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-m", "stride", "serve", "--no-build", "--port", str(port)], cwd=ROOT, env=env, stdout=log_path.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}; see {log_path}")
        if all(_ready(url) for _ in range(workers * 3)):  # every worker up: several probes in a row
            return process, url
        time.sleep(0.05)
    process.kill()
    raise SystemExit("server not ready in 90 s")


def _ready(url: str) -> bool:
    try:
        return asyncio.run(_get_status(url, "/readyz")) == 200
    except OSError:
        return False


async def _get_status(url: str, path: str) -> int:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


# -- clients ---------------------------------------------------------------------------------


class RawClient:
    """HTTP/1.1 keep-alive over one asyncio stream: a request costs a few microseconds here."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.netloc = parts.hostname, parts.port, parts.netloc
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"POST {path} HTTP/1.1\r\nHost: {self.netloc}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        payload = await self._chunked() if chunked else await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, payload

    async def _chunked(self) -> bytes:
        parts = []
        while (size := int((await self.reader.readline()).split(b";")[0], 16)) > 0:
            parts.append(await self.reader.readexactly(size))
            await self.reader.readline()
        await self.reader.readline()
        return b"".join(parts)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


class HttpxClient:
    def __init__(self, url: str, shared) -> None:
        self.url, self.client = url, shared

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        response = await self.client.post(path, content=body, headers={"content-type": "application/json"})
        return response.status_code, response.content

    async def close(self) -> None:
        pass


# -- the run -------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    requests: int
    concurrency: int
    workers: int | str
    encoder_threads: str
    client: str
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    rss_first: float | None = None
    rss_last: float | None = None
    error_samples: list[str] = field(default_factory=list)

    def pct(self, q: float) -> float:
        value = percentile(self.latencies, q * 100)
        return value * 1000 if value is not None else float("nan")

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def growth(self) -> float | None:
        if self.rss_first and self.rss_last:
            return (self.rss_last - self.rss_first) / self.rss_first * 100
        return None


async def run_load(url: str, requests: int, concurrency: int, client_kind: str, server_pid: int | None, result: Result) -> None:
    bodies = [json.dumps({"messages": [{"role": "user", "content": q}]}).encode() for q in QUESTIONS]
    counter = iter(range(requests))
    done = 0
    shared = None
    if client_kind == "httpx":
        import httpx

        shared = httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency))

    async def worker() -> None:
        nonlocal done
        client = RawClient(url) if client_kind == "raw" else HttpxClient(url, shared)
        for i in counter:
            started = time.perf_counter()
            try:
                status, payload = await client.post("/api/chat", bodies[i % len(bodies)])
                ok = status == 200 and payload.startswith(b'{"id"')
                if not ok and len(result.error_samples) < 5:
                    result.error_samples.append(f"{status}: {payload[:120]!r}")
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
                ok = False
                if len(result.error_samples) < 5:
                    result.error_samples.append(repr(exc))
                await client.close()
            result.latencies.append(time.perf_counter() - started)
            result.errors += not ok
            done += 1
            if done == SAMPLE_AT and server_pid:
                result.rss_first = rss_mb(server_pid)
        await client.close()

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    result.seconds = time.perf_counter() - started
    if server_pid:
        result.rss_last = rss_mb(server_pid)
    if shared is not None:
        await shared.aclose()


def measure(args, workers: int, concurrency: int, client_kind: str) -> Result:
    threads = args.encoder_threads or Settings().encoder_threads  # the service's own default unless asked
    result = Result(f"{workers} worker{'s' if workers > 1 else ''}, c={concurrency}", args.requests, concurrency, workers if not args.url else "?", str(threads) if not args.url else "?", client_kind)
    process = None
    url, pid = args.url, None
    if not url:
        process, url = start_server(workers, threads, ROOT / "test-artifacts" / "logs" / "bench_load.log")
        pid = process.pid
    try:
        asyncio.run(run_load(url, args.warmup, concurrency, client_kind, None, Result("warm-up", args.warmup, concurrency, workers, "", client_kind)))
        asyncio.run(run_load(url, args.requests, concurrency, client_kind, pid, result))
    finally:
        if process is not None:
            stop_server(process)
    print(f"  {result.label} ({client_kind}): {result.throughput:.0f} req/s, p50 {result.pct(0.5):.1f} ms, p99 {result.pct(0.99):.1f} ms, errors {result.errors}", file=sys.stderr)
    for sample in result.error_samples:
        print(f"    error: {sample}", file=sys.stderr)
    return result


def markdown(results: list[Result]) -> str:
    head = "| configuration | client | encoder threads | requests | errors | req/s | p50 ms | p95 ms | p99 ms | RSS after first 1k (MB) | RSS after last 1k (MB) | growth |\n"
    head += "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    rows = []
    for r in results:
        growth = f"{r.growth:+.1f}%" if r.growth is not None else "n/a"
        first = f"{r.rss_first:.0f}" if r.rss_first else "n/a"
        last = f"{r.rss_last:.0f}" if r.rss_last else "n/a"
        rows.append(f"| {r.label} | {r.client} | {r.encoder_threads} | {r.requests} | {r.errors} | {r.throughput:.0f} | {r.pct(0.5):.1f} | {r.pct(0.95):.1f} | {r.pct(0.99):.1f} | {first} | {last} | {growth} |")
    return head + "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--requests", type=int, default=20_000)
    parser.add_argument("-c", "--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the server this script starts")
    parser.add_argument("--encoder-threads", type=int, default=0, help="STRIDE_ENCODER_THREADS (0: the service default)")
    parser.add_argument("--url", help="measure an already running server instead (memory is then not sampled)")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--matrix", action="store_true", help="workers 1 and 2 x concurrency 8 and 32")
    args = parser.parse_args()
    if args.url and urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("load runs are for loopback servers only")

    plan = [(w, c) for w in (1, 2) for c in (8, 32)] if args.matrix else [(args.workers, args.concurrency)]
    results = [measure(args, w, c, args.client) for w, c in plan]
    print(markdown(results))


if __name__ == "__main__":
    main()

"""The `stride` command line: build the index, search it, ask, serve, evaluate."""

from __future__ import annotations

import json
import signal
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from service.config import Settings, get_settings

app = typer.Typer(help="Stride: grounded, cited answers to runners' hip-pain questions.", no_args_is_help=True, add_completion=False)
index_app = typer.Typer(help="Build and check the search index.", no_args_is_help=True)
app.add_typer(index_app, name="index")
console = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def _version(value: bool) -> None:
    if value:
        console.print(f"stride {version('stride')}")
        raise typer.Exit()


@app.callback()
def main(
    _: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """Stride answers runners' hip-pain questions from a fixed set of articles, citing every claim."""


@index_app.command("build")
def index_build(
    corpus: Annotated[Optional[Path], typer.Option(help="Corpus folder (default: STRIDE_CORPUS_DIR).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Artifact folder (default: STRIDE_INDEX_DIR).")] = None,
) -> None:
    """Clean, chunk and embed the corpus into a fresh index artifact."""
    from index.build import build
    from index.documents import CorpusError
    from index.embedding import ModelMissingError

    settings = get_settings()
    started = time.perf_counter()
    try:
        manifest = build(corpus or settings.corpus_dir, out or settings.index_dir, progress=sys.stderr.isatty())
    except (CorpusError, ModelMissingError) as exc:
        _fail(str(exc))
    counts = manifest["counts"]
    console.print(
        f"built {out or settings.index_dir}: {counts['documents']} documents, {counts['chunks']} chunks, "
        f"{counts['sentences']} sentences in {time.perf_counter() - started:.1f} s"
    )


@index_app.command("train")
def index_train(
    epochs: Annotated[float, typer.Option(min=0.1, help="Passes over the training pairs.")] = 2.0,
    out: Annotated[Optional[Path], typer.Option(help="Where to write the adapter (default: the one the index uses).")] = None,
) -> None:
    """Train the encoder adapter on the eval set's dev split (never the test split); then run `stride index build`."""
    from eval.items import load_items, locate_gold
    from index import embedding, finetune
    from index.documents import CorpusError, load_corpus

    settings = get_settings()
    try:
        texts = {doc.doc_id: doc.text for doc in load_corpus(settings.corpus_dir)}
        path = embedding.model_dir()
    except (CorpusError, embedding.ModelMissingError) as exc:
        _fail(str(exc))
    examples = [
        finetune.Example(item.id, " ".join(item.messages), tuple((g.doc_id, start, end) for g in locate_gold(item, texts) for start, end in g.spans))
        for item in load_items("dev")
        if item.expect == "answer"
    ]
    target = out or embedding.ADAPTER
    console.print(f"training on {len(examples)} dev questions; this takes some minutes on a CPU")
    model = embedding.load_sentence_transformer(path, adapter=None)
    params = finetune.TrainingParams(epochs=epochs)
    metadata = finetune.train(model, settings.corpus_dir, examples, target, params, base_sha256=embedding.base_fingerprint(path), log=console.print)
    console.print(f"wrote {target}: {metadata['pairs']} pairs, {metadata['steps']} steps, loss {metadata['loss_first']} -> {metadata['loss_last']}; now run `stride index build`")


@index_app.command("train-scope")
def index_train_scope(
    out: Annotated[Optional[Path], typer.Option(help="Where to write the model (default: STRIDE_SCOPE_MODEL).")] = None,
) -> None:
    """Fit the scope model on the eval set's dev split (never the test split), with the built index's encoder; run it after `stride index build` whenever the adapter changes."""
    import numpy as np

    from eval.items import load_items
    from service.scope_model import ScopeModel

    settings = get_settings()
    engine = load_engine(settings)
    # Covered and uncovered questions; an emergency or urgent message is the safety layer's
    # to answer whatever the question, so it says nothing about scope.
    items = [i for i in load_items("dev") if i.expect in ("answer", "abstain") and engine.check_safety(list(i.messages)).level not in ("emergency", "urgent")]
    vectors = np.stack([engine.query(list(item.messages)).vector for item in items])
    model = ScopeModel.fit(vectors, [item.expect == "abstain" for item in items], engine.artifact.manifest["model"]["sha256"], [item.id for item in items])
    target = out or settings.scope_model
    model.save(target)
    through = sum(model.overrides(v) for v, item in zip(vectors, items) if item.expect == "answer")
    console.print(f"wrote {target}: fitted on {len(items)} dev questions ({sum(i.expect == 'abstain' for i in items)} uncovered); {through} answerable ones are below its override threshold")


@index_app.command("check")
def index_check() -> None:
    """Say whether the index matches the corpus and the installed model."""
    from index.artifact import IndexUnavailable, check
    from index.embedding import ModelMissingError

    settings = get_settings()
    try:
        manifest = check(settings.index_dir, settings.corpus_dir)
    except (IndexUnavailable, ModelMissingError) as exc:  # the check fingerprints the installed model
        _fail(str(exc))
    console.print(f"index ok: built {manifest['built_at']}, {manifest['counts']}")


def load_engine(settings: Settings):
    """The engine, or a one-line error and exit status 2."""
    from service.engine import Engine, EngineUnavailable

    try:
        return Engine.load(settings)
    except EngineUnavailable as exc:
        _fail(str(exc))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="How many passages.")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid, dense or bm25.")] = "hybrid",
) -> None:
    """Print the passages retrieval ranks highest for QUERY."""
    if mode not in ("hybrid", "dense", "bm25"):
        _fail("--mode must be hybrid, dense or bm25")
    engine = load_engine(get_settings())
    for rank, hit in enumerate(engine.search(query, k=k, mode=mode), start=1):  # type: ignore[arg-type]
        chunk = engine.artifact.chunks[hit.index]
        doc = engine.documents[chunk.doc_id]
        console.print(f"[bold]{rank}.[/bold] {hit.score:.3f} (dense {hit.dense:.3f}, bm25 {hit.lexical:.3f})  [cyan]{escape(doc.title)}[/cyan] › {escape(chunk.section)}", highlight=False)
        console.print("   " + escape(" ".join(chunk.text.split())[:400]), highlight=False, soft_wrap=True)


@app.command()
def ask(
    question: Annotated[list[str], typer.Argument(help="The question; several arguments are earlier turns first, the last is asked.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the API payload.")] = False,
) -> None:
    """Answer QUESTION with cited quotes (several QUESTION arguments form a conversation)."""
    from service.engine import Message

    engine = load_engine(get_settings())
    result = engine.answer([Message("user", text) for text in question])
    if as_json:
        print(json.dumps(result.payload(), ensure_ascii=False, indent=2))
        return
    if result.safety.level != "none":
        colour = {"emergency": "bold white on red", "urgent": "bold red", "see_doctor": "yellow"}[result.safety.level]
        console.print(f"[{colour}]{result.safety.level.upper()}[/{colour}] {escape(result.safety.message or '')}", highlight=False, soft_wrap=True)
        console.print()
    if result.safety.level not in ("emergency", "urgent"):
        console.print(escape(result.answer), highlight=False, soft_wrap=True)
    if result.citations:
        console.print("\n[bold]Sources[/bold]")
        for c in result.citations:
            source = f"{c.title}" + (f" ({c.publisher})" if c.publisher else "")
            console.print(escape(f"[{c.id}] {source}, “{c.section}”: “{c.quote}”"), highlight=False, soft_wrap=True)
    console.print(f"\n[dim]{escape(result.disclaimer)}[/dim]", highlight=False, soft_wrap=True)


def _exit_after_drain(signum: int, frame: object) -> None:
    # uvicorn drains in-flight requests on SIGTERM and then re-raises the signal with the
    # handler that was installed before it started. With the default handler a clean,
    # drained stop would look like a crash (killed by SIGTERM, status 143); this is the
    # handler it finds, so a drained stop exits 0.
    raise SystemExit(0)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Interface (default: STRIDE_HOST, 127.0.0.1).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default: STRIDE_PORT, 8000).")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Uvicorn worker processes (default: STRIDE_WORKERS, 1).")] = None,
    build: Annotated[bool, typer.Option("--build/--no-build", help="Rebuild a missing or stale index before serving.")] = True,
) -> None:
    """Serve the chat API, the widget and the demo page."""
    import os

    import uvicorn

    from index.artifact import IndexMissing, IndexStale, IndexUnavailable, check
    from index.embedding import ModelMissingError

    settings = get_settings()
    try:
        check(settings.index_dir, settings.corpus_dir)
    except (IndexMissing, IndexStale) as exc:
        if not build:
            _fail(str(exc))
        err.print(escape(f"{exc}; rebuilding it now"), highlight=False, soft_wrap=True)
        index_build(None, None)
    except (IndexUnavailable, ModelMissingError) as exc:  # the staleness check fingerprints the model: no package, no check
        _fail(str(exc))
    from service.engine import Engine, EngineUnavailable

    try:
        Engine.check_rules(settings)  # refuse to start (one line, exit 2) rather than fail inside a worker
    except EngineUnavailable as exc:
        _fail(str(exc))
    if host:
        os.environ["STRIDE_HOST"] = host
    if port:
        os.environ["STRIDE_PORT"] = str(port)
    if workers:
        os.environ["STRIDE_WORKERS"] = str(workers)
    # With one worker uvicorn builds the app in this process: its get_settings() must see
    # the options just written, not the copy cached before them.
    get_settings.cache_clear()
    settings = get_settings()
    from service.logs import uvicorn_log_config

    signal.signal(signal.SIGTERM, _exit_after_drain)
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=uvicorn_log_config(settings),
        access_log=False,
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 5,
        proxy_headers=False,
    )


@app.command("eval")
def evaluate(
    split: Annotated[str, typer.Option(help="dev, test or all.")] = "test",
    url: Annotated[Optional[str], typer.Option(help="Evaluate a running server at this base URL instead of the in-process engine.")] = None,
    gate: Annotated[bool, typer.Option(help="Exit non-zero when a metric is below eval/thresholds.toml.")] = False,
    compare: Annotated[Optional[tuple[Path, Path]], typer.Option(help="Compare two report folders (A B) instead of running.")] = None,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Also run the BM25-only and dense-only baselines.")] = True,
    out: Annotated[Optional[Path], typer.Option(help="Report folder (default: eval/reports/<timestamp>).")] = None,
) -> None:
    """Score answers on the eval set and write a report (JSON, Markdown, HTML)."""
    from eval import cli as eval_cli

    code = eval_cli.run(split=split, url=url, gate=gate, compare=compare, baselines=baselines, out=out, console=console, load_engine=lambda: load_engine(get_settings()))
    raise typer.Exit(code=code)


if __name__ == "__main__":
    app()

"""The corpus: article files plus the manifest that names them.

An article is a `.txt`, `.md` or `.html` file in the corpus folder whose stem is its
`doc_id`. Text and Markdown are used as they are; HTML is reduced to its visible text
with a real parser (BeautifulSoup), one block per line, and that text becomes the
"original" all offsets point into.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

SUFFIXES = (".txt", ".md", ".html", ".htm")
MANIFEST_NAME = "manifest.toml"

# Block-level HTML elements: each becomes its own line so headings and list items
# keep their structure for the sectioner.
_HTML_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre", "dt", "dd", "figcaption", "td", "th")


class CorpusError(Exception):
    """The corpus folder or its manifest is unusable; the message says what to fix."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    publisher: str
    author: str
    url: str
    path: Path
    text: str  # the text all offsets refer to (the file itself for .txt/.md)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def html_to_text(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer", "form"]):
        tag.decompose()
    lines: list[str] = []
    title = soup.find("h1") or soup.find("title")
    blocks = soup.find_all(_HTML_BLOCKS)
    if title is not None and title.name == "title":
        lines.append(title.get_text(" ", strip=True))
    for block in blocks:
        # Nested blocks (a <p> inside an <li>) are emitted by the innermost one only.
        if block.find(_HTML_BLOCKS):
            continue
        text = " ".join(block.get_text(" ", strip=True).split())
        if not text:
            continue
        lines.append(f"- {text}" if block.name == "li" else text)
    return "\n\n".join(lines) + "\n"


def read_text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".html", ".htm"):
        return html_to_text(raw)
    return raw


def corpus_files(corpus_dir: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(corpus_dir.iterdir()):
        if path.suffix.lower() not in SUFFIXES or path.name.startswith("."):
            continue
        if path.stem in files:
            raise CorpusError(f"two corpus files share the doc_id {path.stem!r}: {files[path.stem].name} and {path.name}")
        files[path.stem] = path
    return files


def load_manifest(corpus_dir: Path) -> dict[str, dict[str, str]]:
    manifest_path = corpus_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise CorpusError(f"no {MANIFEST_NAME} in {corpus_dir}: add one entry per article (see README)")
    try:
        data = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CorpusError(f"{manifest_path} is not valid TOML: {exc}") from exc
    entries: dict[str, dict[str, str]] = {}
    for entry in data.get("documents", []):
        doc_id = str(entry.get("doc_id", "")).strip()
        if not doc_id:
            raise CorpusError(f"{manifest_path}: an entry has no doc_id")
        if doc_id in entries:
            raise CorpusError(f"{manifest_path}: doc_id {doc_id!r} is listed twice")
        entries[doc_id] = {key: str(entry.get(key, "") or "").strip() for key in ("title", "publisher", "author", "url")}
    return entries


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Every article with its manifest entry, sorted by doc_id; mismatches are errors."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    files = corpus_files(corpus_dir)
    manifest = load_manifest(corpus_dir)
    unlisted = sorted(set(files) - set(manifest))
    if unlisted:
        raise CorpusError(f"corpus file(s) without a manifest entry in {MANIFEST_NAME}: {', '.join(unlisted)}")
    missing = sorted(set(manifest) - set(files))
    if missing:
        raise CorpusError(f"{MANIFEST_NAME} lists document(s) with no file: {', '.join(missing)}")
    docs = []
    for doc_id, path in files.items():
        meta = manifest[doc_id]
        if not meta["title"]:
            raise CorpusError(f"{MANIFEST_NAME}: {doc_id} has no title")
        docs.append(Document(doc_id=doc_id, path=path, text=read_text(path), **meta))
    return docs


def corpus_fingerprint(corpus_dir: Path) -> dict[str, str]:
    """File name → sha256 for every article and the manifest: what staleness is judged on."""
    paths = list(corpus_files(corpus_dir).values())
    manifest_path = corpus_dir / MANIFEST_NAME
    if manifest_path.is_file():
        paths.append(manifest_path)
    return {path.name: file_sha256(path) for path in sorted(paths)}

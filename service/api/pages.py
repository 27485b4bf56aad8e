"""Browser-facing pages: the demo club site (`GET /`), the embeddable widget (`GET /widget.js`),
static assets (`GET /static/...`) and the source viewer (`GET /sources/{doc_id}`).

Every HTML page here works under a strict Content-Security-Policy without 'unsafe-inline':
no inline scripts, no inline styles, no style attributes — only files from /static.
Server and article text is HTML-escaped by Jinja2's autoescape.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from service.errors import error_response

SERVICE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = SERVICE_DIR / "static"
TEMPLATE_DIR = SERVICE_DIR / "templates"

LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=300, must-revalidate"

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
_DOC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_BULLET = re.compile(r"([ \t]*[\u2022\u00b7\u25aa\u25e6\u2023*-][ \t]+)(?=\S)")
_BLOCK = re.compile(r"(?:[^\n]*\S[^\n]*(?:\n|\Z))+")

router = APIRouter(include_in_schema=False)

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATE_DIR)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    etag: str
    version: str
    media_type: str


@lru_cache(maxsize=64)
def _asset_cached(path: str, mtime_ns: int, size: int) -> Asset:
    body = Path(path).read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    return Asset(body, f'"{digest[:32]}"', digest[:12], _TYPES.get(Path(path).suffix, "application/octet-stream"))


def _asset(rel: str) -> Asset | None:
    """Load a file under service/static (re-read when it changes on disk)."""
    try:
        path = (STATIC_DIR / rel).resolve()
        path.relative_to(STATIC_DIR)
    except (ValueError, OSError):
        return None
    if path.suffix not in _TYPES or not path.is_file():
        return None
    st = path.stat()
    return _asset_cached(str(path), st.st_mtime_ns, st.st_size)


def asset_url(rel: str) -> str:
    """URL of a static asset with a content version, so it can be cached for a year."""
    a = _asset(rel)
    base = "/widget.js" if rel == "widget.js" else f"/static/{rel}"
    return f"{base}?v={a.version}" if a else base


def _serve(request: Request, asset: Asset, extra: dict[str, str] | None = None) -> Response:
    versioned = request.query_params.get("v") == asset.version
    headers = {"ETag": asset.etag, "Cache-Control": LONG_CACHE if versioned else SHORT_CACHE}
    if extra:
        headers.update(extra)
    inm = request.headers.get("if-none-match", "")
    if asset.etag in [t.strip().removeprefix("W/") for t in inm.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _not_found(request: Request, message: str, code: str) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        html = _env.get_template("not_found.html").render(message=message, css=asset_url("site.css"), icon=asset_url("favicon.svg"))
        return HTMLResponse(html, status_code=404)
    return error_response(404, message, code)


@router.get("/widget.js")
def widget_js(request: Request) -> Response:
    asset = _asset("widget.js")
    if asset is None:  # pragma: no cover - the file ships with the package
        return _not_found(request, "The widget script is missing from this installation.", "widget_missing")
    # Loaded by <script> tags on other sites: allow cross-origin embedding of this one file.
    return _serve(request, asset, {"Cross-Origin-Resource-Policy": "cross-origin"})


@router.get("/static/{path:path}")
def static_file(path: str, request: Request) -> Response:
    asset = _asset(path) if path and not path.startswith(("/", ".")) else None
    if asset is None or path == "widget.js":
        return _not_found(request, "There is no such file.", "static_not_found")
    return _serve(request, asset)


@router.get("/", response_class=HTMLResponse)
def demo_page(request: Request) -> HTMLResponse:
    html = _env.get_template("demo.html").render(
        css=asset_url("site.css"),
        icon=asset_url("favicon.svg"),
        widget=asset_url("widget.js"),
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@dataclass
class Segment:
    kind: str  # "p", "h", "ul"
    start: int = 0
    end: int = 0
    text: str = ""
    items: list["Segment"] | None = None


def split_segments(text: str, title: str = "") -> list[Segment]:
    """Split an article's original text into paragraphs, headings and bullet lists.

    Every rendered piece keeps `start`/`end`: its exact offsets (in code points) in the original
    text, so the page script can highlight a cited `#start-end` passage precisely.
    """
    out: list[Segment] = []
    for block in _BLOCK.finditer(text):
        lines: list[tuple[int, int, int]] = []  # (line start, content start, content end)
        pos = block.start()
        for raw in block.group(0).splitlines(keepends=True):
            body = raw.rstrip()
            if body.strip():
                lead = len(body) - len(body.lstrip())
                lines.append((pos, pos + lead, pos + len(body)))
            pos += len(raw)
        group: list[tuple[int, int, int]] = []

        def flush_para() -> None:
            if not group:
                return
            s, e = group[0][1], group[-1][2]
            seg_text = text[s:e]
            is_heading = len(group) == 1 and len(seg_text) <= 90 and not re.search(r"[.!?:;,\"\u201d)]$", seg_text)
            if not out and title and seg_text.strip() == title.strip():
                group.clear()
                return  # the article's own first-line title: shown as the page's <h1>
            out.append(Segment("h" if is_heading else "p", s, e, seg_text))
            group.clear()

        for ls, cs, ce in lines:
            m = _BULLET.match(text, ls, ce)
            if m:
                flush_para()
                item = Segment("li", m.end(), ce, text[m.end():ce])
                if out and out[-1].kind == "ul" and out[-1].end == -1:
                    out[-1].items.append(item)  # type: ignore[union-attr]
                else:
                    out.append(Segment("ul", end=-1, items=[item]))
            else:
                if out and out[-1].kind == "ul" and out[-1].end == -1:
                    out[-1].end = 0
                group.append((ls, cs, ce))
        flush_para()
        if out and out[-1].kind == "ul" and out[-1].end == -1:
            out[-1].end = 0
    for seg in out:
        if seg.kind == "ul" and seg.items:
            seg.start, seg.end = seg.items[0].start, seg.items[-1].end
    return out


@router.get("/sources/{doc_id}", response_class=HTMLResponse)
def source_page(doc_id: str, request: Request) -> Response:
    engine = getattr(request.app.state, "engine", None)
    documents = getattr(engine, "documents", None) or {}
    doc = documents.get(doc_id) if _DOC_ID.match(doc_id) else None
    if doc is None:
        return _not_found(request, "There is no article with that id.", "document_not_found")
    url = str(getattr(doc, "url", "") or "")
    html = _env.get_template("source.html").render(
        doc=doc,
        doc_url=url if url.startswith(("https://", "http://")) else "",
        segments=split_segments(doc.text, doc.title),
        css=asset_url("site.css"),
        icon=asset_url("favicon.svg"),
        script=asset_url("source.js"),
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

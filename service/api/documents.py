"""GET /api/documents — the articles Stride answers from."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter

from service.api.deps import EngineDep
from service.api.schemas import DocumentOut, DocumentSummary, ErrorResponse
from service.errors import ApiError

router = APIRouter(tags=["documents"])


@router.get("/api/documents", response_model=list[DocumentSummary])
async def list_documents(engine: EngineDep) -> list[dict]:
    chunks = Counter(chunk.doc_id for chunk in engine.artifact.chunks)
    return [
        {"doc_id": d.doc_id, "title": d.title, "publisher": d.publisher, "author": d.author, "url": d.url, "chunks": chunks[d.doc_id]}
        for d in engine.documents.values()
    ]


@router.get("/api/documents/{doc_id}", response_model=DocumentOut, responses={404: {"model": ErrorResponse}})
async def get_document(doc_id: str, engine: EngineDep) -> dict:
    """The original article text; citation `start`/`end` are offsets into `text`."""
    doc = engine.documents.get(doc_id)
    if doc is None:
        raise ApiError(404, f"There is no document {doc_id!r}. GET /api/documents lists them.", "unknown_document")
    return {"doc_id": doc.doc_id, "title": doc.title, "publisher": doc.publisher, "author": doc.author, "url": doc.url, "text": doc.text}

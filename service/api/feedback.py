"""POST /api/feedback from the widget's thumbs; GET /api/admin/feedback for the operator."""

from __future__ import annotations

import hmac
import logging
import sqlite3

from fastapi import APIRouter, Header
from starlette.concurrency import run_in_threadpool

from service import metrics
from service.api.deps import RuntimeDep, rate_limited
from service.api.schemas import ErrorResponse, FeedbackRequest, FeedbackResponse
from service.errors import ApiError

router = APIRouter(tags=["feedback"])
log = logging.getLogger("stride.feedback")


@router.post("/api/feedback", status_code=202, response_model=FeedbackResponse, responses={422: {"model": ErrorResponse}, 429: {"model": ErrorResponse}}, dependencies=[rate_limited("feedback")])
async def post_feedback(body: FeedbackRequest, runtime: RuntimeDep) -> dict:
    """Rate an answer by its `id`. Stored only when the operator enabled feedback; never with an IP."""
    stored = False
    if runtime.feedback is not None:
        try:
            await run_in_threadpool(runtime.feedback.add, body.message_id, body.rating, body.comment)
            stored = True
        except (OSError, sqlite3.Error) as exc:
            # The rating is lost, the user is not: count it and move on.
            metrics.feedback_failures.inc()
            log.warning("feedback store unwritable", extra={"error": exc.__class__.__name__})
    metrics.feedback.labels(body.rating, str(stored).lower()).inc()
    return {"stored": stored}


@router.get("/api/admin/feedback", responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})
async def export_feedback(runtime: RuntimeDep, authorization: str | None = Header(default=None)) -> dict:
    """Operator export (Authorization: Bearer $STRIDE_ADMIN_TOKEN). Off while no token is configured."""
    token = runtime.settings.admin_token
    if not token:
        raise ApiError(404, "Operator endpoints are disabled (no STRIDE_ADMIN_TOKEN configured).", "disabled")
    supplied = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(supplied.encode(), token.encode()):
        raise ApiError(401, "A valid operator token is required.", "unauthorized", {"WWW-Authenticate": "Bearer"})
    rows = await run_in_threadpool(runtime.feedback.export) if runtime.feedback else []
    return {"feedback": rows}

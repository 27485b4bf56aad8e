"""Every error is JSON a person can read: {"error": {"message", "type", "code"}}.

The shape is OpenAI's, so the `openai` SDK surfaces Stride's message unchanged. No
handler ever returns a traceback or echoes the request's text.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("stride.errors")

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error", 405: "invalid_request_error", 413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error", 503: "overloaded_error"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers


def error_payload(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """The one error shape: {"error": {"message", "type", "code"}}, type from the status."""
    return {"error": {"message": message, "type": _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"), "code": code}}


def error_response(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_payload(status, message, code), status_code=status, headers=headers)


def describe_validation(errors: list[dict[str, Any]]) -> str:
    """'messages[0].content: String should have at most 4000 characters' — location and reason, no input echoed."""
    parts: list[str] = []
    for error in errors[:3]:
        if error.get("type") == "json_invalid":
            return "The request body is not valid JSON."
        if tuple(error.get("loc", ())) == ("body",) and error.get("type") in ("model_attributes_type", "dict_type", "missing"):
            return 'The request body must be a JSON object, for example {"messages": [{"role": "user", "content": "why do my hips hurt?"}]}.'
        location = ""
        for item in error.get("loc", ()):
            if item == "body":
                continue
            location += f"[{item}]" if isinstance(item, int) else (f".{item}" if location else str(item))
        reason = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if error.get("type") == "missing":
            reason = "is required"
        parts.append(f"{location}: {reason}" if location else reason)
    more = f" (and {len(errors) - 3} more problems)" if len(errors) > 3 else ""
    return "Invalid request: " + "; ".join(parts) + more + "."


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, describe_validation(list(exc.errors())), "invalid_body")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = exc.detail if isinstance(exc.detail, str) and exc.detail != "Not Found" else f"There is nothing at {request.url.path}. The API is described at /docs."
            return error_response(404, message, "not_found")
        if exc.status_code == 405:
            return error_response(405, f"{request.method} is not allowed on {request.url.path}.", "method_not_allowed", dict(exc.headers or {}))
        return error_response(exc.status_code, str(exc.detail), None, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "Something went wrong on our side. Please try again in a moment.", "internal_error")

"""The FastAPI application: routers, gates and start-up.

`create_app()` is what uvicorn runs (`stride serve`). The engine (model, index, safety
rules) is loaded once per worker at start-up; `/readyz` turns 200 when it is in place.
The service only reads the index artifact; it never writes it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service import errors, logs
from service.api import chat, documents, fastlane, feedback, health, openai_compat, pages
from service.api.deps import Runtime
from service.config import Settings, get_settings
from service.feedback import FeedbackStore
from service.ratelimit import RateLimiter

log = logging.getLogger("stride.app")

DESCRIPTION = """Grounded, cited answers to runners' hip-pain questions from a fixed set of articles,
with a red-flag safety layer. Every citation's `quote` is verbatim article text; `start`/`end`
are offsets into `GET /api/documents/{doc_id}`'s `text`."""


def create_app(settings: Settings | None = None, *, engine=None) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime: Runtime = app.state.runtime
        if runtime.engine is None:
            runtime.engine = _load_engine(settings)
        app.state.engine = runtime.engine
        log.info("ready")
        yield
        log.info("stopped")

    app = FastAPI(title="Stride", version=_version(), description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = Runtime(
        settings=settings,
        engine=engine,
        limiter=RateLimiter(settings.rate_limit),
        slots=asyncio.Semaphore(settings.max_concurrency),
        feedback=FeedbackStore(settings.feedback_db) if settings.feedback_enabled else None,
    )
    app.state.engine = engine
    errors.install(app)
    for module in (chat, openai_compat, documents, feedback, health, pages):
        app.include_router(module.router)
    chat_route = next(r for r in chat.router.routes if getattr(r, "path", None) == fastlane.PATH)
    app.add_middleware(fastlane.ChatFastLane, runtime=app.state.runtime, route=chat_route)  # innermost: inside CORS and the gatekeeper
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization", "X-Request-Id"],
        expose_headers=["Retry-After", "X-Request-Id"],
        max_age=600,
    )
    from service.middleware import Gatekeeper

    app.add_middleware(Gatekeeper, max_body_bytes=settings.max_body_bytes, frame_ancestors=[o for o in settings.origins])
    return app


def _load_engine(settings: Settings):
    from service.engine import Engine, EngineUnavailable

    try:
        return Engine.load(settings)
    except EngineUnavailable as exc:
        # One clear line, then stop: serving a mismatched index or unchecked rules is worse than not serving.
        print(f"stride: cannot start: {exc}", file=sys.stderr)
        raise SystemExit(3) from None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stride")
    except PackageNotFoundError:
        return "0"

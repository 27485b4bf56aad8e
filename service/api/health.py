"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from service import metrics
from service.api.deps import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict:
    """The process is up (it may still be loading)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """200 once the model and index are loaded, 503 before."""
    engine = runtime.engine
    if engine is None:
        return JSONResponse({"status": "loading"}, status_code=503, headers={"Retry-After": "1"})
    manifest = engine.artifact.manifest
    return JSONResponse({"status": "ready", "index": {"built_at": manifest["built_at"], "counts": manifest["counts"]}, "model": manifest["model"]["name"], "safety_rules": engine.safety.version, "scope_rules": engine.scope.version})


@router.get("/metrics", include_in_schema=False)
async def prometheus() -> Response:
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

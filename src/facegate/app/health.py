from __future__ import annotations

from fastapi import APIRouter

from facegate import __version__
from facegate.features.faces.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    return HealthOut(status="ok", version=__version__)

"""What the compatible APIs' routes use, built once per mounted sub-application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from facegate.features.compat.auth import Gatekeeper
from facegate.features.compat.gallery import CompatGallery
from facegate.features.compat.vision import Caller, CompatVision


@dataclass(frozen=True)
class CompatServices:
    container: Any
    gate: Gatekeeper
    vision: CompatVision
    gallery: CompatGallery

    @classmethod
    def of(cls, container: Any) -> CompatServices:
        return cls(container, Gatekeeper(container), CompatVision(container), CompatGallery(container))

    @property
    def max_bytes(self) -> int:
        return int(self.container.settings.max_upload_bytes)

    def caller(self, request: Request, raw_key: str | None, scope: str, api: str) -> Caller:
        client = request.client.host if request.client else ""
        principal = self.gate.check(raw_key, client, scope, api, uuid_only=api == "compreface")
        return Caller(principal, client, api)


def services(request: Request) -> CompatServices:
    svc: CompatServices = request.app.state.compat
    return svc

"""Drop-in CompreFace (``/api/v1``) and DeepStack / CodeProject.AI (``/v1/vision``) face APIs.

``install(app, container)`` mounts both as sub-applications with their own error envelopes.
Keys are checked by ``container.credentials`` (``auth.CredentialResolver``); person groups come
from ``container.person_groups`` (``auth.PersonGroups``: FaceGate's group service; without one,
every key sees every person).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

COMPREFACE_PREFIX = "/api/v1"
DEEPSTACK_PREFIX = "/v1/vision"


def install(app: FastAPI, container: Any) -> None:
    from facegate.features.compat import compreface, deepstack

    app.mount(COMPREFACE_PREFIX, compreface.build(container))
    app.mount(DEEPSTACK_PREFIX, deepstack.build(container))

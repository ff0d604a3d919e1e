"""``/v1/apikeys``: manage API keys with an ``admin`` key. A key cannot create or manage a key with
more scopes, more groups or a longer life than its own (``check_grant``); the secret is in the
answer to create and rotate only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from facegate.core.auth.credentials import KIND_KEY, parse_expiry, parse_groups, parse_scopes
from facegate.core.auth.principal import SCOPE_ADMIN, Principal
from facegate.core.http import ContainerDep, require_scope
from facegate.core.store.db import utcnow

router = APIRouter(prefix="/v1/apikeys", tags=["apikeys"])
Admin = Annotated[Principal, require_scope(SCOPE_ADMIN)]


class KeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    scopes: list[str] = Field(min_length=1, max_length=16)
    groups: list[str] | None = Field(default=None, max_length=256,
                                     description="Groups the key may see; null: every group")
    expires: str | None = Field(default=None, max_length=40,
                                description="30d, 12h, 90m, 2w or an ISO date/time; null: never")
    uuid: bool = Field(default=False, description="A UUID-shaped key")


class KeyOut(BaseModel):
    name: str
    kind: str
    shape: str
    scopes: list[str]
    groups: list[str] | None
    created_at: str | None
    created_by: str | None
    last_used_at: str | None
    expires_at: str | None
    revoked_at: str | None
    status: str
    key: str | None = Field(default=None, description="The secret: in this answer only")


def _out(info: Any, secret: str | None = None) -> KeyOut:
    return KeyOut(**info.to_json(utcnow()), key=secret)


@router.get("", response_model=list[KeyOut])
async def list_keys(c: ContainerDep, caller: Admin) -> list[KeyOut]:
    return [_out(k) for k in await run_in_threadpool(c.credentials.list, KIND_KEY)]


@router.post("", response_model=KeyOut, status_code=201)
async def create_key(body: KeyIn, c: ContainerDep, caller: Admin) -> KeyOut:
    """Create a key (no more power than the caller's); its secret is returned once."""
    info, secret = await run_in_threadpool(
        lambda: c.credentials.create(
            body.name, parse_scopes(body.scopes), caller, groups=parse_groups(body.groups),
            expires_at=parse_expiry(body.expires), uuid_shaped=body.uuid,
        )
    )
    return _out(info, secret)


@router.post("/{name}/revoke", response_model=KeyOut)
async def revoke_key(name: str, c: ContainerDep, caller: Admin) -> KeyOut:
    return _out(await run_in_threadpool(c.credentials.revoke, name[:64], caller))


@router.post("/{name}/rotate", response_model=KeyOut)
async def rotate_key(name: str, c: ContainerDep, caller: Admin) -> KeyOut:
    info, secret = await run_in_threadpool(c.credentials.rotate, name[:64], caller)
    return _out(info, secret)

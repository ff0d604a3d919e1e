"""Stream devices (cameras, door controllers) and their token hashes; ``SqlDeviceStore``.

Migrations: ``versions/0003_devices.py``, ``0009_groups.py`` (``device_groups``: the groups of
people a device admits; none for a new device). Only the SHA-256 of a token is stored (see
``facegate.features.access.devices``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, PrimaryKeyConstraint, String, delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from facegate.core.errors import ConflictError, NotFoundError
from facegate.core.store import groups as group_store
from facegate.core.store.db import Base, Database, utcnow
from facegate.core.store.models import Group

log = logging.getLogger("facegate.core.store.devices")


@dataclass(frozen=True)
class Device:
    """A registered stream device (its token is never kept)."""

    id: int
    name: str
    created_at: datetime
    last_seen_at: datetime | None = None
    groups: tuple[str, ...] = ()  # the groups of people it admits (none: nobody)


class DeviceRecord(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None, nullable=True)


class DeviceGroupRecord(Base):
    __tablename__ = "device_groups"
    __table_args__ = (PrimaryKeyConstraint("device_id", "group_id", name="pk_device_groups"),)

    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))


def _device(r: DeviceRecord, groups: tuple[str, ...] = ()) -> Device:
    return Device(id=r.id, name=r.name, created_at=r.created_at, last_seen_at=r.last_seen_at,
                  groups=groups)


def _groups_of(s: Any, device_id: int) -> tuple[str, ...]:
    rows = s.scalars(
        select(Group.name)
        .join(DeviceGroupRecord, DeviceGroupRecord.group_id == Group.id)
        .where(DeviceGroupRecord.device_id == device_id)
        .order_by(Group.name)
    ).all()
    return tuple(rows)


class SqlDeviceStore:
    """``facegate.features.access.devices.DeviceStore`` on the FaceGate database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str, token_hash: str) -> Device:
        try:
            with self.db.session(write=True) as s:
                if s.scalar(select(DeviceRecord.id).where(DeviceRecord.name == name)) is not None:
                    raise ConflictError(f"a device named {name!r} already exists")
                row = DeviceRecord(name=name, token_hash=token_hash, created_at=utcnow())
                s.add(row)
                s.flush()
                return _device(row)
        except IntegrityError as exc:
            raise ConflictError(f"a device named {name!r} already exists") from exc

    def find_by_hash(self, token_hash: str) -> tuple[Device, str] | None:
        with self.db.session() as s:
            row = s.scalar(select(DeviceRecord).where(DeviceRecord.token_hash == token_hash))
            return None if row is None else (_device(row), row.token_hash)

    def touch(self, device_id: int) -> None:
        """Best effort: a busy database must not refuse a camera, so failures are only logged."""
        try:
            with self.db.session(write=True) as s:
                row = s.get(DeviceRecord, device_id)
                if row is not None:
                    row.last_seen_at = utcnow()
        except OperationalError as exc:
            log.warning("could not record last_seen_at of device %s: %s", device_id, exc)

    def list_devices(self) -> list[Device]:
        with self.db.session() as s:
            rows = s.scalars(select(DeviceRecord).order_by(DeviceRecord.name)).all()
            return [_device(r, _groups_of(s, r.id)) for r in rows]

    def groups_of(self, name: str) -> frozenset[str]:
        """The groups the device admits (empty for a new device); ``NotFoundError`` if unknown."""
        with self.db.session() as s:
            return frozenset(_groups_of(s, self._get(s, name).id))

    def set_groups(self, name: str, groups: frozenset[str]) -> Device:
        """Replace the groups the device admits (every group must exist)."""
        with self.db.session(write=True) as s:
            row = self._get(s, name)
            found = group_store.resolve_groups(s, groups)
            s.execute(delete(DeviceGroupRecord).where(DeviceGroupRecord.device_id == row.id))
            for g in found:
                s.add(DeviceGroupRecord(device_id=row.id, group_id=g.id))
            s.flush()
            return _device(row, _groups_of(s, row.id))

    @staticmethod
    def _get(s: Any, name: str) -> DeviceRecord:
        row = s.scalar(select(DeviceRecord).where(DeviceRecord.name == name))
        if row is None:
            raise NotFoundError(f"no device named {name!r}")
        return row

    def remove(self, name: str) -> None:
        with self.db.session() as s:
            if s.execute(delete(DeviceRecord).where(DeviceRecord.name == name)).rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError(f"no device named {name!r}")

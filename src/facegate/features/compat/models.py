"""The one table of the compatible APIs: CompreFace's ``image_id`` of every stored face sample.

Each sample template (``face_templates`` row, ``is_mean`` false) gets a random UUID the first time a
compatible API adds or lists it; the row goes with its template and its person (ON DELETE CASCADE).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from facegate.core.store.db import Base, utcnow


class CompatFace(Base):
    __tablename__ = "compat_faces"

    image_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("face_templates.id", ondelete="CASCADE"), unique=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

"""The core tables: people, face templates (encrypted), search vectors, audit log, bookkeeping,
and the optional encrypted enrolment face crops (``face_images``).

Templates: every accepted sample is one row (``is_mean`` false) and each person has one normalised
mean template per model (``is_mean`` true, unique). The embedding is AES-256-GCM encrypted
(``ciphertext``, ``key_id``); on PostgreSQL the mean templates also have a plaintext ``vector``
row in ``template_search_vectors`` for pgvector's HNSW index (see docs/decisions.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from facegate.core.store.db import Base, utcnow


class SearchVector(TypeDecorator[Any]):
    """pgvector's ``vector`` on PostgreSQL (dimension-free; indexes cast per dimension)."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            from pgvector.sqlalchemy import Vector

            return dialect.type_descriptor(Vector())
        return dialect.type_descriptor(LargeBinary())


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    templates: Mapped[list[FaceTemplate]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )


class FaceTemplate(Base):
    __tablename__ = "face_templates"
    __table_args__ = (
        Index("ix_face_templates_person_model", "person_id", "model"),
        Index(
            "uq_face_templates_mean",
            "person_id",
            "model",
            unique=True,
            sqlite_where=text("is_mean = 1"),
            postgresql_where=text("is_mean"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    is_mean: Mapped[bool] = mapped_column(Boolean, default=False)
    sample_count: Mapped[int] = mapped_column(Integer, default=1)
    key_id: Mapped[str] = mapped_column(String(64), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # upload | camera | import | mean
    image_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    person: Mapped[Person] = relationship(back_populates="templates")


class FaceImage(Base):
    """An accepted enrolment face kept as its aligned crop (opt-in: ``FACEGATE_STORE_FACE_IMAGES``).

    ``ciphertext`` is the AES-256-GCM encryption (same key ring as templates, associated data
    ``face_image_aad``) of the encoded crop (``media_type``, e.g. image/png) the embedder saw. It
    lets ``facegate people reembed`` rebuild templates for another model pack. Rows go with their
    person and with the sample template made from them (ON DELETE CASCADE).
    """

    __tablename__ = "face_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    template_id: Mapped[int | None] = mapped_column(
        ForeignKey("face_templates.id", ondelete="CASCADE"), nullable=True, index=True
    )
    key_id: Mapped[str] = mapped_column(String(64), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    media_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # upload | camera | import
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TemplateSearchVector(Base):
    """Plaintext copy of each mean template for pgvector search. Created on PostgreSQL only."""

    __tablename__ = "template_search_vectors"

    template_id: Mapped[int] = mapped_column(
        ForeignKey("face_templates.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[Any] = mapped_column(SearchVector())


class Group(Base):
    """A gallery: a named set of people that doors, kiosks, sites and API keys admit or search."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PersonGroup(Base):
    """Membership: a person belongs to one or more groups."""

    __tablename__ = "person_groups"
    __table_args__ = (
        PrimaryKeyConstraint("person_id", "group_id", name="pk_person_groups"),
        Index("ix_person_groups_group_person", "group_id", "person_id"),
    )

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))


class AuditRecord(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action_at", "action", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    decision: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # hash chain (facegate.core.store.audit_chain): the previous row's hash and this row's
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    row_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)


class AuditChainHead(Base):
    """One row (id 1): the last appended audit row and its hash. Appends update it first, which
    serialises them (a row lock on PostgreSQL, the write lock on SQLite); verification checks
    that the chain ends where the head says (rows cut off the end are noticed)."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)


class GalleryState(Base):
    """One row per model: bumped in the same transaction as every template change.

    In-memory galleries of every process compare it before a search and reload when it moved.
    """

    __tablename__ = "gallery_state"

    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)


class ImportedImage(Base):
    """SHA-256 of every image ``people import`` has handled, so reruns skip them."""

    __tablename__ = "imported_images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), index=True)
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), nullable=True
    )
    path: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16))  # enrolled | rejected
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

"""Core tables: people, face templates, search vectors (PostgreSQL), audit log, gallery state.

Revision ID: 0001_core
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facegate.core.store.db import UTCDateTime
from facegate.core.store.models import SearchVector

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

# HNSW indexes are per dimension (pgvector indexes need a fixed size): the shipped packs make
# 128-d (SFace, dlib) and 512-d (ArcFace) embeddings.
INDEXED_DIMS = (128, 512)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "people",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("external_id", sa.String(200), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "face_templates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "person_id", sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("is_mean", sa.Boolean, nullable=False),
        sa.Column("sample_count", sa.Integer, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("quality", sa.JSON, nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("image_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_face_templates_person_model", "face_templates", ["person_id", "model"])
    op.create_index("ix_face_templates_key_id", "face_templates", ["key_id"])
    op.create_index(
        "uq_face_templates_mean",
        "face_templates",
        ["person_id", "model"],
        unique=True,
        sqlite_where=sa.text("is_mean = 1"),
        postgresql_where=sa.text("is_mean"),
    )
    if postgres:
        op.create_table(
            "template_search_vectors",
            sa.Column(
                "template_id",
                sa.Integer,
                sa.ForeignKey("face_templates.id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column(
                "person_id",
                sa.Integer,
                sa.ForeignKey("people.id", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("model", sa.String(64), nullable=False),
            sa.Column("dim", sa.Integer, nullable=False),
            sa.Column("embedding", SearchVector(), nullable=False),
        )
        op.create_index(
            "ix_template_search_vectors_person_id", "template_search_vectors", ["person_id"]
        )
        for dim in INDEXED_DIMS:
            op.execute(
                f"CREATE INDEX ix_template_search_vectors_hnsw_{dim} ON template_search_vectors "
                f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) WHERE dim = {dim}"
            )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("score", sa.Float, nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])
    op.create_index("ix_audit_log_action_at", "audit_log", ["action", "at"])
    op.create_table(
        "gallery_state",
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
    )
    op.create_table(
        "imported_images",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column(
            "person_id", sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_imported_images_external_id", "imported_images", ["external_id"])


def downgrade() -> None:
    op.drop_table("imported_images")
    op.drop_table("gallery_state")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("template_search_vectors")
    op.drop_table("face_templates")
    op.drop_table("people")

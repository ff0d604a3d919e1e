"""Liveness challenge sessions.

Revision ID: 0002_liveness
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facegate.core.store.db import UTCDateTime

revision = "0002_liveness"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "liveness_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("steps", sa.JSON, nullable=False),
        sa.Column("limits", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column(
            "person_id",
            sa.Integer,
            sa.ForeignKey("people.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("consumed_at", UTCDateTime(), nullable=True),
        sa.Column("frame_count", sa.Integer, nullable=False),
        sa.Column("last_timestamp_ms", sa.Integer, nullable=True),
        sa.Column("frames", sa.JSON, nullable=False),
        sa.Column("samples", sa.JSON, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=True),
        sa.Column("embedding_model", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("sample_blob", sa.LargeBinary, nullable=True),
        sa.Column("mean_blob", sa.LargeBinary, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_liveness_sessions_status", "liveness_sessions", ["status"])
    op.create_index("ix_liveness_sessions_expires_at", "liveness_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_liveness_sessions_expires_at", table_name="liveness_sessions")
    op.drop_index("ix_liveness_sessions_status", table_name="liveness_sessions")
    op.drop_table("liveness_sessions")

"""CompreFace-compatible API: a stable ``image_id`` (UUID) per stored face sample.

Revision ID: 0012_compat
Revises: 0011_liveness_paced
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facegate.core.store.db import UTCDateTime

revision = "0012_compat"
down_revision = "0011_liveness_paced"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compat_faces",
        sa.Column("image_id", sa.String(36), primary_key=True),
        sa.Column(
            "template_id", sa.Integer,
            sa.ForeignKey("face_templates.id", ondelete="CASCADE"), nullable=False, unique=True,
        ),
        sa.Column(
            "person_id", sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_compat_faces_person_id", "compat_faces", ["person_id"])


def downgrade() -> None:
    op.drop_table("compat_faces")

"""Optional encrypted enrolment face crops (``FACEGATE_STORE_FACE_IMAGES``).

Revision ID: 0006_face_images
Revises: 0005_lockers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facegate.core.store.db import UTCDateTime

revision = "0006_face_images"
down_revision = "0005_lockers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "person_id", sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "template_id",
            sa.Integer,
            sa.ForeignKey("face_templates.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_face_images_person_id", "face_images", ["person_id"])
    op.create_index("ix_face_images_template_id", "face_images", ["template_id"])
    op.create_index("ix_face_images_key_id", "face_images", ["key_id"])


def downgrade() -> None:
    op.drop_table("face_images")

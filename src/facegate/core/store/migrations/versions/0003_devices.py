"""Stream devices and their token hashes (real-time access control).

Revision ID: 0003_devices
Revises: 0002_liveness
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facegate.core.store.db import UTCDateTime

revision = "0003_devices"
down_revision = "0002_liveness"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("devices")

"""Rate-limit counters shared by every worker and host (``facegate.core.ratelimit``).

Revision ID: 0010_rate_limits
Revises: 0009_groups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_rate_limits"
down_revision = "0009_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("hits", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_rate_limits_expires_at", "rate_limits", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limits_expires_at", table_name="rate_limits")
    op.drop_table("rate_limits")

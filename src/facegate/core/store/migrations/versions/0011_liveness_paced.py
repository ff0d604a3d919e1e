"""Server-paced liveness: a session's mode (paced | offline) and its pacing state.

``pacing`` (JSON) holds the secret reveal delays, the server times at which steps were shown,
the client→server clock offset and the calibrated neutral face. Existing rows were recorded
challenges: they become ``offline`` (never accepted to authenticate).

Revision ID: 0011_liveness_paced
Revises: 0010_rate_limits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_liveness_paced"
down_revision = "0010_rate_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("liveness_sessions") as batch:
        batch.add_column(sa.Column("mode", sa.String(16), nullable=False, server_default="offline"))
        batch.add_column(sa.Column("pacing", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("liveness_sessions") as batch:
        batch.drop_column("pacing")
        batch.drop_column("mode")

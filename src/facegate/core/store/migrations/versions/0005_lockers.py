"""Bank lockers: customers, lockers, assignments, one-time keys (HMAC only), access events.

Revision ID: 0005_lockers
Revises: 0004_web
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facegate.core.store.db import UTCDateTime

revision = "0005_lockers"
down_revision = "0004_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "locker_customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column(
            "person_id", sa.Integer, sa.ForeignKey("people.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("face_revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_locker_customers_person_id", "locker_customers", ["person_id"])
    op.create_table(
        "lockers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.Integer, nullable=False, unique=True),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("size", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("block_reason", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "locker_assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "locker_id", sa.Integer, sa.ForeignKey("lockers.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "customer_pk",
            sa.Integer,
            sa.ForeignKey("locker_customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_locker_assignments_locker_id", "locker_assignments", ["locker_id"])
    op.create_index("ix_locker_assignments_customer_pk", "locker_assignments", ["customer_pk"])
    op.create_index(
        "uq_locker_assignments_active",
        "locker_assignments",
        ["locker_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "locker_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ref", sa.String(32), nullable=False, unique=True),
        sa.Column(
            "locker_id", sa.Integer, sa.ForeignKey("lockers.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "customer_pk",
            sa.Integer,
            sa.ForeignKey("locker_customers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "assignment_id",
            sa.Integer,
            sa.ForeignKey("locker_assignments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.Column("burnt_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_locker_keys_locker_issued", "locker_keys", ["locker_id", "issued_at"])
    op.create_index("ix_locker_keys_customer_pk", "locker_keys", ["customer_pk"])
    op.create_table(
        "locker_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(32), nullable=False),
        sa.Column("locker_number", sa.Integer, nullable=True),
        sa.Column("customer_id", sa.String(200), nullable=True),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("liveness_score", sa.Float, nullable=True),
        sa.Column("match_score", sa.Float, nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_locker_events_at", "locker_events", ["at"])
    op.create_index("ix_locker_events_locker_number", "locker_events", ["locker_number"])
    op.create_index("ix_locker_events_customer_id", "locker_events", ["customer_id"])


def downgrade() -> None:
    op.drop_table("locker_events")
    op.drop_table("locker_keys")
    op.drop_table("locker_assignments")
    op.drop_table("lockers")
    op.drop_table("locker_customers")

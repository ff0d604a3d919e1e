"""Web accounts, sessions, login attempts; voting (elections, parties, voters, votes).

Revision ID: 0004_web
Revises: 0003_devices
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facegate.core.store.db import UTCDateTime

revision = "0004_web"
down_revision = "0003_devices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey("web_accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("liveness_session_id", sa.String(64), nullable=True),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_web_sessions_account_id", "web_sessions", ["account_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "web_login_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
    )
    op.create_index("ix_web_login_attempts_username_at", "web_login_attempts", ["username", "at"])
    op.create_index("ix_web_login_attempts_client_at", "web_login_attempts", ["client", "at"])
    op.create_table(
        "elections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("opens_at", UTCDateTime(), nullable=False),
        sa.Column("closes_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "election_parties",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "election_id",
            sa.Integer,
            sa.ForeignKey("elections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.UniqueConstraint("election_id", "name", name="uq_parties_election_name"),
    )
    op.create_index("ix_election_parties_election_id", "election_parties", ["election_id"])
    op.create_table(
        "voters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey("web_accounts.id", ondelete="SET NULL"),
            nullable=True,
            unique=True,
        ),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("date_of_birth", sa.Date, nullable=False),
        sa.Column("voter_number", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "election_id",
            sa.Integer,
            sa.ForeignKey("elections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "voter_id", sa.Integer, sa.ForeignKey("voters.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "party_id",
            sa.Integer,
            sa.ForeignKey("election_parties.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("cast_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("election_id", "voter_id", name="uq_votes_election_voter"),
    )
    op.create_index("ix_votes_election_id", "votes", ["election_id"])
    op.create_index("ix_votes_voter_id", "votes", ["voter_id"])


def downgrade() -> None:
    for table in (
        "votes", "voters", "election_parties", "elections",
        "web_login_attempts", "web_sessions", "web_accounts",
    ):
        op.drop_table(table)

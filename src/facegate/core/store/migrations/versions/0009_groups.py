"""Groups (galleries) of people and their memberships; doors admit no group until configured.

The groups ``default``, ``staff``, ``customers`` and ``web`` are created. People already enrolled
join ``web`` when they hold a web account (the web login admits ``web``), ``customers`` when they
are a locker customer (``customer:<id>``: the kiosk searches ``customers``), ``default`` otherwise.

The groups a door admits are its device credential's ``groups`` (``api_keys``, kind ``device``,
migration 0008): a device that saw every group (null) now sees none (``[]``), so a door admits
nobody until an administrator names its groups (``facegate devices groups NAME GROUP,...``).

Revision ID: 0009_groups
Revises: 0008_credentials
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facegate.core.store.db import UTCDateTime, utcnow

revision = "0009_groups"
down_revision = "0008_credentials"
branch_labels = None
depends_on = None

SEEDED = (
    ("default", "people enrolled before groups existed, and enrolments that name no group"),
    ("staff", "employees"),
    ("customers", "locker customers (kiosk registration)"),
    ("web", "web site sign-ups"),
)


def upgrade() -> None:
    groups = op.create_table(
        "groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "person_groups",
        sa.Column("person_id", sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("group_id", sa.Integer, sa.ForeignKey("groups.id", ondelete="CASCADE"),
                  nullable=False),
        sa.PrimaryKeyConstraint("person_id", "group_id", name="pk_person_groups"),
    )
    op.create_index("ix_person_groups_group_person", "person_groups", ["group_id", "person_id"])
    now = utcnow()
    op.bulk_insert(groups, [{"name": n, "description": d, "created_at": now} for n, d in SEEDED])
    op.execute(
        "INSERT INTO person_groups (person_id, group_id) "
        "SELECT p.id, g.id FROM people p, groups g WHERE g.name = CASE "
        "WHEN EXISTS (SELECT 1 FROM web_accounts a WHERE a.username = p.external_id) THEN 'web' "
        "WHEN p.external_id LIKE 'customer:%' THEN 'customers' ELSE 'default' END"
    )
    _devices_admit_nobody()


def _devices_admit_nobody() -> None:
    """Every device credential that saw every group (JSON null or SQL NULL) sees none."""
    keys = sa.table("api_keys", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                    sa.column("groups", sa.JSON))
    bind = op.get_bind()
    rows = bind.execute(sa.select(keys.c.id, keys.c.groups).where(keys.c.kind == "device")).all()
    for key_id, groups in rows:
        if groups is None:
            bind.execute(sa.update(keys).where(keys.c.id == key_id).values(groups=[]))


def downgrade() -> None:
    op.drop_index("ix_person_groups_group_person", table_name="person_groups")
    op.drop_table("person_groups")
    op.drop_table("groups")

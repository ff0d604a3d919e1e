"""Credentials: API keys and stream devices in one table; the audit log's client and hash chain.

* ``api_keys`` replaces ``devices``: every device becomes a credential of kind ``device`` with the
  ``stream`` scope and every group (as before the upgrade); its token keeps working (the stored
  SHA-256 is the same, the lookup is its first 16 hex digits).
* ``audit_log`` gains ``client``, ``prev_hash`` and ``row_hash``; the existing rows are chained in
  id order and ``audit_chain_head`` records the end of the chain.

Revision ID: 0008_credentials
Revises: 0007_search_partitions
"""

from __future__ import annotations

from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op

from facegate.core.store.db import UTCDateTime

revision = "0008_credentials"
down_revision = "0007_search_partitions"
branch_labels = None
depends_on = None

_audit = sa.table(
    "audit_log", sa.column("id", sa.Integer), sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String), sa.column("client", sa.String), sa.column("action", sa.String),
    sa.column("subject", sa.String), sa.column("decision", sa.String),
    sa.column("score", sa.Float), sa.column("details", sa.JSON),
    sa.column("prev_hash", sa.String), sa.column("row_hash", sa.String),
)

_devices = sa.table(
    "devices", sa.column("id", sa.Integer), sa.column("name", sa.String),
    sa.column("token_hash", sa.String), sa.column("created_at", UTCDateTime()),
    sa.column("last_seen_at", UTCDateTime()),
)
_keys = sa.table(
    "api_keys", sa.column("id", sa.Integer), sa.column("kind", sa.String),
    sa.column("name", sa.String), sa.column("secret_hash", sa.String),
    sa.column("created_at", UTCDateTime()), sa.column("last_used_at", UTCDateTime()),
    sa.column("revoked_at", UTCDateTime()),
)


def upgrade() -> None:
    keys = op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("shape", sa.String(8), nullable=False),
        sa.Column("lookup", sa.String(16), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("groups", sa.JSON, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("kind", "name", name="uq_api_keys_kind_name"),
    )
    bind = op.get_bind()
    devices = bind.execute(sa.select(_devices).order_by(_devices.c.id)).all()
    if devices:
        op.bulk_insert(keys, [
            {"kind": "device", "name": d.name, "shape": "fgd", "lookup": d.token_hash[:16],
             "secret_hash": d.token_hash, "scopes": ["stream"], "groups": None,
             "created_at": d.created_at, "created_by": "migration",
             "last_used_at": d.last_seen_at}
            for d in devices
        ])
    op.drop_table("devices")

    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("client", sa.String(64), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.String(64), nullable=True))
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_id", sa.Integer, nullable=True),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    last_id, last_hash, count = _chain_existing_rows(bind)
    op.bulk_insert(head, [{"id": 1, "last_id": last_id, "last_hash": last_hash, "count": count}])


def _chain_existing_rows(bind: sa.Connection) -> tuple[int | None, str, int]:
    from facegate.core.store.audit_chain import GENESIS, chain_hash

    prev, last_id, count, after = GENESIS, None, 0, 0
    while True:
        rows = bind.execute(
            sa.select(_audit).where(_audit.c.id > after).order_by(_audit.c.id).limit(1000)
        ).all()
        if not rows:
            return last_id, prev, count
        for r in rows:
            row = SimpleNamespace(**r._asdict())
            digest = chain_hash(prev, row)  # type: ignore[arg-type]
            bind.execute(
                sa.update(_audit).where(_audit.c.id == r.id).values(prev_hash=prev, row_hash=digest)
            )
            prev, last_id, count = digest, r.id, count + 1
        after = rows[-1].id


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
        batch.drop_column("client")
    devices = op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
    )
    rows = op.get_bind().execute(
        sa.select(_keys).where(_keys.c.kind == "device", _keys.c.revoked_at.is_(None))
        .order_by(_keys.c.id)
    ).all()
    if rows:
        op.bulk_insert(devices, [
            {"name": r.name, "token_hash": r.secret_hash, "created_at": r.created_at,
             "last_seen_at": r.last_used_at}
            for r in rows
        ])
    op.drop_table("api_keys")

"""Tables of the web area: accounts, login sessions, login attempts.

Sessions and attempt counters live here (not in a process's memory) so that several server
processes share them. A session row is keyed by the SHA-256 of its cookie token: a copy of the
database does not hand out live sessions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from facegate.core.store.db import Base, utcnow


class Account(Base):
    __tablename__ = "web_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # = people.external_id
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(nullable=True)


class WebSession(Base):
    """A browser session. ``stage`` is "face" between the password and the live-face step."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("web_accounts.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(16))  # face | full
    csrf_token: Mapped[str] = mapped_column(String(64))
    liveness_session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class LoginAttempt(Base):
    """One login attempt. Recorded as a failure BEFORE the password is checked (so concurrent
    attempts of several processes all count) and flipped to success afterwards."""

    __tablename__ = "web_login_attempts"
    __table_args__ = (
        Index("ix_web_login_attempts_username_at", "username", "at"),
        Index("ix_web_login_attempts_client_at", "client", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    username: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    stage: Mapped[str] = mapped_column(String(16), default="password")  # password | face


class ApiKey(Base):
    """A credential of the API: an API key (``kind`` "api_key") or a stream device ("device").

    Only the SHA-256 of the secret is kept. ``lookup`` (the first 16 hex digits of that hash) finds
    the row without scanning, whatever the key's shape (``fgk_…``, ``fgd_…`` or a UUID); the full
    hash is then compared in constant time. ``groups`` None means every group.
    """

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_api_keys_kind_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # api_key | device
    name: Mapped[str] = mapped_column(String(64))
    shape: Mapped[str] = mapped_column(String(8))  # fgk | fgd | uuid
    lookup: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    groups: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)

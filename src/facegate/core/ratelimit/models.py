"""The ``rate_limits`` table: one row per counter key of the current fixed window."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from facegate.core.store.db import Base


class RateLimitCounter(Base):
    """A fixed-window counter: ``hits`` so far in the window that ends at ``expires_at``
    (seconds since the epoch, so every backend compares it the same way)."""

    __tablename__ = "rate_limits"
    __table_args__ = (Index("ix_rate_limits_expires_at", "expires_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[float] = mapped_column(Float)

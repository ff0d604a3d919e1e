"""The accounts' SQL, each function inside the caller's session (the service opens them)."""

from __future__ import annotations

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facegate.core.auth.models import Account, LoginAttempt
from facegate.core.store.db import utcnow


def find(s: Session, username: str) -> Account | None:
    return s.scalar(select(Account).where(Account.username == username))


def by_id(s: Session, account_id: int) -> Account | None:
    return s.get(Account, account_id)


def listing(s: Session, limit: int) -> list[Account]:
    return list(s.scalars(select(Account).order_by(Account.username).limit(limit)).all())


def count(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(Account)) or 0)


def delete(s: Session, row: Account) -> None:
    """The account and its login attempts (its sessions go with it: cascade)."""
    s.execute(sql_delete(LoginAttempt).where(LoginAttempt.username == row.username))
    s.delete(row)


def touch_last_login(s: Session, account_id: int) -> None:
    row = s.get(Account, account_id)
    if row is not None:
        row.last_login_at = utcnow()

"""The voting SQL, each function inside the caller's session (the service opens them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facegate.features.voting.models import Election, Party, Vote, Voter


def add_election(
    s: Session, title: str, names: list[str], opens_at: datetime, closes_at: datetime, actor: str
) -> int:
    """The election and its parties (in ballot order); its id."""
    e = Election(title=title, opens_at=opens_at, closes_at=closes_at, created_by=actor)
    s.add(e)
    s.flush()
    for i, name in enumerate(names):
        s.add(Party(election_id=e.id, name=name, position=i))
    s.flush()
    return int(e.id)


def election_ids(s: Session) -> list[int]:
    """Newest opening first."""
    return list(s.scalars(select(Election.id).order_by(Election.opens_at.desc())).all())


def election(s: Session, election_id: int) -> Election | None:
    return s.get(Election, election_id)


def parties(s: Session, election_id: int) -> list[Party]:
    return list(
        s.scalars(select(Party).where(Party.election_id == election_id).order_by(Party.position))
    )


def voter_of(s: Session, account_id: int) -> Voter | None:
    return s.scalar(select(Voter).where(Voter.account_id == account_id))


def has_vote(s: Session, election_id: int, voter_id: int) -> bool:
    return s.scalar(
        select(Vote.id).where(Vote.election_id == election_id, Vote.voter_id == voter_id)
    ) is not None


def add_vote(s: Session, election_id: int, voter_id: int, party_id: int) -> None:
    """Flushed at once: a second vote raises ``IntegrityError`` (the unique constraint)."""
    s.add(Vote(election_id=election_id, voter_id=voter_id, party_id=party_id))
    s.flush()


def counts_by_party(s: Session, election_id: int) -> dict[int, int]:
    rows = s.execute(
        select(Vote.party_id, func.count())
        .where(Vote.election_id == election_id)
        .group_by(Vote.party_id)
    ).all()
    return {int(pid): int(n) for pid, n in rows}

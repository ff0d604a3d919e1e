"""Tables of the voting module: elections, parties, voters, votes.

One vote per voter and election is a database constraint (``uq_votes_election_voter``), not a
check in the page: a second insert fails even when two processes race.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from facegate.core.store.db import Base, utcnow


class Election(Base):
    __tablename__ = "elections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Party(Base):
    __tablename__ = "election_parties"
    __table_args__ = (UniqueConstraint("election_id", "name", name="uq_parties_election_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    election_id: Mapped[int] = mapped_column(
        ForeignKey("elections.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Voter(Base):
    """A voter's declared details, one per web account (and one per voter number).

    Deleting the account keeps this row (``account_id`` becomes NULL) so that the votes already
    cast stay counted and the voter number cannot vote a second time with a new account.
    """

    __tablename__ = "voters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("web_accounts.id", ondelete="SET NULL"), unique=True, nullable=True
    )
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date] = mapped_column(Date)
    voter_number: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("election_id", "voter_id", name="uq_votes_election_voter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    election_id: Mapped[int] = mapped_column(
        ForeignKey("elections.id", ondelete="CASCADE"), index=True
    )
    voter_id: Mapped[int] = mapped_column(ForeignKey("voters.id", ondelete="CASCADE"), index=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("election_parties.id", ondelete="CASCADE"))
    cast_at: Mapped[datetime] = mapped_column(default=utcnow)

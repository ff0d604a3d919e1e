"""Voting: elections with parties and an open/close time, voter details (18+), one vote each.

"One vote per voter and election" is the database's unique constraint: the service inserts and
turns the constraint violation into a ``ConflictError``, so two racing requests (or processes)
cannot both vote. Every vote and every refusal is audited (action ``vote``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError

from facegate.core.domain import AuditEvent
from facegate.core.errors import ConflictError, FaceGateError, NotFoundError, PermissionDeniedError
from facegate.core.store.audit import Auditor
from facegate.core.store.db import Database, utcnow
from facegate.features.voting import repository as repo
from facegate.features.voting.models import Voter

Clock = Callable[[], datetime]
MAX_PARTIES = 30


@dataclass(frozen=True)
class PartyInfo:
    id: int
    name: str


@dataclass(frozen=True)
class ElectionInfo:
    id: int
    title: str
    opens_at: datetime
    closes_at: datetime
    parties: tuple[PartyInfo, ...]

    def status(self, now: datetime) -> str:
        if now < self.opens_at:
            return "not open yet"
        return "open" if now < self.closes_at else "closed"


@dataclass(frozen=True)
class VoterInfo:
    id: int
    full_name: str
    date_of_birth: date
    voter_number: str


@dataclass(frozen=True)
class PartyCount:
    party: PartyInfo
    votes: int
    share: float  # 0..1 of the votes cast


@dataclass(frozen=True)
class Results:
    election: ElectionInfo
    counts: tuple[PartyCount, ...]
    total: int


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class VotingService:
    def __init__(self, db: Database, audit: Auditor, min_age: int = 18, clock: Clock = utcnow) -> None:
        self.db = db
        self.audit = audit
        self.min_age = min_age
        self.clock = clock

    # ---- elections (admin) -----------------------------------------------------------------
    def create_election(
        self, title: str, parties: Sequence[str], opens_at: datetime, closes_at: datetime, actor: str
    ) -> ElectionInfo:
        t = title.strip()
        names = [p.strip() for p in parties if p.strip()]
        if not t or len(t) > 200:
            raise FaceGateError("the election needs a title (at most 200 characters)")
        if not 2 <= len(names) <= MAX_PARTIES:
            raise FaceGateError(f"an election needs 2 to {MAX_PARTIES} parties")
        if len({n.lower() for n in names}) != len(names):
            raise FaceGateError("party names must be different")
        if any(len(n) > 200 for n in names):
            raise FaceGateError("party names are at most 200 characters")
        if closes_at <= opens_at:
            raise FaceGateError("the election must close after it opens")
        with self.db.session(write=True) as s:
            eid = repo.add_election(s, t, names, opens_at, closes_at, actor)
        self.audit.record(AuditEvent("election.create", "ok", actor=actor, subject=str(eid),
                                     details={"title": t, "parties": names}))
        return self.get_election(eid)

    def list_elections(self) -> list[ElectionInfo]:
        with self.db.session() as s:
            ids = repo.election_ids(s)
        return [self.get_election(i) for i in ids]

    def get_election(self, election_id: int) -> ElectionInfo:
        with self.db.session() as s:
            e = repo.election(s, election_id)
            if e is None:
                raise NotFoundError(f"no election {election_id}")
            parties = repo.parties(s, e.id)
            return ElectionInfo(e.id, e.title, e.opens_at, e.closes_at,
                                tuple(PartyInfo(p.id, p.name) for p in parties))

    # ---- voters ----------------------------------------------------------------------------
    def voter_of(self, account_id: int) -> VoterInfo | None:
        with self.db.session() as s:
            v = repo.voter_of(s, account_id)
            return _voter_info(v) if v else None

    def register_voter(
        self, account_id: int, username: str, full_name: str, date_of_birth: date, voter_number: str
    ) -> VoterInfo:
        """Record the voter's details once per account; 18+ (``min_age``) on today's date."""
        name, number = " ".join(full_name.split()), voter_number.strip().upper()
        try:
            if len(name) < 3 or len(name) > 200 or " " not in name:
                raise FaceGateError("enter your full name (first and last name)")
            if not 4 <= len(number) <= 64 or not number.replace("-", "").isalnum():
                raise FaceGateError("the voter number is 4-64 letters, digits or '-'")
            today = self.clock().date()
            if date_of_birth > today:
                raise FaceGateError("the date of birth is in the future")
            if age_on(date_of_birth, today) < self.min_age:
                raise PermissionDeniedError(f"voters must be at least {self.min_age} years old")
            with self.db.session(write=True) as s:
                if repo.voter_of(s, account_id) is not None:
                    raise ConflictError("your voter details are already recorded")
                v = Voter(account_id=account_id, full_name=name, date_of_birth=date_of_birth,
                          voter_number=number)
                s.add(v)
                try:
                    s.flush()
                except IntegrityError:
                    raise ConflictError("this voter number is already registered") from None
                info = _voter_info(v)
        except FaceGateError as exc:
            self.audit.record(AuditEvent("voter.register", "refused", actor=username,
                                         details={"code": exc.code, "reason": exc.message}))
            raise
        self.audit.record(AuditEvent("voter.register", "ok", actor=username,
                                     subject=number))
        return info

    # ---- votes -----------------------------------------------------------------------------
    def has_voted(self, election_id: int, voter_id: int) -> bool:
        with self.db.session() as s:
            return repo.has_vote(s, election_id, voter_id)

    def cast_vote(self, election_id: int, account_id: int, party_id: int, username: str) -> None:
        """One vote; refused (and audited) when closed, no voter details, a foreign party or a
        second vote (the unique constraint decides, not a prior check)."""
        try:
            election = self.get_election(election_id)
            status = election.status(self.clock())
            if status != "open":
                raise PermissionDeniedError(f"this election is {status}")
            voter = self.voter_of(account_id)
            if voter is None:
                raise PermissionDeniedError("enter your voter details first")
            if party_id not in {p.id for p in election.parties}:
                raise FaceGateError("choose one of the parties on the ballot")
            with self.db.session(write=True) as s:
                try:
                    repo.add_vote(s, election_id, voter.id, party_id)
                except IntegrityError:
                    raise ConflictError("you have already voted in this election") from None
        except FaceGateError as exc:
            self.audit.record(AuditEvent("vote", "refused", actor=username, subject=str(election_id),
                                         details={"code": exc.code, "reason": exc.message}))
            raise
        # the ballot is secret: the audit line says who voted, not for whom
        self.audit.record(AuditEvent("vote", "ok", actor=username, subject=str(election_id)))

    def results(self, election_id: int) -> Results:
        election = self.get_election(election_id)
        with self.db.session() as s:
            by_party = repo.counts_by_party(s, election_id)
        total = sum(by_party.values())
        counts = tuple(
            PartyCount(p, by_party.get(p.id, 0), by_party.get(p.id, 0) / total if total else 0.0)
            for p in election.parties
        )
        return Results(election, counts, total)


def _voter_info(v: Voter) -> VoterInfo:
    return VoterInfo(v.id, v.full_name, v.date_of_birth, v.voter_number)

"""Web accounts: registration with face enrolment, two-step login, deletion, admin accounts.

Login is two steps. Step 1 checks username + password (argon2id) under the lockout
(``LoginThrottle``) and opens a short "face" session. Step 2 needs a *passed* liveness challenge
run on live camera frames, consumed once, bound to this account, whose face is the account's
person (1:1 against the enrolled mean template); only then is the real session created. A photo
upload can enrol a face but can never log in. Every decision is audited as action ``login``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from facegate.core.auth.models import Account, LoginAttempt
from facegate.core.auth.sessions import (
    STAGE_FACE,
    STAGE_FULL,
    AccountInfo,
    LoginThrottle,
    Passwords,
    SessionInfo,
    SessionStore,
    account_info,
)
from facegate.core.domain import AnalyzedFace, AuditEvent, FloatArray
from facegate.core.errors import AuthError, ConflictError, FaceGateError, NotFoundError, RateLimitedError
from facegate.core.store.audit import Auditor
from facegate.core.store.db import Database, utcnow

if TYPE_CHECKING:
    from facegate.core.liveness.service import LivenessService, LivenessSession
    from facegate.core.people.enrollment import EnrollmentService
    from facegate.core.store.crypto import TemplateCipher
    from facegate.core.vision.images import ImageLimits

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
LOGIN_DENIED = "Login failed: the password or the live face check did not succeed."


AccountHook = Callable[[Session], None]


@dataclass(frozen=True)
class FaceEnrollment:
    """What an enroller stored: accepted sample labels and rejected ones with their reason."""

    accepted: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...] = field(default=())


class FaceEnroller(Protocol):
    """Enrols faces for a new person and runs ``hook`` in the SAME transaction (the account row)."""

    def enroll_new(
        self,
        username: str,
        display_name: str,
        files: Sequence[tuple[str, bytes]],
        source: str,
        hook: AccountHook,
    ) -> FaceEnrollment: ...

    def has_person(self, username: str) -> bool: ...

    def remove_person(self, username: str, actor: str) -> None: ...


@dataclass(frozen=True)
class FaceCheck:
    """Step 2's verdict. ``reason`` is for the audit log only, never shown to the user."""

    passed: bool
    reason: str
    similarity: float | None = None


class FaceLogin(Protocol):
    """The live-face step: a liveness challenge bound to an account, then a 1:1 check."""

    def start_challenge(self, username: str) -> dict[str, object]: ...

    def add_frames(
        self, challenge_id: str, frames: Sequence[bytes], timestamps_ms: Sequence[float]
    ) -> dict[str, object]: ...

    def finish(self, username: str, challenge_id: str) -> FaceCheck: ...


@dataclass(frozen=True)
class Registration:
    account: AccountInfo
    enrollment: FaceEnrollment


@dataclass(frozen=True)
class PasswordStep:
    """Step 1 passed: the cookie token of the face-stage session."""

    token: str
    session: SessionInfo
    account: AccountInfo


@dataclass(frozen=True)
class LoginResult:
    token: str
    session: SessionInfo
    account: AccountInfo


def check_username(username: str) -> str:
    u = username.strip().lower()
    if not USERNAME_RE.match(u):
        raise FaceGateError(
            "username must be 3-32 characters: lowercase letters, digits, '.', '_' or '-'"
        )
    return u


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise FaceGateError(f"password must be {MIN_PASSWORD}-{MAX_PASSWORD} characters")
    return password


class AccountService:
    def __init__(
        self,
        db: Database,
        passwords: Passwords,
        sessions: SessionStore,
        throttle: LoginThrottle,
        enroller: FaceEnroller,
        face_login: FaceLogin,
        audit: Auditor,
    ) -> None:
        self.db = db
        self.passwords = passwords
        self.sessions = sessions
        self.throttle = throttle
        self.enroller = enroller
        self.face_login = face_login
        self.audit = audit

    # ---- accounts --------------------------------------------------------------------------
    def register(
        self,
        username: str,
        password: str,
        display_name: str,
        files: Sequence[tuple[str, bytes]],
        source: str,
        client: str,
    ) -> Registration:
        """Create an account and enrol its face (person external id = username) atomically."""
        u, pw = check_username(username), check_password(password)
        name = display_name.strip()[:200] or u
        if not files:
            raise FaceGateError("add at least one photo or camera frame of your face")
        if self.find_account(u) is not None or self.enroller.has_person(u):
            self.audit.record(AuditEvent("register", "refused", actor=u, subject=u,
                                         details={"reason": "username taken", "client": client}))
            raise ConflictError(f"username '{u}' is taken")
        pw_hash = self.passwords.hash_password(pw)

        def add_account(s: Session) -> None:
            s.add(Account(username=u, display_name=name, password_hash=pw_hash, is_admin=False))

        try:
            enrolled = self.enroller.enroll_new(u, name, files, source, add_account)
        except FaceGateError as exc:
            self.audit.record(AuditEvent("register", "refused", actor=u, subject=u,
                                         details={"reason": exc.message, "client": client}))
            raise
        self.audit.record(AuditEvent(
            "register", "ok", actor=u, subject=u,
            details={"source": source, "accepted": len(enrolled.accepted),
                     "rejected": [list(r) for r in enrolled.rejected], "client": client},
        ))
        return Registration(self.get_account(u), enrolled)

    def create_admin(self, username: str, password: str | None, actor: str = "cli") -> AccountInfo:
        """Promote an existing account to admin, or create a face-less admin account (which
        cannot log in until a face is enrolled for it: login always needs the live face)."""
        u = check_username(username)
        with self.db.session(write=True) as s:
            row = s.scalar(select(Account).where(Account.username == u))
            if row is None:
                if password is None:
                    raise FaceGateError(f"no account '{u}': give a password to create it")
                row = Account(
                    username=u, display_name=u,
                    password_hash=self.passwords.hash_password(check_password(password)),
                    is_admin=True,
                )
                s.add(row)
            else:
                row.is_admin = True
                if password is not None:
                    row.password_hash = self.passwords.hash_password(check_password(password))
            s.flush()
            info = account_info(row)
        self.audit.record(AuditEvent("admin.create", "ok", actor=actor, subject=u))
        return info

    def find_account(self, username: str) -> AccountInfo | None:
        with self.db.session() as s:
            row = s.scalar(select(Account).where(Account.username == username))
            return account_info(row) if row else None

    def get_account(self, username: str) -> AccountInfo:
        info = self.find_account(username)
        if info is None:
            raise NotFoundError(f"no account '{username}'")
        return info

    def account_by_id(self, account_id: int) -> AccountInfo | None:
        with self.db.session() as s:
            row = s.get(Account, account_id)
            return account_info(row) if row else None

    def list_accounts(self, limit: int = 500) -> list[AccountInfo]:
        with self.db.session() as s:
            rows = s.scalars(select(Account).order_by(Account.username).limit(limit)).all()
            return [account_info(r) for r in rows]

    def delete_account(self, account_id: int, actor: str) -> AccountInfo:
        """Erase the account, its sessions and its face data (templates of the person)."""
        with self.db.session(write=True) as s:
            row = s.get(Account, account_id)
            if row is None:
                raise NotFoundError("no such account")
            info = account_info(row)
            s.execute(delete(LoginAttempt).where(LoginAttempt.username == info.username))
            s.delete(row)
        if self.enroller.has_person(info.username):
            self.enroller.remove_person(info.username, actor)
        self.audit.record(AuditEvent("account.delete", "ok", actor=actor, subject=info.username))
        return info

    # ---- login -----------------------------------------------------------------------------
    def login_password(self, username: str, password: str, client: str) -> PasswordStep:
        """Step 1. Raises RateLimitedError when locked, AuthError on a wrong pair."""
        u = username.strip().lower()[:64]
        lock, attempt = self.throttle.begin_attempt(u, client, "password")
        if lock.locked:
            self._audit_login("denied", u, client, "password", f"locked ({lock.by})")
            raise RateLimitedError(
                f"too many failed logins: try again in {lock.retry_after_s} seconds"
            )
        with self.db.session() as s:
            row = s.scalar(select(Account).where(Account.username == u))
            stored = row.password_hash if row else None
            info = account_info(row) if row else None
        if not self.passwords.verify_password(stored, password) or info is None:
            self._audit_login("denied", u, client, "password", "wrong username or password")
            raise AuthError("wrong username or password")
        self.throttle.mark_success(attempt)
        self.sessions.purge_expired()  # housekeeping on the rare path (a correct password)
        self.throttle.purge_old()
        token, session = self.sessions.create_session(info.id, STAGE_FACE, client)
        self._audit_login("password_ok", u, client, "password", None)
        return PasswordStep(token, session, info)

    def start_face_step(self, token: str, session: SessionInfo) -> dict[str, object]:
        """Open a liveness challenge bound to the account of this face-stage session."""
        account = self._face_stage_account(session)
        if session.liveness_session_id:
            raise ConflictError("the live face check was already started: log in again to retry")
        challenge = self.face_login.start_challenge(account.username)
        self.sessions.bind_liveness(token, str(challenge["id"]))
        return challenge

    def add_face_frames(
        self, session: SessionInfo, frames: Sequence[bytes], timestamps_ms: Sequence[float]
    ) -> dict[str, object]:
        self._face_stage_account(session)
        if not session.liveness_session_id:
            raise FaceGateError("start the live face check first")
        return self.face_login.add_frames(session.liveness_session_id, frames, timestamps_ms)

    def finish_login(self, token: str | None, client: str) -> LoginResult:
        """Step 2: consume the face-stage session (single use) and the passed liveness session;
        1:1 with the account's template; only then the full session. One message on failure."""
        pending = self.sessions.take_face_session(token)
        if pending is None:
            raise AuthError("the login step expired: start again")
        account = self.account_by_id(pending.account_id)
        if account is None:
            raise AuthError(LOGIN_DENIED)
        lock, attempt = self.throttle.begin_attempt(account.username, client, "face")
        if lock.locked:
            self._audit_login("denied", account.username, client, "face", f"locked ({lock.by})")
            raise RateLimitedError(
                f"too many failed logins: try again in {lock.retry_after_s} seconds"
            )
        if not pending.liveness_session_id:
            check = FaceCheck(False, "no liveness challenge")
        else:
            try:
                check = self.face_login.finish(account.username, pending.liveness_session_id)
            except FaceGateError as exc:
                check = FaceCheck(False, f"{exc.code}: {exc.message}")
        if not check.passed:
            self._audit_login("denied", account.username, client, "face", check.reason,
                              check.similarity)
            raise AuthError(LOGIN_DENIED)
        self.throttle.mark_success(attempt)
        with self.db.session(write=True) as s:
            row = s.get(Account, account.id)
            if row is not None:
                row.last_login_at = utcnow()
        new_token, session = self.sessions.create_session(account.id, STAGE_FULL, client)
        self._audit_login("granted", account.username, client, "face", None, check.similarity)
        return LoginResult(new_token, session, account)

    def logout(self, token: str | None, session: SessionInfo | None, client: str) -> None:
        self.sessions.end_session(token)
        if session is not None:
            account = self.account_by_id(session.account_id)
            if account is not None:
                self.audit.record(AuditEvent("logout", "ok", actor=account.username,
                                             subject=account.username, details={"client": client}))

    def count_accounts(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(Account)) or 0)

    def _face_stage_account(self, session: SessionInfo) -> AccountInfo:
        if session.stage != STAGE_FACE:
            raise AuthError("no login in progress")
        account = self.account_by_id(session.account_id)
        if account is None:
            raise AuthError("no login in progress")
        return account

    def _audit_login(
        self,
        decision: str,
        username: str,
        client: str,
        step: str,
        reason: str | None,
        score: float | None = None,
    ) -> None:
        details: dict[str, object] = {"client": client, "step": step}
        if reason:
            details["reason"] = reason
        self.audit.record(AuditEvent("login", decision, actor=username, subject=username,
                                     score=score, details=details))


class StoreFaceEnroller:
    """``FaceEnroller`` over the store's ``EnrollmentService`` (issue 4): one transaction for the
    person, its templates and the account row; undecodable files are rejected with a reason."""

    def __init__(self, enrollment: EnrollmentService, limits: ImageLimits) -> None:
        self.enrollment = enrollment
        self.limits = limits

    def enroll_new(
        self,
        username: str,
        display_name: str,
        files: Sequence[tuple[str, bytes]],
        source: str,
        hook: AccountHook,
    ) -> FaceEnrollment:
        from facegate.core.errors import ImageTooLargeError, InvalidImageError
        from facegate.core.people.enrollment import (
            EnrollImage,
            EnrollMode,
            EnrollOptions,
            SampleOutcome,
            sha256_of,
        )
        from facegate.core.store.groups import WEB_GROUP
        from facegate.core.vision.images import decode_labeled

        checked: list[tuple[AnalyzedFace | None, SampleOutcome]] = []
        for label, data in files:
            try:
                image = decode_labeled(data, self.limits, label)
            except (InvalidImageError, ImageTooLargeError) as exc:
                checked.append((None, SampleOutcome(label, False, 0, exc.message)))
                continue
            checked.append(self.enrollment.check_image(EnrollImage(image, label, sha256_of(data))))
        # web sign-ups land in 'web' only; a face already enrolled there as someone else is
        # refused (409 duplicate_face, naming nobody): one person, one account, one vote
        result = self.enrollment.enroll_faces(
            username, checked, display_name, mode=EnrollMode.CREATE, source=source,
            actor=username, session_hook=lambda s, _person, _outcomes: hook(s),
            options=EnrollOptions(groups=frozenset({WEB_GROUP}), create_groups=True),
        )
        return FaceEnrollment(
            tuple(o.label for o in result.accepted),
            tuple((o.label, o.reason or "rejected") for o in result.rejected),
        )

    def has_person(self, username: str) -> bool:
        from facegate.core.store import people

        with self.enrollment.db.session() as s:
            return people.find_person(s, username) is not None

    def remove_person(self, username: str, actor: str) -> None:
        self.enrollment.remove_person(username, actor=actor)


STEP_INSTRUCTIONS = {
    "blink": "Blink your eyes",
    "turn_left": "Turn your head to your left, then back",
    "turn_right": "Turn your head to your right, then back",
}


class LivenessFaceLogin:
    """``FaceLogin`` over the liveness service (issue 5) and the store's templates (issue 4).

    The challenge is created for the account's person. ``finish`` consumes the passed liveness
    session once (single use, bound to that person) and compares the embedding of the face that
    passed with the person's mean template (1:1, cosine similarity ≥ the model's threshold). The
    person must belong to one of ``login_groups`` (``FACEGATE_WEB_LOGIN_GROUPS``, default web).
    The browser only learns "running" or "done", never which check failed.
    """

    def __init__(
        self,
        liveness: Callable[[], LivenessService],
        db: Database,
        cipher: Callable[[], TemplateCipher],
        model: Callable[[], str],
        threshold: float,
        limits: ImageLimits,
        login_groups: frozenset[str] = frozenset({"web"}),
    ) -> None:
        self.login_groups = login_groups
        self._liveness = liveness
        self.db = db
        self._cipher = cipher
        self._model = model
        self.threshold = threshold
        self.limits = limits

    def start_challenge(self, username: str) -> dict[str, object]:
        session = self._liveness().create_session(person_id=self._person_id(username), actor=username)
        return _challenge_state(session)

    def add_frames(
        self, challenge_id: str, frames: Sequence[bytes], timestamps_ms: Sequence[float]
    ) -> dict[str, object]:
        from facegate.core.liveness.service import TimedFrame
        from facegate.core.vision.images import decode_labeled

        timed = [
            TimedFrame(decode_labeled(data, self.limits, f"frame {i + 1}"), round(t))
            for i, (data, t) in enumerate(zip(frames, timestamps_ms, strict=True))
        ]
        return _challenge_state(self._liveness().add_frames(challenge_id, timed))

    def finish(self, username: str, challenge_id: str) -> FaceCheck:
        person_id = self._person_id(username)
        if person_id is None:
            return FaceCheck(False, "no face enrolled for the account")
        if not self._admitted(person_id):
            return FaceCheck(False, "the account's person is in no web login group")
        try:
            proof = self._liveness().consume_passed(challenge_id, person_id=person_id, actor=username)
        except FaceGateError as exc:
            return FaceCheck(False, f"liveness: {exc.message}")
        if proof.person_id != person_id:
            return FaceCheck(False, "liveness session was not created for this account")
        if proof.embedding.model != self._model():
            return FaceCheck(False, f"liveness embedding of model {proof.embedding.model}")
        similarity = self.similarity_to_account(username, proof.embedding.vector)
        if similarity is None:
            return FaceCheck(False, "no face template for the account")
        if similarity < self.threshold:
            return FaceCheck(False, f"live face is not the account's person "
                                    f"(similarity {similarity:.3f} < {self.threshold:.3f})",
                             round(similarity, 4))
        return FaceCheck(True, "ok", round(similarity, 4))

    def _admitted(self, person_id: int) -> bool:
        from facegate.core.store.groups import groups_of_person

        with self.db.session() as s:
            return bool(groups_of_person(s, person_id) & self.login_groups)

    def _person_id(self, username: str) -> int | None:
        from facegate.core.store import people

        with self.db.session() as s:
            person = people.find_person(s, username)
            return None if person is None else int(person.id)

    def similarity_to_account(self, username: str, vector: FloatArray) -> float | None:
        """Cosine similarity of ``vector`` with the person's mean template (None: no template)."""
        from facegate.core.matching.similarity import cosine_similarity
        from facegate.core.store import people

        with self.db.session() as s:
            person = people.find_person(s, username)
            if person is None:
                return None
            mean = people.mean_vector(s, self._cipher(), person.id, self._model())
        if mean is None:
            return None
        return float(cosine_similarity(vector, mean))


def _challenge_state(session: LivenessSession) -> dict[str, object]:
    """What the login page may see: steps, progress and "running"/"done" (not pass or fail)."""
    steps = [s.value for s in session.steps]
    done = sum(1 for e in session.evidence if e.done)
    current = steps[done] if done < len(steps) and session.status == "pending" else None
    return {
        "id": session.id,
        "nonce": session.nonce,
        "steps": steps,
        "state": "running" if session.status == "pending" else "done",
        "step": current,
        "instruction": STEP_INSTRUCTIONS.get(current or "", "Hold still…"),
        "steps_done": done,
        "steps_total": len(steps),
        "limits": session.limits,
    }

"""The face side of accounts: enrolment through the store's ``EnrollmentService`` and the login's
live face check through the liveness service (1:1 against the account's mean template)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from facegate.core.domain import AnalyzedFace, FloatArray
from facegate.core.errors import FaceGateError
from facegate.core.store.db import Database
from facegate.features.accounts.service import AccountHook, FaceCheck, FaceEnrollment

if TYPE_CHECKING:
    from facegate.core.liveness.service import LivenessService, LivenessSession
    from facegate.core.people.enrollment import EnrollmentService
    from facegate.core.store.crypto import TemplateCipher
    from facegate.core.vision.images import ImageLimits


class StoreFaceEnroller:
    """``FaceEnroller`` over the store's ``EnrollmentService`` : one transaction for the
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
        from facegate.core.vision.images import check_request_budget, decode_labeled

        check_request_budget(files, self.limits)  # headers only; then one image at a time
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


class LivenessFaceLogin:
    """``FaceLogin`` over the liveness service and the store's templates.

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
        from facegate.core.vision.images import check_request_budget, decode_labeled

        if not all(math.isfinite(t) and abs(t) < 1e15 for t in timestamps_ms):
            raise FaceGateError("timestamps must be finite numbers (ms)")
        check_request_budget([(f"frame {i + 1}", d) for i, d in enumerate(frames)], self.limits,
                             "frames")  # headers only, before decoding the batch
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
    """What the login page may see: the steps revealed so far (the server shows one at a time,
    at random moments), progress and "running"/"done" (not pass or fail)."""
    steps = [s.value for s in session.steps]
    done = sum(1 for e in session.evidence if e.done)
    current = session.current_step.value if session.current_step else None
    return {
        "id": session.id,
        "nonce": session.nonce,
        "steps": steps,
        "state": "running" if session.status == "pending" else "done",
        "step": current,
        "instruction": session.instruction or "Look at the camera and hold still…",
        "steps_done": done,
        "steps_total": session.steps_total,
        "limits": session.limits,
    }

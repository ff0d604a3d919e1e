"""Kiosk registration: customer id + locker number + camera frames, all or nothing.

The sharpest frontal frames that pass the enrolment quality gate become the customer's face
samples (``EnrollmentService`` averages them into the template); the customer row and the
assignment are written inside the SAME transaction as the templates (the enrolment's session
hook), so a taken/blocked locker leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from facegate.core.domain import AnalyzedFace, ImageArray
from facegate.core.errors import FaceGateError
from facegate.core.store.models import Person
from facegate.features.lockers import repository as repo
from facegate.features.lockers.base import PERSON_PREFIX, LockerBase, check_text, evenly_spaced
from facegate.features.lockers.models import Customer
from facegate.features.lockers.results import RegistrationResult
from facegate.features.lockers.rules import (
    LockerStatus,
    LockerUnavailableError,
    check_assignable,
    check_locker_number,
)


class RegistrationMixin(LockerBase):
    def register(
        self,
        customer_id: str,
        name: str,
        number: int,
        frames: Sequence[ImageArray],
        contact: str | None = None,
        actor: str | None = None,
        on_check: Callable[[int], None] | None = None,
    ) -> RegistrationResult:
        """Enrol the customer's face from frames and assign the locker, all or nothing.

        The person joins the group ``customers`` (the kiosk searches only it); a face already
        enrolled there as another customer is refused (409 ``duplicate_face``, naming nobody)."""
        from facegate.core.people.enrollment import EnrollMode, EnrollOptions
        from facegate.core.store.groups import CUSTOMERS_GROUP

        customer_id = check_text(customer_id, "customer id")
        name = check_text(name, "name")
        contact = check_text(contact, "contact", allow_empty=True) if contact else None
        number = check_locker_number(number)
        if not frames:
            raise FaceGateError("no frames to register from")
        try:
            person_ext, existing = self._precheck_registration(customer_id, number)
        except FaceGateError as exc:
            self._record_refusal("locker.register", exc, actor, number, customer_id)
            raise
        checked = self._check_frames(frames, on_check)
        good = [(f, o) for f, o in checked if f is not None and o.accepted]
        good.sort(key=lambda fo: abs(fo[0].quality.yaw) if fo[0] is not None else 0.0)
        chosen: list[tuple[AnalyzedFace | None, Any]] = list(good[: self.options.enroll_samples])
        rejected = tuple(f"{o.label}: {o.reason}" for f, o in checked if f is None or not o.accepted)
        if not chosen:
            chosen = checked  # let enrolment refuse with every reason (nothing is written)

        def hook(s: Session, person: Person, _outcomes: list[Any]) -> None:
            self._register_in(s, customer_id, name, contact, number, person, actor)

        try:
            self.enroller.enroll_faces(
                person_ext,
                chosen,
                name,
                mode=EnrollMode.ADD if existing else EnrollMode.CREATE,
                source="camera",
                actor=actor,
                session_hook=hook,
                options=EnrollOptions(groups=frozenset({CUSTOMERS_GROUP}), create_groups=True),
            )
        except FaceGateError as exc:
            self._record_refusal("locker.register", exc, actor, number, customer_id)
            raise
        return RegistrationResult(
            customer=self.get_customer(customer_id),
            locker=number,
            frames_read=len(frames),
            frames_checked=len(checked),
            samples_accepted=len([c for c in chosen if c[0] is not None and c[1].accepted]),
            rejected_reasons=rejected,
        )

    def _check_frames(
        self, frames: Sequence[ImageArray], on_check: Callable[[int], None] | None
    ) -> list[tuple[AnalyzedFace | None, Any]]:
        """The enrolment quality gate over evenly spaced frames (progress to ``on_check``)."""
        from facegate.core.people.enrollment import EnrollImage

        picked = evenly_spaced(len(frames), self.options.enroll_candidates)
        checked = []
        for n, i in enumerate(picked, 1):
            checked.append(self.enroller.check_image(EnrollImage(frames[i], f"frame {i + 1}")))
            if on_check is not None:
                on_check(n)
        return checked

    def _precheck_registration(self, customer_id: str, number: int) -> tuple[str, bool]:
        """Refuse early (before any model runs) when the locker cannot be given to the customer."""
        with self.db.session() as s:
            locker = repo.get_locker(s, number)
            _active, holder = repo.holder_of(s, locker)
            if holder != customer_id:
                check_assignable(number, LockerStatus(locker.status), holder)
            elif locker.status == LockerStatus.BLOCKED.value:
                raise LockerUnavailableError(f"locker {number} is blocked")
            customer = repo.find_customer(s, customer_id)
            person_ext = repo.person_external_id(s, customer.person_id if customer else None)
            if person_ext is not None:
                return person_ext, True
            return PERSON_PREFIX + customer_id, False

    def _register_in(
        self,
        s: Session,
        customer_id: str,
        name: str,
        contact: str | None,
        number: int,
        person: Person,
        actor: str | None,
    ) -> None:
        customer = repo.find_customer(s, customer_id)
        if customer is None:
            customer = Customer(customer_id=customer_id, name=name, contact=contact,
                                created_at=self.clock())
            s.add(customer)
        customer.name = name
        if contact:
            customer.contact = contact
        customer.person_id = person.id
        customer.face_revoked_at = None
        s.flush()
        locker = repo.get_locker(s, number)
        active = repo.active_assignment(s, locker.id)
        if active is None or active.customer_pk != customer.id:
            self._assign_in(s, locker, customer)
        self._log(s, "locker.register", "ok", actor, number, customer_id,
                  details={"person": person.external_id})

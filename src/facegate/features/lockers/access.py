"""Kiosk access: liveness → identify → assigned customer → one-time key. Denials are audited.

The frames must pass the liveness challenge; then a few frames are identified and the same
enrolled person must be the best match in most of them; that person must be a customer with an
active assignment of an unblocked locker. Then a one-time key is issued (older unused keys of that
locker are revoked); only its HMAC is stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from facegate.core.domain import Identification, ImageArray
from facegate.core.errors import FaceGateError
from facegate.features.lockers import repository as repo
from facegate.features.lockers.base import LockerBase, evenly_spaced, live_details
from facegate.features.lockers.keys import generate_key, generate_key_ref
from facegate.features.lockers.models import LockerKey
from facegate.features.lockers.ports import ChallengeInfo, ChallengeState, LivenessOutcome
from facegate.features.lockers.results import AccessResult, IssuedKey
from facegate.features.lockers.rules import (
    LockerStatus,
    LockerUnavailableError,
    check_locker_number,
    check_usable,
)


class AccessMixin(LockerBase):
    def start_challenge(self) -> ChallengeInfo:
        """A liveness challenge for the kiosk page to show before it records the frames."""
        return self.liveness.start_challenge()

    def add_challenge_frames(
        self, challenge_id: str, frames: Sequence[ImageArray], timestamps_ms: Sequence[float]
    ) -> ChallengeState:
        """Stream frames into a running challenge (the kiosk page, in small batches)."""
        if not frames or len(frames) != len(timestamps_ms):
            raise FaceGateError("give one or more frames and one timestamp per frame")
        return self.liveness.add_frames(challenge_id, frames, timestamps_ms)

    def access(
        self,
        frames: Sequence[ImageArray],
        locker: int | None = None,
        actor: str | None = None,
        timestamps_ms: Sequence[float] | None = None,
        challenge_id: str | None = None,
    ) -> AccessResult:
        """Liveness → identify → assigned customer → one-time key. Denials are results, audited.

        With ``challenge_id`` of a challenge already decided by streamed frames, ``frames`` are
        only identified (the liveness proof must still be the same face).
        """
        if not frames:
            raise FaceGateError("no frames for the access check")
        if timestamps_ms is not None and len(timestamps_ms) != len(frames):
            raise FaceGateError(
                f"{len(timestamps_ms)} timestamps for {len(frames)} frames: give one per frame"
            )
        if locker is not None:
            locker = check_locker_number(locker)
        live = self.liveness.check_frames(frames, timestamps_ms, challenge_id)
        if not live.passed:
            return self._deny(f"liveness check failed: {live.reason}", actor, locker, None, live)
        person_id, match, votes, threshold = self._identify_frames(frames)
        if person_id is None:
            return self._deny("face not recognised", actor, locker, None, live, match,
                              {"votes": votes})
        if live.embedding is not None and self.live_face_similarity is not None:
            live_sim = self.live_face_similarity(live.embedding, person_id)
            if live_sim is None or threshold is None or live_sim < threshold:
                return self._deny("the live face is not the recognised person", actor, locker,
                                  None, live, match, {"votes": votes, "live_similarity": live_sim})
        with self.db.session() as s:
            customer = repo.customer_of_person(s, person_id)
            if customer is None:
                return self._deny("not a locker customer", actor, locker, None, live, match,
                                  {"votes": votes})
            cid = customer.customer_id
            held = repo.held_lockers(s, customer.id)
        return self._grant(held, locker, cid, live, match, actor)

    def _grant(
        self, held: list[int], locker: int | None, cid: str, live: LivenessOutcome,
        match: float | None, actor: str | None,
    ) -> AccessResult:
        """The recognised customer's key for ``locker`` (or their only locker), or a denial."""
        if locker is not None and locker not in held:
            return self._deny(f"locker {locker} is not assigned to this customer", actor, locker,
                              cid, live, match)
        if locker is None:
            if not held:
                return self._deny("no locker is assigned to this customer", actor, None, cid,
                                  live, match)
            if len(held) > 1:
                return self._deny(
                    f"customer holds lockers {', '.join(map(str, held))}: choose one", actor,
                    None, cid, live, match,
                )
            locker = held[0]
        try:
            key = self._issue_key(locker, cid, live, match, actor)
        except LockerUnavailableError as exc:
            return self._deny(exc.message, actor, locker, cid, live, match)
        return AccessResult(True, "granted", cid, locker, live.score, match, key)

    def _identify_frames(
        self, frames: Sequence[ImageArray]
    ) -> tuple[int | None, float | None, dict[str, int], float | None]:
        """The person recognised (largest face) in a strict majority of the sampled frames."""
        picks = evenly_spaced(len(frames), self.options.identify_frames)
        best: list[tuple[int, str, float] | None] = []
        top_scores: list[float] = []
        threshold: float | None = None
        with self.db.session() as s:
            customers = repo.customer_person_ids(s)
        for i in picks:
            results = [among(r, customers) for r in self.identify(frames[i])]
            if not results:
                best.append(None)
                continue
            main = max(results, key=lambda r: r.face.face.box.area)
            threshold = main.threshold
            if main.candidates:
                top_scores.append(main.candidates[0].similarity)
            b = main.best
            best.append((b.person_id, b.external_id, b.similarity) if b else None)
        votes = Counter(b[0] for b in best if b is not None)
        labels = {b[0]: b[1] for b in best if b is not None}
        named = {labels[k]: v for k, v in votes.items()}
        named["<unknown>"] = sum(1 for b in best if b is None)
        nearest = max(top_scores) if top_scores else None
        if not votes:
            return None, nearest, named, threshold
        person_id, n = votes.most_common(1)[0]
        if n <= len(picks) / 2 or len(votes) > 1:
            return None, nearest, named, threshold
        sims = sorted(b[2] for b in best if b is not None and b[0] == person_id)
        return person_id, round(sims[len(sims) // 2], 6), named, threshold

    def _issue_key(
        self, number: int, customer_id: str, live: LivenessOutcome, match: float | None,
        actor: str | None,
    ) -> IssuedKey:
        now = self.clock()
        key = generate_key(self.policy.digits)
        ref = generate_key_ref()
        expires = now + self.policy.ttl
        with self.db.session(write=True) as s:
            locker = repo.get_locker(s, number)
            active, holder = repo.holder_of(s, locker)
            check_usable(number, LockerStatus(locker.status), holder)
            if holder != customer_id or active is None:
                raise LockerUnavailableError(f"locker {number} is not assigned to this customer")
            revoked = repo.revoke_keys(s, now, locker_id=locker.id)
            s.add(LockerKey(
                ref=ref, locker_id=locker.id, customer_pk=active.customer_pk,
                assignment_id=active.id,
                digest=self.hasher.digest(key, ref=ref, customer_id=customer_id,
                                          locker_number=number),
                issued_at=now, expires_at=expires, attempts=0,
                max_attempts=self.policy.max_attempts,
            ))
            self._log(s, "locker.access", "granted", actor, number, customer_id,
                      liveness=live.score, match=match,
                      details={"liveness": live.reason, **live_details(live)})
            self._log(s, "locker.key_issue", "ok", actor, number, customer_id,
                      details={"ref": ref, "expires_at": expires.isoformat(),
                               "replaced_keys": revoked})
        return IssuedKey(key, ref, number, customer_id, expires)

    def _deny(
        self, reason: str, actor: str | None, number: int | None, customer_id: str | None,
        live: LivenessOutcome | None, match: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> AccessResult:
        extra = dict(details or {})
        if live is not None:
            extra.update({"liveness": live.reason, **live_details(live)})
        extra["reason"] = reason
        with self.db.session() as s:
            self._log(s, "locker.access", "denied", actor, number, customer_id,
                      liveness=live.score if live else None, match=match, details=extra)
        return AccessResult(False, reason, customer_id, number,
                            live.score if live else None, match, None)


def among(result: Identification, people: set[int]) -> Identification:
    """``result`` with only the candidates in ``people``, the best re-chosen among them.

    The kiosk's gallery is its customers: another enrolled identity of the same face (a bank
    employee's web account, say) must neither outvote nor shadow that person's customer record.
    A face like no customer stays unknown: the best remaining candidate must still reach the
    threshold, exactly as if the kiosk's gallery held the customers alone.
    """
    kept = tuple(c for c in result.candidates if c.person_id in people)
    best = kept[0] if kept and kept[0].similarity >= result.threshold else None
    return replace(result, best=best, candidates=kept)

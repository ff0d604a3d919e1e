"""Enrolment with the real models on real photos, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from facegate.core.domain import AuditEvent
from facegate.core.errors import ConflictError, FaceQualityError
from facegate.core.people.enrollment import EnrollImage, EnrollMode
from facegate.core.store.audit import AuditQuery
from tests.integration.store_helpers import image, store_container
from tests.store_backends import BACKENDS, database_url


@pytest.fixture(params=BACKENDS)
def c(request: pytest.FixtureRequest, shared_container: Any, tmp_path: Path) -> Any:
    return store_container(shared_container, database_url(request.param, tmp_path), tmp_path / "d")


def test_enrol_two_photos_then_reenrol(c: Any, faces_dir: Path) -> None:
    imgs = [EnrollImage(image(faces_dir, f"people/obama/{n}"), n) for n in ("obama.jpg", "obama2.jpg")]
    r = c.enrollment.enroll("obama", imgs, "Barack Obama", mode=EnrollMode.CREATE)
    assert r.created and [o.label for o in r.accepted] == ["obama.jpg", "obama2.jpg"]
    assert all(o.quality is not None and o.quality.ok for o in r.accepted)
    more = c.enrollment.enroll("obama", [image(faces_dir, "scenes/obama1.jpg")])
    assert not more.created and more.person.sample_count == 3
    shown = c.enrollment.show_person("obama")
    means = [t for t in shown.templates if t.is_mean]
    assert len(means) == 1 and means[0].sample_count == 3 and means[0].model == "sface"
    with pytest.raises(ConflictError):
        c.enrollment.enroll("obama", imgs, mode=EnrollMode.CREATE)


def test_group_photo_blank_and_blurred_images_are_refused_with_reasons(
    c: Any, faces_dir: Path
) -> None:
    group = image(faces_dir, "scenes/obama_and_biden.jpg")
    blank = np.full((300, 300, 3), 128, dtype=np.uint8)
    blurred = cv2.GaussianBlur(image(faces_dir, "scenes/obama2.jpg"), (0, 0), 10)
    amy = image(faces_dir, "people/amy/amy1.png")
    tiny = cv2.resize(amy, None, fx=0.3, fy=0.3)
    items = [EnrollImage(group, "group"), EnrollImage(blank, "blank"),
             EnrollImage(blurred, "blurred"), EnrollImage(tiny, "tiny")]
    with pytest.raises(FaceQualityError) as exc:
        c.enrollment.enroll("biden", items)
    reasons = dict(r.split(": ", 1) for r in exc.value.reasons)
    assert reasons["group"] == "3 faces found; enrolment needs exactly one"
    assert reasons["blank"] == "no face found"
    assert reasons["blurred"].startswith("too blurry: sharpness ")
    assert reasons["tiny"].startswith("face too small: ")
    assert c.enrollment.list_people() == []  # nothing half-written
    assert c.audit.query(AuditQuery(action="enroll"))[0].decision == "refused"


def test_container_audit_is_shared_by_other_flows(c: Any) -> None:
    c.audit.record(AuditEvent("locker.open", "granted", actor="kiosk", subject="ann", score=0.7))
    assert c.audit.latest(1)[0].action == "locker.open"

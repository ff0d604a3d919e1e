"""Opt-in encrypted enrolment face crops (FACEGATE_STORE_FACE_IMAGES): stored in the enrolment
transaction, erased with the person, re-encrypted by key rotation, and used by
``facegate people reembed`` to rebuild templates for another model, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from facegate.app.bootstrap import Container
from facegate.app.cli import app
from facegate.app.http import create_app
from facegate.core import cli as common
from facegate.core.domain import FloatArray, ImageArray
from facegate.core.errors import FaceGateError, FaceQualityError, NotFoundError
from facegate.core.people.enrollment import EnrollImage
from facegate.core.settings import Settings
from facegate.core.store import people as store
from facegate.core.store.crypto import TemplateKeyError, face_image_aad, template_aad
from facegate.core.store.keys import rotate_template_keys
from facegate.core.store.models import FaceImage, FaceTemplate, Person
from facegate.core.vision.pipeline import FacePipeline
from tests.auth_helpers import admin_headers
from tests.integration.store_helpers import cli_runner, image
from tests.store_backends import BACKENDS, database_url

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
OBAMA = ("people/obama/obama.jpg", "people/obama/obama2.jpg")
BIDEN = ("people/biden/biden.jpg", "people/biden/biden2.jpg")


def _container(shared: Any, url: str, data_dir: Path, store_images: bool = True) -> Container:
    c = Container(Settings(data_dir=data_dir, database_url=url, store_face_images=store_images))
    c.__dict__["pipeline"] = shared.pipeline  # reuse the loaded models
    c.prepare_store()
    return c


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request.param, tmp_path)


@pytest.fixture
def c(shared_container: Any, url: str, tmp_path: Path) -> Container:
    return _container(shared_container, url, tmp_path / "d")


def _images(c: Container, person_id: int | None = None) -> list[FaceImage]:
    with c.database.session() as s:
        stmt = select(FaceImage).order_by(FaceImage.id)
        if person_id is not None:
            stmt = stmt.where(FaceImage.person_id == person_id)
        return list(s.scalars(stmt).all())


def _count(c: Container, model: type[Any]) -> int:
    with c.database.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _decrypt(c: Container, row: FaceImage) -> bytes:
    return c.template_cipher.decrypt_bytes(
        row.key_id, row.ciphertext, face_image_aad(row.id, row.person_id)
    )


def _enrol(c: Container, faces_dir: Path, ext: str, files: tuple[str, ...]) -> Any:
    return c.enrollment.enroll(ext, [EnrollImage(image(faces_dir, f), f) for f in files])


def test_images_are_stored_encrypted_as_the_crop_the_embedder_saw(
    c: Container, faces_dir: Path
) -> None:
    r = _enrol(c, faces_dir, "obama", OBAMA)
    assert r.person.stored_images == 2 and r.person.sample_count == 2
    rows = _images(c)
    assert len(rows) == 2
    template_ids = [o.template_id for o in r.accepted]
    assert [row.template_id for row in rows] == template_ids
    embedder = c.pipeline.embedder
    for row in rows:
        assert row.person_id == r.person.id and row.source == "upload"
        assert (row.media_type, row.width, row.height) == ("image/png", 112, 112)
        assert PNG_MAGIC not in row.ciphertext and JPEG_MAGIC not in row.ciphertext
        assert b"IHDR" not in row.ciphertext and b"IDAT" not in row.ciphertext
        plain = _decrypt(c, row)
        assert plain.startswith(PNG_MAGIC)
        crop = cv2.imdecode(np.frombuffer(plain, np.uint8), cv2.IMREAD_COLOR)
        assert crop.shape == (112, 112, 3)
        # lossless: the crop embeds to exactly the stored sample template
        with c.database.session() as s:
            t = s.get(FaceTemplate, row.template_id)
            assert t is not None and t.model == "sface"
            vec = c.template_cipher.decrypt(t.key_id, t.ciphertext, template_aad(t.id, t.person_id))
        assert float(np.dot(embedder.embed(crop), vec)) > 0.9999
    # the associated data binds a ciphertext to its row and person
    a, b = rows
    with pytest.raises(TemplateKeyError, match="does not authenticate"):
        c.template_cipher.decrypt_bytes(a.key_id, a.ciphertext, face_image_aad(b.id, b.person_id))
    with pytest.raises(TemplateKeyError):
        c.template_cipher.decrypt_bytes(a.key_id, a.ciphertext, template_aad(a.id, a.person_id))
    assert c.enrollment.show_person("obama").stored_images == 2
    assert [p.stored_images for p in c.enrollment.list_people()] == [2]


def test_setting_off_stores_no_images(shared_container: Any, url: str, tmp_path: Path,
                                      faces_dir: Path) -> None:
    off = _container(shared_container, url, tmp_path / "off", store_images=False)
    r = _enrol(off, faces_dir, "obama", OBAMA)
    assert r.person.sample_count == 2 and r.person.stored_images == 0
    assert _count(off, FaceImage) == 0 and _count(off, FaceTemplate) == 3


def test_failed_enrolment_leaves_no_images(c: Container, faces_dir: Path) -> None:
    blank = np.full((300, 300, 3), 128, dtype=np.uint8)  # no face
    items = [EnrollImage(image(faces_dir, OBAMA[0]), "good"), EnrollImage(blank, "blank")]

    def fail_after_store(s: Any, person: Any, outcomes: Any) -> None:
        # runs in the transaction after the samples (and their images) were written
        assert s.scalar(select(func.count()).select_from(FaceImage)) == 1
        raise FaceGateError("simulated failure after the samples were stored")

    with pytest.raises(FaceGateError, match="simulated"):
        c.enrollment.enroll("obama", items, session_hook=fail_after_store)
    with pytest.raises(FaceQualityError):
        c.enrollment.enroll("obama", [EnrollImage(blank, "blank")])
    assert _count(c, FaceImage) == 0 and _count(c, FaceTemplate) == 0 and _count(c, Person) == 0

    r = c.enrollment.enroll("obama", items)  # the good one is kept, the blank one rejected
    assert len(r.accepted) == 1 and len(r.rejected) == 1 and r.person.stored_images == 1


def test_remove_erases_the_persons_images(c: Container, faces_dir: Path) -> None:
    obama = _enrol(c, faces_dir, "obama", OBAMA).person
    biden = _enrol(c, faces_dir, "biden", BIDEN).person
    assert len(_images(c, obama.id)) == 2 and len(_images(c, biden.id)) == 2
    info = c.enrollment.remove_person("obama", actor="t")
    assert info.stored_images == 2
    assert _images(c, obama.id) == [] and len(_images(c, biden.id)) == 2
    assert _count(c, FaceImage) == 2
    assert c.audit.latest(1)[0].details["images"] == 2


def test_key_rotation_reencrypts_images(c: Container, faces_dir: Path) -> None:
    _enrol(c, faces_dir, "obama", OBAMA)
    before = {row.id: (row.key_id, _decrypt(c, row)) for row in _images(c)}
    old_keys = {k for k, _ in before.values()}
    result = rotate_template_keys(c.database, c.keystore, batch=1)
    assert result.reencrypted == 3 and result.reencrypted_images == 2
    assert set(result.removed_key_files) == old_keys
    after = _images(c)
    assert {row.key_id for row in after} == {result.new_key_id} != old_keys
    for row in after:
        assert _decrypt(c, row) == before[row.id][1]  # same crop, new key
    with c.database.session() as s:
        assert store.key_ids_in_use(s) == {result.new_key_id}


def test_api_reports_and_erases_stored_images(c: Container, faces_dir: Path) -> None:
    with TestClient(create_app(container=c), headers=admin_headers(c)) as api:
        files = [("images", (Path(f).name, (faces_dir / f).read_bytes(), "image/jpeg"))
                 for f in OBAMA]
        r = api.post("/v1/people", data={"external_id": "obama"}, files=files)
        assert r.status_code == 201, r.text
        assert r.json()["person"]["stored_images"] == 2
        shown = api.get("/v1/people/obama").json()
        assert shown["stored_images"] == 2 and shown["samples"] == 2
        gone = api.delete("/v1/people/obama")
        assert gone.status_code == 200 and gone.json()["stored_images"] == 2
        assert api.get("/v1/people/obama").status_code == 404
    assert _count(c, FaceImage) == 0


# ---- facegate people reembed ----------------------------------------------------------------
class RotatedEmbedder:
    """A stand-in for an older model pack: SFace followed by a fixed random rotation, under its
    own name. Its templates live in another embedding space, so SFace cannot use them."""

    def __init__(self, inner: Any, name: str = "legacy-model") -> None:
        self.inner, self.name = inner, name
        self.dim, self.input_size = inner.dim, inner.input_size
        q, _ = np.linalg.qr(np.random.default_rng(7).standard_normal((inner.dim, inner.dim)))
        self.rotation = q.astype(np.float32)

    def embed(self, aligned: ImageArray) -> FloatArray:
        v = self.rotation @ self.inner.embed(aligned)
        return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture
def cli(
    shared_container: Any, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    monkeypatch.setenv("FACEGATE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("FACEGATE_DATABASE_URL", url)
    monkeypatch.setenv("FACEGATE_STORE_FACE_IMAGES", "1")
    with cli_runner(shared_container) as run:
        yield run


def test_reembed_builds_templates_for_another_model_from_stored_images(
    cli: Any, shared_container: Any, url: str, tmp_path: Path, faces_dir: Path
) -> None:
    # people enrolled under an older model (images kept), in the CLI's database and key folder
    old = _container(shared_container, url, tmp_path / "d")
    old.__dict__["pipeline"] = FacePipeline(
        shared_container.pipeline.detector, RotatedEmbedder(shared_container.pipeline.embedder),
        shared_container.pipeline.quality,
    )
    for ext, files in (("obama", OBAMA), ("biden", BIDEN)):
        assert _enrol(old, faces_dir, ext, files).model == "legacy-model"
    probe = faces_dir / "scenes/obama1.jpg"
    with pytest.raises(NotFoundError, match="no face templates of model 'sface'"):
        cli("verify", "obama", probe)

    r = cli("people", "reembed", "--model", "sface-opencv", "--no-progress")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == (
        "2 people rebuilt (4 samples) for model sface (pack sface-opencv), 0 skipped (already "
        "have sface templates), 0 failed, 2 people with stored images"
    )
    assert cli("verify", "obama", probe).exit_code == 0  # granted with the rebuilt templates
    assert cli("verify", "biden", probe).exit_code == 1
    (hit,) = (line for line in cli("identify", probe).output.splitlines()[1:])
    assert hit.split()[1] == "obama"

    again = cli("people", "reembed", "--model", "sface-opencv", "--no-progress")
    assert again.output.startswith("0 people rebuilt (0 samples)") and "2 skipped" in again.output

    forced = cli("people", "reembed", "--model", "sface-opencv", "--force", "--no-progress")
    assert forced.output.startswith("2 people rebuilt (4 samples)")
    shown = cli("people", "show", "obama")
    assert "2 stored images" in shown.output.splitlines()[0]
    with old.database.session() as s:
        person = store.get_person(s, "obama")
        sface = store.sample_vectors(s, old.template_cipher, person.id, "sface")
        legacy = store.sample_vectors(s, old.template_cipher, person.id, "legacy-model")
    assert sface.shape == (2, 128) and legacy.shape == (2, 128)  # --force replaced, not added

    removed = cli("people", "remove", "obama", "--yes")
    assert removed.output.startswith("removed obama: 4 samples, 2 stored images erased")
    with old.database.session() as s:
        assert store.count_face_images(s) == 2  # biden's only


def test_reembed_without_stored_images_is_a_one_line_error(
    cli: Any, shared_container: Any, faces_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FACEGATE_STORE_FACE_IMAGES", "0")  # enrolled with the setting off
    common.container.cache_clear()
    common.container().__dict__["pipeline"] = shared_container.pipeline
    assert cli("people", "add", "obama", faces_dir / OBAMA[0]).exit_code == 0
    assert "0 stored images" in cli("people", "show", "obama").output
    monkeypatch.setattr(sys, "argv", ["facegate", "people", "reembed", "--model", "sface-opencv"])
    code = common.run_app(app)
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: no stored face images to rebuild templates from")

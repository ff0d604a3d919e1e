"""Stored face crops without models: byte encryption, the store functions, ``reembed_people``'s
resize / skip / --force rules, and the core-only schema (no ``face_images`` table yet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facegate.core.domain import (
    AnalyzedFace,
    Box,
    DetectedFace,
    FaceQuality,
    FloatArray,
    ImageArray,
    Landmarks,
)
from facegate.core.store import people as store
from facegate.core.store.crypto import KeyStore, TemplateCipher, TemplateKeyError, face_image_aad
from facegate.core.store.db import Database
from facegate.features.faces import reembed
from tests.store_backends import backend_url  # noqa: F401  (fixture)

DIM = 16


class FakeEmbedder:
    """Embeds a crop as a unit vector of its (resized) pixel statistics; records input shapes."""

    def __init__(self, name: str, input_size: int = 112) -> None:
        self.name, self.input_size, self.dim = name, input_size, DIM
        self.shapes: list[tuple[int, ...]] = []

    def embed(self, aligned: ImageArray) -> FloatArray:
        self.shapes.append(tuple(aligned.shape))
        v = np.resize(aligned.astype(np.float32).reshape(-1), DIM) + 1.0
        return (v / np.linalg.norm(v)).astype(np.float32)


def _crop(seed: int, size: int) -> ImageArray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.fixture
def env(backend_url: str, tmp_path: Path) -> tuple[Database, TemplateCipher]:  # noqa: F811
    db = Database(backend_url)
    db.upgrade()
    return db, TemplateCipher(KeyStore(tmp_path / "keys").load())


def _enrol(db: Database, cipher: TemplateCipher, ext: str, model: str, crops: list[ImageArray],
           store_images: bool = True) -> int:
    emb = FakeEmbedder(model)
    with db.session(write=True) as s:
        person = store.find_person(s, ext) or store.create_person(s, ext)
        samples = [store.NewSample(emb.embed(c), None, "upload", aligned=c) for c in crops]
        store.add_samples(s, cipher, person, model, "1", samples, search_vectors=db.is_postgres,
                          store_images=store_images)
        return person.id


def test_byte_encryption_round_trip_and_row_binding(tmp_path: Path) -> None:
    cipher = TemplateCipher(KeyStore(tmp_path / "keys").load())
    key_id, blob = cipher.encrypt_bytes(b"\x89PNG payload", face_image_aad(1, 2))
    assert key_id == cipher.current_key_id and b"PNG" not in blob
    assert cipher.decrypt_bytes(key_id, blob, face_image_aad(1, 2)) == b"\x89PNG payload"
    with pytest.raises(TemplateKeyError, match="face image does not authenticate"):
        cipher.decrypt_bytes(key_id, blob, face_image_aad(2, 2), what="face image")
    with pytest.raises(TemplateKeyError, match="truncated"):
        cipher.decrypt_bytes(key_id, blob[:20], face_image_aad(1, 2))


def test_analyzed_face_aligned_is_optional_and_not_compared() -> None:
    face = DetectedFace(Box(0, 0, 10, 10), 0.9, Landmarks(((0.0, 0.0),) * 5))
    q = FaceQuality(10, 10, 10, 0, 0)
    assert AnalyzedFace(face, q).aligned is None
    assert AnalyzedFace(face, q, aligned=_crop(1, 4)) == AnalyzedFace(face, q, aligned=_crop(2, 4))


def test_store_decrypt_count_and_erase(env: tuple[Database, TemplateCipher]) -> None:
    db, cipher = env
    ann = _enrol(db, cipher, "ann", "fake-a", [_crop(1, 112), _crop(2, 112)])
    _enrol(db, cipher, "bob", "fake-a", [_crop(3, 112)], store_images=False)
    with db.session() as s:
        assert store.count_face_images(s) == 2 and store.count_face_images(s, ann) == 2
        assert store.people_with_face_images(s) == [(ann, "ann")]
        faces = store.stored_faces(s, cipher, ann)
        assert [f.template_model for f in faces] == ["fake-a", "fake-a"]
        assert np.array_equal(faces[0].image, _crop(1, 112))  # PNG is lossless
        assert [p.stored_images for p in store.list_people(s)] == [2, 0]
    with db.session(write=True) as s:
        assert store.remove_person(s, "ann").stored_images == 2
    with db.session() as s:
        assert store.count_face_images(s) == 0


def test_reembed_resizes_skips_and_forces(env: tuple[Database, TemplateCipher]) -> None:
    db, cipher = env
    with pytest.raises(reembed.NoFaceImagesError):
        reembed.reembed_people(db, cipher, FakeEmbedder("fake-b"), "b")
    ann = _enrol(db, cipher, "ann", "fake-a", [_crop(1, 150), _crop(2, 150)])  # 150 px crops
    _enrol(db, cipher, "cy", "fake-b", [_crop(5, 112)])  # already enrolled under fake-b

    emb = FakeEmbedder("fake-b", input_size=112)
    seen: list[int] = []

    def progress(it: Any, total: int) -> Any:
        seen.append(total)
        yield from it

    r = reembed.reembed_people(db, cipher, emb, "b", progress=progress)
    assert (r.people_seen, r.people_rebuilt, r.samples_added, r.skipped) == (2, 1, 2, ["cy"])
    assert seen == [2] and emb.shapes == [(112, 112, 3)] * 2  # resized to the embedder's size
    with db.session() as s:
        assert store.sample_vectors(s, cipher, ann, "fake-b").shape == (2, DIM)
        assert store.mean_vector(s, cipher, ann, "fake-b") is not None

    assert reembed.reembed_people(db, cipher, emb, "b").people_rebuilt == 0  # idempotent
    forced = reembed.reembed_people(db, cipher, emb, "b", force=True)
    # ann's earlier reembed samples are replaced; cy's only crop made a fake-b sample already
    assert (forced.people_rebuilt, forced.samples_added, forced.skipped) == (1, 2, ["cy"])
    with db.session() as s:
        assert store.sample_vectors(s, cipher, ann, "fake-b").shape == (2, DIM)
        assert store.count_face_images(s, ann) == 2

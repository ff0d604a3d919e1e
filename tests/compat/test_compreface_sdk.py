"""CompreFace compatibility, driven by the real compreface-sdk 0.6.0 (unmodified).

Every SDK call goes through requests; the SDK never checks the status code and calls .json() on every
response, so errors come back to the caller as plain dicts {"message": ..., "code": ...}.
"""
from __future__ import annotations

import re

import pytest

compreface = pytest.importorskip("compreface")
from compreface import CompreFace  # noqa: E402

from conftest import CF_DOMAIN, KEY, PORT  # noqa: E402

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
OBAMA, OBAMA2 = "people/obama/obama.jpg", "people/obama/obama2.jpg"
BIDEN, BIDEN2 = "people/biden/biden.jpg", "people/biden/biden2.jpg"
GROUP = "scenes/obama_and_biden.jpg"   # 2000x1428, three faces


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cf():
    return CompreFace(CF_DOMAIN, PORT)


@pytest.fixture(scope="module")
def rec(cf):
    return cf.init_face_recognition(KEY)


@pytest.fixture
def faces(rec):
    return rec.get_face_collection()


@pytest.fixture
def subjects(rec):
    return rec.get_subjects()


@pytest.fixture
def enrolled(faces, img, uniq):
    """Enrol obama.jpg under a fresh subject; remove it afterwards."""
    name = uniq("Barack Obama")
    added = faces.add(img(OBAMA), name)
    assert "image_id" in added, added
    yield name, added["image_id"]
    faces.delete_all(name)


def _assert_box(box, size=None):
    for k in ("x_min", "y_min", "x_max", "y_max", "probability"):
        assert k in box, box
    for k in ("x_min", "y_min", "x_max", "y_max"):
        assert isinstance(box[k], int), box         # CompreFace sends integers
        assert box[k] >= 0
    assert box["x_min"] < box["x_max"] and box["y_min"] < box["y_max"]
    assert 0.0 <= box["probability"] <= 1.0
    if size:
        assert box["x_max"] <= size[0] and box["y_max"] <= size[1], (box, size)


def _size(path: str):
    from PIL import Image
    with Image.open(path) as im:
        return im.size


# ----------------------------------------------------------------------------- subjects
def test_subjects_add_list_update_delete(subjects, uniq):
    old, new = uniq("Ada Lovelace"), uniq("Ada King")
    assert subjects.add(old) == {"subject": old}
    assert old in subjects.list()["subjects"]
    # PUT /subjects/<old> with body {"subject": new, "api_endpoint": old}: extra key must be ignored
    res = subjects.update(old, new)
    assert res.get("updated") in (True, "true"), res
    names = subjects.list()["subjects"]
    assert new in names and old not in names
    assert subjects.delete(new) == {"subject": new}
    assert new not in subjects.list()["subjects"]


def test_subject_names_are_not_url_encoded_by_the_sdk(faces, subjects, img):
    # the SDK concatenates ?subject=<raw>; requests percent-encodes spaces and non-ASCII as UTF-8
    name = "José Núñez-Ñandú Zoë"
    added = faces.add(img(OBAMA), name)
    assert added.get("subject") == name, added
    assert name in subjects.list()["subjects"]
    assert faces.delete_all(name) == {"deleted": 1}
    subjects.delete(name)      # may or may not still exist; only must not break


def test_subject_delete_unknown_returns_error_dict(subjects, uniq):
    res = subjects.delete(uniq("nobody"))
    assert isinstance(res.get("code"), int) and res.get("message"), res     # CompreFace: 404, code 42


# ----------------------------------------------------------------------------- face collection
def test_faces_add_path_and_list(faces, enrolled):
    name, image_id = enrolled
    assert UUID_RE.match(image_id), image_id
    listing = faces.list()                      # GET /faces (no paging params: page 0, size 20)
    for k in ("faces", "page_number", "page_size", "total_pages", "total_elements"):
        assert k in listing, listing
    assert {"image_id": image_id, "subject": name} in listing["faces"] or listing["total_elements"] > 20


def test_faces_add_bytes_with_det_prob_threshold(faces, img_bytes, uniq):
    name = uniq("Joe Biden")
    # bytes -> multipart part named "file", filename "image.jpg", no part Content-Type;
    # options -> ?subject=<name>&det_prob_threshold=0.8
    added = faces.add(img_bytes(BIDEN), name, {"det_prob_threshold": 0.8})
    assert added.get("subject") == name and UUID_RE.match(added.get("image_id", "")), added
    assert faces.delete_all(name) == {"deleted": 1}


def test_faces_add_png_named_image_jpg(faces, img_bytes, uniq):
    # the SDK always names byte uploads "image.jpg", even for PNG data
    name = uniq("Amy")
    added = faces.add(img_bytes("people/amy/amy1.png"), name)
    assert added.get("subject") == name, added
    faces.delete_all(name)


def test_faces_add_no_face_is_code_28(faces, no_face_path, uniq):
    res = faces.add(no_face_path, uniq("ghost"))
    assert res.get("code") == 28, res
    assert res.get("message") == "No face is found in the given image"


def test_faces_add_two_faces_is_rejected(faces, img, uniq):
    res = faces.add(img(GROUP), uniq("crowd"))
    assert isinstance(res.get("code"), int) and "image_id" not in res, res   # CompreFace: code 31


def test_faces_delete_by_id(faces, img, uniq):
    name = uniq("Kit Harington")
    image_id = faces.add(img("people/kit_harington/john1.jpeg"), name)["image_id"]
    assert faces.delete(image_id) == {"image_id": image_id, "subject": name}
    again = faces.delete(image_id)
    assert again.get("code") == 11, again       # 404 "Image <id> not found"


def test_faces_delete_all_of_subject(faces, img, uniq):
    name = uniq("Rose Leslie")
    faces.add(img("people/rose_leslie/img1.jpg"), name)
    faces.add(img("people/rose_leslie/img2.jpg"), name)
    assert faces.delete_all(name) == {"deleted": 2}
    assert faces.delete_all(name) == {"deleted": 0}
    assert all(f["subject"] != name for f in faces.list()["faces"])


def test_faces_verify_by_image_id(faces, enrolled, img):
    _, image_id = enrolled
    same = faces.verify(img(OBAMA2), image_id)              # POST /faces/<id>/verify  (bare, no "?")
    other = faces.verify(img(BIDEN), image_id)
    assert "result" in same and "result" in other, (same, other)
    s, o = same["result"][0], other["result"][0]
    _assert_box(s["box"], _size(img(OBAMA2)))
    assert 0.0 <= o["similarity"] < s["similarity"] <= 1.0


def test_faces_verify_with_options(faces, enrolled, img):
    _, image_id = enrolled
    res = faces.verify(img(GROUP), image_id, {"limit": 1, "status": True, "det_prob_threshold": 0.5,
                                              "face_plugins": "landmarks"})
    # -> ?&limit=1&status=True&det_prob_threshold=0.5&face_plugins=landmarks
    assert len(res["result"]) == 1, res
    face = res["result"][0]
    assert len(face["landmarks"]) == 5 and "execution_time" in face
    assert "plugins_versions" in res


def test_faces_verify_unknown_image_id(faces, img):
    res = faces.verify(img(OBAMA2), "00000000-0000-0000-0000-000000000000")
    assert res.get("code") == 11, res


# ----------------------------------------------------------------------------- recognition
def test_recognize_known_face(rec, enrolled, img):
    name, _ = enrolled
    res = rec.recognize(img(OBAMA2))                         # no options: bare URL
    assert len(res["result"]) == 1, res
    face = res["result"][0]
    _assert_box(face["box"], _size(img(OBAMA2)))
    top = face["subjects"][0]
    assert top["subject"] == name and 0.0 < top["similarity"] <= 1.0


def test_recognize_unknown_face_ranks_low(rec, enrolled, img):
    name, _ = enrolled
    res = rec.recognize(img(OBAMA2), {"prediction_count": 1})
    obama_sim = res["result"][0]["subjects"][0]["similarity"]
    res = rec.recognize(img(BIDEN2), {"prediction_count": 50})
    sims = {s["subject"]: s["similarity"] for s in res["result"][0]["subjects"]}
    assert sims.get(name, 0.0) < obama_sim


def test_recognize_options_bytes(rec, enrolled, img_bytes, uniq, faces):
    name, _ = enrolled
    other = uniq("Joe Biden")
    faces.add(img_bytes(BIDEN), other)
    try:
        res = rec.recognize(img_bytes(GROUP), {"limit": 0, "prediction_count": 2, "det_prob_threshold": 0.8,
                                               "face_plugins": "calculator,landmarks", "status": True})
        # -> ?&limit=0&prediction_count=2&det_prob_threshold=0.8&face_plugins=calculator,landmarks&status=True
        assert len(res["result"]) == 3, res
        assert "plugins_versions" in res
        for face in res["result"]:
            _assert_box(face["box"], (2000, 1428))           # boxes in ORIGINAL pixels
            # a recognised face lists prediction_count subjects; the stranger (3rd face) none
            assert len(face["subjects"]) in (0, 2), face["subjects"]
            sims = [s["similarity"] for s in face["subjects"]]
            assert sims == sorted(sims, reverse=True)
            assert len(face["landmarks"]) == 5
            assert len(face["embedding"]) > 0 and all(isinstance(v, float) for v in face["embedding"])
            assert "execution_time" in face
        assert sorted(len(f["subjects"]) for f in res["result"]) == [0, 2, 2], res
        assert max(f["box"]["x_max"] for f in res["result"]) > 1500   # the face at the far right
        tops = {f["subjects"][0]["subject"] for f in res["result"] if f["subjects"]}
        assert name in tops and other in tops
    finally:
        faces.delete_all(other)


def test_recognize_limit_takes_biggest_face(rec, enrolled, img):
    res = rec.recognize(img(GROUP), {"limit": 1})
    assert len(res["result"]) == 1
    b = res["result"][0]["box"]
    assert b["x_max"] - b["x_min"] > 150                     # the two big faces are ~167-183 px wide


def test_recognize_with_global_options(enrolled, img):
    # options given to CompreFace(...) apply to recognize(): all five keys, "status=True" capitalised,
    # plugins the server may not have (age) must be tolerated.
    cf = CompreFace(CF_DOMAIN, PORT, {"limit": 0, "det_prob_threshold": 0.8, "prediction_count": 1,
                                      "face_plugins": "calculator,age", "status": True})
    res = cf.init_face_recognition(KEY).recognize(img(OBAMA2))
    assert "result" in res, res
    assert "embedding" in res["result"][0]


def test_recognize_no_face_is_code_28(rec, no_face_path):
    res = rec.recognize(no_face_path)
    assert res == {"message": "No face is found in the given image", "code": 28} or res.get("code") == 28, res


def test_recognize_wrong_api_key(img):
    res = CompreFace(CF_DOMAIN, PORT).init_face_recognition("00000000-0000-0000-0000-0000000000ff") \
        .recognize(img(OBAMA2))
    assert "result" not in res and isinstance(res.get("code"), int) and res.get("message"), res


# ----------------------------------------------------------------------------- detection
def test_detect_path_and_options(cf, img, img_bytes):
    det = cf.init_face_detection(KEY)
    res = det.detect(img(GROUP))
    assert len(res["result"]) == 3, res
    for f in res["result"]:
        _assert_box(f["box"], (2000, 1428))
        assert "subjects" not in f
    res = det.detect(img_bytes(GROUP), {"limit": 2, "det_prob_threshold": 0.5,
                                        "face_plugins": "landmarks,calculator", "status": True})
    assert len(res["result"]) == 2 and "plugins_versions" in res
    assert all(len(f["landmarks"]) == 5 and f["embedding"] for f in res["result"])


def test_detect_no_face(cf, no_face_path):
    res = cf.init_face_detection(KEY).detect(no_face_path)
    assert res.get("code") == 28 or res.get("result") == [], res


def test_detect_with_global_options_drops_prediction_count(img):
    cf = CompreFace(CF_DOMAIN, PORT, {"limit": 0, "det_prob_threshold": 0.8, "prediction_count": 1,
                                      "face_plugins": "landmarks", "status": True})
    res = cf.init_face_detection(KEY).detect(img(OBAMA))
    assert len(res["result"]) == 1 and len(res["result"][0]["landmarks"]) == 5, res


# ----------------------------------------------------------------------------- verification
def test_verification_verify(cf, img, img_bytes):
    ver = cf.init_face_verification(KEY)
    same = ver.verify(img(OBAMA), img(OBAMA2))
    other = ver.verify(img_bytes(OBAMA), img_bytes(BIDEN), {"limit": 1, "status": True})
    for res in (same, other):
        assert len(res["result"]) == 1, res
        item = res["result"][0]
        _assert_box(item["source_image_face"]["box"])
        assert len(item["face_matches"]) == 1
    s = same["result"][0]["face_matches"][0]["similarity"]
    o = other["result"][0]["face_matches"][0]["similarity"]
    assert 0.0 <= o < s <= 1.0
    _assert_box(same["result"][0]["face_matches"][0]["box"], _size(img(OBAMA2)))


def test_verification_many_target_faces_sorted(cf, img):
    res = cf.init_face_verification(KEY).verify(img(OBAMA), img(GROUP))
    matches = res["result"][0]["face_matches"]
    assert len(matches) == 3
    sims = [m["similarity"] for m in matches]
    assert sims == sorted(sims, reverse=True)


def test_verification_no_face(cf, img, no_face_path):
    res = cf.init_face_verification(KEY).verify(img(OBAMA), no_face_path)
    assert res.get("code") == 28, res


# ----------------------------------------------------------------------------- destructive, last
def test_zz_delete_all_subjects(rec, faces, subjects, img, uniq):
    faces.add(img(OBAMA), uniq("Barack Obama"))
    subjects.add(uniq("empty subject"))
    res = subjects.delete_all()                  # DELETE /subjects (Content-Type: application/json, no body)
    assert isinstance(res.get("deleted"), int) and res["deleted"] >= 2, res
    assert subjects.list() == {"subjects": []}
    assert faces.list()["faces"] == []
    after = rec.recognize(img(OBAMA2))
    assert after["result"][0]["subjects"] == [], after


def test_zz_delete_all_with_empty_subject_string(subjects, uniq):
    # subjects.delete("") hits DELETE /subjects too (the SDK drops the empty path segment)
    subjects.add(uniq("temp"))
    res = subjects.delete("")
    assert isinstance(res.get("deleted"), int), res
    assert subjects.list() == {"subjects": []}


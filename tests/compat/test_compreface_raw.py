"""CompreFace compatibility for what the Python SDK never sends but other clients do (raw httpx):
base64 JSON bodies, POST /faces/delete, Double Take's exact requests (face_plugins=undefined, parts
with a Content-Type), paging/filtering of GET /faces, and the error format.
"""
from __future__ import annotations

import base64

import pytest

OBAMA, OBAMA2 = "people/obama/obama.jpg", "people/obama/obama2.jpg"
BIDEN = "people/biden/biden.jpg"
REC = "/api/v1/recognition"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def H(api_key):
    return {"x-api-key": api_key}


@pytest.fixture
def enrolled(http, H, img_bytes, uniq):
    name = uniq("Barack Obama")
    r = http.post(f"{REC}/faces", params={"subject": name}, headers=H,
                  files={"file": ("obama.jpg", img_bytes(OBAMA), "image/jpeg")})
    assert r.status_code in (200, 201), r.text
    yield name, r.json()["image_id"]
    http.delete(f"{REC}/faces", params={"subject": name}, headers=H)


# ----------------------------------------------------------------------------- base64 JSON input
def test_base64_add_and_recognize(http, H, img_bytes, uniq):
    name = uniq("b64 Obama")
    r = http.post(f"{REC}/faces?subject={name}", headers=H, json={"file": b64(img_bytes(OBAMA))})
    assert r.status_code in (200, 201), r.text
    assert r.json()["subject"] == name
    r = http.post(f"{REC}/recognize", headers=H, json={"file": b64(img_bytes(OBAMA2))})
    assert r.status_code == 200, r.text
    assert r.json()["result"][0]["subjects"][0]["subject"] == name
    http.delete(f"{REC}/faces", params={"subject": name}, headers=H)


def test_base64_detect(http, H, img_bytes):
    r = http.post("/api/v1/detection/detect", headers=H, json={"file": b64(img_bytes(OBAMA))},
                  params={"face_plugins": "landmarks"})
    assert r.status_code == 200, r.text
    assert len(r.json()["result"]) == 1 and len(r.json()["result"][0]["landmarks"]) == 5


def test_base64_verify_by_image_id(http, H, img_bytes, enrolled):
    _, image_id = enrolled
    r = http.post(f"{REC}/faces/{image_id}/verify", headers=H, json={"file": b64(img_bytes(OBAMA2))})
    assert r.status_code == 200, r.text
    assert 0 < r.json()["result"][0]["similarity"] <= 1


def test_base64_verification_service(http, H, img_bytes):
    r = http.post("/api/v1/verification/verify", headers=H,
                  json={"source_image": b64(img_bytes(OBAMA)), "target_image": b64(img_bytes(OBAMA2))})
    assert r.status_code == 200, r.text
    assert r.json()["result"][0]["face_matches"][0]["similarity"] > 0


def test_base64_garbage_is_a_json_error(http, H):
    r = http.post(f"{REC}/recognize", headers=H, json={"file": "not*base64*at*all"})
    assert 400 <= r.status_code < 500, r.text
    assert isinstance(r.json().get("code"), int) and r.json().get("message")


# ----------------------------------------------------------------------------- POST /faces/delete
def test_delete_multiple_examples(http, H, img_bytes, uniq):
    name = uniq("multi")
    ids = []
    for rel in (OBAMA, OBAMA2):
        r = http.post(f"{REC}/faces", params={"subject": name}, headers=H,
                      files={"file": ("x.jpg", img_bytes(rel), "image/jpeg")})
        ids.append(r.json()["image_id"])
    ghost = "00000000-0000-0000-0000-00000000dead"
    r = http.post(f"{REC}/faces/delete", headers=H, json=[*ids, ghost])   # unknown ids are ignored
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list)
    assert sorted(body, key=lambda d: d["image_id"]) == sorted(
        [{"image_id": i, "subject": name} for i in ids], key=lambda d: d["image_id"])
    r = http.get(f"{REC}/faces", params={"subject": name}, headers=H)
    assert r.json()["faces"] == []


# ----------------------------------------------------------------------------- Double Take's requests
def double_take_normalize(data: dict, match=60, unknown=40, min_area=10000):
    """Python port of double-take api/src/util/detectors/compreface.js normalize() (1.13.x)."""
    if not data.get("result"):
        if data.get("code") == 28:
            return []
        raise RuntimeError(data.get("message"))
    out = []
    for obj in data["result"]:
        face = obj["subjects"][0] if obj["subjects"] else None
        confidence = round(face["similarity"] * 100, 2) if face else 0
        box = obj["box"]
        area = (box["x_max"] - box["x_min"]) * (box["y_max"] - box["y_min"])
        out.append({"name": face["subject"].lower() if face and confidence >= unknown else "unknown",
                    "confidence": confidence, "match": confidence >= match and area >= min_area})
    return out


def test_double_take_recognize_face_plugins_undefined(http, H, img_bytes, enrolled):
    name, _ = enrolled
    # exactly what Double Take sends when FACE_PLUGINS is not configured:
    #   POST /api/v1/recognition/recognize?face_plugins=undefined&det_prob_threshold=0.8
    #   multipart part "file" with filename and Content-Type image/jpeg
    r = http.post(f"{REC}/recognize?face_plugins=undefined&det_prob_threshold=0.8", headers=H,
                  files={"file": ("1234-latest.jpg", img_bytes(OBAMA2), "image/jpeg")})
    assert r.status_code == 200, r.text
    faces = double_take_normalize(r.json())
    assert faces and faces[0]["name"] == name.lower()


def test_double_take_thresholds_are_meaningful(http, H, img_bytes, enrolled):
    """Double Take's defaults (match >= 60 %, unknown < 40 %) applied to our similarity scale:
    a second photo of the enrolled person is a match, a stranger is 'unknown'.
    (This pins the similarity calibration; CompreFace puts most genuine pairs above 0.5.)"""
    name, _ = enrolled
    r = http.post(f"{REC}/recognize?face_plugins=undefined&det_prob_threshold=0.8", headers=H,
                  files={"file": ("a.jpg", img_bytes(OBAMA2), "image/jpeg")})
    same = double_take_normalize(r.json())[0]
    assert same["match"] is True, same
    r = http.post(f"{REC}/recognize?face_plugins=undefined&det_prob_threshold=0.8", headers=H,
                  files={"file": ("b.jpg", img_bytes(BIDEN), "image/jpeg")})
    for face in double_take_normalize(r.json()):
        assert face["name"] != name.lower() or face["confidence"] < 40, face


def test_double_take_no_face_is_code_28_with_400(http, H, no_face_jpeg):
    r = http.post(f"{REC}/recognize?face_plugins=undefined&det_prob_threshold=0.8", headers=H,
                  files={"file": ("grey.jpg", no_face_jpeg, "image/jpeg")})
    assert r.status_code == 400, r.text
    assert r.json() == {"message": "No face is found in the given image", "code": 28}
    assert double_take_normalize(r.json()) == []


def test_double_take_train_and_remove(http, H, img_bytes, uniq):
    name = uniq("dt person")
    r = http.post(f"{REC}/faces", params={"subject": name}, headers=H,
                  files={"file": ("train.jpg", img_bytes(OBAMA), "image/jpeg")})
    assert 200 <= r.status_code < 300, r.text            # axios throws on non-2xx here
    r = http.delete(f"{REC}/faces", params={"subject": name}, headers=H)
    assert r.status_code == 200 and r.json() == {"deleted": 1}


def test_status_lowercase_true_and_empty_query_segments(http, H, img_bytes):
    for q in ("?status=true", "?&status=True", "?&&limit=0&status=TRUE&"):
        r = http.post(f"{REC}/recognize{q}", headers=H, files={"file": ("x.jpg", img_bytes(OBAMA2))})
        assert r.status_code == 200, (q, r.text)
        assert "plugins_versions" in r.json(), q


# ----------------------------------------------------------------------------- listing
def test_list_faces_paging_and_subject_filter(http, H, img_bytes, uniq):
    name = uniq("pager")
    for rel in (OBAMA, OBAMA2):
        http.post(f"{REC}/faces", params={"subject": name}, headers=H,
                  files={"file": ("x.jpg", img_bytes(rel), "image/jpeg")})
    r = http.get(f"{REC}/faces", params={"subject": name, "page": 0, "size": 1}, headers=H)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["faces"]) == 1 and body["faces"][0]["subject"] == name
    assert body["page_number"] == 0 and body["page_size"] == 1
    assert body["total_elements"] == 2 and body["total_pages"] == 2
    r = http.get(f"{REC}/faces", params={"subject": name, "page": 1, "size": 1}, headers=H)
    assert len(r.json()["faces"]) == 1
    http.delete(f"{REC}/faces", params={"subject": name}, headers=H)


def test_list_subjects_trailing_slash(http, H):
    # the CompreFace docs' own curl example uses GET /subjects/ (with the slash)
    r = http.get(f"{REC}/subjects/", headers=H, follow_redirects=True)
    assert r.status_code == 200 and "subjects" in r.json(), r.text


# ----------------------------------------------------------------------------- error format
@pytest.mark.parametrize("headers", [{}, {"x-api-key": "00000000-0000-0000-0000-0000000000ff"},
                                     {"x-api-key": "not-a-uuid"}])
def test_bad_or_missing_api_key_is_json_error(http, img_bytes, headers):
    r = http.post(f"{REC}/recognize", headers=headers, files={"file": ("x.jpg", img_bytes(OBAMA2))})
    assert 400 <= r.status_code < 500, r.text
    body = r.json()                                     # the SDK calls .json() unconditionally
    assert isinstance(body.get("code"), int) and isinstance(body.get("message"), str)


def test_not_an_image_is_json_error(http, H):
    r = http.post(f"{REC}/recognize", headers=H, files={"file": ("x.jpg", b"definitely not an image")})
    assert 400 <= r.status_code < 500, r.text
    assert isinstance(r.json().get("code"), int)


def test_missing_file_part_is_json_error(http, H):
    r = http.post(f"{REC}/recognize", headers=H, files={"wrong": ("x.jpg", b"abc")})
    assert 400 <= r.status_code < 500, r.text
    assert isinstance(r.json().get("code"), int)


def test_missing_subject_param_is_json_error(http, H, img_bytes):
    r = http.post(f"{REC}/faces", headers=H, files={"file": ("x.jpg", img_bytes(OBAMA))})
    assert 400 <= r.status_code < 500, r.text
    assert isinstance(r.json().get("code"), int)

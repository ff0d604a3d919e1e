"""DeepStack endpoints the Python client does not wrap (raw httpx): /match, /delete, /list, multi-image
register, and Double Take's exact requests and parsing.
"""
from __future__ import annotations

import pytest

OBAMA, OBAMA2 = "people/obama/obama.jpg", "people/obama/obama2.jpg"
BIDEN = "people/biden/biden.jpg"
V = "/v1/vision/face"


@pytest.fixture
def K(api_key):
    return {"api_key": api_key}


@pytest.fixture
def registered(http, K, img_bytes, uniq):
    name = uniq("obama")
    r = http.post(f"{V}/register", data={"userid": name, **K}, files={"image": ("o.jpg", img_bytes(OBAMA))})
    assert r.status_code == 200 and r.json()["success"] is True, r.text
    yield name
    http.post(f"{V}/delete", data={"userid": name, **K})


def test_match(http, K, img_bytes):
    same = http.post(f"{V}/match", data=K, files={"image1": ("a.jpg", img_bytes(OBAMA)),
                                                  "image2": ("b.jpg", img_bytes(OBAMA2))})
    other = http.post(f"{V}/match", data=K, files={"image1": ("a.jpg", img_bytes(OBAMA)),
                                                   "image2": ("c.jpg", img_bytes(BIDEN))})
    assert same.status_code == 200 and other.status_code == 200, (same.text, other.text)
    s, o = same.json(), other.json()
    assert s["success"] is True and o["success"] is True
    assert 0.0 <= o["similarity"] < s["similarity"] <= 1.0


def test_match_needs_two_images(http, K, img_bytes):
    r = http.post(f"{V}/match", data=K, files={"image1": ("a.jpg", img_bytes(OBAMA))})
    assert r.status_code == 400 and r.json()["success"] is False and r.json()["error"], r.text


def test_match_no_face(http, K, img_bytes, no_face_jpeg):
    r = http.post(f"{V}/match", data=K, files={"image1": ("a.jpg", img_bytes(OBAMA)),
                                               "image2": ("g.jpg", no_face_jpeg)})
    assert r.status_code in (200, 400) and r.json()["success"] is False, r.text


def test_list_and_delete(http, K, registered):
    r = http.post(f"{V}/list", data=K)
    assert r.status_code == 200 and r.json()["success"] is True, r.text
    assert registered in r.json()["faces"]
    r = http.post(f"{V}/delete", data={"userid": registered, **K})
    assert r.status_code == 200 and r.json()["success"] is True, r.text
    assert registered not in http.post(f"{V}/list", data=K).json()["faces"]


def test_delete_unknown_user_is_success(http, K, uniq):
    r = http.post(f"{V}/delete", data={"userid": uniq("nobody"), **K})
    assert r.status_code == 200 and r.json()["success"] is True, r.text


def test_register_several_images_one_request(http, K, img_bytes, uniq):
    # DeepStack docs: any number of file fields (image1, image2, ...) in one register call
    name = uniq("obama multi")
    r = http.post(f"{V}/register", data={"userid": name, **K},
                  files=[("image1", ("a.jpg", img_bytes(OBAMA))), ("image2", ("b.jpg", img_bytes(OBAMA2)))])
    assert r.status_code == 200 and r.json()["success"] is True, r.text
    http.post(f"{V}/delete", data={"userid": name, **K})


def test_register_without_userid(http, K, img_bytes):
    r = http.post(f"{V}/register", data=K, files={"image": ("a.jpg", img_bytes(OBAMA))})
    assert r.status_code == 400 and r.json() == {**r.json(), "success": False}, r.text
    assert r.json()["error"]


def test_no_image(http, K):
    r = http.post(f"{V}/recognize", data=K)
    assert r.status_code == 400 and r.json()["success"] is False, r.text


def test_not_an_image(http, K):
    r = http.post(f"{V}/recognize", data=K, files={"image": ("x.jpg", b"not an image at all")})
    assert r.status_code == 400 and r.json()["success"] is False, r.text


# ----------------------------------------------------------------------------- Double Take
def double_take_normalize(data, match=60, unknown=40, min_area=10000):
    """Python port of double-take api/src/util/detectors/deepstack.js normalize()."""
    if not data.get("success"):
        return []
    out = []
    for obj in data["predictions"]:
        confidence = round(obj["confidence"] * 100, 2)
        area = (obj["x_max"] - obj["x_min"]) * (obj["y_max"] - obj["y_min"])
        out.append({"name": obj["userid"].lower() if confidence >= unknown else "unknown",
                    "confidence": confidence,
                    "match": obj["userid"] != "unknown" and confidence >= match and area >= min_area})
    return out


def test_double_take_recognize(http, K, img_bytes, registered):
    # Double Take: multipart "image" (Content-Type image/jpeg) + "api_key" only if configured
    r = http.post(f"{V}/recognize", data=K, files={"image": ("latest.jpg", img_bytes(OBAMA2), "image/jpeg")})
    assert r.status_code == 200, r.text
    faces = double_take_normalize(r.json())
    assert faces and faces[0]["name"] == registered.lower() and faces[0]["match"] is True, faces


def test_double_take_without_api_key(http, img_bytes, api_key):
    if not api_key:
        pytest.skip("server runs without an API key")
    r = http.post(f"{V}/recognize", files={"image": ("latest.jpg", img_bytes(OBAMA2), "image/jpeg")})
    assert r.status_code == 401 and r.json()["success"] is False, r.text
    assert double_take_normalize(r.json()) == []

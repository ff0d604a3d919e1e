"""DeepStack compatibility, driven by the real deepstack-python client (0.8 and 0.9, unmodified).

The client posts multipart to http://{ip}:{port}/v1/vision/..., with form fields api_key and
min_confidence and a part "image" (filename "image" for bytes, the file's name for file objects,
no part Content-Type). Any status other than 200 raises DeepstackException before the body is read.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest

ds = pytest.importorskip("deepstack.core")

from conftest import DS_HOST, KEY, PORT  # noqa: E402

OBAMA, OBAMA2 = "people/obama/obama.jpg", "people/obama/obama2.jpg"
BIDEN = "people/biden/biden.jpg"
GROUP = "scenes/obama_and_biden.jpg"
KEYS = {"confidence", "x_min", "y_min", "x_max", "y_max"}


@pytest.fixture(scope="module")
def face():
    # timeout: the first request may load the models
    return ds.DeepstackFace(ip=DS_HOST, port=PORT, api_key=KEY, timeout=60)


@pytest.fixture
def registered(face, img_bytes, uniq, http, api_key):
    name = uniq("obama")
    msg = face.register(name, img_bytes(OBAMA))
    assert msg in ("face added", "face updated"), msg
    yield name
    http.post("/v1/vision/face/delete", data={"userid": name, "api_key": api_key})


def _check_pred(p, size):
    assert set(p) >= KEYS, p
    for k in ("x_min", "y_min", "x_max", "y_max"):
        assert isinstance(p[k], int) and p[k] >= 0, p
    assert p["x_min"] < p["x_max"] <= size[0] and p["y_min"] < p["y_max"] <= size[1], (p, size)
    assert 0.0 <= p["confidence"] <= 1.0


def test_detect(face, img_bytes):
    preds = face.detect(img_bytes(GROUP))              # POST /v1/vision/face
    assert len(preds) == 3, preds
    for p in preds:
        _check_pred(p, (2000, 1428))
        assert "userid" not in p                         # HA's detect-only mode relies on this
    assert max(p["x_max"] for p in preds) > 1500         # boxes in ORIGINAL pixels


def test_detect_no_face_is_empty(face, no_face_jpeg):
    assert face.detect(no_face_jpeg) == []


def test_register_and_recognize(face, registered, img_bytes):
    preds = face.recognize(img_bytes(OBAMA2))           # POST /v1/vision/face/recognize
    assert len(preds) == 1, preds
    p = preds[0]
    _check_pred(p, (626, 1200))
    assert p["userid"] == registered and 0.5 <= p["confidence"] <= 1.0
    assert ds.get_recognized_faces(preds) == {registered: round(p["confidence"] * 100, 1)}


def test_recognize_stranger_is_not_the_registered_user(face, registered, img_bytes):
    preds = face.recognize(img_bytes(BIDEN))
    assert preds and all(p["userid"] != registered for p in preds), preds
    for p in preds:
        if p["userid"] == "unknown":
            assert p["confidence"] == 0                  # DeepStack reports unknown faces with 0


def test_recognize_group_mixed(face, registered, img_bytes):
    preds = face.recognize(img_bytes(GROUP))
    assert len(preds) == 3
    assert sum(p["userid"] == registered for p in preds) == 1, preds


def test_min_confidence_is_honoured(registered, img_bytes):
    # FaceGate's similarity is a probability that never reaches 1: min_confidence=1 refuses everyone
    strict = ds.DeepstackFace(ip=DS_HOST, port=PORT, api_key=KEY, timeout=60, min_confidence=1.0)
    preds = strict.recognize(img_bytes(OBAMA2))
    assert [p["userid"] for p in preds] == ["unknown"], preds


def test_recognize_no_face_is_empty(face, registered, no_face_jpeg):
    assert face.recognize(no_face_jpeg) == []


def test_register_from_open_file(face, img, uniq, http, api_key):
    # Home Assistant's teach_face passes an open file object (part filename = the file's basename)
    name = uniq("obama file")
    with open(img(OBAMA), "rb") as fh:
        assert face.register(name, fh) in ("face added", "face updated")
    http.post("/v1/vision/face/delete", data={"userid": name, "api_key": api_key})


def test_register_twice_updates(face, registered, img_bytes):
    assert face.register(registered, img_bytes(OBAMA2)) in ("face added", "face updated")


def test_register_no_face_raises(face, no_face_jpeg, uniq):
    with pytest.raises(ds.DeepstackException):
        face.register(uniq("ghost"), no_face_jpeg)


def test_wrong_api_key_raises(img_bytes):
    bad = ds.DeepstackFace(ip=DS_HOST, port=PORT, api_key="wrong-key", timeout=60)
    with pytest.raises(ds.DeepstackException):
        bad.recognize(img_bytes(OBAMA2))


def test_get_registered_faces(face, registered):
    if not hasattr(face, "get_registered_faces"):
        pytest.skip("deepstack-python < 0.9 has no get_registered_faces()")
    names = face.get_registered_faces()                 # POST /v1/vision/face/list (urlencoded api_key)
    assert isinstance(names, list) and registered in names


# ----------------------------------------------------------------------------- Home Assistant
def _ha_get_faces(predictions, img_width, img_height):
    """Port of HASS-Deepstack-face image_processing.get_faces()."""
    faces = []
    for pred in predictions:
        name = pred.get("userid", "unknown")
        box = {"height": round((pred["y_max"] - pred["y_min"]) / img_height, 3),
               "width": round((pred["x_max"] - pred["x_min"]) / img_width, 3),
               "y_min": round(pred["y_min"] / img_height, 3), "x_min": round(pred["x_min"] / img_width, 3),
               "y_max": round(pred["y_max"] / img_height, 3), "x_max": round(pred["x_max"] / img_width, 3)}
        faces.append({"name": name, "confidence": round(pred["confidence"] * 100, 3), "bounding_box": box,
                      "prediction": pred})
    return faces


def test_home_assistant_flow(face, registered, img):
    from PIL import Image
    data = Path(img(GROUP)).read_bytes()
    pil = Image.open(io.BytesIO(data)).convert("RGB")
    preds = face.recognize(data)
    faces = _ha_get_faces(preds, *pil.size)
    assert {f["name"] for f in faces} >= {registered}
    for f in faces:
        b = f["bounding_box"]
        assert 0 <= b["x_min"] < b["x_max"] <= 1 and 0 <= b["y_min"] < b["y_max"] <= 1
        p = f["prediction"]
        crop = pil.crop((p["x_min"], p["y_min"], p["x_max"], p["y_max"]))   # HA save_faces
        assert crop.size[0] > 50 and crop.size[1] > 50

"""`POST /v1/compare`, `/healthz` and the JSON error shape for every kind of bad upload."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _post(client, a: bytes, b: bytes, names=("a.jpg", "b.jpg")):  # type: ignore[no-untyped-def]
    return client.post("/v1/compare", files={"image_a": (names[0], a), "image_b": (names[1], b)})


def test_healthz_and_openapi(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/v1/compare" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_compare_same_person(client, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    a, b = sorted((faces_dir / "people" / "obama").iterdir())[:2]
    r = _post(client, a.read_bytes(), b.read_bytes())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"] == "SAME" and body["same"] is True and body["model"] == "sface"
    assert body["a"]["faces_found"] == 1 and "quality" in body["a"]["face"]


def test_compare_different_and_several_faces(client, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    group = (faces_dir / "scenes" / "bbt1.jpg").read_bytes()
    biden = (faces_dir / "scenes" / "biden.jpg").read_bytes()
    body = _post(client, group, biden).json()
    assert body["decision"] == "DIFFERENT" and body["a"]["faces_found"] == 4


def test_alpha_png_upload(client, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    png = (faces_dir / "scenes" / "32bit.png").read_bytes()
    assert _post(client, png, png, ("x.png", "y.png")).json()["decision"] == "SAME"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"", 422, "invalid_image"),
        (b"plain text, not a jpeg" * 20, 422, "invalid_image"),
        ("truncated", 422, "invalid_image"),
        ("huge", 413, "image_too_large"),
        ("blank", 422, "no_face"),
    ],
)
def test_bad_uploads_get_json_4xx(client, faces_dir: Path, payload, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    good = (faces_dir / "scenes" / "obama.jpg").read_bytes()
    if payload == "truncated":
        payload = good[: len(good) // 3]
    elif payload == "huge":
        payload = _png(Image.new("L", (12000, 12000)))
    elif payload == "blank":
        payload = _png(Image.new("RGB", (300, 200), (90, 90, 90)))
    r = _post(client, payload, good)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and "a.jpg" in err["message"]


def test_missing_field_and_unknown_route(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/compare", files={"image_a": ("a.jpg", b"x")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"
    r = client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_upload_byte_limit(tmp_path: Path, faces_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from facegate.app.bootstrap import Container
    from facegate.app.http import create_app
    from facegate.core.settings import Settings
    from tests.auth_helpers import bearer, make_key

    container = Container(Settings(data_dir=tmp_path, max_upload_bytes=1000))
    key = make_key(container, "recognize", "comparer")
    with TestClient(create_app(container=container), headers=bearer(key)) as c:
        big = (faces_dir / "scenes" / "obama.jpg").read_bytes()
        r = _post(c, big, big)
        assert r.status_code == 413 and r.json()["error"]["code"] == "image_too_large"

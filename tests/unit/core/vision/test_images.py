"""Decoding untrusted image bytes: formats, conversions, and every kind of bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from facegate.core.errors import ImageTooLargeError, InvalidImageError
from facegate.core.vision import images
from facegate.core.vision.images import ImageLimits, decode_image, read_image_file


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_rgb_jpeg_decodes_to_bgr() -> None:
    img = Image.new("RGB", (40, 30), (255, 0, 0))
    out = decode_image(_encode(img, "PNG"))
    assert out.shape == (30, 40, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (0, 0, 255)  # red in BGR


def test_empty_bytes_refused() -> None:
    with pytest.raises(InvalidImageError, match="empty"):
        decode_image(b"")


def test_text_file_refused() -> None:
    with pytest.raises(InvalidImageError, match="not a recognised image"):
        decode_image(b"hello, I am a text file pretending to be a JPEG\n" * 10)


def test_truncated_jpeg_refused() -> None:
    rng = np.random.default_rng(0)
    data = _encode(Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(InvalidImageError, match=r"truncated|corrupt"):
        decode_image(data[: len(data) // 2])


def test_huge_image_refused_from_header_without_decoding() -> None:
    # A 12000×12000 PNG compresses to a few hundred KB; the limit must trip on the header.
    data = _encode(Image.new("L", (12000, 12000), 0), "PNG")
    with pytest.raises(ImageTooLargeError, match="12000x12000"):
        decode_image(data, ImageLimits(max_pixels=40_000_000))


def test_byte_limit() -> None:
    data = _encode(Image.new("RGB", (64, 64)), "PNG")
    with pytest.raises(ImageTooLargeError, match="bytes"):
        decode_image(data, ImageLimits(max_bytes=10))


def test_rgba_composited_on_white() -> None:
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))  # fully transparent black
    out = decode_image(_encode(img, "PNG"))
    assert out.shape == (10, 10, 3)
    assert (out == 255).all()


def test_grayscale_and_16bit() -> None:
    g8 = decode_image(_encode(Image.new("L", (8, 8), 100), "PNG"))
    assert g8.shape == (8, 8, 3) and (g8 == 100).all()
    arr16 = np.full((8, 8), 65535 // 2, dtype=np.uint16)
    g16 = decode_image(_encode(Image.fromarray(arr16), "PNG"))
    assert g16.shape == (8, 8, 3)
    assert abs(int(g16[0, 0, 0]) - 127) <= 1


def test_exif_orientation_applied() -> None:
    img = Image.new("RGB", (40, 20), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° CW on display
    out = decode_image(_encode(img, "JPEG", exif=exif.tobytes()))
    assert out.shape[:2] == (40, 20)


def _pillow_bgr(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))[:, :, ::-1]


@pytest.mark.parametrize(("mode", "fast"), [("RGB", True), ("L", True), ("CMYK", False)])
def test_jpegs_decode_to_the_same_pixels_as_pillow(
    mode: str, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # upright RGB and gray JPEGs take cv2.imdecode (the same libjpeg-turbo decode); CMYK Pillow
    calls = []
    real = images.cv2.imdecode
    monkeypatch.setattr(images.cv2, "imdecode", lambda *a: calls.append(1) or real(*a))
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 255, (120, 90, 3), dtype=np.uint8)).convert(mode)
    data = _encode(img, "JPEG", quality=90)
    assert np.array_equal(decode_image(data), _pillow_bgr(data))
    assert len(calls) == (1 if fast else 0)


def test_jpeg_with_bytes_after_the_end_marker_still_decodes() -> None:
    rng = np.random.default_rng(2)
    data = _encode(Image.fromarray(rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)), "JPEG")
    for tail in (b"\x00" * 16, b"trailer appended by a camera"):
        assert np.array_equal(decode_image(data + tail), _pillow_bgr(data))


def test_read_image_file_names_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "photo.jpg"
    p.write_bytes(b"")
    with pytest.raises(InvalidImageError, match=r"photo\.jpg: empty"):
        read_image_file(p)
    with pytest.raises(InvalidImageError, match="cannot read"):
        read_image_file(tmp_path / "missing.jpg")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    """Any input either decodes to a BGR image or raises one of our typed errors."""
    try:
        out = decode_image(data)
    except (InvalidImageError, ImageTooLargeError):
        return
    assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8


@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 64),
    st.integers(1, 64),
    st.sampled_from(["L", "RGB", "RGBA", "P", "I;16", "LA", "CMYK"]),
)
def test_every_mode_converts(w: int, h: int, mode: str) -> None:
    img = Image.new(mode, (w, h))
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    out = decode_image(_encode(img, fmt))
    assert out.shape == (h, w, 3) and out.dtype == np.uint8

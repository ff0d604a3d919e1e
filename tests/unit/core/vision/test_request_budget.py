"""Request budgets: image count and total pixels refused from the headers before decoding;
enrolment decodes, gates and embeds one image at a time; the decoder never fails unexpectedly."""

from __future__ import annotations

import gc
import io
import weakref
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from facegate.core.errors import FaceGateError, ImageTooLargeError, InvalidImageError, TooManyImagesError
from facegate.core.people.enrollment import EnrollmentService, SampleOutcome
from facegate.core.vision.images import ImageLimits, check_request_budget, decode_image, probe_pixels


def png(w: int, h: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, "PNG")
    return buf.getvalue()


def test_probe_reads_the_header_only() -> None:
    assert probe_pixels(png(30, 20)) == 600
    assert probe_pixels(b"not an image") == 0
    assert probe_pixels(b"") == 0


def test_budget_refuses_count_total_and_single_image() -> None:
    limits = ImageLimits(max_pixels=1000, max_images=3, max_total_pixels=1500)
    small = png(20, 20)  # 400 pixels
    check_request_budget([("a", small)] * 3, limits)
    with pytest.raises(TooManyImagesError, match="4 images"):
        check_request_budget([("a", small)] * 4, limits)
    with pytest.raises(ImageTooLargeError, match="1500 pixels in all"):
        check_request_budget([("a", small), ("b", png(30, 30)), ("c", small)], limits)
    with pytest.raises(ImageTooLargeError, match="big: image is 1600"):
        check_request_budget([("big", png(40, 40))], limits)


def test_enrol_bytes_holds_one_decoded_image_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    service: Any = EnrollmentService.__new__(EnrollmentService)
    service.gallery = SimpleNamespace(limits=ImageLimits())  # only the limits are read
    alive: list[weakref.ref[np.ndarray]] = []
    live_counts: list[int] = []

    def check_image(item: Any) -> tuple[None, SampleOutcome]:
        gc.collect()
        live_counts.append(sum(r() is not None for r in alive))
        alive.append(weakref.ref(item.image))
        return None, SampleOutcome(item.label, False, 0, "no face found")

    monkeypatch.setattr(service, "check_image", check_image)
    monkeypatch.setattr(service, "enroll_faces", lambda *a, **k: "stored")
    files = [(f"f{i}", png(64, 48)) for i in range(5)]
    assert service.enroll_bytes("someone", files) == "stored"
    assert live_counts == [0, 0, 0, 0, 0]  # the previous image was freed before the next decode


def test_enrol_bytes_refuses_over_budget_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    service: Any = EnrollmentService.__new__(EnrollmentService)
    service.gallery = SimpleNamespace(limits=ImageLimits(max_images=2))
    decoded: list[str] = []
    monkeypatch.setattr("facegate.core.people.enrollment.decode_labeled",
                        lambda data, limits, label: decoded.append(label))
    with pytest.raises(TooManyImagesError):
        service.enroll_bytes("someone", [(f"f{i}", png(8, 8)) for i in range(3)])
    assert decoded == []


def test_pil_to_bgr_swaps_channels() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (10, 20, 30)).save(buf, "PNG")
    arr = decode_image(buf.getvalue())
    assert arr.shape == (3, 4, 3) and arr.flags["C_CONTIGUOUS"]
    assert arr[0, 0].tolist() == [30, 20, 10]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_decoder_fails_only_with_its_own_errors_on_random_bytes(data: bytes) -> None:
    try:
        out = decode_image(data, ImageLimits(max_pixels=100_000, max_bytes=8192))
    except (InvalidImageError, ImageTooLargeError):
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3


_PNG = png(16, 12)
_JPEG = (lambda b: (Image.new("RGB", (16, 12), (1, 2, 3)).save(b, "JPEG"), b.getvalue())[1])(io.BytesIO())


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([_PNG, _JPEG]), st.data())
def test_decoder_survives_corrupted_real_images(base: bytes, data: st.DataObject) -> None:
    blob = bytearray(base)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(blob)))
    try:
        out = decode_image(bytes(blob[:cut]), ImageLimits(max_pixels=100_000))
    except (InvalidImageError, ImageTooLargeError):
        return
    assert out.ndim == 3 and out.shape[2] == 3


def test_face_login_frames_are_budgeted_and_timestamps_finite() -> None:
    from facegate.features.accounts.face import LivenessFaceLogin

    def no_liveness() -> Any:
        raise AssertionError("refused before any frame is decoded or measured")

    login = LivenessFaceLogin(no_liveness, None, lambda: None, lambda: "sface", 0.3,  # type: ignore[arg-type]
                              ImageLimits(max_images=4, max_total_pixels=5000))
    frame = png(50, 40)  # 2000 pixels
    with pytest.raises(FaceGateError, match="finite"):
        login.add_frames("c", [frame], [float("nan")])
    with pytest.raises(TooManyImagesError):
        login.add_frames("c", [frame] * 5, [0.0] * 5)
    with pytest.raises(ImageTooLargeError):
        login.add_frames("c", [frame] * 3, [0.0, 66.0, 133.0])

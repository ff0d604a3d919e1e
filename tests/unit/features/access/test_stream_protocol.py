"""Wire format of /v1/stream: header + JPEG in one binary message."""

from __future__ import annotations

import json
import struct

import pytest

from facegate.core.errors import ImageTooLargeError, InvalidImageError
from facegate.features.access.client import stream_url
from facegate.features.access.protocol import (
    MAX_HEADER_BYTES,
    FrameFormatError,
    FrameHeader,
    decode_frame,
    encode_frame,
    frame_number_of,
)

JPEG = b"\xff\xd8\xff\xe0" + b"x" * 100


def raw(header: object, body: bytes = JPEG) -> bytes:
    head = json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + body


def test_round_trip_keeps_header_and_bytes() -> None:
    h = FrameHeader(frame=7, ts=1234.5, camera="door-1")
    header, jpeg = decode_frame(encode_frame(h, JPEG), max_jpeg_bytes=1000)
    assert header == h
    assert jpeg == JPEG


def test_camera_is_optional() -> None:
    header, _ = decode_frame(raw({"frame": 0, "ts": 1}), 1000)
    assert header.camera is None and header.ts == 1.0


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        (b"\x00\x00", "too short"),
        (struct.pack(">I", 0) + JPEG, "header length 0"),
        (struct.pack(">I", MAX_HEADER_BYTES + 1) + JPEG, "header length"),
        (struct.pack(">I", 50) + b"{}", "ends inside the header"),
        (struct.pack(">I", 3) + b"{{{" + JPEG, "not UTF-8 JSON"),
        (raw([1, 2]), "JSON object"),
        (raw({"frame": -1, "ts": 0}), "'frame'"),
        (raw({"frame": True, "ts": 0}), "'frame'"),
        (raw({"frame": "3", "ts": 0}), "'frame'"),
        (raw({"frame": 1, "ts": "now"}), "'ts'"),
        (raw({"frame": 1, "ts": 0, "camera": "c" * 101}), "'camera'"),
    ],
)
def test_bad_layout_or_header_is_refused(message: bytes, fragment: str) -> None:
    with pytest.raises(FrameFormatError, match=fragment):
        decode_frame(message, 1000)


def test_empty_image_is_refused() -> None:
    with pytest.raises(InvalidImageError, match="frame 3: empty"):
        decode_frame(raw({"frame": 3, "ts": 0}, b""), 1000)


def test_not_a_jpeg_is_refused() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 50
    with pytest.raises(InvalidImageError, match="not a JPEG"):
        decode_frame(raw({"frame": 4, "ts": 0}, png), 1000)


def test_huge_image_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError, match="above the limit of 50"):
        decode_frame(raw({"frame": 5, "ts": 0}, JPEG), max_jpeg_bytes=50)


def test_frame_number_of_a_bad_message() -> None:
    assert frame_number_of(raw({"frame": 9, "ts": 0}, b"")) == 9
    assert frame_number_of(b"\x00") is None
    assert frame_number_of(struct.pack(">I", 3) + b"{{{") is None


@pytest.mark.parametrize(
    ("server", "url"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/v1/stream"),
        ("https://gate.example/", "wss://gate.example/v1/stream"),
        ("127.0.0.1:9000", "ws://127.0.0.1:9000/v1/stream"),
        ("ws://h:1/v1/stream", "ws://h:1/v1/stream"),
    ],
)
def test_stream_url(server: str, url: str) -> None:
    assert stream_url(server) == url

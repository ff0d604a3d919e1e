"""Wire format of ``WS /v1/stream`` (version 1).

Client → server, one **binary** WebSocket message per frame::

    +----------------------+---------------------------+-------------------+
    | 4 bytes, big-endian  | header: UTF-8 JSON object | JPEG bytes        |
    | unsigned header len  | (at most 4096 bytes)      | (FF D8 FF ...)    |
    +----------------------+---------------------------+-------------------+

The header is ``{"frame": <int ≥ 0>, "ts": <float, client clock, seconds>, "camera": <str, optional>}``.
One message per frame keeps the header and its JPEG together: a frame can never be paired with
another frame's header, and the server can drop a stale frame by dropping one message.

Server → client, **text** JSON messages:

* ``{"type": "hello", "protocol": 1, "device": ..., "required_frames": N, "groups": [...]}`` once,
  after authentication (``groups``: the groups of people this device admits; ``[]`` for a device
  nobody configured yet, whose every frame is denied with reason ``no_groups``; null: every group);
* ``{"type": "result", "frame", "ts", "camera", "faces": [...], "decision": {...}, "processing_ms",
  "dropped"}`` for every *processed* frame (frames replaced by a newer one before the worker got to
  them are counted in ``dropped`` and get no answer);
* ``{"type": "error", "frame": <int|null>, "error": {"code", "message"}}`` for a bad frame; the
  connection stays open;
* before closing for bad credentials: an ``error`` message with code ``unauthorized``, then close code
  4401; for a credential without the ``stream`` scope: code ``insufficient_scope``, then close code
  4403 (the client must not retry those).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from facegate.core.errors import FaceGateError, ImageTooLargeError, InvalidImageError

PROTOCOL_VERSION = 1
MAX_HEADER_BYTES = 4096
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
_LEN = struct.Struct(">I")
JPEG_MAGIC = b"\xff\xd8\xff"


class FrameFormatError(FaceGateError):
    """A stream message does not follow the wire format (bad header, not a JPEG, …)."""

    code = "bad_frame"


@dataclass(frozen=True)
class FrameHeader:
    frame: int
    ts: float
    camera: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"frame": self.frame, "ts": self.ts}
        if self.camera is not None:
            out["camera"] = self.camera
        return out


@dataclass(frozen=True)
class StreamFrame:
    """One received frame: its header, the JPEG bytes and when the server got it (monotonic)."""

    header: FrameHeader
    jpeg: bytes
    received_at: float


def encode_frame(header: FrameHeader, jpeg: bytes) -> bytes:
    """Pack a header and JPEG bytes into one binary message."""
    head = json.dumps(header.as_dict(), separators=(",", ":")).encode()
    return _LEN.pack(len(head)) + head + jpeg


def decode_frame(message: bytes, max_jpeg_bytes: int) -> tuple[FrameHeader, bytes]:
    """Split a binary message into header and JPEG; cheap checks only (the JPEG is not decoded).

    Raises ``FrameFormatError`` (bad layout/header/not JPEG), ``InvalidImageError`` (no image
    bytes) or ``ImageTooLargeError`` (JPEG above ``max_jpeg_bytes``).
    """
    if len(message) < _LEN.size:
        raise FrameFormatError(f"message is {len(message)} bytes: too short for a frame header")
    (head_len,) = _LEN.unpack_from(message)
    if head_len == 0 or head_len > MAX_HEADER_BYTES:
        raise FrameFormatError(f"header length {head_len} is outside 1..{MAX_HEADER_BYTES}")
    if len(message) < _LEN.size + head_len:
        raise FrameFormatError("message ends inside the header")
    header = parse_header(message[_LEN.size : _LEN.size + head_len])
    jpeg = message[_LEN.size + head_len :]
    if not jpeg:
        raise InvalidImageError(f"frame {header.frame}: empty image (0 bytes)")
    if len(jpeg) > max_jpeg_bytes:
        raise ImageTooLargeError(
            f"frame {header.frame}: image is {len(jpeg)} bytes, above the limit of {max_jpeg_bytes}"
        )
    if not jpeg.startswith(JPEG_MAGIC):
        raise InvalidImageError(f"frame {header.frame}: not a JPEG image")
    return header, jpeg


def parse_header(raw: bytes) -> FrameHeader:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameFormatError(f"header is not UTF-8 JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise FrameFormatError("header must be a JSON object")
    frame, ts, camera = data.get("frame"), data.get("ts", 0.0), data.get("camera")
    if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
        raise FrameFormatError("header field 'frame' must be an integer ≥ 0")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise FrameFormatError("header field 'ts' must be a number")
    if camera is not None and (not isinstance(camera, str) or len(camera) > 100):
        raise FrameFormatError("header field 'camera' must be a string of at most 100 characters")
    return FrameHeader(frame=frame, ts=float(ts), camera=camera)


def error_message(code: str, message: str, frame: int | None = None) -> dict[str, Any]:
    return {"type": "error", "frame": frame, "error": {"code": code, "message": message}}


def frame_number_of(message: bytes) -> int | None:
    """Best-effort frame number of a message that failed to decode (for error replies)."""
    try:
        (head_len,) = _LEN.unpack_from(message)
        if 0 < head_len <= MAX_HEADER_BYTES:
            value = json.loads(message[_LEN.size : _LEN.size + head_len]).get("frame")
            return value if isinstance(value, int) and not isinstance(value, bool) else None
    except (struct.error, ValueError, AttributeError):
        return None
    return None

"""Reading what CompreFace and DeepStack clients send, as tolerantly as the real servers do.

Query strings such as ``?&limit=0&status=True&face_plugins=undefined`` (JS clients send the word
``undefined`` for unset options), image parts without a Content-Type and with misleading file
names (the bytes are sniffed by the decoder), and CompreFace's JSON bodies with base64 images.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from facegate.core.errors import ImageTooLargeError

UNSET = {"", "undefined", "null", "none"}
_DATA_URL = re.compile(r"^data:[^,]*;base64,", re.I)


class BadInput(Exception):
    """A request the compatible API refuses: ``kind`` is missing | base64 | argument | too_large."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _raw(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value.strip().lower() in UNSET:
        return None
    return value.strip()


def q_int(request: Request, name: str, default: int, lo: int = 0, hi: int = 1_000_000) -> int:
    value = _raw(request, name)
    if value is None:
        return default
    try:
        n = int(value)
    except ValueError:
        raise BadInput("argument", f"{name} must be an integer, got '{value}'") from None
    if not lo <= n <= hi:
        raise BadInput("argument", f"{name} must be between {lo} and {hi}")
    return n


def q_float(request: Request, name: str, default: float, lo: float = 0.0, hi: float = 1.0) -> float:
    value = _raw(request, name)
    if value is None:
        return default
    try:
        x = float(value)
    except ValueError:
        raise BadInput("argument", f"{name} must be a number, got '{value}'") from None
    if not lo <= x <= hi:  # also refuses NaN
        raise BadInput("argument", f"{name} must be between {lo} and {hi}")
    return x


def q_bool(request: Request, name: str, default: bool = False) -> bool:
    value = _raw(request, name)
    if value is None:
        return default
    return value.lower() in {"true", "1", "yes", "on"}


def q_plugins(request: Request) -> frozenset[str]:
    """``face_plugins=calculator,landmarks`` → the names; unknown names are kept and ignored."""
    value = _raw(request, "face_plugins") or ""
    return frozenset(p.strip().lower() for p in value.split(",") if p.strip())


def decode_base64(value: str) -> bytes:
    """Standard or URL-safe base64, padded or not, with line breaks or a ``data:`` prefix."""
    text = re.sub(r"\s+", "", _DATA_URL.sub("", value.strip()))
    text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("base64", "Provided value is not Base64") from None


async def read_json(request: Request, max_bytes: int) -> Any:
    declared = request.headers.get("content-length")
    limit = max_bytes * 4 // 3 + 4096  # base64 grows the image by a third
    if declared and declared.isdigit() and int(declared) > limit:
        raise BadInput("too_large", f"request body is larger than {limit} bytes")
    body = await request.body()
    if len(body) > limit:
        raise BadInput("too_large", f"request body is larger than {limit} bytes")
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise BadInput("argument", "request body is not valid JSON") from None


def is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("application/json")


async def image_parts(request: Request, names: tuple[str, ...], max_bytes: int) -> dict[str, bytes]:
    """CompreFace images: multipart parts or base64 JSON fields named ``names``."""
    out: dict[str, bytes] = {}
    if is_json(request):
        body = await read_json(request, max_bytes)
        for name in names:
            value = body.get(name) if isinstance(body, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise BadInput("missing", f"Required request part '{name}' is not present")
            data = decode_base64(value)
            if len(data) > max_bytes:
                raise BadInput("too_large", f"{name}: file is larger than {max_bytes} bytes")
            out[name] = data
        return out
    form = await read_form(request, max_bytes)
    for name in names:
        part = form.get(name)
        if not isinstance(part, UploadFile):
            raise BadInput("missing", f"Required request part '{name}' is not present")
        out[name] = await read_part(part, max_bytes)
    return out


async def read_part(part: UploadFile, max_bytes: int) -> bytes:
    """An uploaded part's bytes, refused as soon as they pass ``max_bytes``."""
    data = await part.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{part.filename or 'upload'}: file is larger than {max_bytes} bytes")
    return data


MAX_FORM_FILES = 8  # a form may carry this many images of the upload limit (DeepStack register)


async def read_form(request: Request, max_bytes: int) -> FormData:
    """The form, refused before parsing when its declared size passes ``MAX_FORM_FILES`` images."""
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return FormData()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes * MAX_FORM_FILES + 65536:
        raise BadInput("too_large", f"request body is larger than {MAX_FORM_FILES} images")
    try:
        return await request.form()
    except Exception as exc:
        raise BadInput("argument", f"malformed form body: {exc}") from None


async def form_images(form: FormData, max_bytes: int) -> list[tuple[str, bytes]]:
    """DeepStack images: every file field of the form, in order (``image``, ``image1``, ...)."""
    parts = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
    if len(parts) > MAX_FORM_FILES:
        raise BadInput("too_large", f"at most {MAX_FORM_FILES} images per request")
    return [(key, await read_part(value, max_bytes)) for key, value in parts]

"""Typed errors of FaceGate. Each carries a stable machine-readable ``code``.

The HTTP layer maps them to status codes in one place (``facegate.api.errors``),
the CLI prints their message on one line and exits with status 2.
"""

from __future__ import annotations


class FaceGateError(Exception):
    """Base class of every error FaceGate raises on purpose."""

    code = "error"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidImageError(FaceGateError):
    """The bytes are not an image we can decode (empty, truncated, wrong format)."""

    code = "invalid_image"
    http_status = 422


class ImageTooLargeError(FaceGateError):
    """The image exceeds the configured pixel or byte limit."""

    code = "image_too_large"
    http_status = 413


class NoFaceError(FaceGateError):
    """No face was found where one was required."""

    code = "no_face"
    http_status = 422


class FaceQualityError(FaceGateError):
    """A face was found but fails the quality gate; ``reasons`` says why."""

    code = "face_quality"
    http_status = 422

    def __init__(self, message: str, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reasons = reasons


class ModelFileError(FaceGateError):
    """A model file is missing or does not match its expected digest."""

    code = "model_unavailable"
    http_status = 500


class ConfigError(FaceGateError):
    """Settings that cannot work together (e.g. pgvector search on SQLite)."""

    code = "bad_configuration"
    http_status = 500


class ModelMismatchError(FaceGateError):
    """Embeddings made by different models were compared."""

    code = "model_mismatch"
    http_status = 409


class NotFoundError(FaceGateError):
    code = "not_found"
    http_status = 404


class ConflictError(FaceGateError):
    code = "conflict"
    http_status = 409


class AuthError(FaceGateError):
    code = "unauthorized"
    http_status = 401


class PermissionDeniedError(FaceGateError):
    code = "forbidden"
    http_status = 403


class RateLimitedError(FaceGateError):
    code = "rate_limited"
    http_status = 429

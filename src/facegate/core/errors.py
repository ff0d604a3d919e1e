"""Typed errors of FaceGate. Each carries a stable machine-readable ``code``.

They say what went wrong, not how to answer it: the HTTP layer maps codes to status codes in one
table (``facegate.core.http.HTTP_STATUS``), the CLI prints the message on one line and exits 2.
"""

from __future__ import annotations


class FaceGateError(Exception):
    """Base class of every error FaceGate raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidImageError(FaceGateError):
    """The bytes are not an image we can decode (empty, truncated, wrong format)."""

    code = "invalid_image"


class ImageTooLargeError(FaceGateError):
    """The image exceeds the configured pixel or byte limit."""

    code = "image_too_large"


class TooManyImagesError(ImageTooLargeError):
    """More images in one request than allowed (``max_images_per_request``)."""

    code = "too_many_images"


class NoFaceError(FaceGateError):
    """No face was found where one was required."""

    code = "no_face"


class FaceQualityError(FaceGateError):
    """A face was found but fails the quality gate; ``reasons`` says why."""

    code = "face_quality"

    def __init__(self, message: str, reasons: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reasons = reasons


class ModelFileError(FaceGateError):
    """A model file is missing or does not match its expected digest."""

    code = "model_unavailable"


class ConfigError(FaceGateError):
    """Settings that cannot work together (e.g. pgvector search on SQLite)."""

    code = "bad_configuration"


class ModelMismatchError(FaceGateError):
    """Embeddings made by different models were compared."""

    code = "model_mismatch"


class NotFoundError(FaceGateError):
    code = "not_found"


class ConflictError(FaceGateError):
    code = "conflict"


class AuthError(FaceGateError):
    code = "unauthorized"


class PermissionDeniedError(FaceGateError):
    code = "forbidden"


class RateLimitedError(FaceGateError):
    """Too many requests or failures; ``retry_after_s`` becomes the ``Retry-After`` header."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, int(retry_after_s))


class RateLimitUnavailableError(FaceGateError):
    """The shared rate-limit store (the database or Redis) cannot be reached: limited routes are
    refused (fail closed) rather than served unthrottled."""

    code = "rate_limit_unavailable"


class InvalidGroupNameError(FaceGateError):
    """A group name outside the allowed pattern."""

    code = "invalid_group_name"


class GroupNotEmptyError(ConflictError):
    """A group with members cannot be deleted without ``force``."""

    code = "group_not_empty"


class DuplicateFaceError(ConflictError):
    """The face enrolled already belongs to a different person of the target groups.

    ``person``/``similarity`` are for the audit log; the message names the person only when the
    caller is an administrator."""

    code = "duplicate_face"

    def __init__(self, message: str, person: str | None = None, similarity: float | None = None):
        super().__init__(message)
        self.person = person
        self.similarity = similarity

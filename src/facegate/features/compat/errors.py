"""Errors of the compatible APIs that FaceGate's core has no word for (codes in core.http)."""

from __future__ import annotations

from facegate.core.errors import FaceGateError, NotFoundError


class MultipleFacesError(FaceGateError):
    """An image that must show one face shows several (CompreFace code 31)."""

    code = "multiple_faces"


class UnknownSubjectError(NotFoundError):
    """No visible person with this subject name (CompreFace code 42)."""

    code = "unknown_subject"


class UnknownImageError(NotFoundError):
    """No visible stored face with this image_id (CompreFace code 11)."""

    code = "unknown_image"


class SubjectExistsError(FaceGateError):
    """The subject exists already (CompreFace code 43)."""

    code = "subject_exists"

"""The one place that turns settings into concrete objects (detector, embedder, services, …).

Entry points (``create_app``, the CLI) build one ``Container``; everything is built lazily on first
use and then shared, so importing FaceGate loads no model and opens no database.
"""

from __future__ import annotations

import threading
from functools import cached_property

from facegate.services.compare import CompareService
from facegate.settings import Settings
from facegate.vision.detector import DetectorOptions, YunetDetector
from facegate.vision.images import ImageLimits
from facegate.vision.packs import get_pack
from facegate.vision.pipeline import FacePipeline
from facegate.vision.quality import QualityThresholds


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()

    def startup(self) -> None:
        """Called once when the server starts: create the data dir, warm the models."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)

    def shutdown(self) -> None:
        """Called once when the server stops."""

    @cached_property
    def image_limits(self) -> ImageLimits:
        s = self.settings
        return ImageLimits(max_pixels=s.max_image_pixels, max_bytes=s.max_upload_bytes)

    @cached_property
    def quality_thresholds(self) -> QualityThresholds:
        s = self.settings
        return QualityThresholds(
            min_face_px=s.min_face_px,
            min_sharpness=s.min_sharpness,
            min_brightness=s.min_brightness,
            max_brightness=s.max_brightness,
            max_yaw_deg=s.max_yaw_deg,
            max_pitch_deg=s.max_pitch_deg,
        )

    @cached_property
    def detector(self) -> YunetDetector:
        s = self.settings
        with self._lock:
            return YunetDetector(
                DetectorOptions(
                    score_threshold=s.detect_score_threshold,
                    nms_threshold=s.detect_nms_threshold,
                    max_side=s.detect_max_side,
                    min_face_px=s.min_detect_face_px,
                )
            )

    @cached_property
    def pipeline(self) -> FacePipeline:
        pack = get_pack(self.settings.embedding_model)
        with self._lock:
            return FacePipeline(self.detector, pack.factory(), self.quality_thresholds)

    @property
    def match_threshold(self) -> float:
        if self.settings.match_threshold is not None:
            return self.settings.match_threshold
        return get_pack(self.settings.embedding_model).default_threshold

    @cached_property
    def compare(self) -> CompareService:
        return CompareService(self.pipeline, self.image_limits, self.match_threshold)

"""All configuration, read from ``FACEGATE_*`` environment variables (or a ``.env`` file).

Settings are read at the entry points only (``create_app``, the CLI callback) and passed down;
nothing else in FaceGate reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VisionSettings(BaseSettings):
    """Limits and thresholds of the image → face → embedding pipeline."""

    model_config = SettingsConfigDict(env_prefix="FACEGATE_", extra="ignore")

    max_image_pixels: int = Field(
        default=40_000_000,
        description="Refuse images with more pixels than this (decompression bombs).",
    )
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, description="Refuse larger uploads.")
    detect_max_side: int = Field(
        default=1280,
        description="Images are scaled so their longer side is at most this for detection.",
    )
    detect_score_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    detect_nms_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    min_detect_face_px: float = Field(
        default=24.0, description="Detections narrower than this many pixels are dropped."
    )
    # quality gate used by enrolment (and reported everywhere)
    min_face_px: float = Field(default=64.0, description="Minimum face width for enrolment.")
    min_sharpness: float = Field(
        default=20.0, description="Minimum variance of Laplacian of the crop."
    )
    min_brightness: float = Field(default=40.0)
    max_brightness: float = Field(default=220.0)
    max_yaw_deg: float = Field(default=35.0)
    max_pitch_deg: float = Field(default=30.0)
    embedding_model: str = Field(default="sface", description="Model pack that makes embeddings.")
    match_threshold: float | None = Field(
        default=None,
        description="Cosine similarity for SAME; default: the model pack's measured one.",
    )


class Settings(VisionSettings):
    """Settings of the whole server and CLI."""

    data_dir: Path = Field(
        default=Path("data"), description="Where the database, keys and caches live."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file facegate.db under data_dir."
    )
    host: str = "127.0.0.1"
    port: int = 8000

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'facegate.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]

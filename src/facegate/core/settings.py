"""All configuration, read from ``FACEGATE_*`` environment variables (or a ``.env`` file).

Settings are read at the entry points only (``create_app``, the CLI callback) and passed down;
nothing else in FaceGate reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DOOR_MODES = ("off", "passive", "strict")


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
    detect_single_max_side: int = Field(
        default=480, ge=0,
        description="Requests that use only the largest face (verify, compare, login, lockers, "
        "kiosk) detect at this longer side first, and again at detect_max_side only when that "
        "face is under 64 px there; 0 = always detect at detect_max_side.",
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


class LimitSettings(BaseSettings):
    """Rate limits and request budgets (hardening). Limits use the ``limits`` notation:
    ``"120/minute;2000/hour"`` (several separated by ``;``), counted per caller: per credential
    (the API key / Authorization header) and, separately, per client address."""

    model_config = SettingsConfigDict(env_prefix="FACEGATE_", extra="ignore")

    rate_limit_enabled: bool = Field(default=True, description="Turn every rate limit on or off.")
    rate_limit_storage_url: SecretStr | None = Field(
        default=None,
        description="Where counters live: default the database (shared by every worker and host); "
        "a redis:// URL uses Redis (needs the `redis` package); memory:// is per process (tests).",
    )
    rate_limit_recognition: str = Field(
        default="120/minute;2000/hour", description="/v1/compare, /v1/verify, /v1/identify, kiosk access."
    )
    rate_limit_enrol: str = Field(default="30/minute;300/hour", description="Enrolment requests.")
    rate_limit_liveness: str = Field(
        default="30/minute;300/hour", description="Liveness sessions and locker challenges created."
    )
    rate_limit_login: str = Field(default="30/minute", description="Login form posts.")
    rate_limit_locker_open: str = Field(
        default="20/minute", description="Locker open attempts (right or wrong key)."
    )
    rate_limit_locker_wrong_keys: str = Field(
        default="5/15 minutes", description="Wrong locker keys per caller before it is throttled."
    )
    rate_limit_locker_key_guesses: str = Field(
        default="5/minute",
        description="Wrong keys per locker from all callers together (temporary 429, never a burn).",
    )
    rate_limit_purge_every: int = Field(
        default=200, ge=1, description="Expired counters are deleted about once per this many writes."
    )
    # --- bounded requests ---
    max_images_per_request: int = Field(
        default=12, ge=1, le=1000, description="Images per enrolment request."
    )
    max_request_pixels: int = Field(
        default=200_000_000,
        ge=1,
        description="Total pixels of all images of one request (read from headers before decoding; "
        "images are then decoded one at a time).",
    )
    max_frame_batch_pixels: int = Field(
        default=40_000_000,
        ge=1,
        description="Total pixels of one batch of camera frames (liveness, locker kiosk), which "
        "are decoded together: 120 VGA frames are 37 megapixels.",
    )
    max_open_liveness_sessions: int = Field(
        default=20, ge=1,
        description="Liveness sessions / locker challenges a caller may have open: at most this "
        "many created within one session lifetime (liveness_session_ttl_s), in every worker.",
    )
    liveness_keep_expired_s: float = Field(
        default=3600.0, ge=0,
        description="Expired liveness sessions are deleted this long after expiry (on each new one).",
    )

    @field_validator(
        "rate_limit_recognition", "rate_limit_enrol", "rate_limit_liveness", "rate_limit_login",
        "rate_limit_locker_open", "rate_limit_locker_wrong_keys", "rate_limit_locker_key_guesses",
    )
    @classmethod
    def _valid_rate_limit(cls, v: str) -> str:
        from limits import parse_many

        try:
            ok = bool(parse_many(v))
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"not a rate limit like '30/minute;500/hour': {v!r}")
        return v


class Settings(LimitSettings, VisionSettings):
    """Settings of the whole server and CLI."""

    data_dir: Path = Field(
        default=Path("data"), description="Where the database, keys and caches live."
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL (a secret: shown masked); default: SQLite facegate.db under data_dir.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    api_docs: bool = Field(
        default=True,
        description="Serve the API docs (/docs, /redoc, /openapi.json) without a key; 0 closes them.",
    )
    preload: bool = Field(
        default=True,
        description="Load the face models and the in-memory gallery when the server starts, "
        "so the first request does not pay for it.",
    )

    def resolved_database_url(self) -> str:
        if self.database_url and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'facegate.db').resolve()}"

    def masked_database_url(self) -> str:
        """The database URL with its password replaced by ``***`` (for logs and banners)."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.resolved_database_url()).render_as_string(hide_password=True)
        except Exception:  # not parseable: show nothing of it
            return "<unparseable database URL>"

    # --- real-time stream / access control ---
    stream_required_frames: int = Field(
        default=3, ge=1, description="Consecutive processed frames a person must be recognised in."
    )
    stream_allowed_people: str | None = Field(
        default=None,
        description="Comma-separated external ids allowed in; default: every enrolled person.",
    )
    stream_log_interval_s: float = Field(
        default=10.0, ge=0.0, description="Log the same settled decision again after this long."
    )
    stream_access_log: bool = Field(
        default=True,
        description="Also write decisions to a rotated text file (timestamp,name,status).",
    )
    stream_access_log_file: Path | None = Field(
        default=None, description="The text access log (default: <data dir>/access_log.txt)."
    )
    stream_access_log_max_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Rotate the text access log at this size."
    )
    stream_access_log_backups: int = Field(
        default=5, ge=0, description="Rotated text access logs kept (access_log.txt.1, …)."
    )
    stream_max_frame_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    stream_max_frame_pixels: int = Field(default=1920 * 1080, ge=64 * 64)
    stream_workers: int = Field(
        default=2, ge=1, description="Frames processed at once over all stream connections."
    )
    stream_door_liveness: Literal["off", "passive", "strict"] = Field(
        default="passive",
        description="Door liveness at stream devices: off | passive (blink or 3-D head motion "
        "over the track) | strict (blink and 3-D motion, and the passive score when "
        "liveness_passive_required).",
    )
    stream_door_liveness_doors: str | None = Field(
        default=None, description="Per-door modes: 'front-door=strict,lab=off' (device names)."
    )
    stream_test_mode: bool = Field(default=False, description="Allow test hooks (never in prod).")
    stream_test_delay_ms: int = Field(
        default=0, ge=0, description="Testing hook: extra delay per frame; needs stream_test_mode."
    )

    @field_validator("stream_door_liveness_doors")
    @classmethod
    def _door_modes(cls, v: str | None) -> str | None:
        for part in (v or "").split(","):
            name, sep, mode = part.partition("=")
            if part.strip() and (not sep or not name.strip() or mode.strip() not in _DOOR_MODES):
                raise ValueError(f"door liveness {part.strip()!r}: use NAME=off|passive|strict")
        return v

    @field_validator("stream_test_delay_ms")
    @classmethod
    def _stream_delay_needs_test_mode(cls, v: int, info: ValidationInfo) -> int:
        if v and not info.data.get("stream_test_mode"):
            raise ValueError("stream_test_delay_ms is a test hook: set FACEGATE_STREAM_TEST_MODE=1")
        return v

    # --- store, enrolment, identification ---
    template_key: SecretStr | None = Field(
        default=None,
        description="Base64 AES-256 key for templates; default: key file under data_dir/keys.",
    )
    template_key_previous: SecretStr | None = Field(
        default=None, description="The key before FACEGATE_TEMPLATE_KEY (during a rotation)."
    )
    identify_top_k: int = Field(default=5, ge=1, le=100, description="Candidates per face.")
    identify_threshold: float | None = Field(
        default=None,
        description="Similarity for 'known' in 1:N identify; default: the model pack's measured 1:N "
        "threshold (SFace 0.48), stricter than 1:1 (see docs/benchmarks.md, Identification).",
    )
    search_backend: Literal["auto", "memory", "pgvector"] = Field(
        default="auto",
        description="1:N search: 'memory' = exact matrix product over an in-memory gallery (any "
        "database), 'pgvector' = HNSW index in PostgreSQL (approximate, no gallery in memory), "
        "'auto' = pgvector on PostgreSQL, memory on SQLite.",
    )
    pgvector_ef_search: int = Field(
        default=400, ge=1, le=1000, description="HNSW ef_search on PostgreSQL (recall vs speed)."
    )
    pgvector_group_exact_max: int = Field(
        default=20_000,
        ge=0,
        description="A pgvector search limited to groups holding at most this many people scans "
        "their rows exactly instead of walking the HNSW graph (see docs/benchmarks.md).",
    )
    store_face_images: bool = Field(
        default=False,
        description="Keep each accepted enrolment face as an encrypted aligned crop (the 112x112 "
        "crop the embedder saw, PNG-encoded, same key ring as templates), so `facegate people "
        "reembed` can rebuild templates for another model pack; off by default (data minimisation).",
    )

    # --- web accounts, login, voting ---
    web_cookie_secure: bool = Field(
        default=True, description="Mark cookies Secure (browsers treat http://localhost as secure)."
    )
    web_session_ttl_s: int = Field(default=8 * 3600, ge=60, description="Absolute session lifetime.")
    web_session_idle_s: int = Field(default=1800, ge=60, description="Session ends after this idle time.")
    web_face_step_s: int = Field(
        default=300, ge=30, description="Time to finish the live-face step after the password step."
    )
    web_register_max_photos: int = Field(default=12, ge=1, le=50)
    web_login_groups: str = Field(
        default="web",
        description="Comma-separated groups whose people may log in on the web site (sign-ups "
        "land in 'web').",
    )
    login_max_failures: int = Field(
        default=5, ge=1,
        description="Failed logins per (account, client address) before that pair is locked.",
    )
    login_window_s: int = Field(
        default=60, ge=1,
        description="First lock of a pair; it doubles with each further failure (growing back-off).",
    )
    login_backoff_max_s: int = Field(
        default=3600, ge=1,
        description="Longest lock of a pair (its failures count for a day or until a full login).",
    )
    login_account_max_failures: int = Field(
        default=100, ge=1, description="Failures per account from all addresses per account window."
    )
    login_client_max_failures: int = Field(
        default=30, ge=1, description="Failures per client address over all accounts per window."
    )
    login_account_window_s: int = Field(
        default=3600, ge=1, description="Window of the slower per-account and per-address limits."
    )
    voting_min_age: int = Field(default=18, ge=0, le=120)
    # --- evaluation / benchmarks ---
    test_data: Path | None = Field(
        default=None,
        description="Shared face data for `facegate bench` (lfw/, faces/); default ../shared/data.",
    )
    embed_threads: int = Field(
        default=0, ge=0, le=64, description="Inference threads per embedding model; 0 = default (1)."
    )
    inference_runtime: Literal["auto", "onnxruntime", "openvino"] = Field(
        default="auto",
        description="Runs the SFace graphs: auto = OpenVINO when installed (faster), else onnxruntime.",
    )
    # --- bank lockers ---
    locker_secret: SecretStr | None = Field(
        default=None, description="HMAC secret of one-time locker keys (>= 32 characters)."
    )
    locker_secret_file: Path | None = Field(
        default=None, description="File with the locker secret; default data_dir/locker_secret.key."
    )
    locker_key_ttl_s: int = Field(default=180, ge=30, le=3600, description="Key validity.")
    locker_key_max_attempts: int = Field(
        default=20, ge=1, le=100,
        description="Wrong entries before a key is burnt (a backstop: the per-locker guess limit "
        "keeps strangers far below it within the key's lifetime).",
    )
    locker_key_digits: int = Field(default=6, ge=6, le=12)
    locker_actuator: str = Field(default="log", description="log | http-relay")
    locker_relay_url: str | None = Field(default=None, description="Base URL of the HTTP relay.")
    locker_relay_token: SecretStr | None = Field(default=None)
    locker_identify_frames: int = Field(
        default=5, ge=1, le=30, description="Frames identified per kiosk access (majority vote)."
    )
    locker_capture_seconds: float = Field(
        default=8.0, gt=0, le=60, description="How long the CLI records from a camera index."
    )
    # --- liveness ---
    testing: bool = Field(
        default=False, description="Test mode (FACEGATE_TESTING=1): allows test-only settings."
    )
    liveness_steps: int = Field(default=3, ge=1, le=6, description="Steps per challenge.")
    liveness_step_choices: str = Field(
        default="blink,turn_left,turn_right", description="Steps the random order is drawn from."
    )
    liveness_fixed_steps: str | None = Field(
        default=None, description="TEST ONLY (needs testing=true): fixed step order, e.g. blink,left."
    )
    liveness_step_time_limit_s: float = Field(default=6.0, gt=0, le=60)
    liveness_total_time_limit_s: float = Field(default=20.0, gt=0, le=300)
    liveness_session_ttl_s: float = Field(
        default=120.0, gt=0, le=3600, description="A session must be decided this soon after creation."
    )
    liveness_pass_ttl_s: float = Field(
        default=120.0, gt=0, le=3600, description="A passed session must be consumed this soon."
    )
    liveness_turn_angle_deg: float = Field(default=25.0, gt=5, lt=80)
    liveness_turn_return_deg: float = Field(default=15.0, gt=0, lt=80)
    liveness_blink_closed_ratio: float = Field(
        default=0.7, gt=0, lt=1, description="Blink: EAR below this fraction of the open-eye baseline."
    )
    liveness_blink_open_ratio: float = Field(default=0.85, gt=0, le=1)
    liveness_blink_max_ms: int = Field(default=1000, ge=100, le=5000)
    liveness_max_fps: float = Field(default=60.0, gt=0, le=240)
    liveness_max_frame_gap_ms: int = Field(default=1000, ge=50, le=10000)
    liveness_max_frames: int = Field(default=900, ge=10, le=10000)
    liveness_max_batch_frames: int = Field(default=120, ge=1, le=1000)
    liveness_embed_interval_ms: int = Field(
        default=1000, ge=100, description="Sample one embedding of the face this often."
    )
    liveness_passive_required: bool = Field(
        default=True, description="Fail challenges whose passive anti-spoof score is below threshold."
    )
    liveness_paced_steps: int = Field(
        default=5, ge=1, le=10, description="Steps per server-paced challenge (actions may repeat)."
    )
    liveness_paced_choices: str = Field(
        default="blink,turn_left,turn_right,look_up,open_mouth",
        description="Actions a server-paced challenge is drawn from.",
    )
    liveness_reveal_delay_ms: tuple[int, int] = Field(
        default=(600, 2000), description="Random delay before each step is shown (min, max ms)."
    )
    liveness_reaction_ms: tuple[int, int] = Field(
        default=(150, 1500), description="A step must begin this soon after it is shown (min, max ms)."
    )
    liveness_action_max_ms: int = Field(
        default=3000, ge=300, le=20000, description="A step must be done this soon after it began."
    )
    liveness_clock_skew_ms: int = Field(
        default=400, ge=0, le=5000, description="Frames may claim capture this much after receipt."
    )
    liveness_max_lag_ms: int = Field(
        default=2500, ge=100, le=30000, description="A batch's newest frame may be at most this old."
    )
    liveness_antispoof_weights: Path | None = Field(
        default=None,
        description="Anti-spoof weights (.onnx CNN or .npz linear model); default: the shipped CNN.",
    )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]

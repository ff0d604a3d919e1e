"""The one place that turns settings into concrete objects (detector, embedder, services, …).

Entry points (``create_app``, the CLI) build one ``Container``; everything is built lazily on first
use and then shared, so importing FaceGate loads no model and opens no database.
"""

from __future__ import annotations

import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING

from facegate.core.settings import Settings
from facegate.core.vision.detector import DetectorOptions, YunetDetector
from facegate.core.vision.images import ImageLimits
from facegate.core.vision.packs import EmbedderOptions, get_pack
from facegate.core.vision.pipeline import FacePipeline
from facegate.core.vision.quality import QualityThresholds
from facegate.features.access.decisions import AccessOptions, AccessService  # stream (issue 7)
from facegate.features.access.devices import DeviceRegistry, StreamAuthenticator  # stream (issue 7)
from facegate.features.faces.compare import CompareService

if TYPE_CHECKING:  # store (issue 4): imported lazily so importing the container opens nothing
    from facegate.core.domain import Identification, ImageArray  # stream (issue 7)
    from facegate.core.people.enrollment import EnrollmentService
    from facegate.core.people.groups import GroupService
    from facegate.core.people.identification import IdentificationService, TemplateSearch
    from facegate.core.store.audit import AuditLog
    from facegate.core.store.crypto import KeyStore, TemplateCipher
    from facegate.core.store.db import Database

if TYPE_CHECKING:  # web accounts, login, voting (issue 6)
    from facegate.core.auth.sessions import WebAuth
    from facegate.features.accounts.service import AccountService, FaceLogin
    from facegate.features.voting.service import VotingService

if TYPE_CHECKING:  # bank lockers (issue 8)
    from facegate.core.domain import FloatArray
    from facegate.features.lockers.service import LivenessCheck, LockerService

if TYPE_CHECKING:  # liveness (issue 5)
    from facegate.core.liveness.antispoof import PassiveAntiSpoof
    from facegate.core.liveness.service import LivenessService


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()

    def startup(self) -> None:
        """Called once when the server starts: create the data dir, warm the models."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.prepare_store()  # store (issue 4): template key + migrations to head

    def preload(self) -> float:
        """Load the face models and the embedding model's in-memory gallery now; seconds taken.

        Without it the first request pays for both (a 1M-template gallery loads in ~5 s). With
        pgvector search there is no in-memory gallery (the database searches)."""
        from facegate.core.people.identification import MemorySearch

        started = time.perf_counter()
        model = self.pipeline.model_name
        search = self.template_search
        if isinstance(search, MemorySearch):
            search.gallery(model)
        return time.perf_counter() - started

    def shutdown(self) -> None:
        """Called once when the server stops."""
        if "database" in self.__dict__:  # store (issue 4)
            self.database.dispose()

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

    @property
    def embedder_options(self) -> EmbedderOptions:
        s = self.settings
        return EmbedderOptions(s.data_dir / "models", s.embed_threads, s.inference_runtime)

    @cached_property
    def pipeline(self) -> FacePipeline:
        pack = get_pack(self.settings.embedding_model)
        with self._lock:
            embedder = pack.build(self.embedder_options)
            return FacePipeline(self.detector, embedder, self.quality_thresholds)

    @property
    def match_threshold(self) -> float:
        if self.settings.match_threshold is not None:
            return self.settings.match_threshold
        return get_pack(self.settings.embedding_model).default_threshold

    @cached_property
    def compare(self) -> CompareService:
        return CompareService(self.pipeline, self.image_limits, self.match_threshold)

    # --- real-time stream / access control (issue 7) ---
    @cached_property
    def access(self) -> AccessService:
        s = self.settings
        allowed = None
        if s.stream_allowed_people:
            allowed = frozenset(x.strip() for x in s.stream_allowed_people.split(",") if x.strip())
        options = AccessOptions(
            required_frames=s.stream_required_frames,
            allowed=allowed,
            log_interval_s=s.stream_log_interval_s,
            access_log_file=s.stream_access_log_file,
            limits=ImageLimits(max_pixels=s.stream_max_frame_pixels, max_bytes=s.stream_max_frame_bytes),
            test_delay_s=s.stream_test_delay_ms / 1000.0 if s.stream_test_mode else 0.0,
        )
        identification = self.identification

        def identify(image: ImageArray, groups: frozenset[str] | None) -> list[Identification]:
            # the stream logs its own decisions (change-based), not one identify line per frame
            return identification.identify_image(image, audit=False, groups=groups)

        return AccessService(identify, self.audit, options)

    @cached_property
    def devices(self) -> DeviceRegistry:
        from facegate.features.access.models import SqlDeviceStore

        return DeviceRegistry(SqlDeviceStore(self.database))

    @cached_property
    def stream_auth(self) -> StreamAuthenticator:
        s = self.settings
        key = s.stream_api_key.get_secret_value() if s.stream_api_key else None
        if key is None and s.stream_api_key_file is not None:
            key = s.stream_api_key_file.read_text(encoding="utf-8").strip() or None
        return StreamAuthenticator(self.devices, key, self.audit)

    # --- store, enrolment, identification (issue 4) ---
    def prepare_store(self) -> None:
        """Create the data dir and template key (file, 0600) if needed; migrate to head."""
        with self._lock:
            if getattr(self, "_store_ready", False):
                return
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self.database.upgrade()
            _ = self.template_cipher
            self._store_ready = True

    @cached_property
    def database(self) -> Database:
        from facegate.core.store.db import Database

        with self._lock:
            return Database(self.settings.resolved_database_url())

    @cached_property
    def audit(self) -> AuditLog:
        from facegate.core.store.audit import AuditLog

        return AuditLog(self.database)

    @cached_property
    def keystore(self) -> KeyStore:
        from facegate.core.store.crypto import KeyStore

        s = self.settings
        return KeyStore(
            s.data_dir / "keys",
            s.template_key.get_secret_value() if s.template_key else None,
            s.template_key_previous.get_secret_value() if s.template_key_previous else None,
        )

    @cached_property
    def template_cipher(self) -> TemplateCipher:
        from facegate.core.store.crypto import TemplateCipher

        with self._lock:
            return TemplateCipher(self.keystore.load(create=True), self.keystore)

    @cached_property
    def template_search(self) -> TemplateSearch:
        from facegate.core.errors import ConfigError
        from facegate.core.people.identification import MemorySearch, PgVectorSearch

        backend = self.settings.search_backend
        if backend == "pgvector" and not self.database.is_postgres:
            raise ConfigError("FACEGATE_SEARCH_BACKEND=pgvector needs a PostgreSQL database")
        if backend == "pgvector" or (backend == "auto" and self.database.is_postgres):
            return PgVectorSearch(
                self.database, self.settings.pgvector_ef_search,
                self.settings.pgvector_group_exact_max,
            )
        return MemorySearch(self.database, self.template_cipher)

    @cached_property
    def enrollment(self) -> EnrollmentService:
        from facegate.core.people.enrollment import EnrollmentService

        return EnrollmentService(
            self.database, self.pipeline, self.template_cipher, self.template_search,
            self.audit, self.image_limits, store_face_images=self.settings.store_face_images,
            duplicate_threshold=self.identify_threshold,
        )

    @cached_property
    def groups(self) -> GroupService:
        from facegate.core.people.groups import GroupService

        return GroupService(self.database, lambda: self.template_search, self.audit)

    @cached_property
    def identification(self) -> IdentificationService:
        from facegate.core.people.identification import IdentificationService

        return IdentificationService(
            self.database, self.pipeline, self.template_cipher, self.template_search,
            self.audit, self.image_limits, self.identify_threshold, self.settings.identify_top_k,
        )

    @property
    def identify_threshold(self) -> float:
        """1:N threshold: ``FACEGATE_IDENTIFY_THRESHOLD``, else the pack's measured 1:N one."""
        s = self.settings.identify_threshold
        return get_pack(self.settings.embedding_model).default_identify_threshold if s is None else s

    # --- web accounts, login, voting (issue 6) ---
    @cached_property
    def auth(self) -> WebAuth:
        from facegate.core.auth.sessions import (
            AuthOptions,
            LoginThrottle,
            Passwords,
            SessionStore,
            WebAuth,
        )

        s = self.settings
        options = AuthOptions(
            session_ttl_s=s.web_session_ttl_s,
            session_idle_s=s.web_session_idle_s,
            face_step_s=s.web_face_step_s,
            max_failures=s.login_max_failures,
            window_s=s.login_window_s,
        )
        return WebAuth(
            Passwords(), SessionStore(self.database, options), LoginThrottle(self.database, options)
        )

    @cached_property
    def face_login(self) -> FaceLogin:
        from facegate.features.accounts.service import LivenessFaceLogin

        return LivenessFaceLogin(
            lambda: self.liveness,  # liveness (issue 5)
            self.database,
            lambda: self.template_cipher,
            lambda: self.pipeline.model_name,
            self.match_threshold,
            self.image_limits,
            login_groups=frozenset(
                g.strip() for g in self.settings.web_login_groups.split(",") if g.strip()
            ),
        )

    @cached_property
    def accounts(self) -> AccountService:
        from facegate.features.accounts.service import AccountService, StoreFaceEnroller

        a = self.auth
        return AccountService(
            self.database, a.passwords, a.sessions, a.throttle,
            StoreFaceEnroller(self.enrollment, self.image_limits), self.face_login, self.audit,
        )

    @cached_property
    def voting(self) -> VotingService:
        from facegate.features.voting.service import VotingService

        return VotingService(self.database, self.audit, self.settings.voting_min_age)

    # --- bank lockers (issue 8) ---
    @cached_property
    def locker_liveness(self) -> LivenessCheck:
        from facegate.features.lockers.liveness import build_locker_liveness

        return build_locker_liveness(self)

    @cached_property
    def lockers(self) -> LockerService:
        from datetime import timedelta

        from facegate.features.lockers.actuator import build_actuator
        from facegate.features.lockers.keys import (
            SECRET_FILE_NAME,
            KeyHasher,
            KeyPolicy,
            load_locker_secret,
        )
        from facegate.features.lockers.service import LockerOptions, LockerService

        s = self.settings
        self.prepare_store()
        secret = load_locker_secret(
            s.locker_secret.get_secret_value() if s.locker_secret else None,
            s.locker_secret_file or s.data_dir / SECRET_FILE_NAME,
        )

        from facegate.core.store.groups import CUSTOMERS_GROUP

        kiosk_groups = frozenset({CUSTOMERS_GROUP})  # the kiosk admits locker customers only

        def identify(image: ImageArray) -> list[Identification]:
            return self.identification.identify_image(
                image, actor="locker-kiosk", audit=False, groups=kiosk_groups
            )

        options = LockerOptions(
            policy=KeyPolicy(
                ttl=timedelta(seconds=s.locker_key_ttl_s),
                max_attempts=s.locker_key_max_attempts,
                digits=s.locker_key_digits,
            ),
            identify_frames=s.locker_identify_frames,
        )
        actuator = build_actuator(
            s.locker_actuator,
            lambda line: print(line, flush=True),
            s.locker_relay_url,
            s.locker_relay_token.get_secret_value() if s.locker_relay_token else None,
        )

        def live_face_similarity(vector: FloatArray, person_id: int) -> float | None:
            hits = self.identification.identify_vectors(vector.reshape(1, -1), groups=kiosk_groups)[0]
            return next((h.similarity for h in hits if h.person_id == person_id), None)

        return LockerService(
            self.database, self.audit, KeyHasher(secret), actuator, lambda: self.enrollment,
            identify, self.locker_liveness, options, live_face_similarity=live_face_similarity,
        )

    # --- liveness (issue 5) ---
    @cached_property
    def antispoof(self) -> PassiveAntiSpoof:
        from facegate.core.liveness.antispoof import DEFAULT_WEIGHTS, AntiSpoofModel, PassiveAntiSpoof

        path = self.settings.liveness_antispoof_weights or DEFAULT_WEIGHTS
        with self._lock:
            return PassiveAntiSpoof(self.detector, AntiSpoofModel.load(path))

    @cached_property
    def liveness(self) -> LivenessService:
        from facegate.core.liveness.landmarks import FrameMeasurer, MeshLandmarker
        from facegate.core.liveness.service import LivenessService, build_liveness_config
        from facegate.core.store.liveness_models import SqlLivenessStore

        config = build_liveness_config(self.settings, self.match_threshold)
        self.prepare_store()
        with self._lock:
            measurer = FrameMeasurer(self.detector, MeshLandmarker())
        return LivenessService(
            SqlLivenessStore(self.database), measurer, self.pipeline, config,
            antispoof=self.antispoof, audit=self.audit, cipher=lambda: self.template_cipher,
        )

"""The one place that turns settings into concrete objects (detector, embedder, services, …).

Entry points (``create_app``, the CLI) build one ``Container``; everything is built lazily on first
use and then shared, so importing FaceGate loads no model and opens no database.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from facegate.core.settings import Settings
from facegate.core.vision.detector import DetectorOptions, YunetDetector
from facegate.core.vision.images import ImageLimits
from facegate.core.vision.packs import EmbedderOptions, get_pack
from facegate.core.vision.pipeline import CoarseFirst, FacePipeline
from facegate.core.vision.quality import QualityThresholds
from facegate.features.access.decisions import AccessOptions, AccessService
from facegate.features.access.liveness import DoorLivenessOptions, DoorMode, parse_door_modes
from facegate.features.faces.compare import CompareService

if TYPE_CHECKING:  # imported lazily so importing the container opens nothing
    from facegate.core.auth.credentials import Credentials
    from facegate.core.domain import DetectedFace, Identification, ImageArray
    from facegate.core.people.enrollment import EnrollmentService
    from facegate.core.people.gallery import Gallery
    from facegate.core.people.groups import GroupService
    from facegate.core.people.identification import IdentificationService, TemplateSearch
    from facegate.core.store.audit import AuditLog
    from facegate.core.store.crypto import KeyStore, TemplateCipher
    from facegate.core.store.db import Database

if TYPE_CHECKING:  # web accounts, login, voting
    from facegate.core.auth.sessions import WebAuth
    from facegate.features.accounts.service import AccountService, FaceLogin
    from facegate.features.voting.service import VotingService

if TYPE_CHECKING:  # bank lockers
    from facegate.core.domain import FloatArray
    from facegate.features.lockers.service import LivenessCheck, LockerService

if TYPE_CHECKING:  # rate limits
    from facegate.core.ratelimit.service import RateLimits

if TYPE_CHECKING:  # liveness
    from facegate.core.liveness.antispoof import PassiveAntiSpoof
    from facegate.core.liveness.service import LivenessService


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()

    def startup(self) -> None:
        """Called once when the server starts: create the data dir (0700), warm the models."""
        from facegate.core.store.db import private_dir

        private_dir(self.settings.data_dir)
        self.prepare_store()  # store: template key + migrations to head

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
        if "access" in self.__dict__ and self.access.text_log is not None:
            self.access.text_log.close()
        if "database" in self.__dict__:
            self.database.dispose()

    @cached_property
    def image_limits(self) -> ImageLimits:
        s = self.settings
        return ImageLimits(
            max_pixels=s.max_image_pixels, max_bytes=s.max_upload_bytes,
            max_images=s.max_images_per_request, max_total_pixels=s.max_request_pixels,
        )

    @cached_property
    def frame_limits(self) -> ImageLimits:
        """Batches of camera frames (liveness, locker kiosk): small frames, a batch budget."""
        s = self.settings
        return ImageLimits(
            max_pixels=min(s.max_image_pixels, s.max_frame_batch_pixels),
            max_bytes=s.max_upload_bytes, max_images=s.liveness_max_batch_frames,
            max_total_pixels=s.max_frame_batch_pixels,
        )

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

    def _detector_at(self, max_side: int) -> YunetDetector:
        s = self.settings
        return YunetDetector(
            DetectorOptions(
                score_threshold=s.detect_score_threshold,
                nms_threshold=s.detect_nms_threshold,
                max_side=max_side,
                min_face_px=s.min_detect_face_px,
            )
        )

    @cached_property
    def detector(self) -> YunetDetector:
        with self._lock:
            return self._detector_at(self.settings.detect_max_side)

    @cached_property
    def coarse_first(self) -> CoarseFirst | None:
        """The smaller detection scale of largest-face requests (None: off, or not smaller)."""
        side = self.settings.detect_single_max_side
        if side <= 0 or side >= self.settings.detect_max_side:
            return None
        with self._lock:
            return CoarseFirst(self._detector_at(side), side)

    @property
    def embedder_options(self) -> EmbedderOptions:
        s = self.settings
        return EmbedderOptions(s.data_dir / "models", s.embed_threads, s.inference_runtime)

    @cached_property
    def pipeline(self) -> FacePipeline:
        pack = get_pack(self.settings.embedding_model)
        with self._lock:
            embedder = pack.build(self.embedder_options)
            return FacePipeline(
                self.detector, embedder, self.quality_thresholds, coarse=self.coarse_first
            )

    @property
    def match_threshold(self) -> float:
        if self.settings.match_threshold is not None:
            return self.settings.match_threshold
        return get_pack(self.settings.embedding_model).default_threshold

    @cached_property
    def compare(self) -> CompareService:
        return CompareService(self.pipeline, self.image_limits, self.match_threshold)

    # --- rate limits (shared by every worker: database by default, Redis when configured) ---
    @cached_property
    def rate_limits(self) -> RateLimits:
        from facegate.core.ratelimit.service import RateLimits, build_storage

        s = self.settings
        url = s.rate_limit_storage_url.get_secret_value() if s.rate_limit_storage_url else None
        if url is None:
            self.prepare_store()
        storage = build_storage(url, self.database, s.rate_limit_purge_every)
        rules = {
            "recognition": s.rate_limit_recognition,
            "enrol": s.rate_limit_enrol,
            # + the cap on open sessions: sessions created within one session lifetime
            "liveness": f"{s.rate_limit_liveness};{s.max_open_liveness_sessions}/"
            f"{math.ceil(s.liveness_session_ttl_s)} seconds",
            "login": s.rate_limit_login,
            "locker_open": s.rate_limit_locker_open,
            "locker_wrong_keys": s.rate_limit_locker_wrong_keys,
            "locker_key_guesses": s.rate_limit_locker_key_guesses,
        }
        with self._lock:
            return RateLimits(storage, rules, enabled=s.rate_limit_enabled)

    # --- real-time stream / access control ---
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
            access_log_file=(s.stream_access_log_file or s.data_dir / "access_log.txt")
            if s.stream_access_log else None,
            access_log_max_bytes=s.stream_access_log_max_bytes,
            access_log_backups=s.stream_access_log_backups,
            limits=ImageLimits(max_pixels=s.stream_max_frame_pixels, max_bytes=s.stream_max_frame_bytes),
            test_delay_s=s.stream_test_delay_ms / 1000.0 if s.stream_test_mode else 0.0,
            door=DoorLivenessOptions(mode=DoorMode(s.stream_door_liveness)),
            door_modes=parse_door_modes(s.stream_door_liveness_doors),
        )
        identification = self.identification

        def identify(image: ImageArray, groups: frozenset[str] | None) -> list[Identification]:
            # the stream logs its own decisions (change-based), not one identify line per frame
            return identification.identify_image(image, audit=False, groups=groups)

        modes = {options.door.mode, *options.door_modes.values()}
        if modes == {DoorMode.OFF}:
            return AccessService(identify, self.audit, options)
        measurer = self.liveness.measurer
        threshold = None
        if s.liveness_passive_required:
            threshold = self.antispoof.model.threshold
        options = replace(options, door=replace(options.door, passive_threshold=threshold))

        def passive(image: ImageArray, face: DetectedFace) -> float | None:
            return self.antispoof.score_face(image, face).score

        return AccessService(identify, self.audit, options, ear=measurer.ear_of,
                             passive=passive if threshold is not None else None)

    # --- credentials: API keys and stream devices ---
    @cached_property
    def credentials(self) -> Credentials:
        from facegate.core.auth.credentials import Credentials

        self.prepare_store()
        return Credentials(self.database, self.audit)

    # --- store, enrolment, identification ---
    def prepare_store(self) -> None:
        """Create the data dir and template key (file, 0600) if needed; migrate to head."""
        with self._lock:
            if getattr(self, "_store_ready", False):
                return
            from facegate.core.store.db import private_dir

            private_dir(self.settings.data_dir)
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
    def gallery(self) -> Gallery:
        """The enrolled people, shared by enrolment and identification."""
        from facegate.core.people.gallery import Gallery

        return Gallery(
            self.database, self.pipeline, self.template_cipher, self.template_search,
            self.audit, self.image_limits,
        )

    @cached_property
    def enrollment(self) -> EnrollmentService:
        from facegate.core.people.enrollment import EnrollmentService

        return EnrollmentService(
            self.gallery, store_face_images=self.settings.store_face_images,
            duplicate_threshold=self.identify_threshold,
        )

    @cached_property
    def groups(self) -> GroupService:
        from facegate.core.people.groups import GroupService

        return GroupService(self.database, lambda: self.template_search, self.audit)

    @cached_property
    def person_groups(self) -> GroupService:
        """The compatible APIs' view of the groups (``features.compat.auth.PersonGroups``)."""
        return self.groups

    @cached_property
    def identification(self) -> IdentificationService:
        from facegate.core.people.identification import IdentificationService

        return IdentificationService(
            self.gallery, self.identify_threshold, self.settings.identify_top_k,
            verify_threshold=self.match_threshold,
        )

    @property
    def identify_threshold(self) -> float:
        """1:N threshold: ``FACEGATE_IDENTIFY_THRESHOLD``, else the pack's measured 1:N one."""
        s = self.settings.identify_threshold
        return get_pack(self.settings.embedding_model).default_identify_threshold if s is None else s

    # --- web accounts, login, voting ---
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
            backoff_max_s=s.login_backoff_max_s,
            account_max_failures=s.login_account_max_failures,
            client_max_failures=s.login_client_max_failures,
            account_window_s=s.login_account_window_s,
        )
        return WebAuth(
            Passwords(), SessionStore(self.database, options), LoginThrottle(self.database, options)
        )

    @cached_property
    def face_login(self) -> FaceLogin:
        from facegate.features.accounts.face import LivenessFaceLogin

        return LivenessFaceLogin(
            lambda: self.liveness,  # liveness
            self.database,
            lambda: self.template_cipher,
            lambda: self.pipeline.model_name,
            self.match_threshold,
            self.frame_limits,  # camera frames: the batch budget
            login_groups=frozenset(
                g.strip() for g in self.settings.web_login_groups.split(",") if g.strip()
            ),
        )

    @cached_property
    def accounts(self) -> AccountService:
        from facegate.features.accounts.face import StoreFaceEnroller
        from facegate.features.accounts.service import AccountService

        a = self.auth
        return AccountService(
            self.database, a.passwords, a.sessions, a.throttle,
            StoreFaceEnroller(self.enrollment, self.image_limits), self.face_login, self.audit,
        )

    @cached_property
    def voting(self) -> VotingService:
        from facegate.features.voting.service import VotingService

        return VotingService(self.database, self.audit, self.settings.voting_min_age)

    # --- bank lockers ---
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

    # --- liveness ---
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
        store = SqlLivenessStore(self.database, self.settings.liveness_keep_expired_s)
        return LivenessService(
            store, measurer, self.pipeline, config,
            antispoof=self.antispoof, audit=self.audit, cipher=lambda: self.template_cipher,
        )

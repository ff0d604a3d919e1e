"""Model packs: the name → embedder registry, with each pack's licence and measured threshold.

Every default threshold is data produced by ``facegate bench lfw --model NAME`` (LFW 10-fold,
centre-most face): ``default_threshold`` is the mean of the ten per-fold thresholds that maximise
accuracy on the other nine folds; ``high_security_threshold`` is the similarity at which the false
accept rate over all 3,000 LFW impostor pairs is 1e-3. Runs and figures: docs/benchmarks.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from facegate.core.errors import FaceGateError
from facegate.core.vision.arcface_pack import ARCFACE_NOTICE
from facegate.core.vision.embedder import FaceEmbedder, SfaceOpenCVEmbedder


@dataclass(frozen=True)
class EmbedderOptions:
    """How to build an embedder: where derived model files are cached, how many threads to use."""

    cache_dir: Path | None = None
    """Cache for converted model files (``None``: packs that need one use a slower fallback)."""
    threads: int = 0
    """Inference threads; 0 = the measured default (1, see sface_onnx.default_threads)."""
    runtime: str = "auto"
    """What runs the SFace graphs: auto | onnxruntime | openvino (facegate.core.vision.runtime)."""


EmbedderFactory = Callable[[EmbedderOptions], FaceEmbedder]


@dataclass(frozen=True)
class PackInfo:
    name: str
    licence: str
    dim: int
    default_threshold: float
    threshold_source: str
    factory: EmbedderFactory
    opt_in_notice: str | None = None
    high_security_threshold: float | None = None
    identify_threshold: float | None = None
    """1:N threshold ("known" vs "unknown"); an impostor gets one chance per enrolled person, so it
    must be stricter than the 1:1 one. None: ``high_security_threshold`` (or the 1:1 default)."""
    members: tuple[str, ...] = ()
    """For fusion packs: the member packs, in the order of ``fusion_weights``."""
    fusion_weights: tuple[float, ...] = ()
    extra: str | None = None
    """The pip extra that installs the pack's optional dependencies."""

    @property
    def default_identify_threshold(self) -> float:
        if self.identify_threshold is not None:
            return self.identify_threshold
        return self.high_security_threshold or self.default_threshold

    def build(self, options: EmbedderOptions | None = None) -> FaceEmbedder:
        notice = pack_notice(self)
        if notice:
            logging.getLogger("facegate").warning("%s", notice)
        return self.factory(options or EmbedderOptions())


def _sface(options: EmbedderOptions) -> FaceEmbedder:
    if options.cache_dir is None:  # nowhere to keep the converted float32 graph: reference path
        return SfaceOpenCVEmbedder()
    from facegate.core.vision.sface_onnx import SfaceOnnxEmbedder

    return SfaceOnnxEmbedder(options.cache_dir, threads=options.threads or None, runtime=options.runtime)


def _sface_opencv(options: EmbedderOptions) -> FaceEmbedder:
    return SfaceOpenCVEmbedder()


def _sface_int8(options: EmbedderOptions) -> FaceEmbedder:
    from facegate.core.vision.sface_int8 import build_sface_int8

    return build_sface_int8(options)


def _dlib(options: EmbedderOptions) -> FaceEmbedder:
    from facegate.core.vision.dlib_pack import DlibEmbedder

    return DlibEmbedder()


def _arcface(options: EmbedderOptions) -> FaceEmbedder:
    from facegate.core.vision.arcface_pack import ArcfaceMbfEmbedder

    return ArcfaceMbfEmbedder(threads=options.threads or None)


def _fusion(name: str) -> EmbedderFactory:
    def build(options: EmbedderOptions) -> FaceEmbedder:
        from facegate.core.vision.fusion import FusionEmbedder

        pack = PACKS[name]
        members = [get_pack(m).build(options) for m in pack.members]
        return FusionEmbedder(name, members, pack.fusion_weights)

    return build


_BENCH = "facegate bench lfw --model {} (LFW 10-fold; docs/benchmarks.md)"

PACKS: dict[str, PackInfo] = {
    "sface": PackInfo(
        name="sface",
        licence="Apache-2.0 (OpenCV Zoo)",
        dim=128,
        # Measured with the onnxruntime embedder (FACEGATE_EMBED_THREADS=1 facegate bench lfw
        # --model sface): 10-fold mean accuracy 99.38 % ± 0.36 %, mean of the per-fold
        # best-accuracy thresholds 0.3252; at 0.325: fold 1 99.50 %, all 6000 pairs 99.42 %.
        # FAR 1e-3 over the 3000 impostor pairs at 0.3403 (TAR 98.93 %).
        default_threshold=0.325,
        high_security_threshold=0.340,
        # 1:N: `facegate bench identify` on full LFW (1,680 people enrolled, 4,069 never enrolled):
        # 0.98 % of strangers called "known" at 95.4 % correct identification (0.325: 94.5 %).
        identify_threshold=0.48,
        threshold_source=_BENCH.format("sface"),
        factory=_sface,
    ),
    "dlib": PackInfo(
        name="dlib",
        licence="dlib: Boost; model weights: CC0 (face_recognition_models)",
        dim=128,
        # FACEGATE_EMBED_THREADS=1 facegate bench lfw --model dlib: 98.95 % ± 0.28 %, mean
        # threshold 0.9066; FAR 1e-3 at 0.9193 (TAR 96.10 %).
        default_threshold=0.907,
        high_security_threshold=0.919,
        threshold_source=_BENCH.format("dlib"),
        factory=_dlib,
        extra="dlib",
    ),
    "arcface-mbf": PackInfo(
        name="arcface-mbf",
        licence="InsightFace model zoo: non-commercial research use only",
        dim=512,
        # FACEGATE_EMBED_THREADS=1 facegate bench lfw --model arcface-mbf: 99.55 % ± 0.28 %,
        # mean threshold 0.2128; FAR 1e-3 at 0.2472 (TAR 99.10 %).
        default_threshold=0.213,
        high_security_threshold=0.247,
        threshold_source=_BENCH.format("arcface-mbf"),
        factory=_arcface,
        opt_in_notice=ARCFACE_NOTICE,
        extra="arcface",
    ),
    "fusion": PackInfo(
        name="fusion",
        licence="as its members (sface: Apache-2.0, dlib: CC0 weights)",
        dim=256,
        # FACEGATE_EMBED_THREADS=1 facegate bench lfw --model fusion: 99.53 % ± 0.32 % (members:
        # sface 99.38 %, dlib 98.95 %), mean threshold 0.7684; FAR 1e-3 at 0.7798 (TAR 99.07 %).
        # Weights: mean of the ten per-fold weights (sface 0.21-0.25).
        default_threshold=0.768,
        high_security_threshold=0.780,
        threshold_source=_BENCH.format("fusion"),
        factory=_fusion("fusion"),
        members=("sface", "dlib"),
        fusion_weights=(0.226, 0.774),
        extra="dlib",
    ),
    "fusion-arcface": PackInfo(
        name="fusion-arcface",
        licence="as its members: arcface-mbf weights are NON-COMMERCIAL research use only",
        dim=640,
        # FACEGATE_EMBED_THREADS=1 facegate bench lfw --model fusion-arcface: 99.53 % ± 0.26 %
        # (members 99.38 % and 99.55 %: not better on accuracy), mean threshold 0.2539; FAR 1e-3
        # at 0.2608 (TAR 99.27 %). Weights: mean of the ten per-fold weights.
        default_threshold=0.254,
        high_security_threshold=0.261,
        threshold_source=_BENCH.format("fusion-arcface"),
        factory=_fusion("fusion-arcface"),
        opt_in_notice=ARCFACE_NOTICE,
        members=("sface", "arcface-mbf"),
        fusion_weights=(0.3177, 0.6823),
        extra="arcface",
    ),
}
# The same model and thresholds run by OpenCV's DNN module (the reference implementation):
# templates are interchangeable with "sface".
PACKS["sface-opencv"] = replace(PACKS["sface"], factory=_sface_opencv)
# SFace as a static int8 graph (facegate.core.vision.sface_int8): embeddings differ slightly from
# "sface" (cosine >= 0.98 to the float model on held-out LFW faces), so it has its own name.
PACKS["sface-int8"] = replace(
    PACKS["sface"],
    name="sface-int8",
    # Graph version 2 (int8 conv inputs, PRelu fused; run by OpenVINO): FACEGATE_DATA_DIR=<fresh>
    # FACEGATE_EMBED_THREADS=1 facegate bench lfw --model sface-int8: 99.37 % ± 0.38 %, mean
    # threshold 0.3345; FAR 1e-3 at 0.3363 (TAR 98.90 %). identify_threshold 0.48 (inherited)
    # measured with FACEGATE_EMBEDDING_MODEL=sface-int8 facegate bench identify: the lowest threshold
    # with a false "known" rate <= 1 % (0.84 %, DIR 95.15 %, 1,680 enrolled), SFace's rule.
    default_threshold=0.335,
    high_security_threshold=0.336,
    threshold_source=_BENCH.format("sface-int8"),
    factory=_sface_int8,
)


class UnknownModelError(FaceGateError):
    code = "unknown_model"


def get_pack(name: str) -> PackInfo:
    if name.startswith("siamese:"):  # a file trained by `facegate train siamese`
        from facegate.core.vision.siamese_pack import siamese_pack

        return siamese_pack(name)
    try:
        return PACKS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model pack '{name}'; available: {', '.join(sorted(PACKS))}"
        ) from None


def pack_notice(pack: PackInfo) -> str | None:
    """The licence notice to print when an opt-in pack is enabled (None for the others)."""
    return pack.opt_in_notice

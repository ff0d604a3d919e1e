"""Speed benchmark: FaceGate's pipeline stage by stage, side by side with ``face_recognition``.

What is measured, on the same decoded images, in one process, in the same run (decoding is
excluded for both):

* detection at 640×480 (each image scaled to fit 640×480 and padded) and at native size;
* alignment (FaceGate: five-point similarity warp; anchor: dlib's 5-point shape predictor, which
  is what ``face_recognition`` runs before its descriptor) per face;
* embedding per face (FaceGate: the pack's embedder on the aligned crop; anchor: dlib's ResNet
  ``compute_face_descriptor`` with ``num_jitters=1``, face_recognition's default);
* end to end, images per second: FaceGate ``FacePipeline.analyze`` (every face, with quality,
  shipped settings) vs ``face_recognition.face_encodings(image)`` (HOG detector with one
  upsampling, landmarks, descriptors: its documented one-call path).

Each stage is timed over every image ``repeats`` times; the fastest pass is reported (the other
processes on a shared machine only ever add time).
"""

from __future__ import annotations

import importlib.resources
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
from tqdm import tqdm

from facegate.core.domain import ImageArray
from facegate.core.errors import FaceGateError
from facegate.core.vision.align import align_face
from facegate.core.vision.detector import DetectorOptions, YunetDetector
from facegate.core.vision.embedder import FaceEmbedder
from facegate.core.vision.images import read_image_file
from facegate.core.vision.pipeline import FacePipeline

# The fixed image set: every full photo of faces/ (the 150×150 crops are left out: they are
# already face crops). Listed so that runs on any checkout use exactly these files.
SPEED_IMAGES = (
    "people/alex_lacamoire/img1.jpg",
    "people/biden/biden2.jpg",
    "people/kit_harington/john1.jpeg",
    "people/kit_harington/john2.jpeg",
    "people/obama/obama.jpg",
    "people/rose_leslie/img1.jpg",
    "people/rose_leslie/img2.jpg",
    "scenes/angry.jpg",
    "scenes/bbt1.jpg",
    "scenes/bbt2.jpg",
    "scenes/bbt3.jpg",
    "scenes/bbt4.jpg",
    "scenes/bbt5.jpg",
    "scenes/disgusted.jpg",
    "scenes/fearful.jpg",
    "scenes/happy.jpg",
    "scenes/johnsnow_test1.jpg",
    "scenes/kit_with_rose.jpg",
    "scenes/neutral.jpg",
    "scenes/obama1.jpg",
    "scenes/obama2.jpg",
    "scenes/sad.jpg",
    "scenes/surprised.jpg",
    "scenes/team_photo_16_faces.jpg",
)


class AnchorUnavailableError(FaceGateError):
    code = "anchor_unavailable"


class SpeedDataError(FaceGateError):
    code = "speed_data"


@dataclass(frozen=True)
class SpeedResult:
    """Best-pass timings of one implementation over the image set."""

    name: str
    detect_640_ms: float
    """ms per image."""
    detect_native_ms: float
    align_ms: float
    """ms per face."""
    embed_ms: float
    """ms per face."""
    end_to_end_images_per_s: float
    faces: int
    """faces found end to end over the image set (one pass)."""
    passes: dict[str, list[float]] = field(default_factory=dict)
    """every pass's total seconds per stage."""
    reference_embed_ms: float | None = None
    """ms per face of a reference embedder of the same model (OpenCV's int8 SFace), same crops."""
    cpu_ms: dict[str, float] = field(default_factory=dict)
    """least CPU ms of a pass per image (detection, end to end) or per face (align, embed)."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def speed_images(data_dir: Path) -> list[ImageArray]:
    """Decode the fixed image set from ``<data_dir>/faces``."""
    root = data_dir / "faces"
    missing = [p for p in SPEED_IMAGES if not (root / p).is_file()]
    if missing:
        raise SpeedDataError(
            f"speed images missing under {root}: {', '.join(missing[:3])} "
            "(set --data or FACEGATE_TEST_DATA)"
        )
    return [read_image_file(root / p) for p in SPEED_IMAGES]


def fit_640x480(image: ImageArray) -> ImageArray:
    """Scale to fit inside 640×480 (keeping the aspect ratio) and pad with black."""
    h, w = image.shape[:2]
    s = min(640 / w, 480 / h)
    resized = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                         interpolation=cv2.INTER_AREA)
    out = np.zeros((480, 640, 3), dtype=np.uint8)
    out[: resized.shape[0], : resized.shape[1]] = resized
    return out


def _best(fn: Callable[[], object], repeats: int) -> tuple[float, list[float], float]:
    """Fastest wall time of ``repeats`` passes, every pass's wall time, and the least CPU time
    (this process, all threads) of a pass: CPU time is what a busy shared host cannot inflate."""
    times, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(times), times, min(cpu)


def measure_facegate(pipeline: FacePipeline, images: Sequence[ImageArray], repeats: int = 3,
                     progress: bool = True, reference: FaceEmbedder | None = None) -> SpeedResult:
    small = [fit_640x480(i) for i in images]
    native = YunetDetector(DetectorOptions(max_side=1_000_000))
    det = pipeline.detector
    faces = [(img, f) for img in images for f in det.detect(img)]  # warm-up + the faces to time
    size = pipeline.embedder.input_size
    crops = [align_face(img, f.landmarks, size) for img, f in faces]
    pipeline.embedder.embed(crops[0])
    passes: dict[str, list[float]] = {}
    stages: list[tuple[str, Callable[[], object]]] = [
        ("detect_640", lambda: [det.detect(i) for i in small]),
        ("detect_native", lambda: [native.detect(i) for i in images]),
        ("align", lambda: [align_face(img, f.landmarks, size) for img, f in faces]),
        ("embed", lambda: [pipeline.embedder.embed(c) for c in crops]),
        ("end_to_end", lambda: [pipeline.analyze(i) for i in images]),
    ]
    if reference is not None:
        reference.embed(crops[0])
        stages.append(("reference_embed", lambda: [reference.embed(c) for c in crops]))
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, fn in tqdm(stages, desc="facegate", disable=not progress):
        best[name], passes[name], cpu[name] = _best(fn, repeats)
    found = sum(a.face_count for a in (pipeline.analyze(i) for i in images))
    how = ""
    runtime = getattr(pipeline.embedder, "runtime", None)
    if runtime:  # e.g. ", openvino, 2 threads"
        threads = getattr(pipeline.embedder, "threads", 0)
        how = f", {runtime}" + (f", {threads} thread{'s' if threads > 1 else ''}" if threads else "")
    return SpeedResult(
        name=f"FaceGate ({pipeline.detector.name} + {pipeline.model_name}{how})",
        detect_640_ms=best["detect_640"] / len(images) * 1e3,
        detect_native_ms=best["detect_native"] / len(images) * 1e3,
        align_ms=best["align"] / max(1, len(faces)) * 1e3,
        embed_ms=best["embed"] / max(1, len(crops)) * 1e3,
        end_to_end_images_per_s=len(images) / best["end_to_end"],
        faces=found,
        passes=passes,
        reference_embed_ms=(
            best["reference_embed"] / len(crops) * 1e3 if "reference_embed" in best else None
        ),
        cpu_ms=_per_item(cpu, len(images), len(faces)),
    )


def _per_item(cpu: dict[str, float], n_images: int, n_faces: int) -> dict[str, float]:
    per_face = {"align", "embed", "reference_embed"}
    return {k: v * 1e3 / max(1, n_faces if k in per_face else n_images) for k, v in cpu.items()}


def _import_face_recognition() -> ModuleType:
    """Import ``face_recognition``; its model package still imports ``pkg_resources`` (gone from
    setuptools ≥ 81), so a one-function stand-in is provided when that module is missing."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = ModuleType("pkg_resources")

        def resource_filename(package: str, resource: str) -> str:
            return str(importlib.resources.files(package).joinpath(resource))

        shim.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    try:
        import face_recognition
    except ImportError as exc:
        raise AnchorUnavailableError(
            f"face_recognition is not installed ({exc.name}); install the extra: "
            "pip install 'facegate[bench]' && pip install --no-deps face_recognition==1.3.0"
        ) from exc
    return face_recognition


def measure_anchor(images: Sequence[ImageArray], repeats: int = 3,
                   progress: bool = True) -> SpeedResult:
    """The same stages with ``face_recognition`` (dlib HOG + 5-point + ResNet)."""
    fr = _import_face_recognition()
    import dlib

    from facegate.core.vision.dlib_pack import dlib_model_dir

    models = dlib_model_dir()
    rgb = [np.ascontiguousarray(i[:, :, ::-1]) for i in images]
    small = [np.ascontiguousarray(fit_640x480(i)[:, :, ::-1]) for i in images]
    shape5 = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    net = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
    boxes = [(img, fr.face_locations(img)) for img in rgb]
    rects = [(img, dlib.rectangle(left, top, right, bottom))
             for img, locs in boxes for top, right, bottom, left in locs]
    shapes = [(img, shape5(img, r)) for img, r in rects]
    stages: list[tuple[str, Callable[[], object]]] = [
        ("detect_640", lambda: [fr.face_locations(i) for i in small]),
        ("detect_native", lambda: [fr.face_locations(i) for i in rgb]),
        ("align", lambda: [shape5(img, r) for img, r in rects]),
        ("embed", lambda: [net.compute_face_descriptor(img, s, 1) for img, s in shapes]),
        ("end_to_end", lambda: [fr.face_encodings(i) for i in rgb]),
    ]
    passes: dict[str, list[float]] = {}
    best: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for name, fn in tqdm(stages, desc="face_recognition", disable=not progress):
        best[name], passes[name], cpu[name] = _best(fn, repeats)
    return SpeedResult(
        name="face_recognition (dlib HOG + ResNet)",
        detect_640_ms=best["detect_640"] / len(images) * 1e3,
        detect_native_ms=best["detect_native"] / len(images) * 1e3,
        align_ms=best["align"] / max(1, len(rects)) * 1e3,
        embed_ms=best["embed"] / max(1, len(shapes)) * 1e3,
        end_to_end_images_per_s=len(images) / best["end_to_end"],
        faces=len(rects),
        passes=passes,
        cpu_ms=_per_item(cpu, len(images), len(rects)),
    )


def format_speed(ours: SpeedResult, anchor: SpeedResult | None, n_images: int) -> list[str]:
    """The table: one row per stage, FaceGate, anchor, and the ratio (how many times faster)."""
    rows = [
        ("detect 640x480 (ms/image)", ours.detect_640_ms, anchor.detect_640_ms if anchor else None),
        ("detect native (ms/image)", ours.detect_native_ms,
         anchor.detect_native_ms if anchor else None),
        ("align (ms/face)", ours.align_ms, anchor.align_ms if anchor else None),
        ("embed (ms/face)", ours.embed_ms, anchor.embed_ms if anchor else None),
    ]
    lines = [f"{n_images} images; fastest of the timed passes; single process",
             f"{'stage':28s} {'FaceGate':>10s} {'anchor':>10s} {'FaceGate speed-up':>18s}"]
    for label, a, b in rows:
        ratio = f"{b / a:17.1f}x" if b is not None and a > 0 else f"{'-':>18s}"
        other = f"{b:10.2f}" if b is not None else f"{'-':>10s}"
        lines.append(f"{label:28s} {a:10.2f} {other} {ratio}")
    e2e_b = anchor.end_to_end_images_per_s if anchor else None
    ratio = f"{ours.end_to_end_images_per_s / e2e_b:17.1f}x" if e2e_b else f"{'-':>18s}"
    other = f"{e2e_b:10.2f}" if e2e_b else f"{'-':>10s}"
    lines.append(f"{'end to end (images/s)':28s} {ours.end_to_end_images_per_s:10.2f} {other} {ratio}")
    lines.append(
        f"faces found end to end: FaceGate {ours.faces}"
        + (f", anchor {anchor.faces}" if anchor else "")
    )
    if ours.cpu_ms:
        lines.append("CPU ms (this process, all threads; least of the passes):")
        for key, label in (("detect_640", "detect 640x480 /image"), ("detect_native",
                           "detect native /image"), ("align", "align /face"),
                           ("embed", "embed /face"), ("end_to_end", "end to end /image")):
            a = ours.cpu_ms.get(key, 0.0)
            b = anchor.cpu_ms.get(key) if anchor and anchor.cpu_ms else None
            ratio = f"{b / a:17.1f}x" if b is not None and a > 0 else f"{'-':>18s}"
            other = f"{b:10.2f}" if b is not None else f"{'-':>10s}"
            lines.append(f"  {label:26s} {a:10.2f} {other} {ratio}")
    if ours.reference_embed_ms is not None:
        lines.append(
            f"embed with OpenCV's int8 SFace on the same crops: {ours.reference_embed_ms:.2f} ms/face "
            f"(FaceGate's embedder is {ours.reference_embed_ms / ours.embed_ms:.1f}x faster)"
        )
    lines.append(f"FaceGate = {ours.name}" + (f"; anchor = {anchor.name}" if anchor else ""))
    return lines


STAGES = (
    ("detect_640_ms", "detect 640x480\n(ms/image)"),
    ("detect_native_ms", "detect native\n(ms/image)"),
    ("align_ms", "align\n(ms/face)"),
    ("embed_ms", "embed\n(ms/face)"),
)


def write_speed_report(ours: SpeedResult, anchor: SpeedResult | None, out: Path) -> list[Path]:
    """``speed.json`` (every figure and pass) and ``speed.png`` (the table as bars) in ``out``."""
    import json

    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "speed.json"
    json_path.write_text(json.dumps(
        {"facegate": ours.to_json(), "anchor": anchor.to_json() if anchor else None}, indent=2
    ))
    png_path = out / "speed.png"
    plot_speed(ours, anchor, png_path)
    return [json_path, png_path]


def plot_speed(ours: SpeedResult, anchor: SpeedResult | None, path: Path) -> None:
    """Per-stage milliseconds (log scale) and end-to-end images/s, FaceGate beside the anchor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in (ours, anchor) if r is not None]
    names = [f"FaceGate ({ours.name})"] + ([f"anchor ({anchor.name})"] if anchor else [])
    colors = ["tab:blue", "tab:gray"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(runs)
    for i, (run, name) in enumerate(zip(runs, names, strict=True)):
        values = [float(getattr(run, key)) for key, _ in STAGES]
        xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(STAGES))]
        bars = ax1.bar(xs, values, width, label=name, color=colors[i])
        ax1.bar_label(bars, fmt="%.1f", fontsize=8)
        e2e = ax2.bar([i], [run.end_to_end_images_per_s], 0.6, color=colors[i])
        ax2.bar_label(e2e, fmt="%.1f", fontsize=8)
    ax1.set_yscale("log")
    ax1.set_ylim(top=ax1.get_ylim()[1] * 4)  # room for the legend above the bars
    ax1.set_xticks(range(len(STAGES)), [label for _, label in STAGES], fontsize=8)
    ax1.set_ylabel("ms (log scale; lower is faster)")
    ax1.legend(fontsize=8, loc="upper left")
    ax1.set_title("Stage cost, fastest pass")
    ax2.set_xticks(range(len(runs)), ["FaceGate", "anchor"][: len(runs)], fontsize=8)
    ax2.set_ylabel("images/s (higher is faster)")
    title = "End to end"
    if anchor is not None and anchor.end_to_end_images_per_s > 0:
        title += f": {ours.end_to_end_images_per_s / anchor.end_to_end_images_per_s:.1f}x"
    ax2.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

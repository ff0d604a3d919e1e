"""Face crops for passive anti-spoof training and evaluation, from the shared data, cached on disk.

Every crop is cut exactly as the product cuts it (``crop_face_for_spoof``: the face box grown by
``CROP_MARGIN`` on each side, square) and stored at ``STORE_SIZE`` pixels so that synthetic attacks
can be drawn at a finer scale than the model's input before being shrunk to it.

Sources (all read from the shared data folder, never copied into the project):

* ``nuaa-train-real`` / ``nuaa-train-spoof`` / ``nuaa-test-real`` / ``nuaa-test-spoof``: the
  official NUAA split lists; group = subject folder;
* ``lfw-train`` / ``lfw-test``: the first image of every second LFW identity (sorted names), the
  face nearest the centre; identities split 2:1 by their index (no identity in both); group = name;
* ``video``: every frame of every shared video (largest face); group = the video's file name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from facegate.core.domain import DetectedFace, ImageArray
from facegate.core.liveness.antispoof import SOURCE_CROP_SIZE, crop_face_for_spoof
from facegate.core.liveness.training import list_images
from facegate.core.vision.detector import FaceDetector, largest_face, most_central_face
from facegate.core.vision.images import ImageLimits, read_image_file
from facegate.core.vision.quality import estimate_yaw_pitch

STORE_SIZE = SOURCE_CROP_SIZE
VIDEO_SUFFIXES = {".mp4", ".webm", ".avi", ".mov", ".mkv"}
U8Array = npt.NDArray[np.uint8]


@dataclass
class CropSet:
    """Face crops (N × S × S × 3 BGR uint8) with their group (subject / video) and rough yaw."""

    name: str
    crops: U8Array
    groups: list[str]
    yaw: npt.NDArray[np.float64]
    skipped: int = 0
    items: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.groups)

    def take(self, mask: npt.NDArray[np.bool_], name: str | None = None) -> CropSet:
        idx = np.flatnonzero(mask)
        return CropSet(
            name or self.name,
            self.crops[idx],
            [self.groups[i] for i in idx],
            self.yaw[idx],
            0,
            [self.items[i] for i in idx] if self.items else [],
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            crops=self.crops,
            groups=np.array(self.groups),
            yaw=self.yaw,
            skipped=np.array([self.skipped]),
            items=np.array(self.items),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, name: str, path: Path) -> CropSet:
        with np.load(path, allow_pickle=False) as d:
            return cls(
                name,
                d["crops"],
                [str(g) for g in d["groups"]],
                d["yaw"].astype(np.float64),
                int(d["skipped"][0]),
                [str(i) for i in d["items"]],
            )


class _Collector:
    def __init__(self, name: str) -> None:
        self.name = name
        self.crops: list[U8Array] = []
        self.groups: list[str] = []
        self.yaw: list[float] = []
        self.items: list[str] = []
        self.skipped = 0

    def add(self, image: ImageArray, face: DetectedFace | None, group: str, item: str) -> None:
        if face is None:
            self.skipped += 1
            return
        self.crops.append(crop_face_for_spoof(image, face, STORE_SIZE))
        self.groups.append(group)
        self.yaw.append(estimate_yaw_pitch(face)[0])
        self.items.append(item)

    def done(self) -> CropSet:
        crops = np.stack(self.crops) if self.crops else np.zeros((0, STORE_SIZE, STORE_SIZE, 3), np.uint8)
        return CropSet(self.name, crops, self.groups, np.array(self.yaw), self.skipped, self.items)


def crops_from_images(
    name: str, paths: Sequence[Path], detector: FaceDetector, central: bool = False
) -> CropSet:
    """Largest (or most central) face of each image; group = the image's folder name."""
    out = _Collector(name)
    limits = ImageLimits()
    for path in tqdm(paths, desc=name, unit="img", leave=False):
        image = read_image_file(path, limits)
        faces = detector.detect(image)
        h, w = image.shape[:2]
        face = most_central_face(faces, w, h) if central else largest_face(faces)
        out.add(image, face, path.parent.name, path.name)
    return out.done()


def video_frames(path: Path) -> Iterator[ImageArray]:
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def crops_from_videos(name: str, videos: Sequence[Path], detector: FaceDetector) -> CropSet:
    """The largest face of every frame of every video; group = the video's file name."""
    out = _Collector(name)
    for video in videos:
        for i, frame in enumerate(tqdm(video_frames(video), desc=video.name, leave=False)):
            out.add(frame, largest_face(detector.detect(frame)), video.name, f"{video.name}#{i}")
    return out.done()


def lfw_split(lfw_root: Path) -> tuple[list[Path], list[Path]]:
    """First image of every second identity (sorted); identity index % 3 == 2 → test."""
    people = sorted(p for p in (lfw_root / "lfw-deepfunneled").iterdir() if p.is_dir())[::2]
    train: list[Path] = []
    test: list[Path] = []
    for i, person in enumerate(people):
        first = sorted(person.glob("*.jpg"))[:1]
        (test if i % 3 == 2 else train).extend(first)
    return train, test


def list_videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)


SOURCES = (
    "nuaa-train-real",
    "nuaa-train-spoof",
    "nuaa-test-real",
    "nuaa-test-spoof",
    "lfw-train",
    "lfw-test",
    "video",
)


def build_source(name: str, data_dir: Path, detector: FaceDetector) -> CropSet:
    nuaa = data_dir / "nuaa"
    if name.startswith("nuaa-"):
        split, label = name.split("-")[1:]
        return crops_from_images(name, list_images(nuaa / f"{split}_{label}.txt"), detector)
    if name.startswith("lfw-"):
        train, test = lfw_split(data_dir / "lfw")
        return crops_from_images(name, train if name == "lfw-train" else test, detector, central=True)
    if name == "video":
        return crops_from_videos(name, list_videos(data_dir / "video"), detector)
    raise ValueError(f"unknown crop source {name!r}")


def load_sources(
    names: Sequence[str], data_dir: Path, cache_dir: Path, detector: FaceDetector
) -> dict[str, CropSet]:
    """Each named source from ``cache_dir/<name>.npz``, detected and cached on first use."""
    out: dict[str, CropSet] = {}
    for name in names:
        path = cache_dir / f"{name}.npz"
        if path.is_file():
            out[name] = CropSet.load(name, path)
        else:
            out[name] = build_source(name, data_dir, detector)
            out[name].save(path)
    return out

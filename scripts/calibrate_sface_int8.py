"""Maintainers' tool: measure the calibration shipped with the ``sface-int8`` pack.

    python scripts/calibrate_sface_int8.py [--data ../shared/data] [--out FILE]

(default ``--out``: src/facegate/vision/calibration/sface_int8_v2.b64, the file the pack reads).

Run once when the float32 SFace conversion or the int8 build changes (then bump
``facegate.core.vision.sface_int8._INT8_VERSION``). Calibration faces are NOT from LFW, so the LFW
accuracy of the pack (``facegate bench lfw --model sface-int8``) is not measured on its own
calibration data: every YuNet face of ``faces/people/*/*`` and ``faces/scenes/*`` and the first
face of every 6th frame of ``video/*``, aligned as the pipeline aligns them.

It measures (1) the per-channel maximum |output| of each convolution followed by a PRelu, used by
the cross-layer equalization, then (2) onnxruntime's MinMax activation ranges of the equalized
graph, and writes both as base64(zlib(npz)).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def calibration_faces(data: Path) -> np.ndarray:
    from facegate.core.vision.align import align_face
    from facegate.core.vision.detector import YunetDetector

    det = YunetDetector()
    crops = []
    photos = sorted((data / "faces" / "people").glob("*/*")) + sorted((data / "faces" / "scenes").glob("*"))
    for path in photos:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        crops += [align_face(image, f.landmarks) for f in det.detect(image)]
    for video in sorted((data / "video").glob("*")):
        cap = cv2.VideoCapture(str(video))
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % 6 == 0:
                crops += [align_face(frame, f.landmarks) for f in det.detect(frame)[:1]]
            i += 1
        cap.release()
    return np.stack(crops)


def _blob(crop: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crop[:, :, ::-1].astype(np.float32).transpose(2, 0, 1))[None]


def _f32(value: object) -> float:
    return float(np.asarray(value, dtype=np.float32).reshape(-1)[0])


def measure(float_path: Path, faces: np.ndarray) -> bytes:
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, quantize_static
    from onnxruntime.quantization.calibrate import load_tensors_data

    from facegate.core.vision import sface_int8 as si

    plain = si._prepared_float(float_path, None)
    outputs = [a.output[0] for a, _ in si._equalize_pairs(plain)]
    for name in outputs:
        plain.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(plain.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    feed = session.get_inputs()[0].name
    amax: dict[str, np.ndarray] = {}
    for crop in faces:
        result = dict(zip(names, session.run(None, {feed: _blob(crop)}), strict=True))
        for name in outputs:
            y = np.abs(result[name][0]).reshape(result[name].shape[1], -1).max(1)
            amax[name] = np.maximum(amax.get(name, y), y)
    amax = {k: v.astype(np.float16).astype(np.float32) for k, v in amax.items()}
    equalized = si._prepared_float(float_path, amax)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{feed: _blob(c)} for c in faces])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "ranges.json"
        quantize_static(equalized, Path(tmp) / "q.onnx", Reader(), calibration_cache_path=cache,
                        **si.quantizer_settings())
        tensors = load_tensors_data(cache)
        ranges = {
            k: [_f32(tensors[k].range_value[0]), _f32(tensors[k].range_value[1])]
            for k in tensors.keys()  # noqa: SIM118 (TensorsData is not a dict)
        }
    buf = io.BytesIO()
    np.savez(
        buf,
        ranges=np.frombuffer(json.dumps(ranges, sort_keys=True).encode(), np.uint8),
        **{"amax:" + k: v.astype(np.float16) for k, v in amax.items()},
    )
    return base64.b64encode(zlib.compress(buf.getvalue(), 9))


def main() -> int:
    from facegate.core.vision import sface_int8
    from facegate.core.vision.sface_onnx import float_sface_path

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument(
        "--out", type=Path, default=REPO / "src" / "facegate" / "vision" / sface_int8.CALIBRATION_FILE
    )
    args = ap.parse_args()
    faces = calibration_faces(args.data)
    print(f"{len(faces)} calibration faces", file=sys.stderr)
    with tempfile.TemporaryDirectory() as cache:
        text = measure(float_sface_path(Path(cache)), faces).decode()
    args.out.write_text("\n".join(text[i : i + 100] for i in range(0, len(text), 100)) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

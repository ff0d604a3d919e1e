"""``facegate liveness check | check-offline | train | collect`` and ``facegate bench spoof``."""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Annotated

import cv2
import typer
from tqdm import tqdm

from facegate.core.cli import container, fail, print_json
from facegate.core.domain import ImageArray
from facegate.core.errors import FaceGateError
from facegate.core.liveness.challenge import parse_steps
from facegate.core.liveness.service import PENDING, LivenessService, LivenessSession, TimedFrame
from facegate.core.vision.capture import CapturedFrame, capture_frames

liveness_app = typer.Typer(
    name="liveness",
    help="Liveness: challenge–response on a video or camera; train and collect anti-spoof data.",
    no_args_is_help=True,
    add_completion=False,
)

BATCH = 30


def read_frames(source: str, every: int, max_seconds: float) -> Iterator[TimedFrame]:
    """Frames of a video file (its own timestamps) or a camera (wall-clock), every ``every``-th.

    The source is opened now (an error exits before anything else happens); frames are read lazily.
    """
    try:
        frames = capture_frames(source, every=every, max_seconds=max_seconds)
    except FaceGateError as exc:
        raise fail(exc.message) from None
    return (TimedFrame(f.image, f.timestamp_ms) for f in frames)


def _print_session(s: LivenessSession) -> None:
    typer.echo(f"session {s.id} ({s.mode}): {s.status.upper()}" + (f" ({s.reason})" if s.reason else ""))
    typer.echo(f"  steps: {', '.join(x.value for x in s.steps)}; frames: {s.frame_count}")
    for k, e in enumerate(s.evidence, 1):
        if not e.done:
            typer.echo(f"  {k}. {e.step.value}: not done")
            continue
        if e.reaction_ms is not None:
            what = f"shown at {e.revealed_ms} ms, begun {e.reaction_ms} ms later, signal {e.value}"
        elif e.step.value == "blink":
            what = f"EAR {e.value:.3f} < {e.threshold:.3f} (open-eye baseline {e.reference:.3f})"
        elif e.threshold is not None:
            what = f"peak yaw {e.value:+.1f}° (needed {e.threshold:+.0f}°)"
        else:
            what = f"signal {e.value}"
        typer.echo(
            f"  {k}. {e.step.value}: frames {e.start_frame}-{e.end_frame} (peak {e.peak_frame}), "
            f"{what}, after {e.elapsed_ms} ms"
        )
    if s.min_similarity is not None:
        typer.echo(f"  same face: lowest similarity to the first sample {s.min_similarity:.3f}")
    if s.passive_score is not None:
        typer.echo(f"  passive anti-spoof score (mean): {s.passive_score:.3f}")


@liveness_app.command("check")
def check(
    source: Annotated[str, typer.Argument(help="Camera index (0, 1, …): a live person")],
    fps: Annotated[float, typer.Option("--fps", min=1, max=30, help="Frames per second sent")] = 15.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the session as JSON")] = False,
) -> None:
    """Server-paced challenge in front of a camera: steps appear one at a time, at random
    moments; do each as soon as it appears. Exit 0 passed, 1 failed, 2 error.

    A video file cannot react to steps it has not seen: check recordings with ``check-offline``.
    """
    if not source.isdigit():
        raise fail(
            f"{source} is not a camera index: a recording cannot react to a server-paced challenge; "
            "use 'facegate liveness check-offline VIDEO' (an offline check, never accepted for "
            "login or lockers)"
        )
    service = container().liveness
    try:
        frames = capture_frames(source)
    except FaceGateError as exc:
        raise fail(exc.message) from None
    try:
        session = run_paced(service, lambda: _grab(frames), fps, typer.echo if not as_json else None)
    finally:
        if isinstance(frames, Generator):
            frames.close()  # releases the camera
    if as_json:
        print_json(session.to_json())
    else:
        _print_session(session)
    raise typer.Exit(0 if session.passed else 1)


def _grab(frames: Iterator[CapturedFrame]) -> ImageArray | None:
    frame = next(frames, None)
    return None if frame is None else frame.image


def run_paced(
    service: LivenessService,
    grab: Callable[[], ImageArray | None],
    fps: float,
    echo: Callable[[str], None] | None,
    batch_ms: int = 300,
) -> LivenessSession:
    """Stream frames from ``grab`` into a new paced session, showing each step when revealed."""
    session = service.create_session(actor="cli")
    if echo:
        echo(f"look at the camera; {session.steps_total} steps will appear one at a time")
    start = time.monotonic()
    batch: list[TimedFrame] = []
    sent_at, shown = start, 0
    while session.status == PENDING:
        image = grab()
        if image is None:
            return service.add_frames(session.id, batch, final=True)
        now = time.monotonic()
        batch.append(TimedFrame(image, round((now - start) * 1000)))
        if (now - sent_at) * 1000 >= batch_ms:
            session, batch, sent_at = service.add_frames(session.id, batch), [], now
            if echo and session.current_step and len(session.steps) > shown:
                shown = len(session.steps)
                echo(f"  >>> {session.instruction} ({shown}/{session.steps_total})")
        time.sleep(max(0.0, 1.0 / fps - (time.monotonic() - now)))
    return session


@liveness_app.command("check-offline")
def check_offline(
    source: Annotated[str, typer.Argument(help="Video file (or camera index)")],
    steps: Annotated[
        str | None, typer.Option("--steps", help="Step order, e.g. blink,left,right (default: random)")
    ] = None,
    every: Annotated[int, typer.Option("--every", min=1, help="Use every N-th frame")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the session as JSON")] = False,
) -> None:
    """OFFLINE check of a recording against steps known up front (analysis only: an offline
    session is never accepted for login or lockers). Exit 0 passed, 1 failed, 2 error."""
    service = container().liveness
    chosen = parse_steps(steps) if steps else service.draw_steps()
    if not as_json:
        names = ", ".join(s.value for s in chosen)
        typer.echo(f"OFFLINE check (never accepted for login or lockers): {names}")
    max_s = service.config.challenge.total_time_limit_ms / 1000.0 + 1.0
    frames = read_frames(source, every, max_s)
    session = service.check_recording(frames, steps=chosen, actor="cli", batch_size=BATCH)
    if as_json:
        print_json(session.to_json())
    else:
        _print_session(session)
    raise typer.Exit(0 if session.passed else 1)


@liveness_app.command("train")
def train(
    real: Annotated[Path, typer.Option("--real", help="List file (paths relative to it) or folder")],
    spoof: Annotated[Path, typer.Option("--spoof", help="List file or folder of attacks")],
    out: Annotated[Path, typer.Option("--out", help="Weights file to write (.npz; a .json beside)")],
    folds: Annotated[int, typer.Option("--folds", min=2, help="Subject-grouped CV folds")] = 5,
) -> None:
    """Train the passive anti-spoof model (texture features + logistic regression)."""
    from facegate.core.liveness.antispoof import CROP_MARGIN, CROP_SIZE
    from facegate.core.liveness.training import extract_features, list_images, train_antispoof

    if out.suffix != ".npz":
        raise fail(f"--out must end in .npz, got {out}")
    detector = container().detector
    real_set = extract_features(list_images(real), detector, "real")
    spoof_set = extract_features(list_images(spoof), detector, "spoof")
    report = train_antispoof(real_set, spoof_set, folds=folds, on_progress=typer.echo)
    command = _command("facegate liveness train", "--real", real, "--spoof", spoof, "--out", out)
    if folds != 5:
        command += f" --folds {folds}"
    meta = {
        "model": report.model.name,
        "command": command,
        "data": {"real": str(real), "spoof": str(spoof)},
        "crop": {"size": CROP_SIZE, "margin": CROP_MARGIN, "detector": detector.name},
        "train_real": report.train_real,
        "train_spoof": report.train_spoof,
        "skipped_no_face": report.skipped,
        "l2": report.l2,
        "cv_folds": folds,
        "cv_acer_by_l2": report.cv_acer_by_l2,
        "threshold": round(report.cv_threshold, 6),
        "threshold_rule": "equal error point of subject-grouped out-of-fold training scores",
        "fit_seconds": round(report.seconds, 1),
    }
    report.model.save(out, meta)
    typer.echo(
        f"wrote {out} ({report.train_real} real, {report.train_spoof} spoof, l2={report.l2:g}, "
        f"threshold {report.cv_threshold:.3f}, CV ACER {report.cv_acer_by_l2[f'{report.l2:g}']:.2%})"
    )


@liveness_app.command("collect")
def collect(
    video: Annotated[Path, typer.Argument(help="Video file")],
    label: Annotated[str, typer.Option("--label", help="real or spoof")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the crops")],
    every: Annotated[int, typer.Option("--every", min=1, help="Use every N-th frame")] = 5,
) -> None:
    """Save face crops (box grown to twice its size, so ``train`` re-detects them) of a video."""
    from facegate.core.vision.detector import largest_face

    if label not in ("real", "spoof"):
        raise fail(f"--label must be real or spoof, got {label!r}")
    if not video.is_file():
        raise fail(f"no such video: {video}")
    detector = container().detector
    folder = out / label
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    frames = list(read_frames(str(video), every, float("inf")))
    for k, frame in enumerate(tqdm(frames, desc="collect", unit="frame")):
        face = largest_face(detector.detect(frame.image))
        if face is None:
            continue
        crop = _wide_crop(frame.image, face.box.center, max(face.box.width, face.box.height) * 2.0)
        name = f"{video.stem}_{k:05d}.png"
        if not cv2.imwrite(str(folder / name), crop):
            raise fail(f"cannot write {folder / name}")
        written.append(f"{label}/{name}")
    listing = out / f"{label}.txt"
    with listing.open("a") as fh:
        fh.writelines(line + "\n" for line in written)
    typer.echo(f"{len(written)} crops of {len(frames)} frames → {folder} (listed in {listing})")


def _wide_crop(image: ImageArray, center: tuple[float, float], side: float) -> ImageArray:
    cx, cy = center
    h, w = image.shape[:2]
    x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    x1, y1 = min(w, round(cx + side / 2)), min(h, round(cy + side / 2))
    return image[y0:y1, x0:x1]


def _command(prefix: str, *args: object) -> str:
    """The command line that reproduces a run (recorded in the JSON it writes)."""
    return " ".join([prefix, *(shlex.quote(str(a)) for a in args)])


def register(app: typer.Typer) -> None:
    app.add_typer(liveness_app, name="liveness")

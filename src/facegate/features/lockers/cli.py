"""``facegate locker …``: kiosk registration/access/open from a camera or video, and administration."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from tqdm import tqdm

from facegate.core.cli import container, fail, print_json, stderr_isatty
from facegate.features.lockers.capture import (
    DEFAULT_MAX_FRAMES,
    Recording,
    is_camera_index,
    read_frames,
)
from facegate.features.lockers.results import CustomerInfo, LockerEventInfo, LockerInfo
from facegate.features.lockers.service import LockerService

locker_app = typer.Typer(
    help="Bank lockers: kiosk registration and access, one-time keys, administration.",
    no_args_is_help=True,
)

ACTOR = "cli"
LockerOpt = Annotated[int, typer.Option("--locker", "-l", help="Locker number")]
CustomerOpt = Annotated[str, typer.Option("--customer", "-c", help="Customer id, e.g. C123")]
CameraOpt = Annotated[
    str, typer.Option("--camera", help="Camera index (0, 1, …) or a video file")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
LIVE_SECONDS = 60.0  # a live challenge at a camera gives up after this


def _svc() -> LockerService:
    return container().lockers


def _frames(source: str) -> Recording:
    c = container()
    what = f"camera {source}" if is_camera_index(source) else source
    with tqdm(desc=f"reading {what}", unit="frame", disable=not stderr_isatty()) as bar:
        return read_frames(
            source,
            max_frames=DEFAULT_MAX_FRAMES,
            camera_seconds=c.settings.locker_capture_seconds,
            on_frame=lambda _n: bar.update(1),
        )


def _locker_json(x: LockerInfo) -> dict[str, Any]:
    return {
        "number": x.number,
        "location": x.location,
        "size": x.size,
        "status": x.status,
        "holder": x.holder,
        "holder_name": x.holder_name,
        "assigned_since": x.assigned_since.isoformat() if x.assigned_since else None,
        "block_reason": x.block_reason,
    }


def _customer_json(x: CustomerInfo) -> dict[str, Any]:
    return {
        "customer_id": x.customer_id,
        "name": x.name,
        "contact": x.contact,
        "has_face": x.has_face,
        "lockers": list(x.lockers),
        "created_at": x.created_at.isoformat(),
    }


def _event_json(e: LockerEventInfo) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at.isoformat(),
        "kind": e.kind,
        "decision": e.decision,
        "locker": e.locker,
        "customer_id": e.customer_id,
        "actor": e.actor,
        "liveness_score": e.liveness_score,
        "match_score": e.match_score,
        "details": e.details,
    }


def _locker_line(x: LockerInfo) -> str:
    holder = f"{x.holder} ({x.holder_name})" if x.holder else "-"
    extra = f"  [{x.block_reason}]" if x.block_reason else ""
    return f"  {x.number}\t{x.location or '-'}\t{x.size}\t{x.status}\t{holder}{extra}"


def add(
    number: Annotated[int, typer.Argument(help="Locker number")],
    location: Annotated[str, typer.Option(help="Branch / room")] = "",
    size: Annotated[str, typer.Option(help="S, M, L or XL")] = "M",
) -> None:
    """Add a locker (free)."""
    x = _svc().add_locker(number, location, size, actor=ACTOR)
    typer.echo(f"added locker {x.number} ({x.location or 'no location'}, size {x.size})")


def list_lockers(as_json: JsonOpt = False) -> None:
    """List lockers with status and holder."""
    lockers = _svc().list_lockers()
    if as_json:
        print_json([_locker_json(x) for x in lockers])
        return
    typer.echo(f"{len(lockers)} lockers (number, location, size, status, holder)")
    for x in lockers:
        typer.echo(_locker_line(x))


def customers(as_json: JsonOpt = False) -> None:
    """List locker customers."""
    rows = _svc().list_customers()
    if as_json:
        print_json([_customer_json(x) for x in rows])
        return
    typer.echo(f"{len(rows)} customers")
    for x in rows:
        face = "face" if x.has_face else "no face data"
        held = ",".join(map(str, x.lockers)) or "-"
        typer.echo(f"  {x.customer_id}\t{x.name}\tlockers {held}\t{face}")


def register_customer(
    customer: CustomerOpt,
    name: Annotated[str, typer.Option("--name", help="Customer name")],
    locker: LockerOpt,
    camera: CameraOpt,
    contact: Annotated[str | None, typer.Option(help="Phone or e-mail")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a customer's face from camera frames and assign the locker (all or nothing)."""
    svc = _svc()
    frames = _frames(camera).frames
    with tqdm(desc="checking frames", unit="frame", disable=not stderr_isatty()) as bar:
        r = svc.register(customer, name, locker, frames, contact=contact, actor=ACTOR,
                         on_check=lambda _n: bar.update(1))
    if as_json:
        print_json({"customer": _customer_json(r.customer), "locker": r.locker,
                    "frames_read": r.frames_read, "frames_checked": r.frames_checked,
                    "samples_accepted": r.samples_accepted})
        return
    typer.echo(
        f"registered customer {r.customer.customer_id} ({r.customer.name}) on locker {r.locker}: "
        f"{r.samples_accepted} face samples from {r.frames_checked} checked of {r.frames_read} frames"
    )


def access(
    camera: CameraOpt,
    locker: Annotated[int | None, typer.Option("--locker", "-l", help="Locker (when several)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Liveness challenge → identify → one-time key for the customer's locker.

    A camera index runs the server-paced challenge live (steps are printed as they are revealed:
    do each at once). A video file is checked too, but a recording cannot follow steps revealed
    while it was filmed, so it is always denied.
    """
    svc = _svc()
    if is_camera_index(camera):
        frames, stamps, challenge = _live_challenge(svc, int(camera))
        r = svc.access(frames, locker=locker, actor=ACTOR, timestamps_ms=stamps, challenge_id=challenge)
    else:
        rec = _frames(camera)
        r = svc.access(rec.frames, locker=locker, actor=ACTOR, timestamps_ms=rec.timestamps_ms)
    if as_json:
        print_json({
            "granted": r.granted, "reason": r.reason, "customer_id": r.customer_id,
            "locker": r.locker, "liveness_score": r.liveness_score, "match_score": r.match_score,
            "key": r.key.key if r.key else None,
            "expires_at": r.key.expires_at.isoformat() if r.key else None,
        })
        if not r.granted:
            raise typer.Exit(2)
        return
    if not r.granted or r.key is None:
        raise fail(f"access denied: {r.reason}")
    typer.echo(
        f"GRANTED customer {r.customer_id}, locker {r.locker}: one-time key {r.key.key} "
        f"(valid until {r.key.expires_at:%H:%M:%S} UTC, single use)"
    )


def _live_challenge(svc: LockerService, index: int) -> tuple[list[Any], list[float], str]:
    """Stream a camera into a paced challenge until decided; a few frames for identification."""
    import time

    from facegate.core.errors import FaceGateError
    from facegate.core.vision.capture import capture_frames

    try:
        frames = capture_frames(str(index), max_seconds=LIVE_SECONDS)
    except FaceGateError as exc:
        raise fail(exc.message) from None
    ch = svc.start_challenge()
    typer.echo("look at the camera; steps will appear one at a time")
    sent, shown = time.monotonic(), 0
    batch: list[tuple[Any, float]] = []
    keep: list[tuple[Any, float]] = []
    for f in frames:  # camera times: monotonic ms from the first frame
        now = time.monotonic()
        batch.append((f.image, float(f.timestamp_ms)))
        if len(keep) < 15 and len(batch) % 3 == 0:
            keep.append(batch[-1])
        if now - sent >= 0.3:
            st = svc.add_challenge_frames(ch.id, [x for x, _ in batch], [t for _, t in batch])
            batch, sent = [], now
            if st.status != "pending":
                break
            if st.instruction and len(st.steps) > shown:
                shown = len(st.steps)
                typer.echo(f"  >>> {st.instruction} ({shown}/{st.steps_total})")
        time.sleep(max(0.0, 1 / 15 - (time.monotonic() - now)))
    close = getattr(frames, "close", None)
    if close is not None:
        close()  # releases the camera
    return [x for x, _ in keep], [t for _, t in keep], ch.id


def open_locker(
    locker: LockerOpt,
    key: Annotated[str, typer.Option("--key", "-k", help="The one-time key")],
) -> None:
    """Open a locker with its one-time key (the actuator prints OPEN)."""
    r = _svc().open(locker, key, actor=ACTOR)
    typer.echo(f"opened locker {r.locker} for customer {r.customer_id}")


def assign(locker: LockerOpt, customer: CustomerOpt) -> None:
    """Assign a free locker to an existing customer."""
    x = _svc().assign(locker, customer, actor=ACTOR)
    typer.echo(f"locker {x.number} assigned to {x.holder} ({x.holder_name})")


def release(locker: LockerOpt) -> None:
    """End the locker's assignment (its keys are revoked)."""
    x = _svc().release(locker, actor=ACTOR)
    typer.echo(f"locker {x.number} released: {x.status}")


def block(
    locker: LockerOpt,
    reason: Annotated[str, typer.Option(help="Why (kept with the locker)")] = "",
) -> None:
    """Block a locker: no key is issued and no key opens it until unblocked."""
    x = _svc().block(locker, reason, actor=ACTOR)
    typer.echo(f"locker {x.number} blocked")


def unblock(locker: LockerOpt) -> None:
    """Unblock a locker (back to assigned or free)."""
    x = _svc().unblock(locker, actor=ACTOR)
    typer.echo(f"locker {x.number} unblocked: {x.status}")


def history(
    locker: Annotated[int | None, typer.Option("--locker", "-l", help="One locker")] = None,
    customer: Annotated[str | None, typer.Option("--customer", "-c", help="One customer")] = None,
    limit: Annotated[int, typer.Option(help="At most this many events")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Access history (newest first) of a locker and/or a customer."""
    events = _svc().history(locker=locker, customer_id=customer, limit=limit)
    if as_json:
        print_json([_event_json(e) for e in events])
        return
    typer.echo(f"{len(events)} events")
    for e in events:
        scores = ""
        if e.liveness_score is not None or e.match_score is not None:
            scores = f"  liveness={e.liveness_score} match={e.match_score}"
        reason = e.details.get("reason") or e.details.get("message") or ""
        typer.echo(
            f"  {e.at:%Y-%m-%d %H:%M:%S}  {e.kind:<10} {e.decision:<8} locker={e.locker or '-'} "
            f"customer={e.customer_id or '-'}{scores}{'  ' + str(reason) if reason else ''}"
        )


def revoke(customer: CustomerOpt) -> None:
    """Erase a customer's face data (templates) and revoke their keys."""
    x = _svc().revoke_face(customer, actor=ACTOR)
    typer.echo(f"face data of customer {x.customer_id} erased; lockers kept: "
               f"{','.join(map(str, x.lockers)) or '-'}")


def register(app: typer.Typer) -> None:
    for name, fn in (
        ("add", add), ("list", list_lockers), ("customers", customers), ("register", register_customer),
        ("access", access), ("open", open_locker), ("assign", assign), ("release", release),
        ("block", block), ("unblock", unblock), ("history", history), ("revoke", revoke),
    ):
        locker_app.command(name)(fn)
    app.add_typer(locker_app, name="locker")

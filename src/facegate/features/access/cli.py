"""``facegate client`` (stream a camera/video to the server), ``facegate devices …`` and ``log tail``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from facegate.core.cli import container, fail, print_json
from facegate.core.domain import AuditEvent

devices_app = typer.Typer(
    help="Stream devices (cameras, door controllers) and their tokens.", no_args_is_help=True
)
log_app = typer.Typer(help="The access log (audit table).", no_args_is_help=True)


def _store() -> Any:
    c = container()
    c.prepare_store()
    return c


def client(
    server: Annotated[str, typer.Option(help="Server URL, e.g. http://127.0.0.1:8000")],
    source: Annotated[str, typer.Option(help="Camera index (0) or a video file")] = "0",
    token: Annotated[
        str | None,
        typer.Option(envvar="FACEGATE_DEVICE_TOKEN", help="Device token (or FACEGATE_DEVICE_TOKEN)"),
    ] = None,
    camera: Annotated[str | None, typer.Option(help="Camera id sent with each frame")] = None,
    headless: Annotated[bool, typer.Option(help="No window; write --out instead")] = False,
    out: Annotated[Path | None, typer.Option(help="Annotated output video (headless)")] = None,
    width: Annotated[int, typer.Option(min=64, max=3840, help="Frames are scaled to this width")] = 640,
    quality: Annotated[int, typer.Option(min=10, max=100, help="JPEG quality")] = 80,
    late_ms: Annotated[
        float, typer.Option(min=1, help="Draw local detector boxes when the answer is older")
    ] = 300.0,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Stop after this many frames")] = None,
) -> None:
    """Stream frames to WS /v1/stream; draw names and ACCESS GRANTED/DENIED. `q` or Ctrl-C quits."""
    from facegate.features.access.client import ClientOptions, run_client

    if out is not None and not headless:
        raise fail("--out is written in --headless mode only")
    options = ClientOptions(
        server=server, token=token, camera=camera, width=width, jpeg_quality=quality,
        late_ms=late_ms, headless=headless, out=out, max_frames=max_frames,
    )
    stats = run_client(options, source)
    typer.echo(("interrupted: " if stats.interrupted else "") + stats.summary())
    if stats.interrupted:
        raise typer.Exit(130)


def devices_add(name: Annotated[str, typer.Argument(help="Device name, e.g. front-door")]) -> None:
    """Register a device and print its token once (only its hash is stored).

    A new device admits no group: it denies everyone (reason no_groups) until
    `facegate devices groups NAME GROUP,...` names the groups of people it lets in."""
    c = _store()
    device, token = c.devices.create(name)
    c.audit.record(AuditEvent(action="device.add", decision="ok", actor="cli", subject=device.name))
    typer.echo(f"device {device.name} added; its token (shown only now): {token}")
    typer.echo(f"it admits nobody until you run: facegate devices groups {device.name} GROUP,...",
               err=True)


def devices_groups(
    name: Annotated[str, typer.Argument(help="Device name")],
    groups: Annotated[
        str | None, typer.Argument(help="Groups it admits, comma-separated (omit to show them)")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Admit no group (deny everyone)")] = False,
) -> None:
    """Show or set the groups of people a door/camera admits (replaces the previous list)."""
    from facegate.core.store.groups import parse_groups

    c = _store()
    if groups is None and not clear:
        current = sorted(c.devices.store.groups_of(name))
        typer.echo(f"{name} admits: {', '.join(current) or 'no group (denies everyone)'}")
        return
    if groups is not None and clear:
        raise fail("give groups or --clear, not both")
    wanted = frozenset() if clear else parse_groups(groups) or frozenset()
    device = c.devices.store.set_groups(name, wanted)
    c.audit.record(AuditEvent(action="device.groups", decision="ok", actor="cli", subject=name,
                              details={"groups": list(device.groups)}))
    typer.echo(f"{name} admits: {', '.join(device.groups) or 'no group (denies everyone)'}")


def devices_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """List registered devices."""
    rows = _store().devices.store.list_devices()
    if as_json:
        print_json(
            [
                {
                    "name": d.name,
                    "created_at": d.created_at.isoformat(),
                    "last_seen_at": d.last_seen_at.isoformat() if d.last_seen_at else None,
                    "groups": list(d.groups),
                }
                for d in rows
            ]
        )
        return
    for d in rows:
        seen = d.last_seen_at.strftime("%Y-%m-%d %H:%M:%S") if d.last_seen_at else "never"
        admits = ",".join(d.groups) or "nobody (no group)"
        typer.echo(f"{d.name}  created {d.created_at:%Y-%m-%d %H:%M:%S}  last seen {seen}  "
                   f"admits {admits}")
    if not rows:
        typer.echo("no devices")


def devices_remove(name: Annotated[str, typer.Argument(help="Device name")]) -> None:
    """Remove a device: its token stops working at once."""
    c = _store()
    c.devices.store.remove(name)
    c.audit.record(AuditEvent(action="device.remove", decision="ok", actor="cli", subject=name))
    typer.echo(f"device {name} removed")


def log_tail(
    n: Annotated[int, typer.Option("-n", min=1, max=10_000, help="How many decisions")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The latest access decisions (newest last), from the audit table."""
    from facegate.core.store.audit import AuditQuery, entries_as_dicts

    entries = list(reversed(_store().audit.query(AuditQuery(action="access", limit=n))))
    if as_json:
        print_json(entries_as_dicts(entries))
        return
    for e in entries:
        d = e.details
        who = d.get("name") or e.subject or "unknown"
        score = "" if e.score is None else f" {e.score:.3f}"
        cam = f" camera={d['camera']}" if d.get("camera") else ""
        typer.echo(
            f"{e.at:%Y-%m-%d %H:%M:%S}  {e.decision.upper():7}  {who}{score}  "
            f"({d.get('reason', '-')}) by {e.actor or '-'}{cam}"
        )
    if not entries:
        typer.echo("no access decisions yet")


def register(app: typer.Typer) -> None:
    app.command()(client)
    devices_app.command("add")(devices_add)
    devices_app.command("list")(devices_list)
    devices_app.command("remove")(devices_remove)
    devices_app.command("groups")(devices_groups)
    log_app.command("tail")(log_tail)
    app.add_typer(devices_app, name="devices")
    app.add_typer(log_app, name="log")

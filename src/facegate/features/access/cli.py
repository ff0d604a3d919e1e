"""``facegate client`` (stream a camera/video to the server), ``facegate devices …`` and ``log tail``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from facegate.core.cli import container, fail, print_json

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


def devices_add(
    name: Annotated[str, typer.Argument(help="Device name, e.g. front-door")],
    groups: Annotated[str | None, typer.Option(
        help="Comma-separated groups of people this door admits (default: none yet)")] = None,
) -> None:
    """Register a device (a credential with the ``stream`` scope) and print its token once.

    Without --groups a new device admits no group: it denies everyone (reason no_groups) until
    `facegate devices groups NAME GROUP,...` names the groups of people it lets in."""
    from facegate.core.auth.credentials import KIND_DEVICE
    from facegate.core.auth.principal import CLI_PRINCIPAL, SCOPE_STREAM

    c = _store()
    admitted = _existing_groups(c, groups) if groups is not None else frozenset()
    device, token = c.credentials.create(
        name, frozenset({SCOPE_STREAM}), CLI_PRINCIPAL, groups=admitted, kind=KIND_DEVICE
    )
    typer.echo(f"device {device.name} added; its token (shown only now): {token}")
    if not admitted:
        typer.echo(f"it admits nobody until you run: facegate devices groups {device.name} GROUP,...",
                   err=True)


def _existing_groups(c: Any, text: str) -> frozenset[str]:
    """The groups named (comma list), each of which must exist (``not_found`` otherwise)."""
    from facegate.core.store.groups import parse_groups, resolve_groups

    wanted = parse_groups(text) or frozenset()
    with c.database.session() as s:
        resolve_groups(s, wanted)
    return wanted


def devices_groups(
    name: Annotated[str, typer.Argument(help="Device name")],
    groups: Annotated[
        str | None, typer.Argument(help="Groups it admits, comma-separated (omit to show them)")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Admit no group (deny everyone)")] = False,
) -> None:
    """Show or set the groups of people a door/camera admits (replaces the previous list).

    One source of truth: the groups of the device's credential (what ``devices list`` shows)."""
    from facegate.core.auth.credentials import KIND_DEVICE
    from facegate.core.auth.principal import CLI_PRINCIPAL

    c = _store()
    if groups is None and not clear:
        current = c.credentials.get(name, KIND_DEVICE).groups
        typer.echo(f"{name} admits: {_admits(current)}")
        return
    if groups is not None and clear:
        raise fail("give groups or --clear, not both")
    wanted = frozenset() if clear or groups is None else _existing_groups(c, groups)
    device = c.credentials.set_groups(name, wanted, CLI_PRINCIPAL, KIND_DEVICE)
    typer.echo(f"{name} admits: {_admits(device.groups)}")


def _admits(groups: Any) -> str:
    if groups is None:
        return "every group"
    return ", ".join(sorted(groups)) or "nobody (no group: every frame is denied)"


def devices_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """List registered devices."""
    from facegate.core.auth.credentials import KIND_DEVICE

    rows = _store().credentials.list(KIND_DEVICE)
    if as_json:
        print_json(
            [
                {
                    "name": d.name,
                    "groups": None if d.groups is None else list(d.groups),
                    "created_at": d.created_at.isoformat(),
                    "last_seen_at": d.last_used_at.isoformat() if d.last_used_at else None,
                }
                for d in rows
            ]
        )
        return
    for d in rows:
        seen = d.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if d.last_used_at else "never"
        typer.echo(f"{d.name}  admits {_admits(d.groups)}  created {d.created_at:%Y-%m-%d %H:%M:%S}  "
                   f"last seen {seen}")
    if not rows:
        typer.echo("no devices")


def devices_remove(name: Annotated[str, typer.Argument(help="Device name")]) -> None:
    """Remove a device: its token stops working at once."""
    from facegate.core.auth.credentials import KIND_DEVICE
    from facegate.core.auth.principal import CLI_PRINCIPAL

    _store().credentials.remove(name, CLI_PRINCIPAL, KIND_DEVICE)
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

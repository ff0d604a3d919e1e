"""``facegate apikeys create|list|revoke|rotate`` and ``facegate audit verify`` (server host only).

The CLI acts as the operator on the server host (``CLI_PRINCIPAL``: every scope): this is how the
first admin key is made. A key's secret is printed once, at creation or rotation, and never again.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from facegate.core.auth.credentials import KIND_KEY, CredentialInfo, parse_expiry, parse_groups, parse_scopes
from facegate.core.auth.principal import CLI_PRINCIPAL
from facegate.core.cli import container, print_json
from facegate.core.store.db import utcnow

apikeys_app = typer.Typer(help="API keys: create (secret shown once), list, revoke, rotate.",
                          no_args_is_help=True)
audit_app = typer.Typer(help="The audit log's integrity.", no_args_is_help=True)


def _credentials() -> Any:
    c = container()
    c.prepare_store()
    return c.credentials


def describe(info: CredentialInfo) -> str:
    groups = "all" if info.groups is None else (",".join(info.groups) or "none")
    expires = info.expires_at.strftime("%Y-%m-%d %H:%M UTC") if info.expires_at else "never"
    used = info.last_used_at.strftime("%Y-%m-%d %H:%M") if info.last_used_at else "never"
    return (f"{info.name}  [{info.status(utcnow())}]  scopes {','.join(info.scopes)}  groups {groups}  "
            f"expires {expires}  last used {used}")


def _print_secret(verb: str, info: CredentialInfo, secret: str, quiet: bool, as_json: bool) -> None:
    if as_json:
        print_json({**info.to_json(utcnow()), "key": secret})
    elif quiet:
        typer.echo(secret)
    else:
        typer.echo(f"API key {verb}: {describe(info)}")
        typer.echo("Its secret (shown only now; send it as 'Authorization: Bearer <key>'):")
        typer.echo(secret)


@apikeys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Key name, e.g. ci-bot (recorded in the audit log)")],
    scopes: Annotated[str, typer.Option(
        help="Comma-separated: people:read, people:write, recognize, liveness, stream, kiosk, admin"
    )],
    groups: Annotated[str | None, typer.Option(
        help="Comma-separated groups of people the key may see (default: all groups)")] = None,
    expires: Annotated[str | None, typer.Option(
        help="30d, 12h, 90m, 2w or an ISO date/time (UTC); default: never")] = None,
    uuid: Annotated[bool, typer.Option("--uuid", help="A UUID-shaped key")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the key")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (with the key)")] = False,
) -> None:
    """Create an API key and print its secret once (only its hash is stored)."""
    info, secret = _credentials().create(
        name, parse_scopes(scopes), CLI_PRINCIPAL, groups=parse_groups(groups),
        expires_at=parse_expiry(expires), uuid_shaped=uuid,
    )
    _print_secret("created", info, secret, quiet, as_json)


@apikeys_app.command("list")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """API keys with their scopes, groups, expiry, last use and status (never their secrets)."""
    keys = _credentials().list(KIND_KEY)
    if as_json:
        print_json([k.to_json(utcnow()) for k in keys])
        return
    for k in keys:
        typer.echo(describe(k))
    if not keys:
        typer.echo("no API keys (create one: facegate apikeys create NAME --scopes ...)")


@apikeys_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="Key name")]) -> None:
    """Revoke a key: it stops working at once (the row stays, marked revoked)."""
    info = _credentials().revoke(name, CLI_PRINCIPAL)
    typer.echo(f"API key {info.name} revoked")


@apikeys_app.command("rotate")
def rotate(
    name: Annotated[str, typer.Argument(help="Key name")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the key")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (with the key)")] = False,
) -> None:
    """A new secret for the key (same name, scopes, groups, expiry); the old one stops working."""
    info, secret = _credentials().rotate(name, CLI_PRINCIPAL)
    _print_secret("rotated", info, secret, quiet, as_json)


@audit_app.command("verify")
def verify(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Check the audit log's hash chain; exit 1 and name the first broken row if it was altered."""
    from facegate.core.store.audit_chain import verify_chain

    c = container()
    c.prepare_store()
    report = verify_chain(c.database)
    if as_json:
        print_json(report.to_json())
    elif report.ok:
        typer.echo(f"audit log intact: {report.rows} rows, head hash {report.head_hash}")
    else:
        typer.echo(f"audit log BROKEN at row {report.broken_id}: {report.reason} "
                   f"({report.rows} rows verified before it)")
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(apikeys_app, name="apikeys")
    app.add_typer(audit_app, name="audit")

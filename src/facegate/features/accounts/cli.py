"""``facegate admin create`` (the only way to get an administrator) and ``admin elections``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from facegate.core.cli import container, fail

admin_app = typer.Typer(help="Administrator accounts and elections.", no_args_is_help=True)
ACTOR = "cli"


@admin_app.command("create")
def create_admin(
    username: Annotated[str, typer.Argument(help="Account to create or promote")],
    password_file: Annotated[
        Path | None, typer.Option(help="File holding the password (first line)")
    ] = None,
    face: Annotated[
        list[Path] | None, typer.Option(help="Photo of the admin's face (repeatable)")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
) -> None:
    """Promote an existing account to administrator, or create one.

    A new admin needs a password (FACEGATE_ADMIN_PASSWORD, --password-file, or typed at the
    prompt) and should get --face photos: logging in always needs the live face. There is no
    default password.
    """
    import os

    c = container()
    c.prepare_store()
    existing = c.accounts.find_account(username.strip().lower())
    password = os.environ.get("FACEGATE_ADMIN_PASSWORD")
    if password_file is not None:
        try:
            password = password_file.read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError):
            raise fail(f"cannot read a password from {password_file}") from None
    if password is None and existing is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if existing is None and face:
        files = []
        for path in face:
            try:
                files.append((path.name, path.read_bytes()))
            except OSError as exc:
                raise fail(f"cannot read {path}: {exc.strerror}") from None
        assert password is not None
        reg = c.accounts.register(username, password, name or "", files, "upload", ACTOR)
        typer.echo(f"account {reg.account.username}: {len(reg.enrollment.accepted)} face sample(s)"
                   f" enrolled, {len(reg.enrollment.rejected)} rejected")
        password = None
    info = c.accounts.create_admin(username, password, ACTOR)
    has_face = c.accounts.enroller.has_person(info.username)
    typer.echo(f"{info.username} is an administrator"
               + ("" if has_face else " (no face enrolled yet: it cannot log in until one is)"))


@admin_app.command("election")
def create_election(
    title: Annotated[str, typer.Argument(help="Election title")],
    party: Annotated[list[str], typer.Option(help="Party name (repeat, at least 2)")],
    opens: Annotated[
        str, typer.Option(help="Opening time: ISO 8601 (UTC if no zone), 'now', or +30m/+2h/+7d")
    ],
    closes: Annotated[
        str, typer.Option(help="Closing time: ISO 8601 (UTC if no zone), or +30m/+2h/+7d from now")
    ],
) -> None:
    """Create an election with its parties."""
    c = container()
    c.prepare_store()
    now = c.voting.clock()
    try:
        o, cl = _utc(opens, now), _utc(closes, now)
    except ValueError as exc:
        raise fail(str(exc)) from None
    e = c.voting.create_election(title, party, o, cl, ACTOR)
    typer.echo(f"election {e.id} '{e.title}' with {len(e.parties)} parties, "
               f"open {e.opens_at.isoformat()} – {e.closes_at.isoformat()}")
    if e.closes_at <= now:
        typer.echo(f"warning: this election closed at {e.closes_at:%Y-%m-%d %H:%M} UTC, before "
                   "it was created: it takes no votes (only its results page is useful)", err=True)


_RELATIVE = re.compile(r"^\+(\d{1,6})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _utc(value: str, now: datetime) -> datetime:
    """ISO 8601 (UTC if no zone), ``now``, or ``+N`` minutes/hours/days (``+30m``, ``+7d``)."""
    v = value.strip().lower()
    if v == "now":
        return now
    rel = _RELATIVE.match(v)
    if rel:
        return now + timedelta(**{_UNITS[rel.group(2)]: int(rel.group(1))})
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"not a date/time: {value!r} (ISO 8601 like 2030-05-01T08:00, 'now', or +2h / +7d)"
        ) from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def register(app: typer.Typer) -> None:
    app.add_typer(admin_app, name="admin")


"""``facegate groups list|create|delete`` and ``facegate people groups PERSON --add/--remove``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from facegate.core.cli import container, print_json

groups_app = typer.Typer(
    help="Groups (galleries) of people: doors, kiosks, the web login and API keys admit groups.",
    no_args_is_help=True,
)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
ACTOR = "cli"


def _store() -> Any:
    c = container()
    c.prepare_store()
    return c


def groups_list(as_json: JsonOpt = False) -> None:
    """List groups with their member counts."""
    rows = _store().groups.list_groups()
    if as_json:
        print_json([{"name": g.name, "description": g.description, "members": g.members,
                     "created_at": g.created_at.isoformat()} for g in rows])
        return
    for g in rows:
        typer.echo(f"{g.name}\t{g.members} member(s)\t{g.description or ''}".rstrip())
    if not rows:
        typer.echo("no groups")


def groups_create(
    name: Annotated[str, typer.Argument(help="Group name: lowercase letters, digits, _ - .")],
    description: Annotated[str | None, typer.Option(help="What the group is for")] = None,
) -> None:
    """Create a group."""
    g = _store().groups.create(name, description, actor=ACTOR)
    typer.echo(f"group {g.name} created")


def groups_delete(
    name: Annotated[str, typer.Argument(help="Group name")],
    force: Annotated[
        bool, typer.Option("--force", help="Delete even with members (they leave the group)")
    ] = False,
) -> None:
    """Delete a group; refused while it has members unless --force."""
    g = _store().groups.delete(name, force=force, actor=ACTOR)
    typer.echo(f"group {g.name} deleted ({g.members} membership(s) removed)")


def people_groups(
    person: Annotated[str, typer.Argument(help="External id of the person")],
    add: Annotated[
        list[str] | None, typer.Option("--add", help="Join these groups (repeat or comma list)")
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="Leave these groups (repeat or comma list)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a person's groups, or change them with --add/--remove."""
    c = _store()
    if add or remove:
        groups = c.groups.change_memberships(person, add or (), remove or (), actor=ACTOR)
    else:
        groups = c.groups.groups_of(person)
    if as_json:
        print_json({"person": person, "groups": sorted(groups)})
        return
    typer.echo(f"{person}: {', '.join(sorted(groups)) or 'no group (nothing admits them)'}")


def register(app: typer.Typer, people_app: typer.Typer) -> None:
    groups_app.command("list")(groups_list)
    groups_app.command("create")(groups_create)
    groups_app.command("delete")(groups_delete)
    people_app.command("groups")(people_groups)
    app.add_typer(groups_app, name="groups")

"""Groups (galleries) of people and memberships: the queries every service uses.

A person belongs to one or more groups; doors, kiosks, the web login and API keys name the groups
they admit, and identification searches only those. Functions take an open ``Session`` (the
caller decides the transaction). Membership changes bump the gallery revision of every model the
person has templates of, so in-memory galleries of other processes reload their group masks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facegate.core.errors import ConflictError, GroupNotEmptyError, InvalidGroupNameError, NotFoundError
from facegate.core.store.models import FaceTemplate, Group, PersonGroup
from facegate.core.store.people import bump_revision

DEFAULT_GROUP = "default"
STAFF_GROUP = "staff"
CUSTOMERS_GROUP = "customers"
WEB_GROUP = "web"
GROUP_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_GROUPS_PER_REQUEST = 32


@dataclass(frozen=True)
class GroupInfo:
    id: int
    name: str
    description: str | None
    created_at: datetime
    members: int


def check_group_name(name: str) -> str:
    """A valid group name (1-64 of lowercase letters, digits, '_', '-', '.'), else 422."""
    value = name.strip()
    if not GROUP_NAME_RE.match(value):
        raise InvalidGroupNameError(
            f"invalid group name {value[:70]!r}: use 1-64 lowercase letters, digits, '_', '-' "
            "or '.', starting with a letter or digit"
        )
    return value


def parse_groups(values: str | Iterable[str] | None) -> frozenset[str] | None:
    """Group names from repeatable and/or comma-separated values; None when none is given."""
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    names = [p.strip() for v in items for p in v.split(",") if p.strip()]
    if not names:
        return None
    if len(names) > MAX_GROUPS_PER_REQUEST:
        raise InvalidGroupNameError(f"at most {MAX_GROUPS_PER_REQUEST} groups per request")
    return frozenset(check_group_name(n) for n in names)


def find_group(s: Session, name: str) -> Group | None:
    return s.scalars(select(Group).where(Group.name == name)).first()


def get_group(s: Session, name: str) -> Group:
    group = find_group(s, name)
    if group is None:
        raise NotFoundError(f"no group '{name}' (create it with: facegate groups create {name})")
    return group


def resolve_groups(s: Session, names: Iterable[str], create: bool = False) -> list[Group]:
    """The groups named (``create``: make missing ones; otherwise ``NotFoundError``)."""
    out = []
    for name in sorted(set(names)):
        group = find_group(s, check_group_name(name))
        if group is None:
            if not create:
                get_group(s, name)
            group = create_group(s, name)
        out.append(group)
    return out


def create_group(s: Session, name: str, description: str | None = None) -> Group:
    name = check_group_name(name)
    if find_group(s, name) is not None:
        raise ConflictError(f"group '{name}' already exists")
    group = Group(name=name, description=(description or "").strip()[:200] or None)
    s.add(group)
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError:
        raise ConflictError(f"group '{name}' already exists") from None
    return group


def list_groups(s: Session) -> list[GroupInfo]:
    counts = (
        select(PersonGroup.group_id, func.count().label("n"))
        .group_by(PersonGroup.group_id)
        .subquery()
    )
    rows = s.execute(
        select(Group, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.group_id == Group.id)
        .order_by(Group.name)
    ).all()
    return [GroupInfo(g.id, g.name, g.description, g.created_at, int(n)) for g, n in rows]


def count_members(s: Session, group_id: int) -> int:
    stmt = select(func.count()).select_from(PersonGroup).where(PersonGroup.group_id == group_id)
    return int(s.scalar(stmt) or 0)


def delete_group(s: Session, name: str, force: bool = False) -> GroupInfo:
    """Delete a group; refused (409 ``group_not_empty``) while it has members unless ``force``.

    Forced: the memberships go (the people stay, possibly in no group: nothing admits them)."""
    group = get_group(s, check_group_name(name))
    members = count_members(s, group.id)
    if members and not force:
        raise GroupNotEmptyError(
            f"group '{group.name}' has {members} member(s): remove them first or force the deletion"
        )
    info = GroupInfo(group.id, group.name, group.description, group.created_at, members)
    affected = select(PersonGroup.person_id).where(PersonGroup.group_id == group.id)
    _bump_models_of(s, affected)
    s.execute(delete(PersonGroup).where(PersonGroup.group_id == group.id))
    s.delete(group)
    s.flush()
    return info


def groups_of_person(s: Session, person_id: int) -> frozenset[str]:
    rows = s.scalars(
        select(Group.name)
        .join(PersonGroup, PersonGroup.group_id == Group.id)
        .where(PersonGroup.person_id == person_id)
    ).all()
    return frozenset(rows)


def groups_of_people(s: Session, person_ids: Iterable[int] | None = None) -> dict[int, frozenset[str]]:
    """person id → group names (everyone when ``person_ids`` is None)."""
    stmt = select(PersonGroup.person_id, Group.name).join(Group, Group.id == PersonGroup.group_id)
    if person_ids is not None:
        ids = list(person_ids)
        if not ids:
            return {}
        stmt = stmt.where(PersonGroup.person_id.in_(ids))
    out: dict[int, set[str]] = {}
    for pid, name in s.execute(stmt):
        out.setdefault(int(pid), set()).add(str(name))
    return {k: frozenset(v) for k, v in out.items()}


def add_to_groups(
    s: Session, person_id: int, groups: Iterable[Group], bump: bool = True
) -> list[str]:
    """Add memberships (existing ones are kept); the names added. ``bump`` False: the caller
    bumps the gallery revision itself in this transaction (enrolment: ``add_samples``)."""
    have = groups_of_person(s, person_id)
    added = []
    for g in groups:
        if g.name not in have:
            s.add(PersonGroup(person_id=person_id, group_id=g.id))
            added.append(g.name)
    if added:
        s.flush()
        if bump:
            _bump_models_of(s, person_id)
    return added


def remove_from_groups(
    s: Session, person_id: int, groups: Iterable[Group], bump: bool = True
) -> list[str]:
    """Remove memberships; the names removed (``bump``: as in ``add_to_groups``)."""
    removed = []
    for g in groups:
        n = s.execute(
            delete(PersonGroup).where(PersonGroup.person_id == person_id, PersonGroup.group_id == g.id)
        ).rowcount  # type: ignore[attr-defined]
        if n:
            removed.append(g.name)
    if removed and bump:
        _bump_models_of(s, person_id)
    return removed


def member_ids(names: Iterable[str]) -> Select[Any]:
    """``SELECT person_id`` of the members of the named groups (for ``IN`` filters)."""
    return (
        select(PersonGroup.person_id)
        .join(Group, Group.id == PersonGroup.group_id)
        .where(Group.name.in_(sorted(set(names))))
    )


def models_of(s: Session, person_ids: Select[Any] | int) -> list[str]:
    """The models the person (or the people selected) have templates of."""
    where = (
        FaceTemplate.person_id == person_ids
        if isinstance(person_ids, int)
        else FaceTemplate.person_id.in_(person_ids)
    )
    return list(s.scalars(select(FaceTemplate.model).where(where).distinct()).all())


def bump_person_models(s: Session, person_id: int) -> None:
    """Bump the gallery revision of every model the person has templates of."""
    _bump_models_of(s, person_id)


def _bump_models_of(s: Session, person_ids: Select[Any] | int) -> None:
    for model in models_of(s, person_ids):
        bump_revision(s, model)

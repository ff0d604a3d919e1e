"""Managing groups (galleries) and memberships: create, list, delete, move people between groups.

Every change is audited and bumps the gallery revision of the models concerned (other processes'
in-memory galleries reload their group masks); this process's gallery is updated in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from facegate.core.auth.principal import Principal
from facegate.core.domain import AuditEvent
from facegate.core.errors import FaceGateError, NotFoundError
from facegate.core.people.gallery import TemplateSearch, allowed_groups
from facegate.core.store import groups as store
from facegate.core.store import people
from facegate.core.store.audit import AuditLog
from facegate.core.store.db import Database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class GroupService:
    def __init__(
        self, db: Database, search: Callable[[], TemplateSearch], audit: AuditLog
    ) -> None:
        self.db = db
        self._search = search  # built on first use: listing groups loads no model
        self.audit = audit

    def list_groups(self) -> list[store.GroupInfo]:
        with self.db.session() as s:
            return store.list_groups(s)

    def create(self, name: str, description: str | None = None, actor: str = "cli") -> store.GroupInfo:
        with self.db.session(write=True) as s:
            g = store.create_group(s, name, description)
            info = store.GroupInfo(g.id, g.name, g.description, g.created_at, 0)
        self.audit.record(AuditEvent("group.create", "ok", actor=actor, subject=info.name))
        return info

    def delete(self, name: str, force: bool = False, actor: str = "cli") -> store.GroupInfo:
        """Refused while the group has members unless ``force`` (the people stay)."""
        try:
            with self.db.session(write=True) as s:
                info = store.delete_group(s, name, force)
        except FaceGateError as exc:
            self.audit.record(AuditEvent("group.delete", "refused", actor=actor, subject=name,
                                         details={"code": exc.code, "message": exc.message}))
            raise
        self.audit.record(AuditEvent("group.delete", "ok", actor=actor, subject=info.name,
                                     details={"members": info.members, "forced": force}))
        return info

    def change_memberships(
        self,
        external_id: str,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        principal: Principal | None = None,
        actor: str = "cli",
    ) -> frozenset[str]:
        """Add the person to ``add`` and take them out of ``remove``; their groups afterwards.

        A credential limited to groups may only touch people and groups it can see."""
        add_names = store.parse_groups(list(add)) or frozenset()
        remove_names = store.parse_groups(list(remove)) or frozenset()
        if principal is not None:
            actor = principal.name
            allowed_groups(add_names | remove_names or None, principal)
        with self.db.session(write=True) as s:
            person = people.get_person(s, external_id)
            current = store.groups_of_person(s, person.id)
            if principal is not None and principal.groups is not None and not current & principal.groups:
                raise NotFoundError(f"no person with id '{external_id}'")
            added = store.add_to_groups(s, person.id, store.resolve_groups(s, add_names), False)
            removed = store.remove_from_groups(
                s, person.id, store.resolve_groups(s, remove_names), False
            )
            if added or removed:  # one revision step: this process updates its gallery in place
                store.bump_person_models(s, person.id)
            after = store.groups_of_person(s, person.id)
            revisions = {m: people.current_revision(s, m) for m in store.models_of(s, person.id)}
        if added or removed:
            search = self._search()
            for model, revision in revisions.items():
                search.note_groups(model, person.id, after, revision)
        self.audit.record(AuditEvent(
            "person.groups", "ok", actor=actor, subject=external_id,
            details={"added": added, "removed": removed, "groups": sorted(after)},
        ))
        return after

    def groups_of(self, external_id: str) -> frozenset[str]:
        with self.db.session() as s:
            return store.groups_of_person(s, people.get_person(s, external_id).id)

    # ---- the compatible APIs' view (``features.compat.auth.PersonGroups``) ------------------
    def visible_person_ids(self, groups: frozenset[str] | None) -> frozenset[int] | None:
        """The people of ``groups`` (a credential's groups); None: every person."""
        if groups is None:
            return None
        with self.db.session() as s:
            return frozenset(int(p) for p in s.scalars(store.member_ids(groups)))

    def assign(self, s: Session, person_id: int, groups: frozenset[str] | None) -> None:
        """Put a person just created by a caller limited to ``groups`` into them (same
        transaction; enrolment already put a new person into its groups, so usually a no-op)."""
        if groups:
            store.add_to_groups(s, person_id, store.resolve_groups(s, groups), bump=False)

    def threshold(self, groups: frozenset[str] | None) -> float | None:
        """Groups carry no threshold of their own: FaceGate's 1:N threshold applies."""
        return None

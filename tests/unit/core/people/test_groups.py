"""Groups (galleries) on both backends with a model-free pipeline: search limited to groups,
credentials' groups, one face one identity at enrolment, memberships, the 0009 migration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text

from facegate.core.auth.principal import ALL_SCOPES, CLI_PRINCIPAL, Principal
from facegate.core.errors import (
    ConflictError,
    DuplicateFaceError,
    FaceQualityError,
    GroupNotEmptyError,
    InvalidGroupNameError,
    NotFoundError,
    PermissionDeniedError,
)
from facegate.core.http import HTTP_STATUS
from facegate.core.matching.index import GalleryIndex
from facegate.core.people.enrollment import EnrollmentService, EnrollMode, EnrollOptions
from facegate.core.people.groups import GroupService
from facegate.core.people.identification import MemorySearch, PgVectorSearch, allowed_groups
from facegate.core.store import groups as gstore
from facegate.core.store.audit import AuditQuery
from facegate.core.store.db import Database
from tests.store_backends import backend_url, pg_url  # noqa: F401  (fixtures)
from tests.unit.core.people.test_store_enrollment import THRESHOLD, Stack
from tests.unit.fake_pipeline import fake_image, person_vector

WEB = EnrollOptions(frozenset({"web"}))
STAFF = EnrollOptions(frozenset({"staff"}))
KEY = Principal("key:ci", "api_key", frozenset({"people:write", "recognize"}))
WEB_KEY = Principal("key:site", "api_key", frozenset({"recognize"}), frozenset({"web"}))


class GroupStack(Stack):
    """The store stack with the one-face-one-identity check on and the group service."""

    def __init__(self, url: str, keys: Path, pg_search: bool | None = None) -> None:
        super().__init__(url, keys, pg_search)
        self.enroll = EnrollmentService(self.ident.gallery, duplicate_threshold=THRESHOLD)
        self.groups = GroupService(self.db, lambda: self.search, self.audit)


@pytest.fixture
def gs(backend_url: str, tmp_path: Path) -> GroupStack:  # noqa: F811
    s = GroupStack(backend_url, tmp_path / "keys")
    s.db.upgrade()
    return s


# ---- names -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["", "Staff", "-x", "a b", "x" * 65, "ü", "a,b;", "../x"])
def test_bad_group_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidGroupNameError):
        gstore.check_group_name(bad)
    assert HTTP_STATUS["invalid_group_name"] == 422


@given(st.lists(st.text(max_size=12), max_size=6))
def test_parse_groups_accepts_only_valid_names(values: list[str]) -> None:
    try:
        parsed = gstore.parse_groups(values)
    except InvalidGroupNameError:
        return
    if parsed is not None:
        assert all(gstore.GROUP_NAME_RE.match(g) for g in parsed)
        assert 0 < len(parsed) <= gstore.MAX_GROUPS_PER_REQUEST


def test_parse_groups_splits_commas_and_repeats() -> None:
    assert gstore.parse_groups(["staff, web", "customers"]) == {"staff", "web", "customers"}
    assert gstore.parse_groups("staff") == {"staff"}
    assert gstore.parse_groups([" , "]) is None and gstore.parse_groups(None) is None


# ---- group lifecycle ---------------------------------------------------------------------------
def test_seeded_groups_create_and_delete_rules(gs: GroupStack) -> None:
    names = [g.name for g in gs.groups.list_groups()]
    assert names == ["customers", "default", "staff", "web"]
    gs.groups.create("night-shift", "after 22:00")
    with pytest.raises(ConflictError):
        gs.groups.create("night-shift")
    gs.enroll.enroll("ann", [fake_image(1)], options=EnrollOptions(frozenset({"night-shift"})))
    with pytest.raises(GroupNotEmptyError, match="1 member"):
        gs.groups.delete("night-shift")
    assert HTTP_STATUS["group_not_empty"] == 409
    info = gs.groups.delete("night-shift", force=True)
    assert info.members == 1
    assert gs.groups.groups_of("ann") == frozenset()  # the person stays, in no group
    assert gs.ident.identify_image(fake_image(1), groups=frozenset({"default"}))[0].best is None
    with pytest.raises(NotFoundError):
        gs.groups.delete("night-shift")
    assert [e.decision for e in gs.audit.query(AuditQuery(action="group.delete"))] == [
        "refused", "ok", "refused"]


def test_enrolment_into_an_unknown_group_writes_nothing(gs: GroupStack) -> None:
    with pytest.raises(NotFoundError, match="no group 'nope'"):
        gs.enroll.enroll("ann", [fake_image(1)], options=EnrollOptions(frozenset({"nope"})))
    assert gs.enroll.list_people() == []


# ---- identification limited to groups -----------------------------------------------------------
def _staff_and_web(gs: GroupStack) -> None:
    gs.enroll.enroll("sam", [fake_image(1, variant=1)], options=STAFF)
    gs.enroll.enroll("wendy", [fake_image(2, variant=1)], options=WEB)
    gs.enroll.enroll("dora", [fake_image(3, variant=1)])  # no group named: 'default'


def test_identify_searches_only_the_requested_groups(gs: GroupStack) -> None:
    _staff_and_web(gs)
    assert gs.enroll.show_person("dora").groups == ("default",)
    probe = fake_image(1, variant=7)
    assert gs.ident.identify_image(probe)[0].label == "sam"
    assert gs.ident.identify_image(probe, groups=frozenset({"staff"}))[0].label == "sam"
    web_only = gs.ident.identify_image(probe, groups=frozenset({"web"}))[0]
    assert web_only.best is None and [c.external_id for c in web_only.candidates] == ["wendy"]
    assert gs.ident.identify_image(probe, groups=frozenset())[0].candidates == ()
    both = gs.ident.identify_image(probe, groups=frozenset({"web", "staff"}))[0]
    assert sorted(c.external_id for c in both.candidates) == ["sam", "wendy"]
    log = gs.audit.query(AuditQuery(action="identify", limit=1))[0]
    assert log.details["groups"] == ["staff", "web"]


def test_verify_outside_the_groups_is_not_found(gs: GroupStack) -> None:
    _staff_and_web(gs)
    probe = fake_image(1, variant=7)
    assert gs.ident.verify("sam", probe, groups=frozenset({"staff"})).verified
    with pytest.raises(NotFoundError, match=r"no person with id 'sam'$"):
        gs.ident.verify("sam", probe, groups=frozenset({"web"}))


def test_credentials_limit_the_groups(gs: GroupStack) -> None:
    _staff_and_web(gs)
    assert allowed_groups(None, None) is None
    assert allowed_groups(None, WEB_KEY) == {"web"}
    assert allowed_groups(frozenset({"web"}), WEB_KEY) == {"web"}
    with pytest.raises(PermissionDeniedError, match="staff"):
        allowed_groups(frozenset({"staff", "web"}), WEB_KEY)
    data = _png(fake_image(1, variant=7))
    hits = gs.ident.identify_bytes(data, principal=WEB_KEY)  # sam's face, a web-only key
    assert hits[0].best is None and {c.external_id for c in hits[0].candidates} == {"wendy"}
    with pytest.raises(PermissionDeniedError):
        gs.ident.identify_bytes(data, groups=frozenset({"staff"}), principal=WEB_KEY)
    with pytest.raises(NotFoundError, match=r"no person with id 'sam'$"):
        gs.ident.verify_bytes("sam", data, principal=WEB_KEY)
    with pytest.raises(NotFoundError, match="no group 'ghosts'"):
        gs.ident.identify_bytes(data, groups=frozenset({"ghosts"}))
    assert gs.audit.query(AuditQuery(action="identify", limit=1))[0].actor == "key:site"


def _png(image: np.ndarray) -> bytes:
    import cv2

    return bytes(cv2.imencode(".png", image)[1].tobytes())


# ---- memberships keep every search in step ---------------------------------------------------------
def test_membership_changes_reach_this_and_other_processes(
    backend_url: str, tmp_path: Path  # noqa: F811
) -> None:
    a = GroupStack(backend_url, tmp_path / "keys", pg_search=False)
    a.db.upgrade()
    b = GroupStack(backend_url, tmp_path / "keys", pg_search=False)
    a.enroll.enroll("sam", [fake_image(1)], options=STAFF)
    door = frozenset({"web"})
    assert a.ident.identify_image(fake_image(1), groups=door)[0].best is None
    assert b.ident.identify_image(fake_image(1), groups=door)[0].best is None
    reloads = a.search.reloads  # type: ignore[attr-defined]
    assert a.groups.change_memberships("sam", add=["web"], remove=["staff"]) == {"web"}
    assert a.ident.identify_image(fake_image(1), groups=door)[0].label == "sam"
    assert a.search.reloads == reloads  # type: ignore[attr-defined]  # updated in place
    assert b.ident.identify_image(fake_image(1), groups=door)[0].label == "sam"  # b reloads
    assert b.ident.identify_image(fake_image(1), groups=frozenset({"staff"}))[0].best is None
    with pytest.raises(NotFoundError):
        a.groups.change_memberships("sam", add=["nope"])
    with pytest.raises(PermissionDeniedError):
        a.groups.change_memberships("sam", add=["staff"], principal=WEB_KEY)


# ---- one face, one identity -----------------------------------------------------------------------
def test_the_same_face_cannot_be_a_second_person_of_the_group(gs: GroupStack) -> None:
    gs.enroll.enroll("alice", [fake_image(1, variant=1)], options=WEB)
    with pytest.raises(DuplicateFaceError) as refused:
        gs.enroll.enroll("alice2", [fake_image(1, variant=2)], mode=EnrollMode.CREATE, options=WEB)
    assert "alice" not in refused.value.message  # a non-admin caller learns no name
    assert HTTP_STATUS["duplicate_face"] == 409
    assert [p.external_id for p in gs.enroll.list_people()] == ["alice"]  # nothing written
    log = gs.audit.query(AuditQuery(action="enroll", limit=1))[0]
    assert log.decision == "refused" and log.details["duplicate_of"] == "alice"
    # adding the face to another person of the group is refused as well
    gs.enroll.enroll("bob", [fake_image(2, variant=1)], options=WEB)
    with pytest.raises(DuplicateFaceError):
        gs.enroll.enroll("bob", [fake_image(1, variant=3)], mode=EnrollMode.ADD)
    assert gs.enroll.show_person("bob").sample_count == 1
    # more samples of oneself are fine
    gs.enroll.enroll("alice", [fake_image(1, variant=4)], mode=EnrollMode.ADD)
    # another gallery is another identity space: staff may hold the same face
    gs.enroll.enroll("alice-staff", [fake_image(1, variant=5)], options=STAFF)


def test_only_an_administrator_overrides_and_it_is_audited(gs: GroupStack) -> None:
    gs.enroll.enroll("alice", [fake_image(1, variant=1)], options=WEB)
    with pytest.raises(DuplicateFaceError, match="matches person 'alice'"):  # admins see who
        gs.enroll.enroll("twin", [fake_image(1, variant=2)],
                         options=EnrollOptions(frozenset({"web"}), CLI_PRINCIPAL))
    for who in (None, KEY):
        with pytest.raises(PermissionDeniedError):
            gs.enroll.enroll("twin", [fake_image(1, variant=2)],
                             options=EnrollOptions(frozenset({"web"}), who, allow_duplicate=True))
    admin = Principal("key:root", "api_key", ALL_SCOPES)
    r = gs.enroll.enroll("twin", [fake_image(1, variant=2)],
                         options=EnrollOptions(frozenset({"web"}), admin, allow_duplicate=True))
    assert r.created and r.duplicate_of == "alice"
    log = gs.audit.query(AuditQuery(action="enroll", limit=1))[0]
    assert log.actor == "key:root" and log.details["duplicate_override"] == "alice"


def test_a_person_without_a_usable_face_is_never_created(gs: GroupStack) -> None:
    for images in ([], [fake_image(1, faces=0)], [fake_image(1, blurry=True)]):
        with pytest.raises(FaceQualityError):
            gs.enroll.enroll("ghost", images, mode=EnrollMode.CREATE, options=WEB)
    assert gs.enroll.list_people() == []
    assert HTTP_STATUS["face_quality"] == 422


def test_a_group_limited_key_enrols_only_into_its_groups(gs: GroupStack) -> None:
    writer = Principal("key:site", "api_key", frozenset({"people:write"}), frozenset({"web"}))
    gs.enroll.enroll("sam", [fake_image(1)], options=STAFF)
    with pytest.raises(PermissionDeniedError):  # no group named: 'default', outside the key
        gs.enroll.enroll("x", [fake_image(5)], options=EnrollOptions(None, writer))
    with pytest.raises(NotFoundError, match="no person with id 'sam'"):
        gs.enroll.enroll("sam", [fake_image(1, variant=2)], mode=EnrollMode.ADD,
                         options=EnrollOptions(None, writer))
    r = gs.enroll.enroll("wendy", [fake_image(2)], options=EnrollOptions(frozenset({"web"}), writer))
    assert r.groups == ("web",)


# ---- the in-memory index ------------------------------------------------------------------------
@given(st.integers(0, 2**31), st.integers(1, 60), st.integers(1, 6))
def test_group_search_equals_brute_force_over_the_members(seed: int, n: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((n, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    groups = [frozenset(g for g in ("a", "b") if rng.random() < 0.4) for _ in range(n)]
    index = GalleryIndex()
    ids = np.arange(1, n + 1)
    index.replace_all(ids, [f"p{i}" for i in ids], [""] * n, vecs, 1, groups)
    for i in rng.choice(n, size=n // 3, replace=False):  # in-place changes keep masks aligned
        index.remove(int(ids[i]))
        groups[i] = frozenset()
    extra = rng.standard_normal(8).astype(np.float32)
    index.upsert(999, "p999", "", extra, ["b"])
    probe = rng.standard_normal((1, 8)).astype(np.float32)
    alive = {int(ids[i]): (vecs[i], groups[i]) for i in range(n) if int(ids[i]) in index._row_of}
    alive[999] = (extra / np.linalg.norm(extra), frozenset({"b"}))
    for wanted in ({"a"}, {"b"}, {"a", "b"}, set()):
        members = {p: v for p, (v, g) in alive.items() if g & wanted}
        q = probe[0] / np.linalg.norm(probe[0])
        expect = sorted(members, key=lambda p: -float(members[p] @ q))[:k]
        got = [h.person_id for h in index.search(probe, k, wanted)[0]]
        assert sorted(got) == sorted(expect)


# ---- pgvector: exact scan for small groups, filtered HNSW for big ones ----------------------------
def test_pgvector_group_search_both_strategies_agree_with_exact(pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    stack = GroupStack(pg_url, tmp_path / "keys")
    stack.db.upgrade()
    assert isinstance(stack.search, PgVectorSearch)
    stack.enroll.duplicate_threshold = None  # 40 random people: speed, not the check
    for p in range(40):
        group = "staff" if p % 4 == 0 else "web"
        stack.enroll.enroll(f"p{p}", [fake_image(p, variant=1)],
                            options=EnrollOptions(frozenset({group})))
    exact = MemorySearch(stack.db, stack.cipher)
    probes = np.stack([person_vector(p) for p in range(0, 40, 3)])
    for exact_max in (0, 1000):  # 0: HNSW + membership filter; 1000: exact scan of the members
        stack.search.exact_max = exact_max
        for g in ({"staff"}, {"web"}, {"staff", "web"}):
            pg = stack.search.search(probes, "fake", 3, frozenset(g))
            ex = exact.search(probes, "fake", 3, frozenset(g))
            for a, b in zip(pg, ex, strict=True):
                assert [h.external_id for h in a] == [h.external_id for h in b]
    assert stack.search.search(probes, "fake", 3, frozenset({"customers"})) == [[]] * len(probes)


# ---- migration ------------------------------------------------------------------------------------
def test_upgrade_puts_existing_people_in_groups(backend_url: str) -> None:  # noqa: F811
    db = Database(backend_url)
    db.upgrade("0007_search_partitions")
    with db.session(write=True) as s:
        for ext in ("obama", "customer:C1", "alice"):
            s.execute(text("INSERT INTO people (external_id, display_name, created_at, updated_at) "
                           "VALUES (:e, :e, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"e": ext})
        s.execute(text("INSERT INTO web_accounts (username, display_name, password_hash, is_admin, "
                       "created_at) VALUES ('alice', 'Alice', 'x', false, CURRENT_TIMESTAMP)"))
        s.execute(text("INSERT INTO devices (name, token_hash, created_at) "
                       "VALUES ('front-door', 'h', CURRENT_TIMESTAMP)"))
    db.upgrade()
    with db.session() as s:
        ids = dict(s.execute(text("SELECT external_id, id FROM people")).all())
        member = gstore.groups_of_people(s)
        assert member[ids["obama"]] == {"default"}
        assert member[ids["customer:C1"]] == {"customers"}
        assert member[ids["alice"]] == {"web"}
        from facegate.core.auth.models import ApiKey

        door = s.execute(select(ApiKey.name, ApiKey.groups).where(ApiKey.kind == "device")).one()
        assert tuple(door) == ("front-door", [])  # moved by 0008, admits nobody after 0009
    from alembic import command

    with db.engine.connect() as conn:  # and back down
        command.downgrade(db.alembic_config(conn), "0007_search_partitions")
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM people")).scalar() == 3
    db.dispose()

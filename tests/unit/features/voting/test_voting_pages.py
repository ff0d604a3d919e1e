"""HTTP tests of voting and admin pages (TestClient + fakes for the face parts; see test_web_pages)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from facegate.core.errors import ConflictError, PermissionDeniedError
from facegate.core.store.audit import AuditQuery
from facegate.features.voting.models import Vote, Voter
from facegate.features.voting.service import VotingService, age_on
from tests.unit.features.accounts.test_web_pages import Web, build_web, csrf_of, login, register


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from build_web(tmp_path)


def open_election(web: Web, title: str = "Board 2026", opens_in_h: float = -1, hours: float = 2) -> int:
    voting: VotingService = web.container.voting
    now = datetime.now(UTC)
    e = voting.create_election(title, ["Red", "Green", "Blue"], now + timedelta(hours=opens_in_h),
                               now + timedelta(hours=opens_in_h + hours), "test")
    return e.id


def logged_in(web: Web, username: str = "alice") -> str:
    register(web, username=username)
    assert login(web, username=username).status_code == 200
    return csrf_of(web.client.get("/dashboard").text)


def voter_details(
    web: Web, eid: int, token: str, born: str = "1990-05-01", number: str = "NL-1234"
) -> httpx.Response:
    return web.client.post(f"/elections/{eid}/voter", data={
        "csrf_token": token, "full_name": "Alice Anders", "date_of_birth": born,
        "voter_number": number})


def party_id(web: Web, eid: int, name: str) -> int:
    e = web.container.voting.get_election(eid)
    return next(p.id for p in e.parties if p.name == name)


def test_age_on_counts_birthdays() -> None:
    assert age_on(date(2008, 6, 1), date(2026, 5, 31)) == 17
    assert age_on(date(2008, 6, 1), date(2026, 6, 1)) == 18
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17


def test_voting_pages_need_login(web: Web) -> None:
    eid = open_election(web)
    for path in (f"/elections/{eid}", f"/elections/{eid}/results"):
        r = web.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"


def test_vote_once_then_results(web: Web) -> None:
    eid = open_election(web)
    token = logged_in(web)
    page = web.client.get(f"/elections/{eid}")
    assert 'id="voter-form"' in page.text
    r = voter_details(web, eid, token)
    assert r.status_code == 200 and 'id="ballot-form"' in r.text
    r = web.client.post(f"/elections/{eid}/vote", data={"csrf_token": token,
                                                        "party_id": party_id(web, eid, "Green")})
    assert r.status_code == 200 and "Your vote was recorded" in r.text
    assert '<td class="votes">1</td>' in r.text and "<svg" in r.text
    # a second vote is refused (and the ballot page says so)
    r = web.client.post(f"/elections/{eid}/vote", data={"csrf_token": token,
                                                        "party_id": party_id(web, eid, "Red")})
    assert r.status_code == 409 and "already voted" in r.text
    res = web.container.voting.results(eid)
    assert {c.party.name: c.votes for c in res.counts} == {"Red": 0, "Green": 1, "Blue": 0}
    decisions = [e.decision for e in web.container.audit.query(AuditQuery(action="vote"))]
    assert decisions == ["refused", "ok"]


def test_vote_needs_csrf(web: Web) -> None:
    eid = open_election(web)
    token = logged_in(web)
    voter_details(web, eid, token)
    r = web.client.post(f"/elections/{eid}/vote", data={"party_id": party_id(web, eid, "Red")})
    assert r.status_code == 403
    assert web.container.voting.results(eid).total == 0


def test_under_18_is_refused_and_audited(web: Web) -> None:
    eid = open_election(web)
    token = logged_in(web)
    born = (datetime.now(UTC).date() - timedelta(days=17 * 365)).isoformat()
    r = voter_details(web, eid, token, born=born)
    assert r.status_code == 403 and "at least 18" in r.text
    refused = web.container.audit.query(AuditQuery(action="voter.register"))
    assert refused[0].decision == "refused"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("date_of_birth", "yesterday", "must be a date"),
    ("date_of_birth", "2999-01-01", "in the future"),
    ("full_name", "Al", "full name"),
    ("voter_number", "#!", "voter number"),
])
def test_voter_details_are_validated(web: Web, field: str, value: str, message: str) -> None:
    eid = open_election(web)
    token = logged_in(web)
    data = {"csrf_token": token, "full_name": "Alice Anders", "date_of_birth": "1990-01-01",
            "voter_number": "NL-1234", field: value}
    r = web.client.post(f"/elections/{eid}/voter", data=data)
    assert r.status_code in (400, 422) and message in r.text


def test_voter_number_is_unique_across_accounts(web: Web) -> None:
    eid = open_election(web)
    voter_details(web, eid, logged_in(web, "alice"))
    web.client.cookies.clear()
    r = voter_details(web, eid, logged_in(web, "bobby"))
    assert r.status_code == 409 and "already registered" in r.text


def test_closed_and_future_elections_refuse_votes(web: Web) -> None:
    past = open_election(web, "Past", opens_in_h=-5, hours=1)
    future = open_election(web, "Future", opens_in_h=5)
    token = logged_in(web)
    voter_details(web, past, token)
    for eid, word in ((past, "closed"), (future, "not open yet")):
        r = web.client.post(f"/elections/{eid}/vote", data={"csrf_token": token,
                                                            "party_id": party_id(web, eid, "Red")})
        assert r.status_code == 403 and word in r.text


def test_party_of_another_election_is_refused(web: Web) -> None:
    a, b = open_election(web, "A"), open_election(web, "B")
    token = logged_in(web)
    voter_details(web, a, token)
    r = web.client.post(f"/elections/{a}/vote", data={"csrf_token": token,
                                                      "party_id": party_id(web, b, "Red")})
    assert r.status_code == 400


def test_database_constraint_refuses_a_second_vote_row(web: Web) -> None:
    """Even bypassing the service, the table refuses two votes of one voter in one election."""
    eid = open_election(web)
    token = logged_in(web)
    voter_details(web, eid, token)
    db = web.container.database
    with db.session() as s:
        voter_id = s.scalar(select(Voter.id))
    pid = party_id(web, eid, "Red")
    with pytest.raises(IntegrityError), db.session(write=True) as s:
        s.add(Vote(election_id=eid, voter_id=voter_id, party_id=pid))
        s.add(Vote(election_id=eid, voter_id=voter_id, party_id=pid))


def test_racing_votes_count_once(web: Web) -> None:
    eid = open_election(web)
    token = logged_in(web)
    voter_details(web, eid, token)
    account = web.accounts.get_account("alice")
    voting: VotingService = web.container.voting
    outcomes: list[str] = []

    def vote() -> None:
        try:
            voting.cast_vote(eid, account.id, party_id(web, eid, "Blue"), "alice")
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=vote) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    with web.container.database.session() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == 1


def test_deleting_the_account_keeps_the_vote_counted(web: Web) -> None:
    eid = open_election(web)
    token = logged_in(web)
    voter_details(web, eid, token)
    web.client.post(f"/elections/{eid}/vote", data={"csrf_token": token,
                                                    "party_id": party_id(web, eid, "Red")})
    web.client.post("/account/delete", data={"csrf_token": token, "confirm_username": "alice"})
    assert web.container.voting.results(eid).total == 1


# ---- admin ---------------------------------------------------------------------------------
def test_admin_pages_are_for_admins_only(web: Web) -> None:
    logged_in(web)
    for path in ("/admin", "/admin/audit", "/admin/elections"):
        r = web.client.get(path)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def make_admin(web: Web) -> str:
    register(web, username="root1")
    web.accounts.create_admin("root1", None)
    assert login(web, username="root1").status_code == 200
    return csrf_of(web.client.get("/dashboard").text)


def test_admin_lists_accounts_and_filters_the_access_log(web: Web) -> None:
    register(web, username="carol")
    token = make_admin(web)
    page = web.client.get("/admin")
    assert page.status_code == 200 and "carol" in page.text and "root1" in page.text
    r = web.client.get("/admin/audit", params={"action": "register", "subject": "carol"})
    assert r.status_code == 200
    assert r.text.count("<td>register</td>") == 1
    r = web.client.get("/admin/audit", params={"action": "login", "decision": "granted"})
    assert "<td>granted</td>" in r.text and "<td>register</td>" not in r.text
    r = web.client.get("/admin/audit", params={"since": "not a date"})
    assert r.status_code == 400
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert "<td>login</td>" not in web.client.get("/admin/audit", params={"since": future}).text
    assert token


def test_admin_creates_an_election(web: Web) -> None:
    token = make_admin(web)
    r = web.client.post("/admin/elections", data={
        "csrf_token": token, "title": "City council", "parties": "Red\nGreen\n\nBlue",
        "opens_at": "2026-01-01T08:00", "closes_at": "2036-01-01T20:00"}, follow_redirects=False)
    assert r.status_code == 303
    e = web.container.voting.list_elections()[0]
    assert e.title == "City council" and [p.name for p in e.parties] == ["Red", "Green", "Blue"]
    assert e.opens_at == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    bad = web.client.post("/admin/elections", data={
        "csrf_token": token, "title": "X", "parties": "Only one",
        "opens_at": "2026-01-01T08:00", "closes_at": "2026-01-02T08:00"})
    assert bad.status_code == 400 and "2 to" in bad.text
    bad = web.client.post("/admin/elections", data={
        "csrf_token": token, "title": "X", "parties": "A\nB",
        "opens_at": "2026-01-02T08:00", "closes_at": "2026-01-01T08:00"})
    assert bad.status_code == 400 and "close after" in bad.text
    assert len(web.container.voting.list_elections()) == 1
    assert web.client.post("/admin/elections", data={"title": "Y"}).status_code == 403


def test_cast_vote_without_voter_details_is_refused(web: Web) -> None:
    eid = open_election(web)
    logged_in(web)
    account = web.accounts.get_account("alice")
    with pytest.raises(PermissionDeniedError):
        web.container.voting.cast_vote(eid, account.id, party_id(web, eid, "Red"), "alice")

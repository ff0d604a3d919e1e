"""What a new user meets on the web pages: the closed/not-yet-open ballot, the username rule,
the favicon, the kiosk camera placeholder (TestClient, fake face parts as in test_web_pages)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.features.accounts.test_web_pages import Web, build_web, register
from tests.unit.features.voting.test_voting_pages import logged_in, open_election, voter_details


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    yield from build_web(tmp_path)


def test_closed_election_says_closed_and_shows_no_ballot(web: Web) -> None:
    eid = open_election(web, opens_in_h=-5, hours=2)  # closed 3 hours ago
    token = logged_in(web)
    page = web.client.get(f"/elections/{eid}")
    assert 'id="election-closed"' in page.text and "voting has ended" in page.text
    assert f'href="/elections/{eid}/results"' in page.text
    assert 'id="voter-form"' not in page.text and 'id="ballot-form"' not in page.text
    assert 'id="vote"' not in page.text  # no greyed-out button without an explanation
    # a vote posted anyway is refused by the service (and the page says closed)
    voter_details(web, eid, token)
    r = web.client.post(f"/elections/{eid}/vote", data={"csrf_token": token, "party_id": 1})
    assert r.status_code >= 400 and 'id="election-closed"' in r.text


def test_election_not_open_yet_says_when(web: Web) -> None:
    eid = open_election(web, opens_in_h=3, hours=2)
    token = logged_in(web)
    page = web.client.get(f"/elections/{eid}")
    assert 'id="election-not-open"' in page.text and "Voting opens on" in page.text
    r = voter_details(web, eid, token)
    assert 'id="ballot-form"' in r.text and 'id="vote"' not in r.text


def test_open_election_still_has_the_vote_button(web: Web) -> None:
    eid = open_election(web)
    token = logged_in(web)
    r = voter_details(web, eid, token)
    assert 'id="vote"' in r.text and "election-closed" not in r.text


def test_register_page_states_the_username_rule_and_accepts_capitals(web: Web) -> None:
    page = web.client.get("/register").text
    field = re.search(r'<input name="username"[^>]*>', page, flags=re.S)
    assert field is not None
    pattern = re.search(r'pattern="([^"]+)"', field.group(0))
    assert pattern is not None
    html_pattern = pattern.group(1).replace("\\-", "-")
    assert re.fullmatch(html_pattern, "Ada.Lovelace")  # the browser no longer refuses capitals
    assert 'title="3-32 characters' in field.group(0)  # what the browser's bubble says
    assert 'id="username-rule"' in page and "capitals are stored as lowercase" in page
    r = register(web, username="Ada.Lovelace")
    assert r.status_code == 201
    assert web.accounts.find_account("ada.lovelace") is not None


def test_favicon_is_served(web: Web) -> None:
    r = web.client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_kiosk_access_page_has_a_camera_frame_not_a_blank_gap(web: Web) -> None:
    # the template itself (the kiosk page may need a kiosk credential to be fetched)
    from facegate.features import lockers

    page = (Path(lockers.__file__).parent / "templates" / "kiosk_access.html").read_text()
    assert '<div class="camera big" id="camera">' in page
    assert 'id="camera-placeholder"' in page and "The camera starts when you press" in page
    js = (Path(lockers.__file__).parent / "static" / "kiosk.js").read_text()
    assert 'getElementById("camera-placeholder")' in js  # hidden once the camera runs
    css = web.client.get("/static/app.css").text
    assert ".camera-placeholder[hidden] { display: none; }" in css

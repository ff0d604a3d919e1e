"""One-time locker keys, the secret file, locker state rules and the actuator (pure logic)."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facegate.features.lockers.actuator import (
    ActuatorError,
    HttpRelayActuator,
    LoggingActuator,
    OpenRequest,
    build_actuator,
)
from facegate.features.lockers.keys import (
    KeyFormatError,
    KeyHasher,
    KeyPolicy,
    KeyStatus,
    LockerSecretError,
    generate_key,
    key_status,
    load_locker_secret,
    normalize_key,
)
from facegate.features.lockers.rules import (
    LockerStatus,
    LockerUnavailableError,
    check_assignable,
    check_usable,
    status_after_release,
    status_after_unblock,
)

SECRET = b"s" * 32
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_generated_keys_have_the_digits_asked_for_and_vary() -> None:
    keys = [generate_key(6) for _ in range(2000)]
    assert all(len(k) == 6 and k.isdigit() for k in keys)
    assert len(set(keys)) > 1900  # 2000 draws from 10^6: collisions are rare
    assert any(k.startswith("0") for k in keys)  # leading zeros are kept, not dropped
    assert len(generate_key(8)) == 8
    with pytest.raises(ValueError):
        generate_key(4)


def test_normalize_key_accepts_spacing_and_refuses_non_keys() -> None:
    assert normalize_key(" 123 456 ", 6) == "123456"
    assert normalize_key("123-456", 6) == "123456"
    for bad in ("12345", "1234567", "12345a", "", "١٢٣٤٥٦"):
        with pytest.raises(KeyFormatError):
            normalize_key(bad, 6)


def test_hmac_is_bound_to_ref_customer_and_locker() -> None:
    h = KeyHasher(SECRET)
    d = h.digest("123456", ref="r1", customer_id="C1", locker_number=12)
    assert len(d) == 64 and "123456" not in d
    assert h.matches("123456", d, ref="r1", customer_id="C1", locker_number=12)
    assert not h.matches("123457", d, ref="r1", customer_id="C1", locker_number=12)
    assert not h.matches("123456", d, ref="r2", customer_id="C1", locker_number=12)
    assert not h.matches("123456", d, ref="r1", customer_id="C2", locker_number=12)
    assert not h.matches("123456", d, ref="r1", customer_id="C1", locker_number=13)
    other = KeyHasher(b"t" * 32)
    assert not other.matches("123456", d, ref="r1", customer_id="C1", locker_number=12)
    assert "s" * 32 not in repr(h)


def test_short_secret_is_refused() -> None:
    with pytest.raises(LockerSecretError):
        KeyHasher(b"short")


def test_secret_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "locker_secret.key"
    first = load_locker_secret(None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert load_locker_secret(None, path) == first
    assert load_locker_secret("e" * 40, path) == b"e" * 40  # the environment wins
    os.chmod(path, 0o644)
    with pytest.raises(LockerSecretError, match="chmod 600"):
        load_locker_secret(None, path)


def test_secret_from_env_must_be_long_and_missing_file_can_be_refused(tmp_path: Path) -> None:
    with pytest.raises(LockerSecretError):
        load_locker_secret("too-short", tmp_path / "x.key")
    with pytest.raises(LockerSecretError, match="FACEGATE_LOCKER_SECRET"):
        load_locker_secret(None, tmp_path / "missing.key", create=False)


def test_key_status_order() -> None:
    exp = T0 + timedelta(minutes=3)
    assert key_status(now=T0, expires_at=exp, used_at=None, burnt_at=None, revoked_at=None) is (
        KeyStatus.ACTIVE
    )
    assert key_status(now=exp, expires_at=exp, used_at=None, burnt_at=None, revoked_at=None) is (
        KeyStatus.EXPIRED
    )
    assert key_status(now=exp, expires_at=exp, used_at=T0, burnt_at=None, revoked_at=None) is (
        KeyStatus.USED
    )
    assert key_status(now=T0, expires_at=exp, used_at=None, burnt_at=T0, revoked_at=None) is (
        KeyStatus.BURNT
    )
    assert key_status(now=T0, expires_at=exp, used_at=None, burnt_at=None, revoked_at=T0) is (
        KeyStatus.REVOKED
    )


def test_key_policy_validates() -> None:
    assert KeyPolicy().ttl == timedelta(minutes=3)
    with pytest.raises(ValueError):
        KeyPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        KeyPolicy(digits=5)
    with pytest.raises(ValueError):
        KeyPolicy(ttl=timedelta(0))


def test_locker_state_rules() -> None:
    check_assignable(1, LockerStatus.FREE, None)
    with pytest.raises(LockerUnavailableError, match=r"already assigned.*C9"):
        check_assignable(1, LockerStatus.ASSIGNED, "C9")
    with pytest.raises(LockerUnavailableError, match="blocked"):
        check_assignable(1, LockerStatus.BLOCKED, None)
    with pytest.raises(LockerUnavailableError, match="blocked"):
        check_usable(1, LockerStatus.BLOCKED, "C9")
    with pytest.raises(LockerUnavailableError, match="not assigned"):
        check_usable(1, LockerStatus.FREE, None)
    check_usable(1, LockerStatus.ASSIGNED, "C9")
    assert status_after_release(LockerStatus.ASSIGNED) is LockerStatus.FREE
    assert status_after_release(LockerStatus.BLOCKED) is LockerStatus.BLOCKED
    assert status_after_unblock("C9") is LockerStatus.ASSIGNED
    assert status_after_unblock(None) is LockerStatus.FREE


def test_logging_actuator_prints_open() -> None:
    lines: list[str] = []
    act = LoggingActuator(lines.append)
    act.open_locker(OpenRequest(12, "Hall A", "C1", "ref"))
    assert lines == ["OPEN locker 12 (Hall A)"]
    assert act.opened[0].locker_number == 12


def test_build_actuator_names() -> None:
    assert isinstance(build_actuator("log", None, None, None), LoggingActuator)
    assert isinstance(build_actuator("http-relay", None, "http://relay", "t"), HttpRelayActuator)
    with pytest.raises(ValueError, match="RELAY_URL"):
        build_actuator("http-relay", None, None, None)
    with pytest.raises(ValueError, match="unknown"):
        build_actuator("gpio-magic", None, None, None)


def test_http_relay_posts_pulse_and_reports_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    calls: list[tuple[str, dict[str, object], dict[str, str]]] = []
    status = {"code": 204}

    def fake_post(url: str, json: dict[str, object], headers: dict[str, str], timeout: float):  # type: ignore[no-untyped-def]
        calls.append((url, json, headers))
        return httpx.Response(status["code"])

    monkeypatch.setattr(httpx, "post", fake_post)
    relay = HttpRelayActuator("http://relay/", token="tok", channel_of=lambda n: n + 100)
    relay.open_locker(OpenRequest(7, "", "C1", "r"))
    assert calls[0][0] == "http://relay/relays/107/pulse"
    assert calls[0][2] == {"Authorization": "Bearer tok"}
    status["code"] = 500
    with pytest.raises(ActuatorError, match="HTTP 500"):
        relay.open_locker(OpenRequest(7, "", "C1", "r"))

"""AuditLog: record AuditEvents and query them (latest, filters by action/subject/decision/time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from facegate.core.domain import AuditEvent
from facegate.core.store.audit import AuditLog, AuditQuery
from facegate.core.store.db import Database
from tests.store_backends import backend_url  # noqa: F401  (fixture)


def test_record_and_query(backend_url: str) -> None:  # noqa: F811
    db = Database(backend_url)
    db.upgrade()
    log = AuditLog(db)
    start = datetime.now(UTC) - timedelta(seconds=1)
    log.record(AuditEvent("verify", "granted", actor="cli", subject="ann", score=0.8))
    log.record(AuditEvent("verify", "denied", actor="api", subject="bob", score=np.float32(0.1)))
    e = log.record(
        AuditEvent("identify", "unknown", details={"box": np.array([1.0, 2.0]), "t": (1, 2)})
    )
    assert e.details == {"box": [1.0, 2.0], "t": [1, 2]}
    assert e.at >= start and e.at.tzinfo is not None

    latest = log.latest(2)
    assert [x.action for x in latest] == ["identify", "verify"]
    assert [x.subject for x in log.query(AuditQuery(action="verify"))] == ["bob", "ann"]
    assert [x.subject for x in log.query(AuditQuery(decision="granted"))] == ["ann"]
    assert [x.decision for x in log.query(AuditQuery(subject="bob"))] == ["denied"]
    assert log.query(AuditQuery(actor="api"))[0].score == np.float32(0.1).item()
    assert log.count(AuditQuery(action="verify")) == 2
    future = datetime.now(UTC) + timedelta(hours=1)
    assert log.query(AuditQuery(since=future)) == []
    assert len(log.query(AuditQuery(since=start, until=future))) == 3
    assert log.query(AuditQuery(until=start)) == []

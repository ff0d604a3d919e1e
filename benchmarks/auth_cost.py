"""What checking an API key costs per request, and whether refusals take as long as acceptances.

    nice -n 10 python benchmarks/auth_cost.py [--keys 1000] [--rounds 2000] [--database URL]

Creates ``--keys`` API keys in a fresh SQLite database (or ``--database``), then times
``Credentials.authenticate`` in-process for: a valid key, a well-formed unknown key, a revoked key
and a malformed one (refusals are audited, as in the server: that write is included). Prints the
median and p95 in microseconds, and the time of the lookup-and-compare step alone (no audit
write), where a timing difference between a hit and a miss could show.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from facegate.core.auth.credentials import Credentials
from facegate.core.auth.principal import CLI_PRINCIPAL
from facegate.core.errors import AuthError
from facegate.core.store.audit import AuditLog
from facegate.core.store.db import Database


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        with contextlib.suppress(AuthError):
            fn()
        samples.append((time.perf_counter() - t) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--database", default=None, help="SQLAlchemy URL (default: a temp SQLite file)")
    a = ap.parse_args()
    url = a.database or f"sqlite:///{Path(tempfile.mkdtemp()) / 'auth.db'}"
    db = Database(url)
    db.upgrade()
    creds = Credentials(db, AuditLog(db))
    keys = [creds.create(f"k{i}", frozenset({"recognize"}), CLI_PRINCIPAL)[1] for i in range(a.keys)]
    creds.revoke("k1", CLI_PRINCIPAL)
    unknown = "fgk_" + "Q" * 43
    cases: dict[str, Callable[[], object]] = {
        "valid key": lambda: creds.authenticate(keys[0], "bench"),
        "unknown key (audited)": lambda: creds.authenticate(unknown, "bench"),
        "revoked key (audited)": lambda: creds.authenticate(keys[1], "bench"),
        "malformed key (audited)": lambda: creds.authenticate("junk", "bench"),
        "lookup+compare, hit": lambda: creds._authenticate(keys[0], "bench"),
        "lookup+compare, miss": lambda: creds._authenticate(unknown, "bench"),
    }
    print(f"{a.keys} keys in {db.dialect}, {a.rounds} rounds each\n")
    print("| case | median µs | p95 µs |\n|---|---:|---:|")
    for name, fn in cases.items():
        median, p95 = timed(fn, a.rounds)
        print(f"| {name} | {median:.0f} | {p95:.0f} |")


if __name__ == "__main__":
    main()

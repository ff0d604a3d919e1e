"""The plain-text access log: one line ``YYYY-MM-DD HH:MM:SS,name,GRANTED|DENIED`` (UTC) per
logged decision, rotated by size (``logging.handlers.RotatingFileHandler``).

Written by default to ``<data dir>/access_log.txt`` (``FACEGATE_STREAM_ACCESS_LOG_FILE`` moves it,
``FACEGATE_STREAM_ACCESS_LOG=false`` turns it off); the audit table stays the record of truth.
"""

from __future__ import annotations

import logging
import logging.handlers
import threading
from datetime import UTC, datetime
from pathlib import Path


class AccessTextLog:
    """Appends decision lines to ``path``; rotates at ``max_bytes`` keeping ``backups`` files."""

    def __init__(self, path: Path, max_bytes: int = 10 * 1024 * 1024, backups: int = 5) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._handler: logging.handlers.RotatingFileHandler | None = None
        self._lock = threading.Lock()

    def _open(self) -> logging.handlers.RotatingFileHandler:
        if self._handler is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                self.path, maxBytes=self.max_bytes, backupCount=self.backups, encoding="utf-8"
            )
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._handler = handler
        return self._handler

    def write(self, name: str | None, status: str, at: datetime | None = None) -> None:
        stamp = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        clean = " ".join((name or "unknown").replace(",", " ").split()) or "unknown"
        record = logging.LogRecord("facegate.access", logging.INFO, __file__, 0,
                                   f"{stamp},{clean},{status.upper()}", None, None)
        with self._lock:
            self._open().handle(record)

    def close(self) -> None:
        with self._lock:
            if self._handler is not None:
                self._handler.close()
                self._handler = None

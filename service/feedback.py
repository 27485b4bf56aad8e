"""Thumbs up/down on answers, stored only when the operator enables it.

SQLite by default. A row holds the answer id, the rating, an optional comment and the
time: never the client's address and never the conversation.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT,
    created_at TEXT NOT NULL
)
"""


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=2.0)
        connection.execute(SCHEMA)
        return connection

    def add(self, message_id: str, rating: str, comment: str | None) -> None:
        """Raises OSError/sqlite3.Error when the store cannot be written; the caller counts it."""
        with self._lock, self._connect() as connection:
            connection.execute(
                "INSERT INTO feedback (message_id, rating, comment, created_at) VALUES (?, ?, ?, ?)",
                (message_id, rating, comment, datetime.now(UTC).isoformat(timespec="seconds")),
            )

    def export(self) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        with self._lock, self._connect() as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute("SELECT * FROM feedback ORDER BY id")]

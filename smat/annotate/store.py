"""Annotators and their answers in one SQLite file inside the study folder.

Every call opens its own connection (the web server answers requests on several threads) and
writes in an IMMEDIATE transaction, so concurrent annotators never interleave a read-check-write;
an answer is committed before the server replies, so a killed server loses nothing submitted.
Each answer carries a revision: a submission names the revision it was made from, and one made
from an outdated page (a double click, a second tab) is refused instead of silently overwriting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hmac
import json
import secrets
import sqlite3
from collections.abc import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS annotators (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL,
  token TEXT                 -- the secret in the annotator's page addresses (their key)
);
CREATE TABLE IF NOT EXISTS answers (
  annotator_id INTEGER NOT NULL REFERENCES annotators(id),
  example_id TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('ranked', 'skipped')),
  ranking TEXT,              -- JSON {explainer: rank}; NULL when skipped
  shown_order TEXT NOT NULL, -- JSON [explainer, ...] in the order the annotator saw them
  revision INTEGER NOT NULL,
  submitted_at TEXT NOT NULL,
  PRIMARY KEY (annotator_id, example_id)
);
"""

RANKED, SKIPPED = "ranked", "skipped"


class StaleAnswer(Exception):
    """A submission made from an outdated page (its revision is not the stored one)."""


@dataclasses.dataclass(frozen=True)
class Answer:
    annotator: str
    example_id: str
    status: str  # RANKED or SKIPPED
    ranking: dict[str, int] | None  # explainer -> rank (1 = best), ties allowed
    shown_order: list[str]
    revision: int
    submitted_at: str


class Store:
    """The study's database (`answers.sqlite`), created on first use."""

    def __init__(self, path: str):
        self.path = path
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            db.executescript(SCHEMA)
        with self._connect(write=True) as db:
            # Study files from before annotators had keys: give every annotator one.
            columns = {row[1] for row in db.execute("PRAGMA table_info(annotators)")}
            if "token" not in columns:
                db.execute("ALTER TABLE annotators ADD COLUMN token TEXT")
            for (aid,) in db.execute("SELECT id FROM annotators WHERE token IS NULL").fetchall():
                db.execute("UPDATE annotators SET token = ? WHERE id = ?", (_token(), aid))
            db.execute("CREATE UNIQUE INDEX IF NOT EXISTS annotator_token ON annotators(token)")

    @contextlib.contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys=ON")
            if not write:
                yield db
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def annotator(self, name: str) -> int:
        """The id of annotator `name`, registered (with a new key) on first use."""
        self.register(name)
        with self._connect() as db:
            return db.execute("SELECT id FROM annotators WHERE name = ?", (name,)).fetchone()[0]

    def register(self, name: str) -> str | None:
        """Registers annotator `name` and returns their key; None if the name is taken (its
        owner continues with their key, never with the name alone)."""
        token = _token()
        with self._connect(write=True) as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO annotators (name, created_at, token) VALUES (?, ?, ?)",
                (name, _now(), token),
            ).rowcount
        return token if inserted else None

    def by_token(self, token: str) -> tuple[int, str] | None:
        """(id, name) of the annotator whose key is `token`, or None."""
        with self._connect() as db:
            rows = db.execute("SELECT id, name, token FROM annotators").fetchall()
        # Compared in constant time, so response times do not reveal a key's prefix.
        for aid, name, key in rows:
            if hmac.compare_digest(key.encode(), token.encode()):
                return aid, name
        return None

    def keys(self) -> list[tuple[str, str]]:
        """(name, key) of every annotator, in registration order (for the study's owner)."""
        with self._connect() as db:
            return db.execute("SELECT name, token FROM annotators ORDER BY id").fetchall()

    def submit(
        self,
        annotator_id: int,
        example_id: str,
        ranking: dict[str, int] | None,
        shown_order: list[str],
        revision: int,
    ) -> int:
        """Saves (or replaces) an answer; `ranking=None` records a skip. `revision` is the
        revision the annotator's page showed (0: no answer yet). Returns the new revision.

        Raises:
          StaleAnswer: the stored answer's revision is not `revision`.
        """
        status = SKIPPED if ranking is None else RANKED
        with self._connect(write=True) as db:
            row = db.execute(
                "SELECT revision FROM answers WHERE annotator_id = ? AND example_id = ?",
                (annotator_id, example_id),
            ).fetchone()
            current = row[0] if row else 0
            if current != revision:
                raise StaleAnswer(
                    f"this answer is at revision {current}, the page was made from {revision}"
                )
            db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    annotator_id,
                    example_id,
                    status,
                    None if ranking is None else json.dumps(ranking),
                    json.dumps(shown_order),
                    current + 1,
                    _now(),
                ),
            )
        return current + 1

    def answers(self, annotator_id: int | None = None) -> list[Answer]:
        """All answers (of one annotator, or everyone's), oldest submission first."""
        query = (
            "SELECT a.name, x.example_id, x.status, x.ranking, x.shown_order, x.revision, "
            "x.submitted_at FROM answers x JOIN annotators a ON a.id = x.annotator_id"
        )
        args: tuple = ()
        if annotator_id is not None:
            query += " WHERE x.annotator_id = ?"
            args = (annotator_id,)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY x.submitted_at, a.name, x.example_id", args)
            return [
                Answer(name, ex, status, json.loads(r) if r else None, json.loads(o), rev, at)
                for name, ex, status, r, o, rev, at in rows.fetchall()
            ]


def _token() -> str:
    return secrets.token_urlsafe(16)  # 128 random bits: not guessable


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")

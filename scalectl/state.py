"""Local SQLite journal (audit log and cache of revisions) and per-target deploy locks.

The journal is not the source of truth for history: providers keep revisions with the
deployment itself so another machine sees them. The journal adds what only this machine
knows (attempts that failed before anything was created) and the audit trail.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scalectl.errors import LockedError, StateError
from scalectl.provider import Revision

_SCHEMA = """
CREATE TABLE IF NOT EXISTS revisions (
    app TEXT NOT NULL, target TEXT NOT NULL, number INTEGER NOT NULL,
    digest TEXT NOT NULL, image TEXT NOT NULL, created_at TEXT NOT NULL,
    created_by TEXT NOT NULL, status TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (app, target, number)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, app TEXT NOT NULL, target TEXT NOT NULL,
    action TEXT NOT NULL, revision INTEGER, actor TEXT NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS locks (
    app TEXT NOT NULL, target TEXT NOT NULL, holder TEXT NOT NULL, host TEXT NOT NULL,
    pid INTEGER NOT NULL, since TEXT NOT NULL, PRIMARY KEY (app, target)
);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def actor() -> str:
    """Who is deploying: SCALECTL_ACTOR, the CI's user, or user@host."""
    for var in ("SCALECTL_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_REQUESTEDFOR"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass
class Journal:
    """The state directory's SQLite database.

    Opening never fails: an unusable state directory or journal (a file, unwritable, corrupt)
    is kept as `problem`, so `status` and `rollback` still work from the platform alone;
    `require` turns it into a StateError for commands that must record what they do.
    """

    path: Path
    problem: str = field(default="")

    @classmethod
    def open(cls, state_dir: Path) -> Journal:
        journal = cls(state_dir / "journal.sqlite")
        try:
            if state_dir.exists() and not state_dir.is_dir():
                raise StateError(f"--state-dir {state_dir} is a file, not a directory; point it at a directory")
            try:
                state_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(f"cannot create the state directory {state_dir}: {exc.strerror}") from None
            with journal._db() as db:
                db.executescript(_SCHEMA)
                db.execute("BEGIN IMMEDIATE")  # fails now, not after a rollout, when it cannot be written
                db.execute("ROLLBACK")
        except StateError as exc:
            journal.problem = exc.message
        return journal

    def require(self) -> None:
        """Raise the journal's problem (StateError, exit 1) for commands that need to record."""
        if self.problem:
            raise StateError(
                f"{self.problem}. Nothing was changed; fix or move it aside (a fresh --state-dir works: "
                "history lives on the platform), `status` and `rollback` work without it"
            )

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection; any SQLite or file-system failure becomes a StateError naming the file."""
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            yield db
        except (sqlite3.Error, OSError) as exc:
            what = (
                "is not a scalectl journal (corrupt?)"
                if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in str(exc) or "malformed" in str(exc))
                else f"cannot be used: {exc}"
            )
            raise StateError(f"the local journal {self.path} {what}") from None
        finally:
            if db is not None:
                db.close()

    def record(self, app: str, target: str, rev: Revision) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO revisions VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    app,
                    target,
                    rev.number,
                    rev.digest,
                    rev.image,
                    rev.created_at,
                    rev.created_by,
                    rev.status,
                    rev.message,
                ),
            )

    def revisions(self, app: str, target: str) -> list[Revision]:
        with self._db() as db:
            rows = db.execute(
                "SELECT number, digest, image, created_at, created_by, status, message FROM revisions "
                "WHERE app=? AND target=? ORDER BY number",
                (app, target),
            ).fetchall()
        return [Revision(*row) for row in rows]

    def audit(self, app: str, target: str, action: str, revision: int | None, result: str, detail: Any = "") -> None:
        text = detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
        with self._db() as db:
            db.execute(
                "INSERT INTO audit (at, app, target, action, revision, actor, result, detail) VALUES (?,?,?,?,?,?,?,?)",
                (now_iso(), app, target, action, revision, actor(), result, text),
            )

    def audit_log(self, app: str, target: str) -> list[dict[str, Any]]:
        with self._db() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(
                "SELECT at, action, revision, actor, result, detail FROM audit WHERE app=? AND target=? ORDER BY id",
                (app, target),
            ).fetchall()
        return [dict(r) for r in rows]

    def last_deploy_unfinished(self, app: str, target: str) -> bool:
        """Did this journal's last action on the target leave a rollout behind (a crash, a failed rollback)?

        `deploy` writes a `started` audit row before `apply` and `ok` or `failed` after; recovery
        writes `recover`. A last row of `started` (it never ended) or `failed` (its own rollback may
        have failed) means what is unfinished on the platform is this journal's own.
        """
        try:
            with self._db() as db:
                row = db.execute(
                    "SELECT action, result FROM audit WHERE app=? AND target=? ORDER BY id DESC LIMIT 1",
                    (app, target),
                ).fetchone()
        except StateError:
            return False
        return row is not None and tuple(row) in (("deploy", "started"), ("deploy", "failed"))

    @contextmanager
    def lock(self, app: str, target: str) -> Iterator[None]:
        """Hold the target for one operation; a live holder elsewhere means LockedError (exit 5)."""
        host, pid = socket.gethostname(), os.getpid()
        if self.problem:  # only rollback/status get here: they act from the platform alone
            yield
            return
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT holder, host, pid, since FROM locks WHERE app=? AND target=?", (app, target)
            ).fetchone()
            if row is not None and not _stale(row[1], row[2]):
                db.execute("ROLLBACK")
                raise LockedError(
                    f"target {target!r} is locked by {row[0]} (pid {row[2]} on {row[1]}) since {row[3]}; "
                    f"wait for that deploy to finish, or remove a stale lock with `scalectl unlock -t {target}`"
                )
            db.execute(
                "INSERT OR REPLACE INTO locks VALUES (?,?,?,?,?,?)", (app, target, actor(), host, pid, now_iso())
            )
            db.execute("COMMIT")
        try:
            yield
        finally:
            try:
                with self._db() as db:
                    db.execute(
                        "DELETE FROM locks WHERE app=? AND target=? AND pid=? AND host=?", (app, target, pid, host)
                    )
            except StateError:
                pass  # the journal went away meanwhile: there is no lock row left to remove

    def unlock(self, app: str, target: str) -> bool:
        with self._db() as db:
            cur = db.execute("DELETE FROM locks WHERE app=? AND target=?", (app, target))
        return cur.rowcount > 0


def _stale(host: str, pid: int) -> bool:
    """A lock whose process is gone on this very host is stale; elsewhere we cannot tell."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False

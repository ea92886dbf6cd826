"""Audits and verdicts in a real database (SQLAlchemy): SQLite by default, PostgreSQL by URL.

Append-only: saving an audit again adds a new version; a verdict is a new row; nothing is updated or deleted.
Every row records who and when. SQLite runs in WAL mode with synchronous=FULL and a busy timeout, and each write
is one ``BEGIN IMMEDIATE`` transaction, so concurrent writers queue instead of failing and a crash never loses
a committed verdict.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (Column, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
                        UniqueConstraint, create_engine, event, func, or_, select)
from sqlalchemy.engine import Engine

from .errors import InputError
from .types import AuditReport, from_json, to_json

VERDICTS = ("accept", "edit", "reject")
_VERSION_ATTEMPTS = 50  # a save that loses the race for a version number this many times in a row gives up
# What the Review queue lists (StoredAudit's fields, in order): never report_json, which can be megabytes per row.
_ROW_COLUMNS = ("id", "audit_key", "version", "question", "answer", "model_id", "support_probability",
                "created_by", "created_at")
metadata = MetaData()

audits = Table(
    "audits", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("audit_key", String(64), nullable=False, index=True),  # one key, many versions
    Column("version", Integer, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("model_id", String(200), nullable=False, default=""),
    Column("support_probability", Float, nullable=True),
    Column("report_json", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # one row per version of a key, so two writers cannot both store "version 2" (migration 0003)
    Index("uq_audits_key_version", "audit_key", "version", unique=True),
)

verdicts = Table(
    "verdicts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("audit_id", Integer, ForeignKey("audits.id"), nullable=False, index=True),
    Column("verdict", String(16), nullable=False),
    Column("edited_answer", Text, nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("reviewer", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


# Batch runs (``auditlens audit-batch``): one row of the input becomes one audit plus one run item, written in
# the same transaction, unique per (run, row id) so a rerun after a crash neither loses nor doubles a row.
# Created by the migration explainers/migrations/versions/0002_runs.py; these definitions mirror it.
runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("source", Text, nullable=False, default=""),  # the input file as given
    Column("options_json", Text, nullable=False, default="{}"),  # columns, detector, attributions
    Column("policy_json", Text, nullable=False, default="{}"),  # triage thresholds (may change later)
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

run_items = Table(
    "run_items", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("row_id", String(200), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("audit_id", Integer, ForeignKey("audits.id"), nullable=False),
    Column("support_probability", Float, nullable=True),
    Column("n_sentences", Integer, nullable=False, default=0),
    Column("n_flagged_sentences", Integer, nullable=False, default=0),
    Column("label", String(16), nullable=True),  # supported / hallucinated, when the data had labels
    Column("model", String(200), nullable=False, default=""),
    Column("source_names_json", Text, nullable=False, default="[]"),
    Column("spot_draw", Float, nullable=False),  # uniform in [0, 1) from (run, row id): the spot-check draw
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=True),  # why its weakest flagged sentence is flagged (migration 0004)
    UniqueConstraint("run_id", "row_id", name="uq_run_items_run_row"),
    Index("ix_run_items_run_support", "run_id", "support_probability"),
)

bad_rows = Table(
    "bad_rows", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("row_id", String(200), nullable=True),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("run_id", "line_no", name="uq_bad_rows_run_line"),
)

assignments = Table(
    "assignments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, ForeignKey("run_items.id"), nullable=False, index=True),
    Column("reviewer", String(200), nullable=False),
    Column("slot", Integer, nullable=False),  # 1: first reviewer, 2: second opinion
    Column("assigned_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def data_dir() -> Path:
    """The app's data directory (``AUDITLENS_DATA_DIR`` or the user data dir): the store and named indexes."""
    from platformdirs import user_data_dir

    data = Path(os.environ.get("AUDITLENS_DATA_DIR") or user_data_dir("auditlens"))
    data.mkdir(parents=True, exist_ok=True)
    return data


def default_url() -> str:
    if os.environ.get("AUDITLENS_DATABASE_URL"):
        return os.environ["AUDITLENS_DATABASE_URL"]
    return f"sqlite:///{data_dir() / 'audits.db'}"


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN IMMEDIATE ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass(frozen=True)
class StoredAudit:
    id: int
    audit_key: str
    version: int
    question: str
    answer: str
    model_id: str
    support_probability: float | None
    created_by: str
    created_at: datetime
    latest_verdict: str | None = None
    latest_reviewer: str | None = None

    def report(self, store: "Store") -> AuditReport:
        return store.load_report(self.id)


# Tables that make a SQLite file ours to open: a store from before migrations has audits and verdicts only.
_OUR_TABLES = frozenset({"alembic_version", "audits", "verdicts"})


def _check_sqlite_file(path: str, create: bool) -> None:
    """Refuse a SQLite file that is not a review store before anything connects to it: connecting switches the
    file to WAL mode and the migrations add tables, so a stranger's database (or a mistyped path, for a command
    that only reads) must be refused first. A missing file is created only with ``create``."""
    import sqlite3

    target = Path(path)
    if not target.exists():
        if not create:
            raise InputError(f"no review store at {path}: check the --database URL (this command reads a store "
                             "that audit-batch or the dashboard has written; it does not create one)")
        return
    if target.is_dir():
        raise InputError(f"{path} is a folder, not a review store file")
    if target.stat().st_size == 0:
        if not create:
            raise InputError(f"no review store at {path}: the file is empty")
        return  # nothing in it to lose (and a store being created by another process starts empty)
    try:
        conn = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"cannot open the database {path}: {exc}; it is left as it is") from None
    if tables and not tables & _OUR_TABLES:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise InputError(f"{path} is another application's database (tables {shown}), not a review store; "
                         "AuditLens does not write into it: choose another file")


class Store:
    def __init__(self, url: str | None = None, create: bool = True):
        """Open the review store at ``url`` (upgrading its schema). With ``create=False`` a SQLite file that does
        not exist is refused instead of created: the commands that only read or update a store pass that."""
        from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

        self.url = url or default_url()
        try:
            self.engine = create_engine(self.url, future=True)
        except (ArgumentError, NoSuchModuleError, ValueError) as exc:
            # the URL itself is not echoed: it may hold a password
            raise InputError(f"not a usable database URL ({type(exc).__name__}); expected e.g. "
                             "sqlite:////path/audits.db or postgresql+psycopg://user@host/db") from None
        except ImportError as exc:  # the URL names a driver that is not installed (mysql://, +asyncpg, ...)
            raise InputError(f"the database driver this URL names is not installed ({exc}); install it, or use "
                             "sqlite:////path/audits.db or postgresql+psycopg://user@host/db") from None
        if self.engine.dialect.name == "sqlite":
            database = self.engine.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                _check_sqlite_file(database, create)
            _sqlite_pragmas(self.engine)
        try:
            from .migrations import upgrade

            upgrade(self.engine)  # a new store gets every table; an older one is upgraded in place
        except DBAPIError as exc:
            raise InputError(f"cannot open the database: {str(exc.orig)[:200]}") from None

    @staticmethod
    def _who(name: str) -> str:
        if not name or not name.strip():
            raise InputError("a reviewer name is required")
        return name.strip()[:200]

    def save_audit(self, report: AuditReport, created_by: str, audit_key: str | None = None) -> int:
        """Store a report; with an existing ``audit_key`` it becomes that audit's next version.

        Two writers saving the same key at once may both read the same latest version (PostgreSQL's read
        committed lets them); the unique (audit_key, version) index refuses the second insert, and that writer
        reads the latest version again and takes the next one, so each gets its own version.
        """
        from sqlalchemy.exc import IntegrityError

        who = self._who(created_by)
        key = audit_key or os.urandom(8).hex()
        support = report.grounding.answer_support_probability if report.grounding else None
        report_json = to_json(report)
        for attempt in range(_VERSION_ATTEMPTS):
            version = None
            try:
                with self.engine.begin() as conn:
                    version = conn.execute(select(func.coalesce(func.max(audits.c.version), 0))
                                           .where(audits.c.audit_key == key)).scalar_one() + 1
                    res = conn.execute(audits.insert().values(
                        audit_key=key, version=version, question=report.question, answer=report.answer,
                        model_id=report.model_id, support_probability=support, report_json=report_json,
                        created_by=who, created_at=datetime.now(timezone.utc)))
                    return int(res.inserted_primary_key[0])
            except IntegrityError:
                if not self._version_taken(key, version):
                    raise  # another constraint: not a lost race, retrying would not help
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # spread out the writers that collided
        raise InputError(f"could not save a new version of audit {key!r}: {_VERSION_ATTEMPTS} other writers "
                         "saved one first; try again")

    def _version_taken(self, audit_key: str, version: int) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(audits.c.id).where(audits.c.audit_key == audit_key,
                                                          audits.c.version == version)).first() is not None

    @classmethod
    def check_verdict(cls, verdict: str, reviewer: str, edited_answer: str | None = None) -> str:
        """What ``add_verdict`` refuses, checked without writing (a caller that saves more first asks here);
        returns the reviewer name as stored."""
        if verdict not in VERDICTS:
            raise InputError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
        if verdict == "edit" and not (edited_answer and edited_answer.strip()):
            raise InputError("an 'edit' verdict needs the edited answer")
        return cls._who(reviewer)

    def add_verdict(self, audit_id: int, verdict: str, reviewer: str, note: str = "",
                    edited_answer: str | None = None) -> int:
        who = self.check_verdict(verdict, reviewer, edited_answer)
        with self.engine.begin() as conn:
            if conn.execute(select(audits.c.id).where(audits.c.id == audit_id)).first() is None:
                raise InputError(f"no audit with id {audit_id}")
            res = conn.execute(verdicts.insert().values(
                audit_id=audit_id, verdict=verdict, edited_answer=edited_answer, note=note or "", reviewer=who,
                created_at=datetime.now(timezone.utc)))
            return int(res.inserted_primary_key[0])

    def load_report(self, audit_id: int) -> AuditReport:
        with self.engine.connect() as conn:
            row = conn.execute(select(audits.c.report_json).where(audits.c.id == audit_id)).first()
        if row is None:
            raise InputError(f"no audit with id {audit_id}")
        return from_json(row[0])

    def list_audits(self, reviewer: str | None = None, verdict: str | None = None) -> list[StoredAudit]:
        """Every stored audit, newest first, with its latest verdict: the row columns only, never a report body."""
        return self._rows(reviewer=reviewer, verdict=verdict)

    def _rows(self, audit_key: str | None = None, reviewer: str | None = None,
              verdict: str | None = None) -> list[StoredAudit]:
        latest = (select(verdicts.c.audit_id, func.max(verdicts.c.id).label("vid"))
                  .group_by(verdicts.c.audit_id).subquery())
        q = (select(*(audits.c[name] for name in _ROW_COLUMNS), verdicts.c.verdict, verdicts.c.reviewer)
             .outerjoin(latest, latest.c.audit_id == audits.c.id)
             .outerjoin(verdicts, verdicts.c.id == latest.c.vid))
        if audit_key is not None:
            q = q.where(audits.c.audit_key == audit_key).order_by(audits.c.version, audits.c.id)
        else:
            q = q.order_by(audits.c.id.desc())
        if verdict:
            q = q.where(verdicts.c.verdict == verdict)
        if reviewer:
            q = q.where(or_(verdicts.c.reviewer == reviewer, audits.c.created_by == reviewer))
        with self.engine.connect() as conn:
            return [StoredAudit(*(r._mapping[name] for name in _ROW_COLUMNS), r.verdict, r.reviewer)
                    for r in conn.execute(q)]

    def audit_meta(self, audit_id: int) -> dict:
        """Id, key, version, author and time of one stored audit (no report body)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(audits.c.id, audits.c.audit_key, audits.c.version, audits.c.created_by,
                                      audits.c.created_at).where(audits.c.id == audit_id)).first()
        if row is None:
            raise InputError(f"no audit with id {audit_id}")
        return dict(row._mapping)

    def versions(self, audit_key: str) -> list[StoredAudit]:
        """Every version of one audit, in version order (its own rows only, no report body)."""
        return self._rows(audit_key=audit_key)

    def history(self, audit_id: int) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(verdicts).where(verdicts.c.audit_id == audit_id).order_by(verdicts.c.id))
            return [dict(r._mapping) for r in rows]

    def count_verdicts(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(verdicts)).scalar_one())

    def backup(self, out_path: str, replace: bool = False) -> dict:
        """Copy a SQLite store with the online backup API (consistent while writers run), then check the copy.

        An existing ``out_path`` is replaced only with ``replace=True`` (and only if it is a regular file); the
        copy is written to a new temporary file beside it and renamed, so no other file is touched.
        """
        import sqlite3
        import tempfile

        if self.engine.dialect.name != "sqlite":
            raise InputError("backup works on the SQLite store; back up PostgreSQL with pg_dump")
        target = Path(out_path)
        if target.exists() or target.is_symlink():
            if not replace:
                raise InputError(f"{out_path} exists; choose a new file for the backup (or pass --force)")
            if not target.is_file() or target.is_symlink():
                raise InputError(f"{out_path} is not a regular file; it is never replaced")
        if not target.parent.is_dir():
            raise InputError(f"{out_path}: the folder {target.parent} does not exist")
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name[:200]}.", suffix=".partial", dir=target.parent)
        except OSError as exc:
            raise InputError(f"{out_path}: cannot write in {target.parent} ({exc.strerror})") from None
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            raw = self.engine.raw_connection()
            try:
                dst = sqlite3.connect(str(tmp))
                try:
                    raw.driver_connection.backup(dst)
                    integrity = dst.execute("PRAGMA integrity_check").fetchone()[0]
                    counts = {t: dst.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("audits", "verdicts")}  # noqa: S608 - fixed names
                finally:
                    dst.close()
            finally:
                raw.close()
            if integrity != "ok":
                raise InputError(f"the backup failed its integrity check: {integrity}")
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return {"integrity": integrity, **counts}

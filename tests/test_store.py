"""The review store: append-only versions and verdicts, concurrency, crash safety (real SQLite files)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from explainers import InputError
from explainers.store import Store
from explainers.types import AuditReport


POSTGRES = os.environ.get("AUDITLENS_TEST_POSTGRES_URL")  # e.g. postgresql+psycopg://postgres@127.0.0.1:55432/db


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """The same tests on SQLite (always) and PostgreSQL (when AUDITLENS_TEST_POSTGRES_URL names a server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'a.db'}"
    if not POSTGRES:
        pytest.skip("set AUDITLENS_TEST_POSTGRES_URL to run the store tests on PostgreSQL (make test-postgres)")
    from sqlalchemy import create_engine

    from explainers.store import metadata

    engine = create_engine(POSTGRES)
    metadata.drop_all(engine)  # a fresh schema per test
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")  # the migrations then rebuild every table
    engine.dispose()
    return POSTGRES


def _report(answer="Paris is the capital.") -> AuditReport:
    return AuditReport(question="What is the capital of France?", answer=answer, model_id="m")


def test_versions_and_verdicts_are_append_only(url):
    store = Store(url)
    first = store.save_audit(_report(), "ana")
    key = store.list_audits()[0].audit_key
    second = store.save_audit(_report("Paris."), "ben", audit_key=key)
    assert [a.version for a in store.list_audits()] == [2, 1]
    store.add_verdict(first, "reject", "ana", note="wrong")
    store.add_verdict(first, "edit", "ben", note="fixed", edited_answer="Paris.")
    hist = store.history(first)
    assert [h["verdict"] for h in hist] == ["reject", "edit"] and hist[1]["reviewer"] == "ben"
    assert store.list_audits(verdict="edit")[0].id == first
    assert store.load_report(second).answer == "Paris."
    with pytest.raises(InputError, match="verdict must be"):
        store.add_verdict(first, "maybe", "ana")
    with pytest.raises(InputError, match="edited answer"):
        store.add_verdict(first, "edit", "ana")
    with pytest.raises(InputError, match="reviewer name"):
        store.add_verdict(first, "accept", "  ")
    with pytest.raises(InputError, match="no audit"):
        store.add_verdict(999, "accept", "ana")


def test_verdicts_survive_a_restart(url):
    audit = Store(url).save_audit(_report(), "ana")
    Store(url).add_verdict(audit, "accept", "ana", note="ok")
    again = Store(url)
    assert again.list_audits()[0].latest_verdict == "accept"
    assert again.history(audit)[0]["note"] == "ok"


def _writers(url: str, audit_id: int, n: int, names: list[str]) -> list[subprocess.Popen]:
    """Writer processes started from a clean interpreter (multiprocessing's spawn would re-import whatever
    __main__ an earlier test left behind, e.g. a Streamlit page run by AppTest)."""
    code = ("import sys\nfrom explainers.store import Store\n"
            "url, audit, n, who = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]\n"
            "s = Store(url)\n"
            "for k in range(n):\n"
            "    s.add_verdict(audit, 'accept', who, note=str(k))\n")
    return [subprocess.Popen([sys.executable, "-c", code, url, str(audit_id), str(n), who]) for who in names]


@pytest.mark.parametrize("per_writer", [50, 500])
def test_eight_writer_processes_lose_no_verdict(url, per_writer):
    """8 processes write at once; every row arrives and no writer sees 'database is locked'."""
    audit = Store(url).save_audit(_report(), "ana")
    procs = _writers(url, audit, per_writer, [f"r{i}" for i in range(8)])
    assert all(p.wait(300) == 0 for p in procs)  # a 'database is locked' error would end a writer with 1
    store = Store(url)
    assert store.count_verdicts() == 8 * per_writer
    notes = {(v["reviewer"], v["note"]) for v in store.history(audit)}
    assert notes == {(f"r{i}", str(k)) for i in range(8) for k in range(per_writer)}


def test_kill_during_writes_loses_no_committed_verdict(tmp_path, url):
    audit = Store(url).save_audit(_report(), "ana")
    log = tmp_path / "committed.txt"
    code = (
        "import sys\nfrom explainers.store import Store\n"
        f"s = Store({url!r})\n"
        f"with open({str(log)!r}, 'a') as fh:\n"
        "    for k in range(100000):\n"
        f"        vid = s.add_verdict({audit}, 'accept', 'killer', note=str(k))\n"
        "        fh.write(f'{vid}\\n'); fh.flush()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while time.time() < deadline and (not log.exists() or len(log.read_text().split()) < 30):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = {int(x) for x in log.read_text().split()}
    assert len(committed) >= 30
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.removeprefix("sqlite:///"))
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
    stored = {v["id"] for v in Store(url).history(audit)}
    assert committed <= stored


def test_backup_copies_a_consistent_store_while_writers_run(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = Store(url)
    audit = store.save_audit(_report(), "ana")
    (writer,) = _writers(url, audit, 300, ["w"])
    time.sleep(1.0)
    info = store.backup(str(tmp_path / "backup.db"))
    assert writer.wait(120) == 0
    assert info["integrity"] == "ok" and info["audits"] == 1 and 0 <= info["verdicts"] <= 300
    copy = Store(f"sqlite:///{tmp_path / 'backup.db'}")
    assert copy.count_verdicts() == info["verdicts"] and copy.load_report(audit).answer == _report().answer
    with pytest.raises(InputError, match="exists"):
        store.backup(str(tmp_path / "backup.db"))


def _statements(store: Store) -> list[tuple[str, object]]:
    """Every SQL statement the store's engine runs from now on, with its parameters."""
    from sqlalchemy import event

    seen: list[tuple[str, object]] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, params, context, many: seen.append((statement, params)))
    return seen


def test_listing_and_versions_read_no_report_body(url, monkeypatch):
    """The Review queue lists rows: neither list_audits nor versions fetches (or parses) a report's JSON."""
    store = Store(url)
    first = store.save_audit(_report(), "ana")
    key = store.audit_meta(first)["audit_key"]
    store.save_audit(_report("Paris."), "ben", audit_key=key)
    other = store.save_audit(_report("Lyon."), "cy")
    store.add_verdict(first, "accept", "dee")
    import explainers.store as store_module

    def no_parse(_text):
        raise AssertionError("a listing parsed a report body")

    monkeypatch.setattr(store_module, "from_json", no_parse)
    seen = _statements(store)
    listed = store.list_audits()
    assert [a.id for a in listed] == [other, first + 1, first]
    assert [a.latest_verdict for a in listed] == [None, None, "accept"]
    assert [a.id for a in store.list_audits(reviewer="dee")] == [first]
    assert [a.id for a in store.list_audits(reviewer="cy")] == [other]
    assert [a.id for a in store.list_audits(verdict="accept")] == [first]
    n_listing = len(seen)
    versions = store.versions(key)
    assert [(v.version, v.answer) for v in versions] == [(1, _report().answer), (2, "Paris.")]
    assert seen and not [s for s, _ in seen if "report_json" in s]
    # versions() asks for its own key's rows, not every audit
    (select_versions,) = [(s, p) for s, p in seen[n_listing:] if s.lstrip().upper().startswith("SELECT")]
    assert key in str(select_versions[1])


def test_concurrent_saves_of_one_audit_get_one_version_each(url):
    """N writers save a new version of the same audit at once: versions 1..N+1, none twice.

    Each writer's first read of the latest version is held open until all N have read it (PostgreSQL), so
    all of them try the same version number; on SQLite BEGIN IMMEDIATE queues them, so the hold is a pause."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event

    n = 8
    store = Store(url)
    key = store.audit_meta(store.save_audit(_report(), "ana"))["audit_key"]
    barrier = threading.Barrier(n, timeout=30) if store.engine.dialect.name == "postgresql" else None
    first_read = threading.local()

    def hold(conn, cursor, statement, params, context, many):
        if "max(audits.version)" in statement and not getattr(first_read, "done", False):
            first_read.done = True
            barrier.wait() if barrier is not None else time.sleep(0.05)

    event.listen(store.engine, "after_cursor_execute", hold)
    with ThreadPoolExecutor(max_workers=n) as pool:
        ids = list(pool.map(lambda k: store.save_audit(_report(f"Paris {k}."), f"w{k}", audit_key=key), range(n)))
    event.remove(store.engine, "after_cursor_execute", hold)
    versions = store.versions(key)
    assert sorted(v.version for v in versions) == list(range(1, n + 2))
    assert sorted(v.id for v in versions[1:]) == sorted(ids)
    answers = {v.id: v.answer for v in versions}
    assert sorted(answers[i] for i in ids) == sorted(f"Paris {k}." for k in range(n))


def test_the_store_refuses_a_second_row_with_the_same_version(url):
    from sqlalchemy.exc import IntegrityError

    store = Store(url)
    key = store.audit_meta(store.save_audit(_report(), "ana"))["audit_key"]
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO audits (audit_key, version, question, answer, model_id, report_json, created_by, created_at)"
            f" VALUES ('{key}', 1, 'q', 'a', 'm', '{{}}', 'x', CURRENT_TIMESTAMP)")
    assert [v.version for v in store.versions(key)] == [1]


def test_exported_timestamps_are_to_the_second(url):
    # the store keeps microseconds; reviewers read "created 2026-11-29 09:37:24.565009" in the queue and the PDF
    import json
    import re

    from explainers.report.bundle import bundles_from_store, render_json

    store = Store(url)
    audit = store.save_audit(_report(), "ana")
    store.add_verdict(audit, "accept", "ana")
    [bundle] = bundles_from_store(store, [audit])
    stamps = [bundle.created_at, bundle.verdicts[0]["created_at"]]
    doc = json.loads(render_json([bundle]))["audits"][0]
    stamps += [doc["created_at"], doc["verdicts"][0]["created_at"]]
    for s in stamps:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d)?", s), s

"""A review store written by the release before migrations upgrades in place: every audit and verdict intact."""

import os
from datetime import datetime, timezone

import pytest
from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, MetaData, String, Table, Text, create_engine, inspect

from explainers import InputError
from explainers.migrations import HEAD
from explainers.store import Store
from explainers.types import AuditReport, Grounding, SentenceGrounding, Source, from_json, results_equal, to_json

POSTGRES = os.environ.get("AUDITLENS_TEST_POSTGRES_URL")

# The schema exactly as AuditLens 0.1.0 created it (metadata.create_all in explainers/store.py, 2026-11-27).
RELEASED = MetaData()
RELEASED_AUDITS = Table(
    "audits", RELEASED,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("audit_key", String(64), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("model_id", String(200), nullable=False, default=""),
    Column("support_probability", Float, nullable=True),
    Column("report_json", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
RELEASED_VERDICTS = Table(
    "verdicts", RELEASED,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("audit_id", Integer, ForeignKey("audits.id"), nullable=False, index=True),
    Column("verdict", String(16), nullable=False),
    Column("edited_answer", Text, nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("reviewer", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'released.db'}"
    if not POSTGRES:
        pytest.skip("set AUDITLENS_TEST_POSTGRES_URL to run the store tests on PostgreSQL (make test-postgres)")
    from explainers.store import metadata

    engine = create_engine(POSTGRES)
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()
    return POSTGRES


def _report(k: int) -> AuditReport:
    answer = f"Paris is the capital. It has {k} towers."
    sentences = (SentenceGrounding("Paris is the capital.", 0, 21, 0.93, "supported", signals={"content_support": 1.0}),
                 SentenceGrounding(f"It has {k} towers.", 22, len(answer), 0.12, "unsupported",
                                   reasons=("numbers or dates in no source",)))
    return AuditReport(question="What is the capital?", answer=answer, model_id="m",
                       sources=(Source("source 1", "Paris is the capital of France."),),
                       grounding=Grounding(answer, sentences, 0.12))


def _write_released_store(url: str) -> tuple[list[AuditReport], list[tuple]]:
    engine = create_engine(url)
    RELEASED.create_all(engine)
    reports = [_report(k) for k in range(3)]
    verdict_rows = [(1, "accept", None, "fine", "ana"), (2, "reject", None, "", "bo"),
                    (2, "edit", "Paris is the capital.", "trimmed", "ana"), (3, "accept", None, "", "cy")]
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        for k, r in enumerate(reports, 1):
            conn.execute(RELEASED_AUDITS.insert().values(
                audit_key=f"key{k}", version=1, question=r.question, answer=r.answer, model_id=r.model_id,
                support_probability=r.grounding.answer_support_probability, report_json=to_json(r), created_by="ana",
                created_at=now))
        for audit_id, verdict, edited, note, who in verdict_rows:
            conn.execute(RELEASED_VERDICTS.insert().values(audit_id=audit_id, verdict=verdict, edited_answer=edited,
                                                           note=note, reviewer=who, created_at=now))
    engine.dispose()
    return reports, verdict_rows


def test_a_released_store_upgrades_in_place_with_every_audit_and_verdict(url):
    reports, verdict_rows = _write_released_store(url)
    store = Store(url)  # upgrades
    tables = set(inspect(store.engine).get_table_names())
    assert {"audits", "verdicts", "runs", "run_items", "bad_rows", "assignments", "alembic_version"} <= tables
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == HEAD
    audits = sorted(store.list_audits(), key=lambda a: a.id)
    assert [a.id for a in audits] == [1, 2, 3]
    for a, original in zip(audits, reports):
        assert results_equal(store.load_report(a.id), original)
        assert results_equal(from_json(to_json(store.load_report(a.id))), original)
    assert [a.latest_verdict for a in audits] == ["accept", "edit", "accept"]
    assert store.count_verdicts() == len(verdict_rows)
    history = store.history(2)
    assert [(h["verdict"], h["reviewer"], h["note"], h["edited_answer"]) for h in history] == \
        [("reject", "bo", "", None), ("edit", "ana", "trimmed", "Paris is the capital.")]
    # the upgraded store works as a new one: new audits and verdicts, and the new tables take a run
    new_id = store.save_audit(_report(9), "dee")
    store.add_verdict(new_id, "reject", "dee")
    from explainers.batch.runs import RunStore
    from explainers.batch.triage import TriagePolicy

    run = RunStore(store).create_run("after-upgrade", "x.jsonl", {}, TriagePolicy(), "dee")
    assert RunStore(Store(url)).get_run("after-upgrade").id == run.id  # reopening is a no-op upgrade
    assert len(Store(url).list_audits()) == 4


def test_a_store_from_a_newer_release_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    store = Store(url)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099_future'")
    store.engine.dispose()
    with pytest.raises(InputError, match="newer"):
        Store(url)


def _write_store_at(url: str, revision: str) -> None:
    """An empty store as the given release wrote it: the pre-migration tables, or migrations up to ``revision``."""
    engine = create_engine(url)
    if revision == "released":
        RELEASED.create_all(engine)
    else:
        from alembic import command

        from explainers.migrations import _config

        with engine.begin() as conn:
            command.upgrade(_config(conn), revision)
    engine.dispose()


@pytest.mark.parametrize("revision", ["released", "0002_runs"])
def test_duplicate_versions_from_a_race_are_renumbered_and_nothing_is_lost(url, revision):
    """A store in which racing writers stored two "version 2"s (and two "version 1"s of another audit) upgrades:
    every row keeps its id, report and verdicts; the later row of each pair gets the next free version."""
    _write_store_at(url, revision)
    # (key, version) in the order written; rows 3 and 6 repeat a version an earlier row already has
    written = [("a", 1), ("a", 2), ("a", 2), ("a", 3), ("b", 1), ("b", 1), ("c", 1)]
    reports = [_report(k) for k in range(len(written))]
    now = datetime.now(timezone.utc)
    engine = create_engine(url)
    with engine.begin() as conn:
        for (key, version), r in zip(written, reports):
            conn.execute(RELEASED_AUDITS.insert().values(
                audit_key=key, version=version, question=r.question, answer=r.answer, model_id=r.model_id,
                support_probability=r.grounding.answer_support_probability, report_json=to_json(r),
                created_by="ana", created_at=now))
        for audit_id, verdict in [(2, "accept"), (3, "reject"), (3, "accept"), (6, "reject")]:
            conn.execute(RELEASED_VERDICTS.insert().values(audit_id=audit_id, verdict=verdict, note=f"on {audit_id}",
                                                           reviewer="bo", created_at=now))
    engine.dispose()

    store = Store(url)  # upgrades to HEAD
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == HEAD
    by_id = {a.id: a for a in store.list_audits()}
    assert sorted(by_id) == list(range(1, len(written) + 1))
    assert {i: (by_id[i].audit_key, by_id[i].version) for i in by_id} == {
        1: ("a", 1), 2: ("a", 2), 3: ("a", 4), 4: ("a", 3), 5: ("b", 1), 6: ("b", 2), 7: ("c", 1)}
    for i, original in enumerate(reports, 1):
        assert results_equal(store.load_report(i), original)
    assert [(h["verdict"], h["note"]) for h in store.history(3)] == [("reject", "on 3"), ("accept", "on 3")]
    assert [h["verdict"] for h in store.history(6)] == ["reject"] and store.count_verdicts() == 4
    assert [v.id for v in store.versions("a")] == [1, 2, 4, 3]  # version order; row 3 is now version 4
    # the next save of each audit takes the version after its highest, and the index refuses a repeat
    assert store.audit_meta(store.save_audit(_report(9), "cy", audit_key="a"))["version"] == 5
    assert store.audit_meta(store.save_audit(_report(9), "cy", audit_key="b"))["version"] == 3
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        r = _report(10)
        conn.execute(RELEASED_AUDITS.insert().values(
            audit_key="c", version=1, question=r.question, answer=r.answer, model_id="m", report_json=to_json(r),
            created_by="x", created_at=now))


def test_run_items_written_before_the_reason_column_upgrade_with_their_data(url):
    """A store at 0003 holding a run item upgrades to 0004: the item keeps every value and reads an empty reason."""
    import json

    import sqlalchemy as sa

    from explainers.batch.runs import RunStore

    _write_store_at(url, "0003_unique_audit_version")
    now = datetime.now(timezone.utc)
    r = _report(1)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(RELEASED_AUDITS.insert().values(
            audit_key="run-k", version=1, question=r.question, answer=r.answer, model_id=r.model_id,
            support_probability=0.2, report_json=to_json(r), created_by="ana", created_at=now))
        conn.execute(sa.text("INSERT INTO runs (name, source, options_json, policy_json, created_by, created_at) "
                             "VALUES ('old', 'x.jsonl', '{}', :p, 'ana', :t)"),
                     {"p": json.dumps({"flag_below": 0.5, "accept_above": 0.9, "spot_check_share": 0.05}), "t": now})
        conn.execute(sa.text("INSERT INTO run_items (run_id, row_id, line_no, audit_id, support_probability, "
                             "n_sentences, n_flagged_sentences, label, model, source_names_json, spot_draw, created_at) "
                             "VALUES (1, 'r1', 3, 1, 0.2, 2, 1, 'supported', 'm', '[\"doc\"]', 0.5, :t)"), {"t": now})
    engine.dispose()
    runs = RunStore(Store(url))  # upgrades
    [item] = runs.items(runs.get_run("old"))
    assert (item.row_id, item.line_no, item.support_probability, item.n_flagged_sentences, item.model,
            item.source_names, item.reason) == ("r1", 3, 0.2, 1, "m", ("doc",), "")
    assert results_equal(runs.store.load_report(item.audit_id), r)

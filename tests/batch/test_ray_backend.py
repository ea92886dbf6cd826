"""The Ray backend gives the same audits as the local one on the same rows."""

import pytest

from explainers.batch.audit import BatchOptions, Detector
from explainers.batch.pipeline import run_batch
from explainers.batch.reader import ColumnMap
from explainers.batch.runs import RunStore
from explainers.store import Store

ray = pytest.importorskip("ray")


def test_ray_backend_equals_local(tmp_path, make_rows, make_jsonl, embedder, monkeypatch):
    data = make_jsonl(tmp_path / "d.jsonl", make_rows(12), ['{"id": "bad", "question": "q", "knowledge": "k"}'])
    runs = RunStore(Store(f"sqlite:///{tmp_path / 'a.db'}"))
    options = BatchOptions(verifier="none")
    cols = ColumnMap(label="label", model="model")
    # this process reuses the session's embedder; the Ray actors load their own
    monkeypatch.setattr(Detector, "load", classmethod(lambda cls, o: Detector(o, embedder=embedder)))
    local = run_batch(str(data), "local", cols, options, runs, batch_size=4)
    remote = run_batch(str(data), "ray", cols, options, runs, backend="ray", workers=2, batch_size=4)
    assert not ray.is_initialized()  # the local Ray started for the run is shut down after it
    assert (local.audited, local.flagged, [b.line_no for b in local.skipped]) == \
        (remote.audited, remote.flagged, [b.line_no for b in remote.skipped]) == (12, local.flagged, [13])
    a = {it.row_id: it for it in runs.items(runs.get_run("local"))}
    b = {it.row_id: it for it in runs.items(runs.get_run("ray"))}
    assert a.keys() == b.keys()
    for row_id, it in a.items():
        assert it.support_probability == pytest.approx(b[row_id].support_probability, abs=1e-5)
        assert (it.n_flagged_sentences, it.label, it.model) == (b[row_id].n_flagged_sentences, b[row_id].label, b[row_id].model)
        ga = runs.store.load_report(it.audit_id).grounding
        gb = runs.store.load_report(b[row_id].audit_id).grounding
        assert [s.label for s in ga.sentences] == [s.label for s in gb.sentences]
        assert [s.reasons for s in ga.sentences] == [s.reasons for s in gb.sentences]

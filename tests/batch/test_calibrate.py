"""Learning from reviewers: the refit fusion follows the team's verdicts; the shipped fusion stays as it is."""

import hashlib
import json
from importlib import resources

import pytest

from explainers import InputError
from explainers.batch.audit import BatchOptions, Detector
from explainers.batch.calibrate import calibrate_run, load_named_fusion
from explainers.batch.pipeline import run_batch
from explainers.batch.reader import ColumnMap
from explainers.batch.runs import RunStore
from explainers.cli import main
from explainers.store import Store

PLACES = [("Paris", "France", "Seine"), ("Berlin", "Germany", "Spree"), ("Madrid", "Spain", "Manzanares"),
          ("Rome", "Italy", "Tiber"), ("Vienna", "Austria", "Danube"), ("Prague", "Czechia", "Vltava"),
          ("Warsaw", "Poland", "Vistula"), ("Lisbon", "Portugal", "Tagus"), ("Dublin", "Ireland", "Liffey"),
          ("Bern", "Switzerland", "Aare"), ("Oslo", "Norway", "Akerselva"), ("Athens", "Greece", "Kifisos")]
# (answer template, the team's verdict): true paraphrases, which the shipped lexical fusion flags for their
# wording, are accepted; invented numbers are rejected.
ANSWERS = [("{city} is the capital of {country}.", "accept"),
           ("The river {river} flows through {city}.", "accept"),
           ("{city} is known for its old town and its museums.", "accept"),
           ("The seat of government of {country} is {city}.", "accept"),
           ("{city} lies on the banks of the {river}.", "accept"),
           ("Visitors to {city} find museums and an old town.", "accept"),
           ("{city} was founded in {year}.", "reject"),
           ("{city} has {n} museums in its old town.", "reject")]


def _rows():
    out = []
    for city, country, river in PLACES:
        source = (f"{city} is the capital of {country}. The river {river} flows through {city}. "
                  f"{city} is known for its old town and its museums.")
        for k, (template, verdict) in enumerate(ANSWERS):
            answer = template.format(city=city, country=country, river=river, year=900 + 37 * len(out), n=len(out) + 3)
            out.append({"id": f"{city}-{k}", "question": f"Tell me about {city}.", "knowledge": source,
                        "answer": answer, "team_verdict": verdict})
    return out


@pytest.fixture()
def reviewed_run(tmp_path, embedder, monkeypatch):
    """A run audited by the lexical detector whose reviewers judge facts, not wording (see ANSWERS)."""
    monkeypatch.setenv("AUDITLENS_DATA_DIR", str(tmp_path / "data"))
    options = BatchOptions(verifier="none")
    # the session's embedder, no second load; a named fusion is read as Detector.load reads it
    monkeypatch.setattr(Detector, "load", classmethod(lambda cls, o: Detector(
        o, embedder=embedder, fusion=load_named_fusion(o.fusion) if o.fusion else None)))
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    url = f"sqlite:///{tmp_path / 'a.db'}"
    runs = RunStore(Store(url))
    run_batch(str(data), "team", ColumnMap(), options, runs)
    run = runs.get_run("team")
    for k, it in enumerate(sorted(runs.items(run), key=lambda it: it.line_no)):
        runs.store.add_verdict(it.audit_id, _rows()[k]["team_verdict"], "ana")
        if k % 12 == 0:
            runs.store.add_verdict(it.audit_id, "edit", "bo", edited_answer="x")  # a disagreement: left out
    return url, runs, run


def test_calibration_improves_the_fit_and_never_touches_the_shipped_fusion(reviewed_run, tmp_path, capsys):
    url, runs, run = reviewed_run
    shipped = resources.files("explainers").joinpath("data", "grounding_fusion_lexical.json")
    shipped_hash = hashlib.sha256(shipped.read_bytes()).hexdigest()
    result = calibrate_run(runs, run, folds=4)
    assert result.left_out["disagreement"] == 8 and result.n_items == 96 - 8
    assert result.after["balanced_accuracy"] > result.before["balanced_accuracy"] + 0.1, (result.before, result.after)
    assert result.after["log_loss"] < 0.5 * result.before["log_loss"]
    assert result.after["auroc"] >= result.before["auroc"]
    assert result.fusion.coef[list(result.fusion.features).index("novel_numbers")] < 0

    # through the CLI: saved by name, used by a new run, the shipped file unchanged; never under a shipped name
    assert main(["calibrate", "--run", "team", "--name", "team-fusion", "--folds", "4", "--database", url]) == 0
    out = capsys.readouterr().out
    assert "before" in out and "after" in out and "saved as fusion 'team-fusion'" in out
    assert main(["calibrate", "--run", "team", "--name", "lexical", "--database", url]) == 2
    assert "never replaced" in capsys.readouterr().err
    assert main(["calibrate", "--run", "team", "--name", "team-fusion", "--database", url]) == 2  # exists
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == shipped_hash
    fusion = load_named_fusion("team-fusion")
    assert fusion.meta["run"] == "team" and fusion.meta["cv_after"]["auroc"] > fusion.meta["cv_before"]["auroc"]

    data = tmp_path / "some.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows()[:8]))
    summary = run_batch(str(data), "team-2", ColumnMap(), BatchOptions(verifier="none", fusion="team-fusion"), runs)
    assert summary.audited == 8
    rerun = {it.row_id: it for it in runs.items(runs.get_run("team-2"))}
    g = runs.store.load_report(rerun["Paris-1"].audit_id).grounding
    assert g.params["fusion"] == "team-fusion"
    weakest = min(g.sentences, key=lambda s: s.support_probability)
    assert weakest.support_probability == pytest.approx(float(fusion.predict([weakest.signals])[0]))


def test_calibration_needs_enough_verdicts_of_both_kinds(tmp_path):
    from explainers.batch.triage import TriagePolicy

    runs = RunStore(Store(f"sqlite:///{tmp_path / 'e.db'}"))
    run = runs.create_run("unreviewed", "x.jsonl", {}, TriagePolicy(), "ana")
    with pytest.raises(InputError, match="both accept and reject"):
        calibrate_run(runs, run)

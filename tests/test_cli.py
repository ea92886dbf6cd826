import json
import subprocess
import sys

import pytest

from explainers.cli import main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "explainers.cli", *args], capture_output=True, text=True, timeout=300)


def test_help_lists_commands():
    out = _run("--help")
    assert out.returncode == 0
    for cmd in ("serve", "generate", "attribute", "methods"):
        assert cmd in out.stdout


def test_generate_json_mentions_paris():
    out = _run("generate", "--question", "What is the capital of France?", "--context",
               "Paris is the capital of France.", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert "Paris" in data["answer"]
    assert data["model"] == "smollm2-135m-instruct"


def test_attribute_writes_the_shared_json(tmp_path, lm):
    from explainers.types import TextAttribution, from_json

    out = tmp_path / "a.json"
    html = tmp_path / "a.html"
    code = main(["attribute", "--prompt", "The capital of France is", "--raw", "--answer", " Paris",
                 "--method", "feature_ablation", "--granularity", "word", "--json", str(out), "--html", str(html)])
    assert code == 0
    result = from_json(out.read_text())
    assert isinstance(result, TextAttribution)
    assert [u.text.strip() for u in result.input_units] == ["The", "capital", "of", "France", "is"]
    assert "<script" not in html.read_text().lower()


def test_cli_errors_are_clear(capsys, tmp_path):
    code = main(["attribute", "--prompt", "   ", "--raw", "--answer", "x", "--method", "saliency",
                 "--json", str(tmp_path / "x.json")])
    assert code == 2
    assert "prompt is empty" in capsys.readouterr().err
    code = main(["attribute", "--prompt", "hello", "--raw", "--answer", "x", "--method", "nope",
                 "--json", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown text method 'nope'" in err and "integrated_gradients" in err


@pytest.mark.parametrize("missing", ["--question"])
def test_generate_requires_question(missing):
    out = _run("generate", "--json")
    assert out.returncode != 0 and missing in out.stderr


def test_perturb_modes_write_results_and_edits_replay(tmp_path, lm):
    from explainers.text.context import ContextAttribution, ContextReliance, EditResult
    from explainers.types import from_json

    s1, s2 = tmp_path / "s1.txt", tmp_path / "s2.md"
    s1.write_text("Many visitors bring tents. The Zorblax festival is held in the town of Quenby every spring.")
    s2.write_text("# Pets\n\nCats are popular pets in many countries.")
    common = ["perturb", "--question", "Where is the Zorblax festival held?", "--sources", str(s1), str(s2),
              "--answer", "The Zorblax festival is held in Quenby."]
    assert main(common + ["--mode", "loo", "--no-regenerate", "--json", str(tmp_path / "loo.json")]) == 0
    loo = from_json((tmp_path / "loo.json").read_text())
    assert isinstance(loo, ContextAttribution) and "Quenby" in loo.units[int(loo.answer_scores.argmax())].text
    assert main(common + ["--mode", "reliance", "--json", str(tmp_path / "rel.json")]) == 0
    assert isinstance(from_json((tmp_path / "rel.json").read_text()), ContextReliance)
    edit = '{"op": "replace", "unit": "text", "where": "source 1", "match": "Quenby", "replacement": "Arlesford"}'
    assert main(common + ["--mode", "edit", "--edit", edit, "--json", str(tmp_path / "e.json")]) == 0
    first = from_json((tmp_path / "e.json").read_text())
    assert isinstance(first, EditResult) and first.edited_log_prob < first.base_log_prob
    (tmp_path / "edits.json").write_text(json.dumps(list(first.edits)))
    assert main(common + ["--mode", "edit", "--edits-file", str(tmp_path / "edits.json"),
                          "--json", str(tmp_path / "e2.json")]) == 0
    again = from_json((tmp_path / "e2.json").read_text())
    assert again.edited_log_prob == first.edited_log_prob and again.regenerated == first.regenerated
    bad = '{"op": "remove", "unit": "text", "where": "source 1", "match": "Atlantis"}'
    assert main(common + ["--mode", "edit", "--edit", bad]) == 2  # a clear error, not a traceback


def test_backup_command_copies_the_store(tmp_path):
    from explainers.store import Store
    from explainers.types import AuditReport

    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = Store(url)
    store.add_verdict(store.save_audit(AuditReport(question="q?", answer="a."), "ana"), "accept", "ana")
    assert main(["backup", str(tmp_path / "b.db"), "--database", url]) == 0
    assert Store(f"sqlite:///{tmp_path / 'b.db'}").count_verdicts() == 1
    assert main(["backup", str(tmp_path / "b.db"), "--database", url]) == 2  # never overwrites

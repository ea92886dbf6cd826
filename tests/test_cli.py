import json
import subprocess
import sys
import time

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


def _tree(root):
    """Every path under ``root`` with its bytes (folders as None): what a command must leave alone."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def test_index_never_replaces_a_folder_or_file_that_is_not_an_index(tmp_path, capsys, monkeypatch):
    doc = tmp_path / "doc.md"
    doc.write_text("The Eiffel Tower is 330 metres tall.")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    (mine / "sub").mkdir()
    (mine / "sub" / "data.csv").write_text("1,2,3")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    fake = tmp_path / "fake"  # a manifest that is not ours
    fake.mkdir()
    (fake / "manifest.json").write_text('{"name": "some other tool"}')
    (fake / "photo.jpg").write_bytes(b"\xff\xd8")
    monkeypatch.chdir(mine)
    before = _tree(tmp_path)
    for target in (str(mine), str(a_file), str(fake), ".", "..", "x" * 300):
        assert main(["index", str(doc), "--index", target]) == 2, target
        err = capsys.readouterr().err.strip()
        assert err.startswith("auditlens: error:") and len(err.splitlines()) == 1, err
    assert _tree(tmp_path) == before  # nothing deleted, renamed or added


def test_index_is_written_to_a_new_folder_and_over_its_own_index(tmp_path, embedder, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text("The Eiffel Tower is 330 metres tall. It was finished in 1889.")
    idx = tmp_path / "idx"
    assert main(["index", str(doc), "--index", str(idx)]) == 0
    assert sorted(p.name for p in idx.iterdir()) == ["chunks.jsonl", "index.faiss", "manifest.json"]
    doc2 = tmp_path / "doc2.md"
    doc2.write_text("The Great Barrier Reef lies off Queensland.")
    assert main(["index", str(doc2), "--index", str(idx)]) == 0
    assert "(2 in all)" in capsys.readouterr().out
    (idx / "my-notes.txt").write_text("not part of the index")
    assert main(["index", str(doc), "--index", str(idx)]) == 2  # replacing would delete my-notes.txt
    assert "my-notes.txt" in capsys.readouterr().err and (idx / "my-notes.txt").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_outputs_are_checked_before_work_and_never_overwritten_without_force(tmp_path, capsys):
    existing = tmp_path / "result.json"
    existing.write_text("precious")
    prompt = ["attribute", "--prompt", "The capital of France is", "--raw", "--answer", " Paris",
              "--method", "saliency"]
    for out in (existing, tmp_path / "missing" / "r.json", tmp_path):
        started = time.perf_counter()
        assert main(prompt + ["--json", str(out)]) == 2
        assert time.perf_counter() - started < 5  # refused before the model is loaded
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert existing.read_text() == "precious" and not (tmp_path / "missing").exists()
    assert main(["gradcam", "img.png", "--out", str(tmp_path / "o.txt")]) == 2
    assert "end the name with .png" in capsys.readouterr().err


def test_backup_replaces_only_with_force_and_touches_nothing_else(tmp_path, capsys):
    from explainers.store import Store
    from explainers.types import AuditReport

    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = Store(url)
    store.add_verdict(store.save_audit(AuditReport(question="q?", answer="a."), "ana"), "accept", "ana")
    out = tmp_path / "b.db"
    out.write_text("not a backup")
    (tmp_path / "b.db.partial").write_text("someone's file")
    assert main(["backup", str(out), "--database", url]) == 2
    assert out.read_text() == "not a backup"
    assert main(["backup", str(out), "--database", url, "--force"]) == 0
    assert Store(f"sqlite:///{out}").count_verdicts() == 1
    assert (tmp_path / "b.db.partial").read_text() == "someone's file"
    assert main(["backup", str(tmp_path), "--database", url, "--force"]) == 2  # a folder is never replaced
    for bad_url in ("nonsense://", "sqlite:////no/such/folder/x.db", "not a url"):
        assert main(["backup", str(tmp_path / "c.db"), "--database", bad_url]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.startswith("auditlens: error:")
    assert not (tmp_path / "c.db").exists()

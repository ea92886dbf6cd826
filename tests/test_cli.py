import json
import re
import subprocess
import sys
import time

import pytest

from explainers.cli import main


def _run(*args):
    return subprocess.run([sys.executable, "-m", "explainers.cli", *args], capture_output=True, text=True, timeout=300)


def _subcommands() -> dict:
    import argparse

    from explainers.cli import build_parser

    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_lists_every_subcommand_with_its_help(capsys):
    commands = _subcommands()
    assert len(commands) >= 12 and {"index", "ask", "ground", "eval-grounding", "methods", "prepare"} <= set(commands)
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for name in commands:
        assert re.search(rf"^\s+{re.escape(name)}\s+\S", out, re.M), f"{name} is not listed with its help"
    for name in commands:  # and each one's own --help works
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        assert exit_.value.code == 0 and f"usage: auditlens {name}" in capsys.readouterr().out.replace("\n", " ")


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


@pytest.mark.parametrize("argv, missing", [
    (["generate", "--json"], "--question"),
    (["ask", "--index", "idx"], "--question"),
    (["ask", "--question", "q?"], "--index"),
    (["ground", "--sources", "a.md"], "--answer"),
    (["ground", "--answer", "x"], "--index --sources"),
    (["attribute", "--prompt", "p", "--answer", "a"], "--json"),
    (["gradcam", "cat.png"], "--out"),
    (["index", "a.md"], "--index"),
    (["eval-grounding"], "data"),
])
def test_each_required_option_is_named_when_missing(argv, missing, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and all(m in err for m in missing.split()), err
    assert len(err.strip().splitlines()) == 1  # one line, no usage dump or traceback


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
    fresh = tmp_path / "plain-folder"
    fresh.mkdir()
    assert idx.stat().st_mode & 0o777 == fresh.stat().st_mode & 0o777  # a folder's usual mode, not mkdtemp's 0700
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


# ------------------------------------------------------------------------------------ the bad-input class
# Every subcommand fed empty, binary, non-UTF-8, missing, malformed-JSON, out-of-range and unwritable-output
# inputs: each must end with exit 2, one readable line on stderr, no traceback, and nothing but the named output
# touched. {d} is a folder of such files (made by _bad_files), {o} a folder for outputs.
DEEP = "[" * 100_000 + "]" * 100_000
MANIFEST = '{"version": 1, "embedding_model": "all-minilm-l6-v2", "dimension": 384, "chunks": 1}'
def _foreign_db() -> bytes:
    """Another application's SQLite database: a store command must leave it exactly as it is."""
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        conn = sqlite3.connect(f"{folder}/f.db")
        conn.execute("CREATE TABLE contacts (name TEXT)")
        conn.execute("INSERT INTO contacts VALUES ('ana')")
        conn.commit()
        conn.close()
        with open(f"{folder}/f.db", "rb") as fh:
            return fh.read()


BAD_FILES = {
    "foreign.db": _foreign_db(), "card.json": b"someone's notes, beside where an adapter would go",
    "empty.txt": b"", "empty.md": b"", "binary.bin": bytes(range(256)) * 4, "binary.txt": b"\x00\x01\x02text",
    "latin1.txt": "café au lait".encode("latin-1"), "latin1.jsonl": '{"knowledge": "café"}'.encode("latin-1"),
    "doc.md": b"The Eiffel Tower is 330 metres tall.", "image.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    "bad.json": b'{"op": ', "list.json": b"[1, 2]", "empty_obj.json": b"{}", "deep.json": DEEP.encode(),
    "number.json": b"42", "unknown_key.json": b'[{"op": "remove", "unit": "source", "where": "source 1", "x": 1}]',
    "bad.jsonl": b"{not json\n", "deep.jsonl": DEEP.encode() + b"\n", "list.jsonl": b"[1]\n",
    "nolabel.jsonl": b'{"knowledge": "k", "answer": "a"}\n',
    "badlabel.jsonl": b'{"knowledge": "k", "answer": "a", "label": "maybe"}\n',
    "types.jsonl": b'{"knowledge": 5, "answer": "a", "label": "supported"}\n',
    "two.jsonl": b'{"id": "q1", "knowledge": "Paris is in France.", "question": "Where?", "answer": "Paris.", '
                 b'"label": "supported"}\n{"id": "q1-h", "knowledge": "Paris is in France.", "question": "Where?", '
                 b'"answer": "Rome.", "label": "hallucinated"}\n',
    "existing.json": b"precious", "crafted/manifest.json": b"[]", "crafted2/manifest.json": b'{"version": "1"}',
    "crafted3/manifest.json": b"\xff\xfe", "crafted4/manifest.json": MANIFEST.encode(),
    "crafted4/index.faiss": b"not faiss", "crafted4/chunks.jsonl": b"[1]\n", "somedir/keep.txt": b"keep",
    "afile": b"a file, not a folder",
}
E = '{"op": "remove", "unit": "source", "where": "source 1"}'
TEXT_CMD = ["attribute", "--prompt", "The capital of France is", "--raw", "--answer", " Paris"]
PERTURB = ["perturb", "--question", "Q?", "--sources", "{d}/doc.md", "--answer", "A."]
GROUND = ["ground", "--sources", "{d}/doc.md", "--answer", "It is 330 metres tall."]
BAD_CLI = {
    # no or unknown subcommand, unknown option
    "no-command": [], "unknown-command": ["frobnicate"], "unknown-option": ["methods", "--bogus"],
    # serve / generate
    "serve-port-0": ["serve", "--port", "0"], "serve-port-text": ["serve", "--port", "x"],
    "serve-port-big": ["serve", "--port", "70000"],
    "generate-empty-question": ["generate", "--question", " "],
    "generate-context-missing": ["generate", "--question", "Q?", "--context-file", "{d}/missing.txt"],
    "generate-context-binary": ["generate", "--question", "Q?", "--context-file", "{d}/binary.bin"],
    "generate-context-latin1": ["generate", "--question", "Q?", "--context-file", "{d}/latin1.txt"],
    "generate-max-tokens-0": ["generate", "--question", "Q?", "--max-new-tokens", "0"],
    "generate-seed-negative": ["generate", "--question", "Q?", "--seed", "-1"],
    # attribute
    "attribute-empty-prompt": ["attribute", "--prompt", "", "--answer", "x", "--json", "{o}/a.json"],
    "attribute-prompt-file-missing": ["attribute", "--prompt-file", "{d}/missing.txt", "--answer", "x",
                                      "--json", "{o}/a.json"],
    "attribute-prompt-file-empty": ["attribute", "--prompt-file", "{d}/empty.txt", "--answer", "x",
                                    "--json", "{o}/a.json"],
    "attribute-prompt-file-binary": ["attribute", "--prompt-file", "{d}/binary.bin", "--answer", "x",
                                     "--json", "{o}/a.json"],
    "attribute-prompt-file-latin1": ["attribute", "--prompt-file", "{d}/latin1.txt", "--answer", "x",
                                     "--json", "{o}/a.json"],
    "attribute-params-invalid-json": TEXT_CMD + ["--params", "{n_steps: 3", "--json", "{o}/a.json"],
    "attribute-params-list": TEXT_CMD + ["--params", "[1]", "--json", "{o}/a.json"],
    "attribute-params-deep": TEXT_CMD + ["--params", DEEP[:20_000], "--json", "{o}/a.json"],
    "attribute-params-unknown-key": TEXT_CMD + ["--params", '{"bogus": 1}', "--json", "{o}/a.json"],
    "attribute-params-wrong-type": TEXT_CMD + ["--method", "integrated_gradients", "--params",
                                               '{"n_steps": "many"}', "--json", "{o}/a.json"],
    "attribute-shapley-n-samples-0": TEXT_CMD + ["--method", "shapley_sampling", "--params", '{"n_samples": 0}',
                                                 "--json", "{o}/a.json"],
    "attribute-unknown-method": TEXT_CMD + ["--method", "nope", "--json", "{o}/a.json"],
    "attribute-json-missing-folder": TEXT_CMD + ["--json", "{o}/missing/a.json"],
    "attribute-json-is-folder": TEXT_CMD + ["--json", "{o}"],
    "attribute-json-exists": TEXT_CMD + ["--json", "{d}/existing.json"],
    "attribute-json-under-a-file": TEXT_CMD + ["--json", "{d}/afile/a.json"],
    "attribute-json-unwritable": TEXT_CMD + ["--json", "/proc/auditlens-test/a.json"],
    "attribute-html-missing-folder": TEXT_CMD + ["--json", "{o}/a.json", "--html", "{o}/missing/a.html"],
    "attribute-time-limit-0": TEXT_CMD + ["--json", "{o}/a.json", "--time-limit", "0"],
    "attribute-time-limit-nan": TEXT_CMD + ["--json", "{o}/a.json", "--time-limit", "nan"],
    "attribute-max-tokens-negative": TEXT_CMD + ["--json", "{o}/a.json", "--max-new-tokens", "-5"],
    # gradcam
    "gradcam-missing": ["gradcam", "{d}/missing.png", "--out", "{o}/o.png"],
    "gradcam-empty": ["gradcam", "{d}/empty.txt", "--out", "{o}/o.png"],
    "gradcam-binary": ["gradcam", "{d}/binary.bin", "--out", "{o}/o.png"],
    "gradcam-latin1": ["gradcam", "{d}/latin1.txt", "--out", "{o}/o.png"],
    "gradcam-truncated-png": ["gradcam", "{d}/image.png", "--out", "{o}/o.png"],
    "gradcam-out-txt": ["gradcam", "{d}/image.png", "--out", "{o}/o.txt"],
    "gradcam-out-missing-folder": ["gradcam", "{d}/image.png", "--out", "{o}/missing/o.png"],
    "gradcam-params-invalid-json": ["gradcam", "{d}/image.png", "--out", "{o}/o.png", "--params", "{"],
    "gradcam-params-unknown-key": ["gradcam", "{d}/image.png", "--out", "{o}/o.png", "--params", '{"zz": 1}'],
    "gradcam-unknown-method": ["gradcam", "{d}/image.png", "--out", "{o}/o.png", "--method", "nope"],
    # index
    "index-missing-doc": ["index", "{d}/missing.md", "--index", "{o}/idx"],
    "index-empty-doc": ["index", "{d}/empty.md", "--index", "{o}/idx"],
    "index-binary-doc": ["index", "{d}/binary.txt", "--index", "{o}/idx"],
    "index-latin1-doc": ["index", "{d}/latin1.txt", "--index", "{o}/idx"],
    "index-deep-jsonl": ["index", "{d}/deep.jsonl", "--index", "{o}/idx"],
    "index-dot": ["index", "{d}/doc.md", "--index", "."],
    "index-dotdot": ["index", "{d}/doc.md", "--index", ".."],
    "index-long-name": ["index", "{d}/doc.md", "--index", "{o}/" + "n" * 300],
    "index-existing-folder": ["index", "{d}/doc.md", "--index", "{d}/somedir"],
    "index-existing-file": ["index", "{d}/doc.md", "--index", "{d}/existing.json"],
    "index-crafted-manifest": ["index", "{d}/doc.md", "--index", "{d}/crafted"],
    "index-max-chars-0": ["index", "{d}/doc.md", "--index", "{o}/idx", "--max-chars", "0"],
    # ask
    "ask-k-0": ["ask", "--index", "{d}/crafted4", "--question", "Q?", "-k", "0"],
    "ask-k-negative": ["ask", "--index", "{d}/crafted4", "--question", "Q?", "-k", "-3"],
    "ask-empty-question": ["ask", "--index", "{d}/crafted4", "--question", ""],
    "ask-missing-index": ["ask", "--index", "{d}/missing", "--question", "Q?"],
    "ask-index-is-file": ["ask", "--index", "{d}/existing.json", "--question", "Q?"],
    "ask-manifest-list": ["ask", "--index", "{d}/crafted", "--question", "Q?"],
    "ask-manifest-types": ["ask", "--index", "{d}/crafted2", "--question", "Q?"],
    "ask-manifest-not-utf8": ["ask", "--index", "{d}/crafted3", "--question", "Q?"],
    "ask-crafted-index-files": ["ask", "--index", "{d}/crafted4", "--question", "Q?"],
    # ground
    "ground-k-0": ["ground", "--index", "{d}/crafted4", "--answer", "A.", "-k", "0"],
    "ground-k-negative": ["ground", "--index", "{d}/crafted4", "--answer", "A.", "-k", "-1"],
    "ground-empty-answer": ["ground", "--sources", "{d}/doc.md", "--answer", " "],
    "ground-sources-missing": ["ground", "--sources", "{d}/missing.md", "--answer", "A."],
    "ground-sources-binary": ["ground", "--sources", "{d}/binary.txt", "--answer", "A."],
    "ground-sources-latin1": ["ground", "--sources", "{d}/latin1.txt", "--answer", "A."],
    "ground-sources-empty": ["ground", "--sources", "{d}/empty.md", "--answer", "A."],
    "ground-crafted-manifest": ["ground", "--index", "{d}/crafted", "--answer", "A."],
    "ground-json-missing-folder": GROUND + ["--json", "{o}/missing/g.json"],
    "ground-json-exists": GROUND + ["--json", "{d}/existing.json"],
    # eval-grounding
    "eval-missing": ["eval-grounding", "{d}/missing.jsonl"],
    "eval-empty": ["eval-grounding", "{d}/empty.txt"],
    "eval-binary": ["eval-grounding", "{d}/binary.bin"],
    "eval-latin1": ["eval-grounding", "{d}/latin1.jsonl"],
    "eval-invalid-json": ["eval-grounding", "{d}/bad.jsonl"],
    "eval-deep-json": ["eval-grounding", "{d}/deep.jsonl"],
    "eval-list-row": ["eval-grounding", "{d}/list.jsonl"],
    "eval-missing-field": ["eval-grounding", "{d}/nolabel.jsonl"],
    "eval-bad-label": ["eval-grounding", "{d}/badlabel.jsonl"],
    "eval-wrong-type": ["eval-grounding", "{d}/types.jsonl"],
    "eval-folds-0": ["eval-grounding", "{d}/two.jsonl", "--folds", "0"],
    "eval-folds-1": ["eval-grounding", "{d}/two.jsonl", "--folds", "1"],
    "eval-folds-negative": ["eval-grounding", "{d}/two.jsonl", "--folds", "-1"],
    "eval-folds-100": ["eval-grounding", "{d}/two.jsonl", "--folds", "100"],
    "eval-folds-over-questions": ["eval-grounding", "{d}/two.jsonl", "--folds", "2"],
    "eval-limit-negative": ["eval-grounding", "{d}/two.jsonl", "--limit", "-1"],
    "eval-save-fusion-missing-folder": ["eval-grounding", "{d}/two.jsonl", "--save-fusion", "{o}/no/f.json"],
    "eval-save-fusion-exists": ["eval-grounding", "{d}/two.jsonl", "--save-fusion", "{d}/existing.json"],
    # train-verifier: every check before any pair is made or model loaded
    "train-passages-missing": ["train-verifier", "--passages", "{d}/missing.jsonl", "--out", "{o}/v.safetensors"],
    "train-passages-binary": ["train-verifier", "--passages", "{d}/binary.bin", "--out", "{o}/v.safetensors"],
    "train-passages-latin1": ["train-verifier", "--passages", "{d}/latin1.jsonl", "--out", "{o}/v.safetensors"],
    "train-passages-invalid-json": ["train-verifier", "--passages", "{d}/bad.jsonl", "--out", "{o}/v.safetensors"],
    "train-passages-not-objects": ["train-verifier", "--passages", "{d}/list.jsonl", "--out", "{o}/v.safetensors"],
    "train-n-pairs-0": ["train-verifier", "--n-pairs", "0", "--out", "{o}/v.safetensors"],
    "train-lm-paraphrases-negative": ["train-verifier", "--lm-paraphrases", "-1", "--out", "{o}/v.safetensors"],
    "train-out-missing-folder": ["train-verifier", "--passages", "{d}/two.jsonl", "--out", "{o}/no/v.safetensors"],
    "train-out-exists": ["train-verifier", "--passages", "{d}/two.jsonl", "--out", "{d}/existing.json"],
    "train-fusion-only-without-verifier": ["train-verifier", "--passages", "{d}/two.jsonl", "--fusion-only",
                                           "--out", "{o}/v.safetensors"],
    "ground-verifier-missing": GROUND + ["--verifier", "{d}/missing.safetensors"],
    "ground-time-limit-0": GROUND + ["--time-limit", "0"],
    # perturb
    "perturb-sources-missing": ["perturb", "--question", "Q?", "--sources", "{d}/missing.md", "--answer", "A.",
                                "--mode", "loo"],
    "perturb-sources-binary": ["perturb", "--question", "Q?", "--sources", "{d}/binary.txt", "--answer", "A.",
                               "--mode", "loo"],
    "perturb-sources-latin1": ["perturb", "--question", "Q?", "--sources", "{d}/latin1.txt", "--answer", "A.",
                               "--mode", "loo"],
    "perturb-sources-empty": ["perturb", "--question", "Q?", "--sources", "{d}/empty.md", "--answer", "A.",
                              "--mode", "loo"],
    "perturb-empty-answer": ["perturb", "--question", "Q?", "--sources", "{d}/doc.md", "--answer", "",
                             "--mode", "loo"],
    "perturb-bad-mode": PERTURB + ["--mode", "explode"],
    "perturb-edit-invalid-json": PERTURB + ["--mode", "edit", "--edit", "{op: remove"],
    "perturb-edit-empty-object": PERTURB + ["--mode", "edit", "--edit", "{}"],
    "perturb-edit-list": PERTURB + ["--mode", "edit", "--edit", f"[{E}]"],
    "perturb-edit-unknown-key": PERTURB + ["--mode", "edit", "--edit", E[:-1] + ', "colour": "red"}'],
    "perturb-edit-wrong-type": PERTURB + ["--mode", "edit", "--edit", E[:-1] + ', "index": "first"}'],
    "perturb-edit-bad-op": PERTURB + ["--mode", "edit", "--edit", E.replace("remove", "explode")],
    "perturb-edit-none": PERTURB + ["--mode", "edit"],
    "perturb-edits-file-missing": PERTURB + ["--mode", "edit", "--edits-file", "{d}/missing.json"],
    "perturb-edits-file-invalid": PERTURB + ["--mode", "edit", "--edits-file", "{d}/bad.json"],
    "perturb-edits-file-empty": PERTURB + ["--mode", "edit", "--edits-file", "{d}/empty.txt"],
    "perturb-edits-file-binary": PERTURB + ["--mode", "edit", "--edits-file", "{d}/binary.bin"],
    "perturb-edits-file-latin1": PERTURB + ["--mode", "edit", "--edits-file", "{d}/latin1.txt"],
    "perturb-edits-file-empty-object": PERTURB + ["--mode", "edit", "--edits-file", "{d}/empty_obj.json"],
    "perturb-edits-file-list-of-numbers": PERTURB + ["--mode", "edit", "--edits-file", "{d}/list.json"],
    "perturb-edits-file-number": PERTURB + ["--mode", "edit", "--edits-file", "{d}/number.json"],
    "perturb-edits-file-deep": PERTURB + ["--mode", "edit", "--edits-file", "{d}/deep.json"],
    "perturb-edits-file-unknown-key": PERTURB + ["--mode", "edit", "--edits-file", "{d}/unknown_key.json"],
    "perturb-n-ablations-0": PERTURB + ["--mode", "ablate", "--n-ablations", "0"],
    "perturb-threshold-nan": PERTURB + ["--mode", "reliance", "--threshold", "nan"],
    "perturb-json-missing-folder": PERTURB + ["--mode", "loo", "--json", "{o}/missing/p.json"],
    "perturb-json-exists": PERTURB + ["--mode", "loo", "--json", "{d}/existing.json"],
    # backup
    "backup-bad-url": ["backup", "{o}/b.db", "--database", "nonsense://"],
    "backup-not-a-url": ["backup", "{o}/b.db", "--database", "just words"],
    "backup-url-missing-folder": ["backup", "{o}/b.db", "--database", "sqlite:///{d}/no/such/x.db"],
    "backup-postgres-unreachable-driver": ["backup", "{o}/b.db", "--database", "postgresql+nodriver://u@h/db"],
    "backup-out-exists": ["backup", "{d}/existing.json", "--database", "sqlite:///{o}/s.db"],
    "backup-out-folder": ["backup", "{o}", "--database", "sqlite:///{o}/s.db"],
    "backup-out-missing-folder": ["backup", "{o}/missing/b.db", "--database", "sqlite:///{o}/s.db"],
    "backup-out-unwritable": ["backup", "/proc/auditlens-test.db", "--database", "sqlite:///{o}/s.db"],
    "backup-out-empty-name": ["backup", "", "--database", "sqlite:///{o}/s.db"],
    # the review store: another application's database, an empty file and a mistyped path are never written
    # (connecting alone would switch a SQLite file to WAL mode); a driver that is not installed is named
    "backup-foreign-db": ["backup", "{o}/b.db", "--database", "sqlite:///{d}/foreign.db"],
    "triage-foreign-db": ["triage", "--run", "x", "--database", "sqlite:///{d}/foreign.db"],
    "triage-empty-file": ["triage", "--run", "x", "--database", "sqlite:///{d}/empty.txt"],
    "triage-mistyped-path": ["triage", "--run", "x", "--database", "sqlite:///{o}/typo.db"],
    "export-mistyped-path": ["export", "--run", "x", "--json", "{o}/r.json", "--database", "sqlite:///{o}/typo.db"],
    "assign-store-folder": ["assign", "--run", "x", "--reviewers", "ana", "--database", "sqlite:///{d}/somedir"],
    "triage-driver-missing": ["triage", "--run", "x", "--database", "mysql://u@localhost/db"],
    "audit-batch-foreign-db": ["audit-batch", "{d}/two.jsonl", "--run", "r", "--verifier", "none",
                               "--database", "sqlite:///{d}/foreign.db"],
    # audit-batch: the data and the options are checked before the store is created or a run named
    "audit-batch-not-parquet": ["audit-batch", "{d}/image.png", "--format", "parquet", "--run", "r",
                                "--database", "sqlite:///{o}/s.db"],
    "audit-batch-unknown-fusion": ["audit-batch", "{d}/two.jsonl", "--run", "r", "--fusion", "nosuch",
                                   "--verifier", "none", "--database", "sqlite:///{o}/s.db"],
    "audit-batch-unknown-fusion-workers": ["audit-batch", "{d}/two.jsonl", "--run", "r", "--fusion", "nosuch",
                                           "--workers", "2", "--database", "sqlite:///{o}/s.db"],
    "audit-batch-verifier-not-safetensors": ["audit-batch", "{d}/two.jsonl", "--run", "r", "--verifier",
                                             "{d}/existing.json", "--database", "sqlite:///{o}/s.db"],
    "audit-batch-unknown-method": ["audit-batch", "{d}/two.jsonl", "--run", "r", "--verifier", "none",
                                   "--attribute", "all", "--method", "nosuch", "--database", "sqlite:///{o}/s.db"],
    "audit-batch-data-folder": ["audit-batch", "{d}/somedir", "--run", "r", "--database", "sqlite:///{o}/s.db"],
    "audit-batch-empty-file": ["audit-batch", "{d}/empty.txt", "--format", "jsonl", "--run", "r",
                               "--database", "sqlite:///{o}/s.db"],
    "audit-batch-mistyped-answer-column": ["audit-batch", "{d}/two.jsonl", "--answer-col", "reply", "--run", "r",
                                           "--database", "sqlite:///{o}/s.db"],
    "audit-batch-jsonl-read-as-csv": ["audit-batch", "{d}/two.jsonl", "--format", "csv", "--run", "r",
                                      "--database", "sqlite:///{o}/s.db"],
    "ground-verifier-not-safetensors": GROUND + ["--verifier", "{d}/existing.json"],
    # two outputs on one file: the second would replace the first
    "attribute-json-and-html-one-file": TEXT_CMD + ["--json", "{o}/x", "--html", "{o}/x"],
    "export-json-and-csv-one-file": ["export", "--run", "x", "--json", "{o}/x", "--csv", "{o}/x",
                                     "--database", "sqlite:///{o}/s.db"],
    # train-verifier: its card (<out>.json) and temporary file are outputs too
    "train-out-not-safetensors": ["train-verifier", "--passages", "{d}/two.jsonl", "--out", "{o}/v.json"],
    "train-card-exists": ["train-verifier", "--passages", "{d}/two.jsonl", "--no-fusion", "--out",
                          "{d}/card.safetensors"],
    "index-missing-parent": ["index", "{d}/doc.md", "--index", "{o}/no/such/idx"],
    "serve-unknown-address": ["serve", "--address", "no.such.host.invalid", "--port", "18599"],
}


def _bad_files(root):
    for name, data in BAD_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


@pytest.mark.parametrize("case", list(BAD_CLI))
def test_every_bad_input_is_one_clear_line_and_exit_2(case, tmp_path, monkeypatch, capsys):
    d, o = tmp_path / "in", tmp_path / "out"
    d.mkdir()
    o.mkdir()
    _bad_files(d)
    if case.startswith("backup-out"):  # a real store to copy, so only the output is wrong
        from explainers.store import Store

        Store(f"sqlite:///{o}/s.db").engine.dispose()
    work = tmp_path / "cwd"  # '.' and '..' must be refused too: run from a folder with something to lose
    work.mkdir()
    (work / "keep.txt").write_text("keep")
    monkeypatch.chdir(work)
    argv = [a.replace("{d}", str(d)).replace("{o}", str(o)) for a in BAD_CLI[case]]
    before = _tree(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, err[-2000:])
    assert "Traceback" not in err + out
    assert len(lines) == 1 and lines[0].startswith("auditlens") and "error" in lines[0], err[-2000:]
    assert len(lines[0]) < 600
    assert _tree(tmp_path) == before  # nothing touched: no output, no temp file, nothing renamed


def test_bad_input_through_the_installed_command():
    """The entry point itself (not only main()): a usage error and an error of ours, each one line."""
    for args in (["ask", "--index", "x", "--question", "q", "-k", "0"], ["attribute", "--prompt", "p",
                                                                          "--params", "{", "--json", "a.json"]):
        out = _run(*args)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


# ------------------------------------------------------------------ retrieval and grounding commands, end to end

TOWER = ("The Eiffel Tower is a wrought-iron lattice tower in Paris. It is 330 metres tall. It was designed by the "
         "engineering company of Gustave Eiffel and completed in 1889.")
REEF = "The Great Barrier Reef lies off the coast of Queensland, Australia. It is the largest coral reef system."


@pytest.fixture()
def tower_index(tmp_path, embedder, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tower.md").write_text("# Eiffel Tower\n\n" + TOWER)
    (docs / "reef.txt").write_text(REEF)
    idx = tmp_path / "idx"
    assert main(["index", str(docs / "tower.md"), str(docs / "reef.txt"), "--index", str(idx)]) == 0
    return docs, idx, capsys.readouterr().out


def test_index_writes_the_chunks_vectors_and_the_embedder_it_used(tower_index, embedder):
    docs, idx, out = tower_index
    assert re.fullmatch(r"indexed 2 documents, (\d+) new chunks \(\1 in all\) into .*idx\n", out), out
    chunks = [json.loads(line) for line in (idx / "chunks.jsonl").read_text().splitlines()]
    assert {c["doc_name"].rsplit("/", 1)[-1] for c in chunks} == {"tower.md", "reef.txt"}
    assert any("330 metres tall" in c["text"] for c in chunks)
    manifest = json.loads((idx / "manifest.json").read_text())
    assert manifest["dimension"] == embedder.dimension and embedder.model_id in json.dumps(manifest)


def test_ask_answers_from_the_retrieved_chunks(tower_index, lm, capsys):
    _, idx, _ = tower_index
    assert main(["ask", "--index", str(idx), "--question", "How tall is the Eiffel Tower?", "-k", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answered"] is True and data["answer"].strip() and data["answer"] != "(no answer)"
    assert "Eiffel" in data["answer"], data["answer"]  # answered from the retrieved chunk
    assert len(data["chunks"]) == 1 and "330 metres" in data["chunks"][0]["text"]
    assert main(["ask", "--index", str(idx), "--question", "Where is the Great Barrier Reef?", "-k", "1"]) == 0
    text = capsys.readouterr().out
    assert "Queensland" in text and "reef.txt" in text


def test_ground_labels_each_sentence_and_writes_the_grounding(tmp_path, embedder, verifier, capsys):
    from explainers.types import Grounding, from_json

    src = tmp_path / "tower.md"
    src.write_text(TOWER)
    out = tmp_path / "g.json"
    answer = "The Eiffel Tower is 330 metres tall. It was designed by Leonardo da Vinci."
    assert main(["ground", "--sources", str(src), "--question", "Tell me about the Eiffel Tower.",
                 "--answer", answer, "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("supported") and "330 metres" in lines[0]
    assert lines[1].split()[0] in ("unsupported", "contradicted") and "Leonardo" in lines[1]
    assert re.fullmatch(r"answer support probability: 0\.\d\d", lines[-1])
    result = from_json(out.read_text())
    assert isinstance(result, Grounding) and [s.label == "supported" for s in result.sentences] == [True, False]
    assert result.sentences[0].source_text and "330" in result.sentences[0].source_text


def test_ground_with_the_lm_needs_the_question_and_invents_none(tmp_path, capsys, monkeypatch):
    from explainers import models

    loads = []
    real_shared = models._shared
    monkeypatch.setattr(models, "_shared", lambda kind, key, factory: loads.append(kind) or real_shared(
        kind, key, factory))
    src = tmp_path / "tower.md"
    src.write_text(TOWER)
    assert main(["ground", "--sources", str(src), "--answer", "It is 330 metres tall.", "--with-lm"]) == 2
    err = capsys.readouterr().err
    assert "--with-lm needs the --question" in err and loads == []  # refused before any model loads


def _labelled(path):
    rows = []
    facts = [("How tall is the tower?", "The tower is 330 metres tall.", "330 metres", "120 metres"),
             ("Where is the reef?", "The reef lies off Queensland.", "off Queensland", "off Tasmania"),
             ("When did it open?", "The bridge opened in 1932.", "in 1932", "in 1957"),
             ("Who wrote it?", "The novel was written by Jane Austen.", "Jane Austen", "Charlotte Bronte"),
             ("What is it made of?", "The statue is made of copper.", "copper", "marble"),
             ("How long is the river?", "The river is 6,650 km long.", "6,650 km", "4,100 km")]
    for k, (q, knowledge, good, bad) in enumerate(facts):
        rows.append({"id": f"q{k}", "knowledge": knowledge, "question": q, "answer": good, "label": "supported"})
        rows.append({"id": f"q{k}-h", "knowledge": knowledge, "question": q, "answer": bad, "label": "hallucinated"})
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return rows


def test_eval_grounding_reports_each_signal_and_saves_a_fusion(tmp_path, embedder, capsys):
    from explainers.retrieval.grounding import NEGATIVE_SIGNALS, Fusion
    from explainers.retrieval.evaluate import default_features

    data = tmp_path / "dev.jsonl"
    _labelled(data)
    fusion = tmp_path / "mine.json"
    assert main(["eval-grounding", str(data), "--folds", "3", "--save-fusion", str(fusion)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("12 answers, 3-fold cross-validation grouped by question")
    table = {line.split()[0]: line.split()[1:] for line in out.splitlines()[3:] if line.split()
             and line.split()[0] in (*default_features(False), "fusion") and "written to" not in line}
    assert set(table) == {*default_features(False), "fusion"} and f"fusion written to {fusion}" in out
    assert all(0.0 <= float(v) <= 1.0 for row in table.values() for v in row)
    assert float(table["content_support"][3]) == 1.0  # raw: each right answer's words are in its source, no wrong one's
    saved = Fusion.from_json(fusion.read_text())
    assert saved.meta["rows"] == 12 and tuple(saved.features) == tuple(default_features(False))
    assert all((w <= 0) == (f in NEGATIVE_SIGNALS) or w == 0 for f, w in zip(saved.features, saved.coef))


def test_methods_lists_every_registered_method_with_its_description(capsys):
    from explainers.registry import list_methods

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for family in ("text", "image"):
        for name in list_methods(family):
            line = next((x for x in out.splitlines() if re.match(rf"{family}\s+{re.escape(name)}\s", x)), None)
            assert line is not None, f"{family} {name} is not listed"
            assert len(line.split(None, 2)) == 3 and len(line.split(None, 2)[2]) > 10, line  # with a description
    assert {"integrated_gradients", "gradcam"} <= set(re.findall(r"^\w+\s+(\w+)", out, re.M))


def test_prepare_makes_the_default_lm_loadable_from_the_cache(capsys):
    from pathlib import Path

    from explainers.models import default_lm_path

    assert main(["prepare"]) == 0
    out = capsys.readouterr().out
    m = re.fullmatch(r"default LM ready at (.+) \((\d+\.\d) s\)\n", out)
    assert m and Path(m.group(1)) == default_lm_path()
    assert (Path(m.group(1)) / "model.safetensors").stat().st_size > 100_000_000  # the converted 135M weights


def test_ask_marks_an_empty_generation_unanswered_instead_of_auditing_a_placeholder(tower_index, lm, capsys,
                                                                                   monkeypatch):
    """When the model's first token ends its turn there is no answer: never the text "(no answer)" shown or
    audited as if the model had said it. (The empty generation is forced here: the real model rarely stops at once.)"""
    from explainers.retrieval import rag

    _, idx, _ = tower_index
    monkeypatch.setattr(rag, "generate_ids", lambda *a, **k: [])
    res = rag.answer_question(lm, rag.ChunkIndex.load(idx, lm_embedder()), "How tall is the Eiffel Tower?", k=1)
    assert not res.answered and res.audit_input is None and res.answer == ""
    assert main(["ask", "--index", str(idx), "--question", "How tall is the Eiffel Tower?", "-k", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["answered"] is False and data["answer"] is None and "330 metres" in data["chunks"][0]["text"]
    assert main(["ask", "--index", str(idx), "--question", "How tall is the Eiffel Tower?", "-k", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("(unanswered: the model generated no text") and "(no answer)" not in out
    assert "tower.md" in out  # the retrieved chunk is still listed


def lm_embedder():
    from explainers.models import load_embedder

    return load_embedder()


def test_serve_on_a_port_in_use_is_one_line_and_exit_2(capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--address", "127.0.0.1", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err and "Traceback" not in err

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

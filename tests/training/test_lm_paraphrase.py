"""The checks that sort LM-written paraphrases into training pairs (no model needed: cosine given)."""

from explainers.training.lm_paraphrase import _clean, judge

SRC = "In 1891, Marie Curie moved to Paris to study physics at the Sorbonne."


def test_reworded_sentence_with_same_facts_is_entailed():
    assert judge(SRC, "Marie Curie relocated to Paris in 1891 so that she could study physics at the Sorbonne.",
                 0.9) == "entailed"


def test_near_copy_is_dropped():
    assert judge(SRC, "In 1891, Marie Curie moved to Paris to study physics.", 0.97) == "drop"


def test_a_name_or_number_the_source_lacks_is_a_hallucination():
    assert judge(SRC, "In 1891, Marie Curie moved to Berlin to study physics at the Sorbonne.", 0.85) == "replaced"
    assert judge(SRC, "In 1893, Marie Curie moved to Paris to study physics at the Sorbonne.", 0.9) == "replaced"
    assert judge(SRC, "In 1891, Marie Curie moved to Paris with Pierre to study physics at the Sorbonne.",
                 0.9) == "added"


def test_changed_negation_low_similarity_and_task_talk_are_dropped():
    assert judge(SRC, "Marie Curie did not relocate to Paris in 1891 to study physics at the Sorbonne.", 0.9) == "drop"
    assert judge(SRC, "Marie Curie relocated to Paris in 1891 so that she could study physics.", 0.5) == "drop"
    assert judge(SRC, "The original sentence says that Curie went to Paris in 1891.", 0.9) == "drop"


def test_clean_keeps_the_first_line_without_quotes_or_labels():
    assert _clean('  "Rewritten: Curie went to Paris."\nMore text') == "Curie went to Paris."


def test_lm_rewrites_become_labelled_pairs_and_are_cached(tmp_path):
    """The default LM rewrites a few sentences; every kept pair has a label the checks gave; a second call
    reads the cache (the LM is not asked again)."""
    from explainers.models import load_embedder, load_lm
    from explainers.training.lm_paraphrase import paraphrase_pairs
    from explainers.training.verifier_data import LABELS

    passages = [["Marie Curie was born in Warsaw in 1867 and moved to Paris in 1891 to study physics.",
                 "She won the Nobel Prize in Physics in 1903 and the Nobel Prize in Chemistry in 1911."],
                ["The bridge over the river was completed in 1932 after four years of construction work.",
                 "Heavy rains in 1936 damaged its northern pier, which engineers rebuilt within a year."]]
    pairs, counts = paraphrase_pairs(passages, load_lm(), load_embedder(), 4, seed=3, cache_dir=tmp_path)
    assert counts["sentences"] == 4
    assert sum(counts[k] for k in ("entailed", "added", "replaced", "drop")) == 4
    assert len(list(tmp_path.glob("paraphrases-*.json"))) == 1
    for p in pairs:
        assert p.kind.startswith("lm_") and p.label in range(len(LABELS)) and p.claim.strip()
        assert p.evidence in " ".join(passages[0]) or p.evidence in " ".join(passages[1])

    class NoLM:  # the cache answers; generating again would fail
        model_id = load_lm().model_id

    again, counts2 = paraphrase_pairs(passages, NoLM(), load_embedder(), 4, seed=3, cache_dir=tmp_path)
    assert again == pairs and counts2 == counts


def test_a_base_lm_without_chat_template_gets_the_examples_as_plain_text():
    from explainers.training.lm_paraphrase import SHOTS, _prompt

    class BaseTokenizer:
        chat_template = None

    prompt = _prompt(BaseTokenizer(), SRC)
    assert prompt.endswith(f"Sentence: {SRC}\nIn other words:")
    assert all(a in prompt and b in prompt for a, b in SHOTS)
    # what such a model writes next runs on into a new example: only the first line is kept
    assert _clean(" Curie went to Paris in 1891.\n\nSentence: The bridge ...") == "Curie went to Paris in 1891."

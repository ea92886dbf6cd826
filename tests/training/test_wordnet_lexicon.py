"""WordNet substitutions for the verifier's reworded entailed claims: the sense a word mostly has, inflected
like the word, never a name, an antonym, a negation or a quantifier."""

from collections import Counter

import pytest

pytest.importorskip("wn")

from explainers.retrieval.grounding.lexicon import ANTONYMS, NEGATION_WORDS, QUANTIFIERS  # noqa: E402
from explainers.training.verifier_data import ENTAILED, generate, passages_from_texts  # noqa: E402
from explainers.training.wordnet_lexicon import _inflect_verb, _plural, substitutions, vocabulary  # noqa: E402

TEXTS = [
    "The company purchased two factories in 1998 and quickly expanded its production. The conflicts in the region "
    "delayed the shipments, and the firm needed new roads. The council approved the plan after a referendum.",
    "The government established a commission to examine the accident. Its members demonstrated that the bridge "
    "had collapsed because of corrosion. The commission recommended rapid repairs and frequent inspections.",
    "Taiwan and China signed an agreement on trade. The island exports machinery and electronics. Farmers grow "
    "rice on terraces, and the population increased slowly. The country remained neutral during the war.",
] * 3  # every word at least three times: the lexicon keeps only words the passages use
# other passages' words: a substitution must be a word the corpus uses
OTHER = ["They bought land, showed the results, required help, set up a school, founded a town, fought struggles "
         "and battles, increased pay, stayed calm and grew fast."] * 3


@pytest.fixture(scope="module")
def table():
    return substitutions(vocabulary(TEXTS + OTHER))


def test_inflection_follows_the_word_it_replaces():
    assert _inflect_verb("take up", "past") == "took up"
    assert _inflect_verb("step up", "past") == "stepped up"
    assert _inflect_verb("set up", "ing") == "setting up"
    assert _inflect_verb("go along", "3sg") == "goes along"
    assert _inflect_verb("carry", "past") == "carried"
    assert _inflect_verb("open", "past") == "opened"
    assert _plural("struggle") == "struggles" and _plural("body") == "bodies" and _plural("man") == "men"


def test_substitutions_are_familiar_words_in_the_same_form(table):
    vocab = vocabulary(TEXTS + OTHER)
    assert {"conflicts", "remained", "established"} <= set(table), sorted(table)
    protected = {w for pair in ANTONYMS for w in pair} | set(NEGATION_WORDS) | set(QUANTIFIERS)
    for form, subs in table.items():
        assert form not in protected
        for sub in subs:
            assert sub != form
            assert all(w in vocab for w in sub.split()), (form, sub)  # these are inflected like the corpus
            # the passages' own words (inflected), never a protected one
            assert not set(sub.split()) & protected, (form, sub)
        if form.endswith("ed"):  # a past form is replaced by a past form
            assert all(s.split()[0].endswith(("ed", "t", "d", "n")) or s.split()[0] in {"took", "made", "got", "ran"}
                       for s in subs), (form, subs)
    # inflected like the word: a past for a past, a plural for a plural
    assert "struggles" in table["conflicts"] and "stayed" in table["remained"] and "set up" in table["established"]
    # a past that may be a participle ("was demonstrated") is not given a verb whose two forms differ ("showed")
    assert "showed" not in table.get("demonstrated", ())
    # "bought" is a word of the antonym list (bought / sold): never a substitution
    assert "purchased" not in table
    # names are facts: no name is replaced by another (Taiwan is no "China")
    assert "taiwan" not in table and "china" not in table


def test_generate_rewords_entailed_claims_with_them(table):
    passages = passages_from_texts(TEXTS)
    plain = generate(passages, 400, seed=1)
    assert plain == generate(passages, 400, seed=1, synonyms=None)  # without the table: the recipe as it was
    worded = generate(passages, 400, seed=1, synonyms=table)
    assert worded == generate(passages, 400, seed=1, synonyms=table)  # seeded
    substituted = {s for subs in table.values() for s in subs}
    entailed = [p for p in worded if p.label == ENTAILED and p.kind != "identity"]
    reworded = [p for p in entailed if any(f" {s} " in f" {p.claim.lower()} " and s not in p.evidence.lower()
                                           for s in substituted)]
    assert len(reworded) >= 0.05 * len(entailed), (len(reworded), len(entailed))
    kinds = Counter(p.kind for p in reworded)
    assert len(kinds) >= 3, kinds  # not one kind only: clauses, fusions, restructurings are reworded too


def test_same_table_every_time():
    # no randomness in the table; generate's seed decides which substitution a claim gets
    assert substitutions(vocabulary(TEXTS + OTHER)) == substitutions(vocabulary(TEXTS + OTHER))

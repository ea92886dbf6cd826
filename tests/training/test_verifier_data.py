"""The verifier's training-data recipe: seeded, labelled by what each transformation does to the meaning."""

import random
from collections import Counter

from explainers.training.verifier_data import (CONTRADICTED, ENTAILED, NEUTRAL, generate, negate, number_words,
                                               passages_from_texts, reverse_cause, shuffle_words, swap_within)

TEXTS = [
    "Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891 to study physics. She won the Nobel Prize "
    "in Physics in 1903 and the Nobel Prize in Chemistry in 1911. Her long exposure to radiation caused her illness.",
    "The Eiffel Tower was completed in 1889 for the World's Fair. It is 330 metres tall and has three levels. "
    "Gustave Eiffel's company designed and built the tower. Heavy rain led to delays in 1888.",
    "The central bank raised its main rate to 5 percent in March. Inflation had increased for seven months. "
    "Several members of the board opposed the decision. The rise caused a fall in mortgage lending.",
]


def test_same_seed_same_pairs_and_every_label_present():
    passages = passages_from_texts(TEXTS)
    a, b = generate(passages, 300, seed=3), generate(passages, 300, seed=3)
    assert a == b and a != generate(passages, 300, seed=4)
    labels = Counter(p.label for p in a)
    assert labels[ENTAILED] > 60 and labels[CONTRADICTED] > 60 and labels[NEUTRAL] > 30
    kinds = {p.kind for p in a}
    assert {"negation", "number_swap", "role_swap", "causal_reversal", "shuffled_evidence", "frame",
            "edited_both", "addition"} <= kinds, kinds


def test_transformations_change_what_they_say():
    rng = random.Random(0)
    assert negate("She was born in Warsaw.", rng) == "She was not born in Warsaw."
    assert negate("She was not born in Warsaw.", rng) == "She was born in Warsaw."
    # MiniLM is uncased: only the order matters to it
    assert reverse_cause("Heavy rain led to delays in 1888.").lower() == "delays in 1888 led to heavy rain."
    swapped = swap_within("She won physics in 1903 and chemistry in 1911.", rng)
    assert swapped in ("She won physics in 1911 and chemistry in 1903.",)
    assert number_words("It has 3 levels.", rng) == "It has three levels."
    salad = shuffle_words("The tower was designed by Gustave Eiffel.", rng)
    assert sorted(salad.lower().rstrip(".").split()) == sorted("the tower was designed by gustave eiffel".split())


def test_edits_on_both_sides_are_entailed_and_the_claim_matches_the_evidence():
    passages = passages_from_texts(TEXTS)
    both = [p for p in generate(passages, 600, seed=1) if p.kind == "edited_both"]
    assert both and all(p.label == ENTAILED for p in both)
    contradicted = [p for p in generate(passages, 600, seed=1) if p.kind == "negation"]
    assert all(p.claim not in p.evidence for p in contradicted)


def test_restructurings_move_words_and_keep_the_roles():
    from explainers.training.verifier_data import (back_phrase, possessive_swap, reduce_relative, restructure,
                                                   swap_conjuncts, to_active, to_passive, voice_role_swap)

    rng = random.Random(0)
    assert to_passive("The French captured Algiers in 1830.") == "Algiers was captured by the French in 1830."
    assert to_passive("Portugal acquired the islands in 1580.") == "The islands were acquired by Portugal in 1580."
    assert to_active("Algiers was captured by the French in 1830.") == "The French captured Algiers in 1830."
    # the roles reversed with the words kept: what a role swap looks like in the passive
    assert voice_role_swap("The French captured Algiers in 1830.") == "The French was captured by Algiers in 1830."
    # a second clause may share the subject: voice is left alone, as is a fronted time clause
    assert to_passive("The French settled Grenada in 1650, and imported slaves.") is None
    assert to_passive("After Iraq invaded Kuwait in 1990.") is None
    assert to_passive("Council of Ministers appointed by the president.") is None
    assert back_phrase("In March 2019, a team at Szeged reported a copper framework.") == \
        "A team at Szeged reported a copper framework in March 2019."
    # a dated phrase before two clauses belongs to both: not moved behind the second
    assert back_phrase("In 2014, VAZ was elected, and in 2019, he completed a term.") is None
    assert swap_conjuncts("Some protests turned violent, and the demonstrations spread to other cities.") == \
        "The demonstrations spread to other cities, and some protests turned violent."
    assert swap_conjuncts("The islands were charted in 1803, and then they were settled by farmers.") is None
    assert reduce_relative("The anthem, which was banned in 1966, is sung today.") == \
        "The anthem, banned in 1966, is sung today."
    assert possessive_swap("Kvikk's chief executive said so.", rng) == "The chief executive of Kvikk said so."
    assert possessive_swap("A team led by Ilona Varga reported it.", rng) == "Ilona Varga's team reported it."
    assert possessive_swap("It lies near the capital of Yerevan.", rng) is None  # Yerevan is the capital
    # every restructuring keeps the sentence's names and numbers
    for s in ("The French captured Algiers in 1830.", "In 1966, Joaquin Balaguer defeated Bosch in the election."):
        out = restructure(s, random.Random(1))
        assert out and out != s
        for word in ("1830", "Algiers", "French") if "Algiers" in s else ("1966", "Balaguer", "Bosch"):
            assert word in out


def test_recipe_has_restructured_positives_and_restructured_contradictions():
    passages = passages_from_texts(TEXTS + [
        "The French captured Algiers in 1830. In 1962, Algeria won its independence from France. "
        "Portugal acquired the islands in 1580, and Spain ruled them until 1640."])
    pairs = generate(passages, 800, seed=2)
    restructured = [p for p in pairs if p.kind == "restructure"]
    assert len(restructured) > 20 and all(p.label == ENTAILED for p in restructured)
    assert all(p.claim != p.evidence for p in restructured)

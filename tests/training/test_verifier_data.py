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

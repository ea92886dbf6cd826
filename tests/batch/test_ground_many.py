"""Batch grounding reads every answer's claim windows in one verifier call, and equals grounding each alone."""

import numpy as np

from explainers.errors import ExplainerError
from explainers.models import load_embedder
from explainers.retrieval.grounding import ground, ground_many

ITEMS = [
    ("Marie Curie was born in Warsaw. She moved to Paris in 1891.",
     ["Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891 to study physics."], "Who was she?"),
    ("", ["An empty answer cannot be grounded."], "q"),
    ("Marie Curie was not born in Warsaw.", ["Marie Curie was born in Warsaw in 1867."], ""),
    ("The bridge opened in 1932 and carries six lanes.",
     ["The Sydney Harbour Bridge opened in 1932. It carries eight lanes of road traffic."], "When did it open?"),
]


class CountingVerifier:
    def __init__(self, verifier):
        self.verifier, self.calls, self.pairs = verifier, 0, 0
        self.model_id = verifier.model_id

    def predict(self, pairs, **kw):
        self.calls += 1
        self.pairs += len(pairs)
        return self.verifier.predict(pairs, **kw)


def test_ground_many_equals_ground_one_by_one_with_one_verifier_call():
    from explainers.models import load_verifier

    emb, counting = load_embedder(), CountingVerifier(load_verifier())
    many = ground_many(ITEMS, embedder=emb, verifier=counting)
    assert counting.calls == 1 and counting.pairs >= 3  # every answer's windows in one call
    assert isinstance(many[1], ExplainerError) and "empty" in str(many[1])  # a bad item is named, others go on
    labels = []
    for (answer, sources, question), batched in zip(ITEMS, many):
        if isinstance(batched, Exception):
            continue
        alone = ground(answer, sources, question, embedder=emb)
        assert [s.label for s in batched.sentences] == [s.label for s in alone.sentences]
        assert [s.reasons for s in batched.sentences] == [s.reasons for s in alone.sentences]
        np.testing.assert_allclose([s.support_probability for s in batched.sentences],
                                   [s.support_probability for s in alone.sentences], atol=1e-5)
        labels.append([s.label for s in batched.sentences])
    assert labels[0] == ["supported", "supported"]
    assert labels[1] == ["contradicted"]

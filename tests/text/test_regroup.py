import numpy as np
import pytest

from explainers.errors import InputError
from explainers.text.explain import explain, regroup


@pytest.mark.parametrize("granularity", ["word", "sentence", "span"])
def test_regrouping_token_gradients_equals_computing_at_that_granularity(lm, rag_input, granularity):
    token = explain(lm, rag_input, "input_x_gradient", "token")
    direct = explain(lm, rag_input, "input_x_gradient", granularity)
    fast = regroup(token, rag_input, granularity)
    assert [u.text for u in fast.input_units] == [u.text for u in direct.input_units]
    assert [u.text for u in fast.output_units] == [u.text for u in direct.output_units]
    assert np.allclose(fast.scores, direct.scores, rtol=1e-4, atol=1e-6)
    assert np.allclose(fast.sequence_scores, direct.sequence_scores, rtol=1e-4, atol=1e-6)
    for k in ("log_prob", "entropy", "rank"):
        assert np.allclose(fast.step_scores[k], direct.step_scores[k], rtol=1e-6)


def test_perturbation_methods_are_not_regrouped(lm, france):
    token = explain(lm, france, "feature_ablation", "token")
    with pytest.raises(InputError, match="perturbs whole units"):
        regroup(token, france, "word")

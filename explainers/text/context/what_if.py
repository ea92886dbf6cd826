"""What-if: the answer re-scored (whole and per sentence) and regenerated under edited inputs; ``replay`` runs a
stored what-if again from its data."""

from __future__ import annotations

import time
from typing import Any, Sequence

from ...errors import InputError
from ...models import LanguageModel
from ...types import EditResult
from ..explain import answer_units
from ..lm import Progress, answer_log_probs, build_prompt, tokenize_prompt
from .edits import apply_edits
from .units import prepared, scaled, sentence_sums, word_diff
from .units import regenerate as regenerate_answer


def what_if(lm: LanguageModel, question: str, sources: Sequence[str], answer: str,
            edits: Sequence[dict[str, Any]], *, regenerate: bool = True, max_new_tokens: int | None = None,
            progress: Progress | None = None) -> EditResult:
    """Score the original answer under the edited prompt and regenerate the answer from it.

    ``progress`` is called before scoring, between scoring batches and while the answer is regenerated, so a time
    limit wrapped around it (``limits.time_limited``) stops the run with ``TimeLimitError``."""
    started = time.perf_counter()
    if not edits:
        raise InputError("give at least one edit")
    edits = [dict(e) for e in edits]
    new_q, new_srcs = apply_edits(question, sources, edits)
    inp = prepared(lm, question, sources, answer)
    edited_ids, _, _ = tokenize_prompt(lm, build_prompt(lm, new_q, new_srcs))
    if progress:
        progress(0.0, "scoring the answer under the edits")
    logp = answer_log_probs(lm, [inp.prompt_ids, edited_ids], inp.answer_ids,
                            progress=scaled(progress, 0.0, 0.6 if regenerate else 1.0))
    out_units, out_groups = answer_units(inp, "sentence")
    sent = sentence_sums(logp, out_groups)
    regenerated, diff = "", ()
    if regenerate:
        if progress:
            progress(0.6, "regenerating the answer")
        regenerated = regenerate_answer(lm, edited_ids, inp.n_answer, max_new_tokens, scaled(progress, 0.6, 1.0))
        diff = word_diff(inp.answer, regenerated)
    if progress:
        progress(1.0, "done")
    return EditResult(edits=tuple(edits), model_id=lm.model_id, question=question, sources=tuple(sources),
                      edited_question=new_q, edited_sources=tuple(new_srcs), answer=inp.answer,
                      base_log_prob=float(logp[0].sum()), edited_log_prob=float(logp[1].sum()),
                      answer_units=out_units, sentence_deltas=sent[1] - sent[0], regenerated=regenerated, diff=diff,
                      params={"regenerate": regenerate, "max_new_tokens": max_new_tokens},
                      elapsed_s=time.perf_counter() - started)


def replay(lm: LanguageModel, result: EditResult, *, progress: Progress | None = None) -> EditResult:
    """Run a stored what-if again from its data (question, sources, answer, edits)."""
    return what_if(lm, result.question, result.sources, result.answer, result.edits,
                   regenerate=bool(result.params.get("regenerate", True)),
                   max_new_tokens=result.params.get("max_new_tokens"), progress=progress)

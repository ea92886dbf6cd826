"""Context reliance: log p(token | prompt with sources) - log p(token | prompt without sources) per answer token,
and with the sources shuffled as a control; content words the model would have produced anyway are flagged as
coming from its prior. ``claim_reliance`` gives the same quantity per answer claim, as grounding fuses it."""

from __future__ import annotations

import re
import time
from typing import Sequence

import numpy as np

from ...errors import InputError
from ...models import LanguageModel
from ...retrieval.grounding.lexicon import STOP_WORDS as _STOP
from ...types import ContextReliance, Unit
from ..aggregate import _anchor, sentence_spans, word_spans
from ..lm import Progress, answer_log_probs
from .units import check_sources, prepared



def _shuffled_sources(sources: Sequence[str], seed: int) -> list[str]:
    """The same sentences in a random order, dealt back into the same number of sources."""
    sentences = [s[a:b] for s in sources for a, b in sentence_spans(s)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sentences))
    if len(sentences) > 1 and np.all(order == np.arange(len(sentences))):
        order = np.roll(order, 1)
    shuffled = [sentences[i] for i in order]
    per = np.array_split(np.arange(len(shuffled)), len(sources))
    return [" ".join(shuffled[i] for i in idx) or "." for idx in per]


def context_reliance(lm: LanguageModel, question: str, sources: Sequence[str], answer: str, *,
                     threshold: float = 1.0, seed: int = 0, progress: Progress | None = None,
                     log_probs_with_sources: Sequence[float] | None = None) -> ContextReliance:
    """How much each answer token depends on the sources; content words under ``threshold`` nats are flagged.

    ``seed`` orders the shuffled-sources control; ``progress`` is called before and between scoring batches (so a
    time limit wrapped around it stops the run). ``log_probs_with_sources``: log p(answer token | the prompt with
    the sources) already computed for this audit (an attribution's teacher-forced pass scores every answer token),
    one per answer token of ``lm``'s tokenisation; given, that pass is not run again (two passes instead of three).
    """
    started = time.perf_counter()
    srcs = check_sources(sources)
    inp = prepared(lm, question, srcs, answer)
    bare = prepared(lm, question, [], inp.answer)
    shuffled = prepared(lm, question, _shuffled_sources(srcs, seed), inp.answer)
    known = None
    if log_probs_with_sources is not None:
        known = np.asarray(log_probs_with_sources, dtype=np.float64)
        if known.shape != (inp.n_answer,) or not np.all(np.isfinite(known)) or np.any(known > 1e-6):
            raise InputError(f"log_probs_with_sources must hold {inp.n_answer} finite log-probabilities (one per "
                             f"answer token), got shape {known.shape}")
    if progress:
        progress(0.0, "scoring the answer with, without and with shuffled sources")
    prompts = [bare.prompt_ids, shuffled.prompt_ids] if known is not None else \
        [inp.prompt_ids, bare.prompt_ids, shuffled.prompt_ids]
    logp = answer_log_probs(lm, prompts, inp.answer_ids, progress=progress)
    with_, without, shuf = (known, *logp) if known is not None else logp
    tokens = tuple(Unit(inp.answer[a:b], a, b) for a, b in inp.answer_offsets)
    words, rel, drop, flags = [], [], [], []
    for a, b in word_spans(inp.answer):
        idx = [i for i, (s, e) in enumerate(inp.answer_offsets) if (anc := _anchor(inp.answer, s, e)) is not None
               and a <= anc < b]
        if not idx:
            continue
        word = inp.answer[a:b]
        r = float((with_[idx] - without[idx]).sum())
        words.append(Unit(word, a, b))
        rel.append(r)
        drop.append(float((with_[idx] - shuf[idx]).sum()))
        content = bool(re.search(r"\w", word)) and word.lower() not in _STOP
        flags.append(content and r < threshold)
    return ContextReliance(model_id=lm.model_id, question=question, answer=inp.answer, tokens=tokens,
                           log_prob_with=with_, log_prob_without=without, log_prob_shuffled=shuf, words=tuple(words),
                           word_reliance=np.array(rel), word_shuffle_drop=np.array(drop), flagged=tuple(flags),
                           threshold=threshold, params={"seed": seed}, elapsed_s=time.perf_counter() - started)


def claim_reliance(lm: LanguageModel, question: str, sources: Sequence[str], answer: str,
                   spans: Sequence[tuple[int, int]], *, progress: Progress | None = None) -> list[float]:
    """Per claim (char offsets in ``answer``, in order): the mean over its tokens of log p(token | question +
    sources) - log p(token | question alone), each token read after everything the answer says before it.

    This is the quantity the grounding fusion was fitted on: there each labelled answer is one claim, scored as the
    whole answer after the prompt (``retrieval.evaluate.compute_features``). So the answer is scored once, teacher
    forced, and each claim's span is widened back to where the previous claim ended (the first to the answer's
    start): every token counts once, reporting frames and joining words go to the claim they introduce, and an
    answer of one claim gets exactly the whole-answer value the fusion saw."""
    if not spans:
        return []
    starts = [int(a) for a, _ in spans]
    ends = [int(b) for _, b in spans]
    if any(b < a for a, b in zip(starts, ends)) or any(a < b0 for a, b0 in zip(starts[1:], ends)):
        raise InputError("claim spans must be in order and must not overlap")
    inp = prepared(lm, question, sources, answer)
    bare = prepared(lm, question, [], inp.answer)
    if progress:
        progress(0.0, "scoring the answer with and without the sources")
    lp = answer_log_probs(lm, [inp.prompt_ids, bare.prompt_ids], inp.answer_ids, progress=progress)
    reliance = lp[0] - lp[1]
    # a token sits where its first visible character is (whitespace-only tokens: where they start)
    where = [anc if (anc := _anchor(inp.answer, s, e)) is not None else s for s, e in inp.answer_offsets]
    out = []
    for k, b in enumerate(ends):
        a = 0 if k == 0 else ends[k - 1]
        b = len(inp.answer) if k == len(ends) - 1 else b
        idx = [i for i, pos in enumerate(where) if a <= pos < b]
        out.append(float(reliance[idx].mean()) if idx else 0.0)
    return out

"""Meaning support: how much of a claim a source window states, in its own words or in others.

Exact word overlap punishes a correct paraphrase ("relocated" for "moved", "took up" for "absorbed"). Here
each content word of the claim is matched to the window's words by the encoder's contextual vectors
(BERTScore-style precision, Zhang et al. 2020): a word the window uses counts 1, any other word counts its
best cosine to a window word. Names and numbers count only when the window has them (a vector for "Warsaw"
is close to one for "Paris"; the swap checks handle those). The claim's score is the best over its windows,
and the least-matched word is kept for the reason shown to the reviewer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .lexical import tokens

# Least recently used texts go first. A text's word vectors take ~25 KB (18 words x 384 floats), so the bound keeps
# a batch audit's memory flat (~50 MB at most) while the sentences of the answers in flight stay cached.
_CACHE: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_CACHE_MAX = 2_048
_LOCK = threading.Lock()


def word_vectors(embedder, texts: Sequence[str]) -> list[np.ndarray]:
    """One unit vector per token of ``tokens(text)`` (the mean of its word pieces), cached per text.

    The cache is read and written under a lock and the vectors a call returns are held by the call: another
    thread clearing it meanwhile cannot turn them into zeros."""
    key = getattr(embedder, "model_id", "")
    with _LOCK:
        found = {t: _CACHE[(key, t)] for t in texts if (key, t) in _CACHE}
        for t in found:
            _CACHE.move_to_end((key, t))
    missing = list(dict.fromkeys(t for t in texts if t not in found))
    if missing and hasattr(embedder, "token_states"):
        fresh = {}
        for text, (offsets, states) in zip(missing, embedder.token_states(missing)):
            toks = tokens(text)
            vecs = np.zeros((len(toks), states.shape[1] if states.ndim == 2 else 1), np.float32)
            for i, t in enumerate(toks):
                inside = (offsets[:, 0] < t.end) & (offsets[:, 1] > t.start) if len(offsets) else np.zeros(0, bool)
                if inside.any():
                    v = states[inside].mean(0)
                    vecs[i] = v / max(float(np.linalg.norm(v)), 1e-9)
            fresh[text] = vecs
        found.update(fresh)
        with _LOCK:
            for t, v in fresh.items():
                _CACHE[(key, t)] = v
                _CACHE.move_to_end((key, t))
            while len(_CACHE) > _CACHE_MAX:
                _CACHE.popitem(last=False)
    return [found.get(t, np.zeros((len(tokens(t)), 1), np.float32)) for t in texts]


@dataclass(frozen=True)
class MeaningMatch:
    support: float  # mean over the claim's content words of their best match in the window (1 = the word itself)
    weakest: str  # the claim word matched least well
    weakest_score: float


def meaning_support(claim: str, window_sentences: Sequence[Sequence[str]], embedder) -> MeaningMatch:
    """Best over windows (each a list of source sentences) of the claim's soft word coverage."""
    c_toks = tokens(claim)
    content = [i for i, t in enumerate(c_toks) if t.content]
    if not content or not window_sentences:
        return MeaningMatch(1.0 if not content else 0.0, "", 1.0 if not content else 0.0)
    sentences = list(dict.fromkeys(s for w in window_sentences for s in w))
    vecs = dict(zip(sentences, word_vectors(embedder, sentences)))
    c_vec = word_vectors(embedder, [claim])[0]
    best = MeaningMatch(-1.0, "", 0.0)
    for window in window_sentences:
        w_toks = [t for s in window for t in tokens(s)]
        w_vec = np.concatenate([vecs[s] for s in window]) if window else np.zeros((0, 1))
        keep = [k for k, t in enumerate(w_toks) if t.content]
        words = {w_toks[k].norm for k in keep}
        sims = c_vec[content] @ w_vec[keep].T if keep and c_vec.shape[1] == w_vec.shape[1] else None
        scores = []
        for row, i in enumerate(content):
            t = c_toks[i]
            if t.norm in words:
                scores.append(1.0)
            elif t.is_number or (t.is_name and i > 0) or sims is None:
                scores.append(0.0)
            else:
                scores.append(float(max(0.0, sims[row].max())))
        k = int(np.argmin(scores))
        match = MeaningMatch(float(np.mean(scores)), c_toks[content[k]].text, scores[k])
        if match.support > best.support:
            best = match
    return best

"""Paraphrases written by the default LM, kept only where checks pass: the verifier's reworded positives.

The rule-based recipe rewrites with a small synonym table and a few syntactic moves, so every entailed claim
it makes stays close to the evidence's wording, and the verifier learned "different words = contradicted"
(hand-written paraphrases got P(contradicted) of about 0.65). Here an LM (the default SmolLM2, or a stronger one
the user names) rewrites source sentences, and each output is sorted by checks that need no model of meaning
beyond the packaged embedder:

- kept as **entailed** when every number and name it has is in the source, negation is unchanged, no
  antonym of a source word appears, no name is said more often than the source says it, its meaning vector is
  close to the source's (cosine >= 0.80), its wording differs (not a near copy) but not by more new content
  words than rewording explains (at most 4, and at most 40 %), and it adds no clause (at most 2 more words);
- kept as **not entailed** when it is about the same thing (cosine >= 0.6) but brings a name or number the
  source does not have: the LM's own slips are natural hallucinations; contradicted when it also drops one of
  the source's (a replacement), neutral when it only adds;
- each kept paraphrase also gives a contradicted pair through an edit of its own (negation, another number,
  swapped names), so that rewording does not become a cue for "entailed".

The raw generations are cached in the user cache directory, keyed by the model, the sentences and the seed
(generation is the slow part: about 1.6 sentences/s on 2 cores); which are kept and how is this code.

Measured with SmolLM2-135M (README): the rewrites are light and, after the checks, still noisy; three retrains
with them left the contrastive sets unchanged within noise, so ``train-verifier`` uses them only when asked.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from typing import Callable, Sequence

from ..retrieval.grounding.lexicon import STOP_WORDS
from .verifier_data import (_ANT, _NAME, _NEG, _NUM, CONTRADICTED, ENTAILED, NEUTRAL, Pair, _window, negate,
                            swap_entity, swap_number)

PROMPT_VERSION = "1"
SHOTS = (("The company was founded in 1998 by two students at Stanford University.",
          "Two Stanford University students started the company in 1998."),
         ("Heavy rains in March caused flooding that destroyed about 2,000 homes.",
          "About 2,000 homes were wrecked by floods that followed the heavy March rains."),
         ("The treaty, signed in Paris, ended the war between Spain and the United States.",
          "The war between the United States and Spain was brought to an end by a treaty signed in Paris."))
_META = re.compile(r"\b(sentence|paraphrase|rewrite|rewritten|original|same facts|other words)\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+")
_ABBREV = re.compile(r"\b[A-Z](?:\.[A-Z])+\.?|\b[A-Z]{2,}\b")


def candidate_sentences(passages: Sequence[Sequence[str]], limit: int, seed: int) -> list[tuple[int, int]]:
    """(passage, sentence) positions of prose sentences (8-40 words, starting with a capital), seeded sample."""
    spots = [(p, i) for p, sents in enumerate(passages) for i, s in enumerate(sents)
             if 8 <= len(s.split()) <= 40 and s[0].isupper()]
    rng = random.Random(seed)
    rng.shuffle(spots)
    return spots[:limit]


def _prompt(tokenizer, sentence: str) -> str:
    if not getattr(tokenizer, "chat_template", None):  # a base LM: the same examples as plain text
        shots = "".join(f"Sentence: {a}\nIn other words: {b}\n\n" for a, b in SHOTS)
        return f"{shots}Sentence: {sentence}\nIn other words:"
    msgs = []
    for a, b in SHOTS:
        msgs += [{"role": "user", "content": f"Rewrite in other words, same facts: {a}"},
                 {"role": "assistant", "content": b}]
    msgs.append({"role": "user", "content": f"Rewrite in other words, same facts: {sentence}"})
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)


def _clean(text: str) -> str:
    text = text.strip().split("\n")[0].strip().strip('"“”').strip()
    text = re.sub(r"^(rewritten|paraphrase|answer|here is[^:]*)\s*:\s*", "", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def generate_paraphrases(sentences: Sequence[str], lm, seed: int = 0, batch_size: int = 48,
                         progress: Callable[[float, str], None] | None = None,
                         cache_dir: Path | None = None) -> list[str]:
    """One sampled rewrite per sentence (cached on disk by model, sentences and seed)."""
    import torch

    key = hashlib.sha256(json.dumps([PROMPT_VERSION, lm.model_id, seed, list(sentences)]).encode()).hexdigest()[:20]
    cache = (cache_dir / f"paraphrases-{key}.json") if cache_dir else None
    if cache is not None and cache.exists():
        try:
            cached = json.loads(cache.read_text(encoding="utf-8"))
            if isinstance(cached, list) and len(cached) == len(sentences):
                return [str(x) for x in cached]
        except (OSError, ValueError):
            pass  # a damaged cache file of ours is rewritten below
    tok = lm.tokenizer
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    out = [""] * len(sentences)
    with lm.lock:
        side, tok.padding_side = tok.padding_side, "left"
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        try:
            for k in range(0, len(order), batch_size):
                idx = order[k:k + batch_size]
                enc = tok([_prompt(tok, sentences[i]) for i in idx], return_tensors="pt", padding=True)
                longest = max(len(tok(sentences[i])["input_ids"]) for i in idx)
                torch.manual_seed(seed * 100_003 + k)
                with torch.inference_mode():
                    gen = lm.model.generate(**{n: t.to(lm.device) for n, t in enc.items()},
                                            max_new_tokens=min(96, int(longest * 1.5) + 8), do_sample=True,
                                            temperature=0.8, top_p=0.9, pad_token_id=pad)
                width = enc["input_ids"].shape[1]
                for row, i in enumerate(idx):
                    out[i] = _clean(tok.decode(gen[row, width:], skip_special_tokens=True))
                if progress:
                    progress(min(1.0, (k + len(idx)) / len(order)), f"LM paraphrases {k + len(idx)}/{len(order)}")
        finally:
            tok.padding_side = side
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".tmp")
        tmp.write_text(json.dumps(out), encoding="utf-8")
        tmp.replace(cache)
    return out


def _nums(s: str) -> set[str]:
    return {m.group(0).replace(",", "") for m in _NUM.finditer(s)}


def _name_words(s: str) -> set[str]:
    return {w.lower() for m in _NAME.finditer(s) for w in m.group(0).split() if w[0].isupper()}


def _name_list(s: str) -> list[str]:
    return [w.lower() for m in _NAME.finditer(s) for w in m.group(0).split() if w[0].isupper()]


def _content(s: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(s) if w.lower() not in STOP_WORDS]


def _bigrams(words: list[str]) -> set[tuple[str, str]]:
    return set(zip(words, words[1:]))


def judge(source: str, para: str, cosine: float) -> str:
    """'entailed', 'added' (a name/number the source lacks), 'replaced' (one of the source's swapped for it),
    or 'drop' (a near copy, off topic, too short, talking about the task, or a change we cannot label)."""
    words = para.split()
    if len(words) < 6 or len(words) > 70 or _META.search(para) or not para[:1].isalnum():
        return "drop"
    src_words = {w.lower() for w in _WORD.findall(source)}
    new_nums = _nums(para) - _nums(source)
    new_names = {w for w in _name_words(para) if w not in src_words}
    new_names |= {a.lower() for a in _ABBREV.findall(para) if a.lower() not in source.lower()}
    if new_nums or new_names:
        if cosine < 0.6:
            return "drop"
        lost = (_nums(source) - _nums(para)) or (_name_words(source) - {w.lower() for w in _WORD.findall(para)})
        return "replaced" if lost else "added"
    if bool(_NEG.search(para)) != bool(_NEG.search(source)):
        return "drop"
    if any(w.lower() in _ANT and _ANT[w.lower()] in src_words and w.lower() not in src_words
           for w in _WORD.findall(para)):
        return "drop"
    if cosine < 0.80:
        return "drop"
    a, b = _content(source), _content(para)
    if not b:
        return "drop"
    names_p, names_s = _name_list(para), _name_list(source)
    if any(names_p.count(w) > names_s.count(w) for w in set(names_p)):
        return "drop"  # one of two names said twice ('the Ralik Chain and the Ralik Chain'): a swap in disguise
    stems = {w[:5] for w in a}
    novel = [w for w in b if w[:5] not in stems]
    if len(novel) > 4 or len(novel) > 0.4 * len(b) or len(b) > len(a) + 2:
        return "drop"  # more new wording than rewording explains, or a clause added: too likely to say more
    if _bigrams(b) and len(_bigrams(b) & _bigrams(a)) / len(_bigrams(b)) > 0.7 and set(b) <= set(a):
        return "drop"  # a near copy (maybe shortened): the recipe has those already
    return "entailed"


def _edit(claim: str, passage: str, evidence: str, rng: random.Random) -> str | None:
    """The claim with one meaning-changing edit: negation, another number of the passage, swapped names."""
    kind = rng.choice(("negate", "number", "name"))
    if kind == "negate":
        return negate(claim, rng)
    if kind == "number":
        return swap_number(claim, [m.group(0) for m in _NUM.finditer(passage)], rng)
    return swap_entity(claim, list(dict.fromkeys(m.group(0) for m in _NAME.finditer(passage))), rng, near=evidence)


def paraphrase_pairs(passages: Sequence[Sequence[str]], lm, embedder, n_sentences: int, seed: int = 0,
                     progress: Callable[[float, str], None] | None = None,
                     cache_dir: Path | None = None) -> tuple[list[Pair], dict]:
    """Pairs from LM rewrites of up to ``n_sentences`` passage sentences, with counts of what the checks kept."""
    import numpy as np

    spots = candidate_sentences(passages, n_sentences, seed)
    if not spots:
        return [], {"sentences": 0}
    sources = [passages[p][i] for p, i in spots]
    paras = generate_paraphrases(sources, lm, seed=seed, progress=progress, cache_dir=cache_dir)
    vecs_s = embedder.encode(sources)
    vecs_p = embedder.encode([p or "." for p in paras])
    cos = (np.asarray(vecs_s) * np.asarray(vecs_p)).sum(1)
    rng = random.Random(seed + 7)
    out: list[Pair] = []
    counts = {"sentences": len(sources), "entailed": 0, "added": 0, "replaced": 0, "drop": 0, "edited": 0}
    for (p, i), source, para, c in zip(spots, sources, paras, cos):
        verdict = judge(source, para, float(c))
        counts[verdict] += 1
        if verdict == "drop":
            continue
        sents = passages[p]
        ev = _window(sents, i, rng)
        if verdict == "entailed":
            out.append(Pair(ev, para, ENTAILED, "lm_paraphrase"))
            wrong = _edit(para, " ".join(sents), ev, rng) or negate(para, rng)
            if wrong and wrong != para:
                out.append(Pair(ev, wrong, CONTRADICTED, "lm_paraphrase_edited"))
                counts["edited"] += 1
        else:
            out.append(Pair(ev, para, CONTRADICTED if verdict == "replaced" else NEUTRAL, f"lm_{verdict}"))
    return out, counts

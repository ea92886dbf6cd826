"""Grounding: is each answer sentence supported by the sources?

No NLI model ships offline, so the verdict fuses signals we do have, each kept as a reason:
- ``content_support``: share of the sentence's content words found in the sources or the question;
- ``source_recall``: share of the words the answer adds beyond the question that the sources hold;
- ``pair_support``: share of adjacent content-word pairs that stand together in one source sentence;
- ``phrase_support``: the same pairs within five content words of each other there (phrasing kept);
- ``bigram_support``: the same pairs adjacent and in order in a source sentence (copied wording);
- ``novel_numbers`` / ``novel_names``: numbers or capitalised names that no source (nor the question) has;
- ``embedding_similarity``: best cosine between the sentence and a source sentence (MiniLM);
- ``context_reliance`` (with an LM): mean per-token log p(sentence | sources) - log p(sentence | no sources);
- ``nli_entailment`` / ``nli_contradiction`` (with a user-supplied NLI model).
A logistic fusion, fitted with cross-validation on labelled data and stored as JSON in the package,
turns them into a support probability; users refit it on their own data (``fit_fusion``).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import EmptyInputError
from ..text.aggregate import sentence_spans
from ..types import Grounding, SentenceGrounding
from .ingest import Chunk, chunks_from_texts

_STOP = set("""a an the and or but if then else of to in on at by for with from as is are was were be been being am
do does did done has have had having it its it's this that these those there here which who whom whose what when where
why how not no nor so than too very can could should would may might must will shall just also only about into over
under after before between during while both each few more most other some such own same all any i you he she we they
me him her us them my your his our their mine yours one ones s t""".split())
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"}
# bigram_support is shown as a signal but left out of the fusion: it rewards copied wording so strongly on
# extractive QA that paraphrased, correct sentences fall below the threshold (measured: 0.05 vs 0.51).
LEXICAL_FEATURES = ("content_support", "source_recall", "pair_support", "phrase_support", "novel_numbers", "novel_names",
                    "embedding_similarity")
LM_FEATURES = ("context_reliance",)
PHRASE_WINDOW = 5  # content words apart that still count as "one phrase" in a source sentence
NEGATIVE_SIGNALS = ("novel_numbers", "novel_names", "nli_contradiction")  # more of it: less supported


def _norm(word: str) -> str:
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


@dataclass(frozen=True)
class _Tok:
    text: str
    norm: str
    start: int
    end: int
    is_number: bool
    is_name: bool
    content: bool


def tokens(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        w = m.group(0)
        norm = _norm(w)
        is_number = w[0].isdigit() or norm in _MONTHS
        is_name = w[0].isupper() and norm not in _STOP
        out.append(_Tok(w, norm, m.start(), m.end(), is_number, is_name, norm not in _STOP and len(norm) > 1 or is_number))
    return out


def _number_forms(tok: _Tok) -> set[str]:
    t = tok.norm.rstrip("%")
    return {t, t.replace(",", "")}


@dataclass(frozen=True)
class _Sources:
    chunks: tuple[Chunk, ...]
    words: frozenset[str]
    where: dict  # word -> ids of the source sentences that hold it
    near: frozenset  # content-word pairs within 3 content words of each other in one source sentence
    adjacent: frozenset  # content-word pairs adjacent, in order, in a source sentence
    numbers: frozenset[str]
    sentences: tuple[tuple[int, int, int], ...]  # (chunk index, start, end) of each source sentence
    sentence_vecs: np.ndarray | None


def _content_bigrams(toks: Sequence[_Tok]) -> set[tuple[str, str]]:
    c = [t.norm for t in toks if t.content]
    return set(zip(c, c[1:]))


_VEC_CACHE: dict[tuple[str, str], np.ndarray] = {}
_VEC_CACHE_MAX = 50_000


def encode_cached(embedder, texts: Sequence[str]) -> np.ndarray:
    """Embed texts in one batch, reusing vectors already computed (the same chunks recur across answers)."""
    key = getattr(embedder, "model_id", "")
    missing = list(dict.fromkeys(t for t in texts if (key, t) not in _VEC_CACHE))
    if missing:
        if len(_VEC_CACHE) + len(missing) > _VEC_CACHE_MAX:
            _VEC_CACHE.clear()
        for t, v in zip(missing, embedder.encode(missing)):
            _VEC_CACHE[(key, t)] = v
    return np.stack([_VEC_CACHE[(key, t)] for t in texts]) if texts else np.zeros((0, embedder.dimension), np.float32)


def prepare_sources(chunks: Sequence[Chunk], embedder=None) -> _Sources:
    words, numbers, sents, where, near, adjacent = set(), set(), [], {}, set(), set()
    for ci, ch in enumerate(chunks):
        toks = tokens(ch.text)
        words.update(t.norm for t in toks)
        for t in toks:
            if t.is_number:
                numbers.update(_number_forms(t))
        for a, b in sentence_spans(ch.text) or [(0, len(ch.text))]:
            sid = len(sents)
            sents.append((ci, a, b))
            sent_toks = tokens(ch.text[a:b])
            for t in sent_toks:
                where.setdefault(t.norm, set()).add(sid)
            content = [t.norm for t in sent_toks if t.content]
            adjacent.update(zip(content, content[1:]))
            for i, w in enumerate(content):
                for v in content[i + 1: i + 1 + PHRASE_WINDOW]:
                    near.add((w, v))
                    near.add((v, w))
    vecs = None
    if embedder is not None and sents:
        vecs = encode_cached(embedder, [chunks[ci].text[a:b] for ci, a, b in sents])
    return _Sources(tuple(chunks), frozenset(words), where, frozenset(near), frozenset(adjacent), frozenset(numbers), tuple(sents), vecs)


def lexical_signals(sentence: str, question: str, src: _Sources) -> tuple[dict[str, float], list[tuple[int, int]], list[str]]:
    """Signals, unsupported spans (offsets in ``sentence``) and human-readable reasons."""
    toks = tokens(sentence)
    q_toks = tokens(question)
    q_words = {t.norm for t in q_toks}
    content = [t for t in toks if t.content]

    def in_sources(t: _Tok) -> bool:
        return t.norm in src.words or bool(t.is_number and _number_forms(t) & src.numbers)

    supported = [t for t in content if in_sources(t) or t.norm in q_words]
    added = [t for t in content if t.norm not in q_words]
    added_supported = [t for t in added if in_sources(t)]
    # Adjacent content-word pairs of the answer that stand together in one source sentence (in any order
    # or form of sentence): catches facts recombined across sources without punishing paraphrase order.
    pairs = _content_bigrams(toks)
    q_pairs = _content_bigrams(q_toks)

    def together(a: str, b: str) -> bool:
        if (a in q_words and b in q_words) or a == b:
            return True
        return bool(src.where.get(a, set()) & src.where.get(b, set())) or (
            (a in q_words and b in src.words) or (b in q_words and a in src.words))
    novel_numbers = [t for t in content if t.is_number and not (_number_forms(t) & src.numbers) and t.norm not in q_words]
    novel_names = [t for t in content if t.is_name and not t.is_number and t.norm not in src.words and t.norm not in q_words]
    signals = {
        "content_support": len(supported) / len(content) if content else 1.0,
        "source_recall": len(added_supported) / len(added) if added else 1.0,
        "pair_support": (sum(together(a, b) for a, b in pairs) / len(pairs)) if pairs else 1.0,
        "bigram_support": (sum((a, b) in src.adjacent or (a, b) in q_pairs for a, b in pairs)
                           / len(pairs)) if pairs else 1.0,
        "phrase_support": (sum((a, b) in src.near or (a, b) in q_pairs for a, b in pairs) / len(pairs))
        if pairs else 1.0,
        "novel_numbers": float(len(novel_numbers)),
        "novel_names": float(len(novel_names)),
    }
    unsupported = [(t.start, t.end) for t in content if t not in supported]
    reasons = []
    if novel_numbers:
        reasons.append("numbers or dates in no source: " + ", ".join(t.text for t in novel_numbers))
    if novel_names:
        reasons.append("names in no source: " + ", ".join(t.text for t in novel_names))
    if content and signals["content_support"] < 1.0:
        reasons.append(f"{len(content) - len(supported)} of {len(content)} content words are in no source")
    return signals, unsupported, reasons


class Fusion:
    """Standardised logistic regression over named signals; JSON in, JSON out."""

    def __init__(self, features: Sequence[str], coef, intercept: float, mean, scale, threshold: float = 0.5,
                 meta: dict | None = None):
        self.features = tuple(features)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.threshold = float(threshold)
        self.meta = dict(meta or {})

    @staticmethod
    def transform(name: str, value: float) -> float:
        return math.log1p(value) if name in ("novel_numbers", "novel_names") else float(value)

    def matrix(self, rows: Sequence[dict[str, float]]) -> np.ndarray:
        return np.array([[self.transform(f, r[f]) for f in self.features] for r in rows], dtype=np.float64)

    def predict(self, rows: Sequence[dict[str, float]]) -> np.ndarray:
        z = ((self.matrix(rows) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> str:
        return json.dumps({"features": self.features, "coef": self.coef.tolist(), "intercept": self.intercept,
                           "mean": self.mean.tolist(), "scale": self.scale.tolist(), "threshold": self.threshold,
                           "meta": self.meta}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Fusion":
        d = json.loads(text)
        return cls(d["features"], d["coef"], d["intercept"], d["mean"], d["scale"], d.get("threshold", 0.5), d.get("meta"))

    @classmethod
    def fit(cls, rows: Sequence[dict[str, float]], labels: Sequence[int], features: Sequence[str], C: float = 0.1,
            meta: dict | None = None) -> "Fusion":
        """Balanced, L2-regularised logistic regression with sign constraints.

        Each signal may only push the way its meaning says (more support -> more likely supported; a
        novel number -> less), so the fusion cannot learn a quirk of one data set, such as HaluEval's
        long hallucinated answers being *more* similar to the source than short correct ones.
        """
        from scipy.optimize import minimize

        tmp = cls(features, np.zeros(len(features)), 0.0, np.zeros(len(features)), np.ones(len(features)))
        x = tmp.matrix(rows)
        y = np.asarray(labels, dtype=np.float64)
        mean, scale = x.mean(0), x.std(0)
        scale[scale < 1e-9] = 1.0
        z = (x - mean) / scale
        w = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))

        def loss(theta):
            margin = z @ theta[:-1] + theta[-1]
            p = 1.0 / (1.0 + np.exp(-margin))
            value = np.sum(w * (np.logaddexp(0, margin) - y * margin)) + 0.5 / C * theta[:-1] @ theta[:-1]
            grad = np.append(z.T @ (w * (p - y)) + theta[:-1] / C, np.sum(w * (p - y)))
            return value, grad

        bounds = [(None, 0.0) if f in NEGATIVE_SIGNALS else (0.0, None) for f in features] + [(None, None)]
        res = minimize(loss, np.zeros(len(features) + 1), jac=True, method="L-BFGS-B", bounds=bounds)
        return cls(features, res.x[:-1], res.x[-1], mean, scale, 0.5, meta)


def load_fusion(name: str = "lexical") -> Fusion:
    data = resources.files("explainers").joinpath("data", f"grounding_fusion_{name}.json")
    return Fusion.from_json(data.read_text(encoding="utf-8"))


_CLAUSE = re.compile(r";\s+|,\s+(?:and|but|while|whereas)\s+|\s+(?:and|but)\s+(?=(?:it|he|she|they|this|that|the)\b)")


def answer_sentences(answer: str, claims: bool = True) -> list[tuple[int, int]]:
    """Sentence spans; with ``claims``, a sentence is further cut where it joins clauses (;  , and  , but ...)
    when both sides keep at least three words, so each claim gets its own verdict."""
    spans = sentence_spans(answer) or ([(0, len(answer))] if answer.strip() else [])
    if not claims:
        return spans
    out = []
    for a, b in spans:
        start = a
        for m in _CLAUSE.finditer(answer, a, b):
            left, right = answer[start:m.start()], answer[m.end():b]
            if len(left.split()) >= 3 and len(right.split()) >= 3:
                out.append((start, m.start()))
                start = m.end()
        out.append((start, b))
    return out


def sentence_signals(sentence: str, question: str, src: _Sources, embedder=None, vector: np.ndarray | None = None):
    signals, unsupported, reasons = lexical_signals(sentence, question, src)
    best_sent, sim = None, 0.0
    if embedder is not None and src.sentence_vecs is not None and len(src.sentences):
        v = vector if vector is not None else encode_cached(embedder, [sentence])[0]
        sims = src.sentence_vecs @ v
        k = int(np.argmax(sims))
        best_sent, sim = src.sentences[k], float(sims[k])
    signals["embedding_similarity"] = sim
    return signals, unsupported, reasons, best_sent


def context_reliance(lm, question: str, sources: Sequence[str], sentence_text: str, prefix: str = "") -> float:
    """Mean per-token log p(sentence | question + sources) - log p(sentence | question alone)."""
    from ..text.lm import answer_log_probs, build_prompt, tokenize_prompt

    with_src = tokenize_prompt(lm, build_prompt(lm, question, list(sources)))[0]
    without = tokenize_prompt(lm, build_prompt(lm, question, []))[0]
    ids = lm.tokenizer(prefix + sentence_text, add_special_tokens=False)["input_ids"]
    if not ids:
        return 0.0
    lp = answer_log_probs(lm, [with_src, without], ids)
    return float((lp[0] - lp[1]).mean())


def attribution_mass(lm, question: str, sources: Sequence[str], answer: str) -> list[tuple[tuple[int, int], float]]:
    """Per answer sentence: the share of positive occlusion attribution that falls on the sources (vs the
    question and instruction), by deleting each source / the question and re-scoring the sentence."""
    from ..text.explain import explain
    from ..text.lm import build_prompt, prepare

    inp = prepare(lm, build_prompt(lm, question or "Answer from the sources.", list(sources)), answer)
    res = explain(lm, inp, "feature_ablation", "span", output_granularity="sentence")
    src_spans = [v for k, v in inp.prompt.spans.items() if k.startswith("source")]
    is_src = np.array([any(u.start < b and u.end > a for a, b in src_spans) for u in res.input_units])
    out = []
    for unit, row in zip(res.output_units, res.scores):
        pos = np.clip(row, 0, None) * ~np.array([u.special for u in res.input_units])
        total = pos.sum()
        out.append(((unit.start, unit.end), float(pos[is_src].sum() / total) if total > 1e-9 else 0.0))
    return out


def sampling_consistency(lm, question: str, sources: Sequence[str], sentence: str, samples: int = 3,
                         seed: int = 0) -> float:
    """Share of the sentence's content words that the model also says in ``samples`` sampled answers (mean)."""
    from ..text.lm import generate

    words = {t.norm for t in tokens(sentence) if t.content}
    if not words:
        return 1.0
    shares = []
    for k in range(samples):
        text = generate(lm, question or "Summarise the sources.", list(sources), max_new_tokens=48, greedy=False,
                        seed=seed + k).answer
        said = {t.norm for t in tokens(text)}
        shares.append(len(words & said) / len(words))
    return float(np.mean(shares))


def ground(answer: str, sources: Sequence[str | Chunk], question: str = "", *, embedder=None, lm=None,
           nli=None, fusion: Fusion | None = None, extra_lm_signals: bool = False, samples: int = 3) -> Grounding:
    """Verdict per answer sentence with its best source chunk and span, and an answer-level probability."""
    started = time.perf_counter()
    if not answer or not answer.strip():
        raise EmptyInputError("the answer is empty")
    chunks = [c for c in sources if isinstance(c, Chunk)] + chunks_from_texts([s for s in sources if isinstance(s, str)])
    if not chunks:
        raise EmptyInputError("there are no sources to ground the answer in")
    if fusion is None:
        fusion = load_fusion("lm" if lm is not None else "lexical")
    src = prepare_sources(chunks, embedder)
    results, rows = [], []
    spans = answer_sentences(answer)
    vectors = encode_cached(embedder, [answer[a:b] for a, b in spans]) if embedder is not None else [None] * len(spans)
    for (a, b), vector in zip(spans, vectors):
        sentence = answer[a:b]
        signals, unsupported, reasons, best = sentence_signals(sentence, question, src, embedder, vector)
        if lm is not None and "context_reliance" in fusion.features:
            signals["context_reliance"] = context_reliance(lm, question, [c.text for c in chunks], sentence)
        if nli is not None:
            signals.update(nli.scores(src.chunks[best[0]].text if best else chunks[0].text, sentence))
        rows.append(signals)
        results.append((a, b, sentence, signals, unsupported, reasons, best))
    if lm is not None and extra_lm_signals:
        # Shown to the reviewer as reasons; not in the fitted fusion (they cost seconds per answer, too much
        # to compute over the development set here).
        masses = attribution_mass(lm, question, [c.text for c in chunks], answer)
        from ..text.context import context_reliance as token_reliance

        reliance = token_reliance(lm, question, [c.text for c in chunks], answer)
        source_words = {t.norm for c in chunks for t in tokens(c.text)}
        for a, b, sentence, signals, _, reasons, _ in results:
            overlapping = [m for (s0, e0), m in masses if s0 < b and e0 > a]
            signals["source_attribution_mass"] = float(np.mean(overlapping)) if overlapping else 0.0
            signals["sampling_consistency"] = sampling_consistency(lm, question, [c.text for c in chunks], sentence,
                                                                   samples)
            if signals["source_attribution_mass"] < 0.5:
                reasons.append(f"only {signals['source_attribution_mass']:.0%} of the model's evidence for it lies in the sources")
            if signals["sampling_consistency"] < 0.5:
                reasons.append(f"resampled answers repeat {signals['sampling_consistency']:.0%} of its content words")
            # Which words the model would have written without any source (context reliance per token).
            inside = [(w.text, f) for w, f in zip(reliance.words, reliance.flagged) if a <= w.start and w.end <= b]
            content = [(t, f) for t, f in inside if t.lower() not in _STOP and any(ch.isalnum() for ch in t)]
            # a word the model would have written anyway is fine when a source says it too
            prior = [t for t, f in content if f and _norm(t) not in source_words]
            signals["prior_word_share"] = len(prior) / len(content) if content else 0.0
            if prior:
                reasons.append("the model would have written these without the sources, and no source has them: "
                               + ", ".join(prior[:8]))
    probs = fusion.predict(rows)
    out = []
    for (a, b, sentence, signals, unsupported, reasons, best), p in zip(results, probs):
        p = float(np.clip(p, 0.0, 1.0))
        label = "supported" if p >= fusion.threshold else "unsupported"
        if signals.get("nli_contradiction", 0.0) > 0.5 and signals.get("nli_contradiction", 0) > signals.get("nli_entailment", 0):
            label = "contradicted"
            reasons = list(reasons) + [f"the NLI model finds a contradiction ({signals['nli_contradiction']:.0%})"]
        chunk = src.chunks[best[0]] if best else None
        if label == "supported" and not reasons:
            reasons = ["every content word is in the sources"]
        out.append(SentenceGrounding(
            sentence=sentence, start=a, end=b, support_probability=p, label=label,
            source_id=chunk.chunk_id if chunk else None, source_span=(best[1], best[2]) if best else None,
            source_text=chunk.text if chunk else "", signals=signals, reasons=tuple(reasons),
            unsupported_spans=tuple((a + s, a + e) for s, e in unsupported)))
    answer_p = float(min(s.support_probability for s in out)) if out else 0.0
    return Grounding(answer=answer, sentences=tuple(out), answer_support_probability=answer_p,
                     model_id=getattr(embedder, "model_id", "") or "", params={"fusion": fusion.meta.get("name", "")},
                     elapsed_s=time.perf_counter() - started)


class NLIScorer:
    """Any Hugging Face sequence-classification NLI model; label names are read from its config."""

    def __init__(self, model_id_or_path: str):
        import torch  # noqa: F401
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ..errors import ModelNotAvailableError
        from ..models import _offline

        local = Path(model_id_or_path).expanduser().exists()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_id_or_path, local_files_only=_offline() or local)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                model_id_or_path, local_files_only=_offline() or local, trust_remote_code=False, use_safetensors=True).eval()
        except (OSError, ValueError) as exc:
            raise ModelNotAvailableError(
                f"cannot load the NLI model {model_id_or_path!r}: {exc}. Give a local folder with a "
                "sequence-classification model (safetensors) whose labels include entailment and contradiction.") from exc
        labels = {int(k): str(v).lower() for k, v in self.model.config.id2label.items()}
        self.entail = next((k for k, v in labels.items() if v.startswith("entail")), None)
        self.contra = next((k for k, v in labels.items() if v.startswith("contra")), None)
        if self.entail is None or self.contra is None:
            raise ModelNotAvailableError(
                f"{model_id_or_path}: its labels {sorted(labels.values())} name no entailment/contradiction class")
        self.model_id = model_id_or_path

    def scores(self, premise: str, hypothesis: str) -> dict[str, float]:
        import torch

        enc = self.tokenizer(premise, hypothesis, return_tensors="pt", truncation=True, max_length=512)
        with torch.no_grad():
            p = self.model(**enc).logits.softmax(-1)[0]
        return {"nli_entailment": float(p[self.entail]), "nli_contradiction": float(p[self.contra])}

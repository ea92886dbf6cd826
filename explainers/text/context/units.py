"""What every context method shares: checked sources, the prepared input, source units and their prompt tokens,
per-sentence sums, regeneration and word diffs."""

from __future__ import annotations

import difflib
from typing import Sequence

import numpy as np

from ...errors import EmptyInputError, InputError
from ...models import LanguageModel
from ...types import Unit
from ..aggregate import _anchor, sentence_spans
from ..lm import AuditInput, Progress, build_prompt, generate_ids, prepare

UNIT_KINDS = ("sentence", "source")


def check_sources(sources: Sequence[str]) -> list[str]:
    srcs = [s.strip() for s in sources if s and s.strip()]
    if not srcs:
        raise EmptyInputError("there are no sources to perturb")
    return srcs


def prepared(lm: LanguageModel, question: str, sources: Sequence[str], answer: str | None,
             max_new_tokens: int = 64) -> AuditInput:
    return prepare(lm, build_prompt(lm, question, sources), answer, max_new_tokens=max_new_tokens)


def source_units(inp: AuditInput, n_sources: int, unit: str = "sentence"):
    """Units over the sources (sentences or whole sources) and the prompt tokens of each.

    Returns (units with offsets in their source text, source index per unit, token groups)."""
    if unit not in UNIT_KINDS:
        raise InputError(f"unknown unit {unit!r}; choose one of {', '.join(UNIT_KINDS)}")
    text = inp.prompt.text
    regions = []  # (prompt start, prompt end, source index, start in source)
    for k in range(n_sources):
        a, b = inp.prompt.spans[f"source {k + 1}"]
        spans = [(0, b - a)] if unit == "source" else sentence_spans(text[a:b])
        regions += [(a + s, a + e, k, s) for s, e in spans]
    groups: list[list[int]] = [[] for _ in regions]
    starts = np.array([r[0] for r in regions])
    for i, ((s, e), special) in enumerate(zip(inp.prompt_offsets, inp.prompt_special)):
        if special:
            continue
        anchor = _anchor(text, s, e)
        if anchor is None:
            continue
        r = int(np.searchsorted(starts, anchor, side="right")) - 1
        if r >= 0 and regions[r][0] <= anchor < regions[r][1]:
            groups[r].append(i)
    keep = [r for r, g in enumerate(groups) if g]
    units = tuple(Unit(text[regions[r][0]:regions[r][1]], regions[r][3], regions[r][3] + regions[r][1] - regions[r][0])
                  for r in keep)
    return units, tuple(regions[r][2] for r in keep), [groups[r] for r in keep]


def sentence_sums(token_logp: np.ndarray, out_groups) -> np.ndarray:
    """(variants, answer tokens) -> (variants, answer sentences)."""
    return np.stack([token_logp[:, g].sum(1) for g in out_groups], axis=1)


def word_diff(old: str, new: str) -> tuple[tuple[str, str, str], ...]:
    a, b = old.split(), new.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        out.append((op, " ".join(a[i1:i2]), " ".join(b[j1:j2])))
    return tuple(out)


def regenerate(lm: LanguageModel, prompt_ids: Sequence[int], n_answer: int, max_new_tokens: int | None,
               progress: Progress | None = None) -> str:
    """The model's greedy answer to a perturbed prompt; ``progress`` is called while it generates (so a time
    limit stops a long generation, not only the scoring around it)."""
    ids = generate_ids(lm, prompt_ids, max_new_tokens=max_new_tokens or min(256, n_answer + 16), progress=progress)
    return lm.tokenizer.decode(ids, skip_special_tokens=True)


def scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    """A progress callback for one part of a run: fractions 0..1 mapped onto ``start``..``end``."""
    if progress is None:
        return None
    return lambda f, m="": progress(start + (end - start) * f, m)

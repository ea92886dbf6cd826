"""What a text attribution explains: a value of the answer's per-token log-probabilities.

Like pytorch-grad-cam's ``ClassifierOutputTarget``, the target is a value handed to the method, apart from how
the method explains it. Both families use it: gradient methods differentiate it (``gradient._Target``), perturbation
methods score it on prompts with units removed (``perturbation.VariantScorer``).

A target names the continuations it needs scored after the prompt (the answer first, then e.g. a contrast) and
turns their per-token log-probabilities, each (batch, tokens), into rows (batch, rows):

- :class:`AnswerLogProb` (the default): each answer token's log-probability, one row per token; the methods sum
  tokens into answer units (words, sentences), exactly, since the rows add up.
- :class:`ContrastTarget`: one row, log p(answer) - log p(contrast); ``explain(..., contrast=" Berlin")`` builds it.
- :class:`ScalarTarget`: any scalar function of the answer's per-token log-probabilities, e.g. the last token only::

      explain(lm, inp, "feature_ablation", target=ScalarTarget(lambda lp: lp[:, -1], "log p(last token)"))

  The function gets a torch tensor (batch, answer tokens) and returns one value per batch row, (batch,). Gradient
  methods differentiate through it, so write it with torch operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import InputError


class Target:
    """Base: the answer's log-probabilities (and those of other continuations) -> the rows explained."""

    #: True when the rows are the answer's tokens: the methods then group them into answer units and a unit's row
    #: is the sum of its tokens' rows. False: the value is one row for the whole answer.
    per_token = False

    @property
    def label(self) -> str:
        """What the result's ``target`` field says."""
        raise NotImplementedError

    def continuations(self, answer_ids: Sequence[int]) -> list[list[int]]:
        """Token sequences scored after the prompt, the answer first."""
        return [list(answer_ids)]

    def __call__(self, log_probs: Sequence):
        """Per-token log-probabilities of each continuation, (batch, tokens) tensors or arrays -> (batch, rows)."""
        raise NotImplementedError


@dataclass(frozen=True)
class AnswerLogProb(Target):
    """log p(answer token i | prompt, answer before i): one row per answer token."""

    per_token = True

    @property
    def label(self) -> str:
        return "log_prob"

    def __call__(self, log_probs):
        return log_probs[0]


@dataclass(frozen=True)
class ContrastTarget(Target):
    """log p(answer) - log p(contrast): why this answer rather than the contrast."""

    contrast_ids: tuple[int, ...]
    contrast_text: str | None = None

    def __post_init__(self):
        if not self.contrast_ids:
            raise InputError("the contrast answer is empty")
        object.__setattr__(self, "contrast_ids", tuple(int(t) for t in self.contrast_ids))

    @property
    def label(self) -> str:
        shown = self.contrast_text if self.contrast_text is not None else f"tokens {list(self.contrast_ids)}"
        return f"log p(answer) - log p({shown!r})"

    def continuations(self, answer_ids):
        return [list(answer_ids), list(self.contrast_ids)]

    def __call__(self, log_probs):
        answer, contrast = log_probs
        return (answer.sum(-1) - contrast.sum(-1))[:, None]


@dataclass(frozen=True)
class ScalarTarget(Target):
    """Any scalar function of the answer's per-token log-probabilities (torch in, one value per batch row out)."""

    fn: Callable[[torch.Tensor], torch.Tensor]
    name: str

    @property
    def label(self) -> str:
        return self.name

    def __call__(self, log_probs):
        answer = log_probs[0]
        as_array = isinstance(answer, np.ndarray)
        value = self.fn(torch.from_numpy(answer) if as_array else answer)
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != (answer.shape[0],):
            raise InputError(f"the target {self.name!r} must return a tensor of one value per batch row "
                             f"({answer.shape[0]},), not {getattr(value, 'shape', type(value).__name__)}")
        value = value[:, None]
        return value.detach().double().cpu().numpy() if as_array else value

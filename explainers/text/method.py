"""The one shape every text method has: ``attribute(lm, inp, target, units...) -> UnitRows``.

Two bases own the mechanics, like captum's gradient and perturbation bases: ``gradient.GradientMethod`` (a token
matrix from one teacher-forced pass and batched vector-Jacobian products) and ``perturbation.PerturbationMethod``
(a unit matrix from scored prompt variants). A method is a small subclass of one of them, registered by name with
its metadata (``explainers.registry``); ``explain`` looks it up and calls ``attribute``, whatever the family.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from ..models import LanguageModel
from ..types import Unit
from .lm import AuditInput, Progress
from .targets import Target


@dataclass(frozen=True)
class UnitRows:
    """A method's answer: one row per explained answer unit (or one for a whole-answer target) over prompt units."""

    scores: np.ndarray  # (answer units, prompt units)
    sequence: np.ndarray  # (prompt units,): all rows' answer units together
    convergence_delta: float | None = None
    steps: dict[str, np.ndarray] | None = None  # per answer token, when the method saw them on its way
    extra: dict[str, Any] = field(default_factory=dict)  # goes into the result's params


class TextMethod:
    """Base of every text method; ``kind`` names the family base, ``info`` is set by ``@register``."""

    kind: ClassVar[str] = ""

    @classmethod
    def attribute(cls, lm: LanguageModel, inp: AuditInput, target: Target, in_units: Sequence[Unit],
                  in_groups: Sequence[Sequence[int]], out_groups: Sequence[Sequence[int]],
                  progress: Progress | None = None, **params: Any) -> UnitRows:
        """Rows for the answer units in ``out_groups`` (answer token indices; ignored by a whole-answer target)
        against the prompt units in ``in_groups`` (prompt token indices)."""
        raise NotImplementedError

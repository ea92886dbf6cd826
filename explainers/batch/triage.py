"""Triage of a run's answers: who looks at what, in which order, and how far two reviewers agree.

Pure values and functions; the store keeps the policy (``runs.policy_json``) and each item's spot-check draw.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import Sequence

from ..errors import InputError

STATUSES = ("flagged", "uncertain", "spot_check", "auto_accepted")
QUEUE_STATUSES = ("flagged", "uncertain", "spot_check")  # the ones humans review


@dataclass(frozen=True)
class TriagePolicy:
    """Flag an answer whose support is below ``flag_below``; auto-accept one at or above ``accept_above``, except
    a random ``spot_check_share`` of those, which humans check too; between the two it is uncertain (reviewed)."""

    flag_below: float = 0.5
    accept_above: float = 0.8
    spot_check_share: float = 0.05

    def __post_init__(self) -> None:
        for name in ("flag_below", "accept_above", "spot_check_share"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number in 0..1, not {value!r}")
        if self.flag_below > self.accept_above:
            raise ValueError(f"flag_below ({self.flag_below}) must not exceed accept_above ({self.accept_above})")

    def status(self, support_probability: float | None, spot_draw: float) -> str:
        if support_probability is None or support_probability < self.flag_below:
            return "flagged"
        if support_probability < self.accept_above:
            return "uncertain"
        return "spot_check" if spot_draw < self.spot_check_share else "auto_accepted"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TriagePolicy":
        data = json.loads(text or "{}")
        return cls(**{k: float(v) for k, v in data.items() if k in cls.__dataclass_fields__})


def spot_draw(run_name: str, row_id: str) -> float:
    """A uniform draw in [0, 1) fixed by (run, row id): the same on every machine, worker order and rerun."""
    digest = hashlib.sha256(f"{run_name}\x00{row_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def risk(support_probability: float | None) -> float:
    """The queue's order: the less the sources support an answer, the riskier (no grounding: riskiest)."""
    return 1.0 if support_probability is None else 1.0 - float(support_probability)


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float:
    """Cohen's kappa of two raters over the same items: (p_o - p_e) / (1 - p_e).

    When both raters use one and the same category throughout, p_e = 1 and kappa is undefined: NaN.
    """
    if len(first) != len(second):
        raise ValueError("both raters must rate the same items")
    n = len(first)
    if n == 0:
        return float("nan")
    categories = sorted(set(first) | set(second))
    p_o = sum(a == b for a, b in zip(first, second)) / n
    p_e = sum((list(first).count(c) / n) * (list(second).count(c) / n) for c in categories)
    if p_e >= 1.0:
        return float("nan")
    return (p_o - p_e) / (1.0 - p_e)


def round_robin(item_ids: Sequence[int], reviewers: Sequence[str], per_item: int,
                already: dict[int, list[str]], start: int = 0) -> list[tuple[int, str, int]]:
    """(item id, reviewer, slot) for each item still short of ``per_item`` reviewers, in the given (risk) order,
    reviewers taken in turn; an item never gets the same reviewer twice."""
    reviewers = list(dict.fromkeys(r.strip() for r in reviewers if r and r.strip()))
    if not reviewers:
        raise InputError("name at least one reviewer")
    if per_item > len(reviewers):
        raise InputError(f"{per_item} reviewers per item need at least {per_item} different reviewers")
    out, turn = [], start
    for item in item_ids:
        have = list(already.get(item, []))
        while len(have) < per_item:
            for _ in range(len(reviewers)):
                candidate = reviewers[turn % len(reviewers)]
                turn += 1
                if candidate not in have:
                    break
            have.append(candidate)
            out.append((item, candidate, len(have)))
    return out

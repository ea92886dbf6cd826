"""Perturbation effects on a RAG answer: which source sentence made the model say this, and which words came
from no source at all.

- ``leave_one_out`` (loo.py): remove each source sentence (or whole source) in turn; the change in the answer's
  log-probability (whole answer and per answer sentence) and the answer the model regenerates without it.
- ``ablate`` (ablation.py, surrogate.py): ContextCite-style random ablations of source sentences, scored in
  batches, with a sparse linear surrogate (Lasso) per answer sentence; its held-out R² and linear datamodeling
  score (LDS) say when to trust it.
- ``context_reliance`` (reliance.py): log p(token | prompt with sources) - log p(token | prompt without sources)
  per answer token (and with the sources shuffled); content words the model would have produced anyway are
  flagged as coming from its prior. ``claim_reliance`` is the same per answer claim, as grounding fuses it.
- ``what_if`` (what_if.py) over edits as data (edits.py: remove or replace a word, sentence, source or text);
  the answer re-scored and regenerated under the edited prompt. ``replay`` runs the same edits again.
- units.py: the source units, their prompt tokens and what the methods above share.

Every public call takes the model first, then ``question, sources, answer`` in that order (what-if adds the
``edits``), then keyword-only options; ``progress`` is called between batches and while answers are regenerated,
so a time limit wrapped around it (``explainers.limits.time_limited``) stops the run with ``TimeLimitError``.
Results are the types in ``explainers.types`` (``ContextAttribution``, ``ContextReliance``, ``EditResult``).

Sentences are removed by deleting their tokens from the tokenised prompt (``lm.prompt_without``, the way every
perturbation method here removes units), so a variant costs one forward pass and all variants of a call share
batches.
"""

from ...types import ContextAttribution, ContextReliance, EditResult, Table
from .ablation import ablate
from .edits import EDIT_FIELDS, EDIT_OPS, EDIT_UNITS, apply_edits, edit_from_dict, json_edit, make_edit, validate_edit
from .loo import leave_one_out
from .reliance import claim_reliance, context_reliance
from .surrogate import ablation_masks, fit_surrogate
from .units import UNIT_KINDS, source_units, word_diff
from .what_if import replay, what_if

__all__ = [
    "EDIT_FIELDS", "EDIT_OPS", "EDIT_UNITS", "UNIT_KINDS", "ContextAttribution", "ContextReliance", "EditResult",
    "Table", "ablate", "ablation_masks", "apply_edits", "claim_reliance", "context_reliance", "edit_from_dict",
    "fit_surrogate", "json_edit", "leave_one_out", "make_edit", "replay", "source_units", "validate_edit",
    "what_if", "word_diff",
]

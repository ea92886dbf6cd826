"""Audit rows in batches: grounding for every row, attributions only where asked (they are the slow part).

``Detector`` holds the models, loaded once per process (or per Ray worker); ``Detector.audit`` turns a batch of
``InputRow`` into ``RowResult`` (or ``BadRow`` when a row cannot be grounded). The embeddings of a whole batch
(source sentences and answer claims) are computed in one forward pass and reused by each row's ``ground``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Sequence

from ..errors import ExplainerError, InputError
from ..types import AuditReport, Source
from .reader import BadRow, InputRow
from .runs import RowResult

ATTRIBUTE_CHOICES = ("none", "flagged", "all")


@dataclass(frozen=True)
class BatchOptions:
    """What each row's audit computes; stored with the run so ``--resume`` continues it the same way."""

    verifier: str = "default"  # default (ours), none (lexical signals alone), or an adapter file
    with_lm: bool = False  # the LM's context reliance joins the fusion
    attribute: str = "none"  # none | flagged | all
    method: str = "input_x_gradient"
    granularity: str = "word"
    fusion: str | None = None  # a named fusion saved by ``auditlens calibrate``
    flag_below: float = 0.5  # attributions for "flagged": answers below this support

    def __post_init__(self) -> None:
        if self.attribute not in ATTRIBUTE_CHOICES:
            raise InputError(f"--attribute must be one of {', '.join(ATTRIBUTE_CHOICES)}, not {self.attribute!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def needs_lm(self) -> bool:
        return self.with_lm or self.attribute != "none"


@dataclass
class Prepared:
    """A batch after ``Detector.prepare``: its rows and what ``check_many`` gave for each."""

    rows: list
    pending: list


class Detector:
    """The models one process needs for a run, loaded once."""

    def __init__(self, options: BatchOptions, embedder=None, verifier=None, lm=None, fusion=None):
        self.options, self.embedder, self.verifier, self.lm, self.fusion = options, embedder, verifier, lm, fusion

    @staticmethod
    def check(options: BatchOptions) -> None:
        """What ``load`` would refuse in the options (a named fusion, an adapter file, the method), checked before a
        run is created: a refused run would otherwise keep its name, and a worker process would fail unseen."""
        from ..models import load_verifier

        if options.fusion:
            from .calibrate import load_named_fusion

            _check_fusion(load_named_fusion(options.fusion), options.verifier != "none", options.with_lm)
        if options.verifier not in ("default", "none"):
            load_verifier(options.verifier)  # once per process: the local backend's load reuses it
        if options.attribute != "none":
            from ..registry import check_params

            check_params("text", options.method, {})

    @classmethod
    def load(cls, options: BatchOptions) -> "Detector":
        from ..models import load_embedder, load_lm, load_verifier

        fusion = None
        if options.fusion:
            from .calibrate import load_named_fusion

            fusion = load_named_fusion(options.fusion)
        verifier = load_verifier(None if options.verifier == "default" else options.verifier)
        if fusion is not None:
            _check_fusion(fusion, verifier is not None, options.with_lm)
        if options.attribute != "none":
            from ..registry import check_params

            check_params("text", options.method, {})
        return cls(options, load_embedder(), verifier, load_lm() if options.needs_lm else None, fusion)

    def audit(self, rows: Sequence[InputRow], run_name: str = "") -> list[RowResult | BadRow]:
        """Ground every row (the verifier reads the whole batch's claim windows in one batched call: a few pairs
        per answer batch poorly alone), then attribute the rows the options ask for."""
        return self.finish(self.prepare(rows), run_name)

    def prepare(self, rows: Sequence[InputRow]) -> "Prepared":
        """The half of ``audit`` before the verifier: the batch's embeddings, each row's claims, windows and other
        signals. It uses the embedder, not the verifier, so it can run on another thread while the verifier reads
        the batch before (``LocalBackend`` does)."""
        from ..retrieval.grounding import check_many

        self._embed_batch(rows)
        return Prepared(list(rows), check_many([(row.answer, list(row.sources), row.question) for row in rows],
                                               embedder=self.embedder, lm=self.lm if self.options.with_lm else None,
                                               verifier=self.verifier, fusion=self.fusion))

    def finish(self, prepared: "Prepared", run_name: str = "") -> list[RowResult | BadRow]:
        """The verifier over the prepared batch, the verdicts, attributions where asked, one result per row."""
        from ..retrieval.grounding import verify_many

        rows, groundings = prepared.rows, verify_many(prepared.pending)
        out: list[RowResult | BadRow] = []
        for row, g in zip(rows, groundings):
            try:
                if isinstance(g, Exception):
                    raise g
                attributions = ()
                if self.options.attribute == "all" or (self.options.attribute == "flagged"
                                                        and g.answer_support_probability < self.options.flag_below):
                    attributions = (self._attribute(row),)
            except ExplainerError as exc:  # this row cannot be audited (e.g. its question is empty): recorded
                out.append(BadRow(row.line_no, f"not audited: {exc}", row.row_id))
                continue
            report = AuditReport(
                question=row.question, answer=row.answer, model_id=row.model,
                sources=tuple(Source(f"source {k}", text, name) for k, (text, name)
                              in enumerate(zip(row.sources, row.source_names), 1)),
                attributions=attributions, grounding=g,
                # metadata as a JSON text: user keys such as "__type__" must not meet the report's type tags
                metadata={"run": run_name, "row_id": row.row_id, "line_no": row.line_no, "label": row.label or "",
                          "metadata_json": json.dumps(row.metadata, ensure_ascii=False, default=str)})
            out.append(RowResult(row, report))
        return out

    def _attribute(self, row: InputRow):
        from ..text.explain import explain
        from ..text.lm import build_prompt, prepare

        inp = prepare(self.lm, build_prompt(self.lm, row.question or "(no question)", list(row.sources)), row.answer)
        return explain(self.lm, inp, self.options.method, self.options.granularity)

    def _embed_batch(self, rows: Sequence[InputRow]) -> None:
        """One embedder pass for the batch: every source sentence and answer claim, cached for ``ground``
        (the same splitting ``ground`` does, so each of its look-ups is a hit)."""
        if self.embedder is None or not rows:
            return
        from ..retrieval.grounding import answer_sentences, encode_cached
        from ..retrieval.ingest import chunks_from_texts
        from ..text.aggregate import sentence_spans

        texts = []
        for row in rows:
            for ch in chunks_from_texts(list(row.sources)):
                texts += [ch.text[a:b] for a, b in (sentence_spans(ch.text) or [(0, len(ch.text))])]
            texts += [row.answer[a:b] for a, b in answer_sentences(row.answer)]
        encode_cached(self.embedder, list(dict.fromkeys(texts)))


def _check_fusion(fusion, with_verifier: bool, with_lm: bool) -> None:
    """A named fusion needs the signals it was fitted on."""
    from ..retrieval.grounding.fusion import LM_FEATURES, VERIFIER_FEATURES

    missing = [f for f in fusion.features if (f in VERIFIER_FEATURES and not with_verifier)
               or (f in LM_FEATURES and not with_lm)]
    if missing:
        raise InputError(f"the fusion {fusion.meta.get('name', '')!r} uses {', '.join(missing)}, which this run "
                         "does not compute (check --verifier and --with-lm)")

"""Retrieve-then-answer: top-k chunks from the index, the default LM answers from them via its chat template."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import LanguageModel
from ..text.lm import AuditInput, build_prompt, generate_ids, prepare, tokenize_prompt
from .index import ChunkIndex
from .ingest import Chunk


@dataclass(frozen=True)
class RagAnswer:
    question: str
    chunks: tuple[Chunk, ...]  # exactly the chunks shown to the model, in prompt order
    scores: tuple[float, ...]
    audit_input: AuditInput | None  # None: the model generated nothing, so there is no answer to audit

    @property
    def answered(self) -> bool:
        return self.audit_input is not None

    @property
    def answer(self) -> str:
        return self.audit_input.answer if self.audit_input is not None else ""


def answer_question(lm: LanguageModel, index: ChunkIndex, question: str, k: int = 4,
                    max_new_tokens: int = 64) -> RagAnswer:
    hits = index.search(question, k)
    chunks = tuple(c for c, _ in hits)
    prompt = build_prompt(lm, question, [c.text for c in chunks])
    ids = generate_ids(lm, tokenize_prompt(lm, prompt)[0], max_new_tokens=max_new_tokens)
    inp = prepare(lm, prompt, answer_ids=ids, generated=True) if ids else None
    return RagAnswer(question, chunks, tuple(s for _, s in hits), inp)

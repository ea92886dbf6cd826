"""Prompts, generation and teacher-forced scoring on a causal LM.

``AuditInput`` is the one description of "this prompt, this answer" that every method consumes:
token ids with character offsets on both sides, which prompt tokens are template/special, and where
the question and each source sit in the rendered prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import EmptyInputError, InputError, InputTooLongError, ResourceLimitError
from ..limits import free_accelerator_memory, is_out_of_memory
from ..models import LanguageModel

Progress = Callable[[float, str], None]

DEFAULT_INSTRUCTION = "Answer the question using only the sources. Be brief."
MAX_ROWS_PER_BATCH = 8192  # tokens x sequences per internal forward batch on an accelerator: bounds memory
CPU_ROWS_PER_BATCH = 1024  # on a CPU a ~500-token sequence already saturates the cores: bigger batches only add
# memory traffic (measured: 33 variants of 580 tokens, 17.0 s at 600 rows, 23.6 s at 8192; bench_perturbation.py)


@dataclass(frozen=True)
class PromptSpec:
    """A rendered prompt and the spans (char offsets in ``text``) of its parts."""

    text: str
    content_span: tuple[int, int]  # the user's content; everything outside it is template
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)  # "question", "source 1", ...


@dataclass(frozen=True)
class AuditInput:
    prompt: PromptSpec
    prompt_ids: tuple[int, ...]
    prompt_offsets: tuple[tuple[int, int], ...]
    prompt_special: tuple[bool, ...]
    answer: str
    answer_ids: tuple[int, ...]
    answer_offsets: tuple[tuple[int, int], ...]
    generated: bool = False

    @property
    def n_prompt(self) -> int:
        return len(self.prompt_ids)

    @property
    def n_answer(self) -> int:
        return len(self.answer_ids)


def format_user_content(question: str, sources: Sequence[str] = (), instruction: str = DEFAULT_INSTRUCTION):
    """The user message and the offsets of each part inside it."""
    parts: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    pos = 0

    def add(text: str, name: str | None = None) -> None:
        nonlocal pos
        if name is not None:
            spans[name] = (pos, pos + len(text))
        parts.append(text)
        pos += len(text)

    if sources:
        add(instruction + "\n\n")
        for k, src in enumerate(sources, 1):
            add(f"Source {k}: ")
            add(src.strip(), f"source {k}")
            add("\n\n")
    add("Question: ")
    add(question.strip(), "question")
    return "".join(parts), spans


def build_prompt(lm: LanguageModel, question: str, sources: Sequence[str] = (), system: str | None = None,
                 instruction: str = DEFAULT_INSTRUCTION) -> PromptSpec:
    """Render question + sources through the model's chat template (plain text when it has none)."""
    if not question or not question.strip():
        raise EmptyInputError("the question is empty")
    content, inner = format_user_content(question, [s for s in sources if s and s.strip()], instruction)
    tok = lm.tokenizer
    if lm.has_chat_template:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        offset = text.find(content)
        if offset < 0:  # a template that rewrites content (strips, escapes): fall back to plain text
            text, offset = content + "\nAnswer:", 0
    else:
        text, offset = content + "\nAnswer:", 0
    spans = {k: (a + offset, b + offset) for k, (a, b) in inner.items()}
    return PromptSpec(text=text, content_span=(offset, offset + len(content)), spans=spans)


def raw_prompt(text: str) -> PromptSpec:
    """A prompt given as is (no template): all of it is content."""
    if not text or not text.strip():
        raise EmptyInputError("the prompt is empty")
    return PromptSpec(text=text, content_span=(0, len(text)))


def _tokenize(lm: LanguageModel, text: str, add_special: bool):
    enc = lm.tokenizer(text, add_special_tokens=add_special, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    offsets = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    return ids, offsets


def tokenize_prompt(lm: LanguageModel, prompt: PromptSpec):
    # A rendered chat template already holds its BOS/special tokens as text; a plain prompt gets the
    # tokenizer's own BOS (if it adds one).
    ids, offsets = _tokenize(lm, prompt.text, add_special=not lm.has_chat_template or prompt.content_span == (0, len(prompt.text)))
    special_ids = set(lm.tokenizer.all_special_ids)
    a, b = prompt.content_span
    special = []
    for tid, (s, e) in zip(ids, offsets):
        outside = e <= a or s >= b or e == s
        special.append(bool(tid in special_ids or outside))
    return ids, offsets, special


def check_length(lm: LanguageModel, n_tokens: int) -> None:
    if n_tokens > lm.max_context_tokens:
        raise InputTooLongError(
            f"prompt and answer are {n_tokens:,} tokens; the model {lm.model_id} takes {lm.max_context_tokens:,}. "
            "Shorten the sources or the answer."
        )


def prepare(lm: LanguageModel, prompt: PromptSpec, answer: str | None = None, *, max_new_tokens: int = 64,
            answer_ids: Sequence[int] | None = None, generated: bool = False,
            progress: Progress | None = None) -> AuditInput:
    """Tokenize a prompt and an answer (given, or generated greedily when ``answer`` is None; ``progress`` is
    called while it is generated)."""
    ids, offsets, special = tokenize_prompt(lm, prompt)
    if not ids:
        raise EmptyInputError("the prompt has no tokens")
    if answer_ids is None and answer is None:
        answer_ids = generate_ids(lm, ids, max_new_tokens=max_new_tokens, progress=progress)
        generated = True
    if answer_ids is not None:
        answer_ids = [int(t) for t in answer_ids]
        text, a_offsets = _decode_with_offsets(lm, answer_ids)
    else:
        if not answer.strip():
            raise EmptyInputError("the answer is empty")
        text = answer
        answer_ids, a_offsets = _tokenize(lm, answer, add_special=False)
    if not answer_ids:
        raise EmptyInputError("the answer is empty (the model generated no tokens)")
    check_length(lm, len(ids) + len(answer_ids))
    return AuditInput(prompt=prompt, prompt_ids=tuple(ids), prompt_offsets=tuple(offsets),
                      prompt_special=tuple(special), answer=text, answer_ids=tuple(answer_ids),
                      answer_offsets=tuple(a_offsets), generated=generated)


def _decode_with_offsets(lm: LanguageModel, ids: Sequence[int]):
    """Decode token by token so offsets are exact even when a token is not a clean string piece."""
    text, offsets = "", []
    for k in range(len(ids)):
        piece = lm.tokenizer.decode(list(ids[: k + 1]), skip_special_tokens=False)
        start = len(text)
        if piece.startswith(text):
            text = piece
        else:  # byte-level pieces that only complete with the next token
            text = text + lm.tokenizer.decode([ids[k]], skip_special_tokens=False)
        offsets.append((start, len(text)))
    return text, offsets


class _ReportProgress:
    """A generation stopping criterion that never stops generation itself: it reports progress every few
    tokens, so a time limit wrapped around ``progress`` (its ``TimeLimitError``) ends a long generation."""

    EVERY = 8  # tokens between calls: a call costs microseconds, a token on a CPU tens of milliseconds

    def __init__(self, progress: Progress, n_prompt: int, max_new_tokens: int):
        self.progress, self.n_prompt, self.max_new_tokens = progress, n_prompt, max_new_tokens

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        done = input_ids.shape[1] - self.n_prompt
        if done % self.EVERY == 0:
            self.progress(min(done / self.max_new_tokens, 1.0), f"generated {done}/{self.max_new_tokens} tokens")
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


@torch.no_grad()
def generate_ids(lm: LanguageModel, prompt_ids: Sequence[int], max_new_tokens: int = 64, greedy: bool = True,
                 temperature: float = 0.7, seed: int | None = None, progress: Progress | None = None) -> list[int]:
    """New token ids after ``prompt_ids`` (greedy unless ``greedy`` is False); ``progress`` is called before the
    first token and every few tokens."""
    if max_new_tokens < 1:
        raise InputError("max_new_tokens must be at least 1")
    check_length(lm, len(prompt_ids) + max_new_tokens)
    x = torch.tensor([list(prompt_ids)], device=lm.device)
    kwargs = dict(max_new_tokens=max_new_tokens, do_sample=not greedy, pad_token_id=lm.tokenizer.pad_token_id,
                  attention_mask=torch.ones_like(x))
    if progress is not None:
        from transformers import StoppingCriteriaList

        progress(0.0, "generating")
        kwargs["stopping_criteria"] = StoppingCriteriaList([_ReportProgress(progress, x.shape[1], max_new_tokens)])
    if greedy:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(temperature=temperature)
        if seed is not None:
            torch.manual_seed(seed)
    with lm.lock:
        out = lm.model.generate(x, **kwargs)[0, x.shape[1]:].tolist()
    stop = {lm.tokenizer.eos_token_id, lm.tokenizer.pad_token_id}
    stop |= set(getattr(lm.model.generation_config, "eos_token_id", None) or []) if isinstance(
        getattr(lm.model.generation_config, "eos_token_id", None), list) else set()
    for k, t in enumerate(out):
        if t in stop:
            return out[:k]
    return out


def generate(lm: LanguageModel, question: str, sources: Sequence[str] = (), max_new_tokens: int = 64,
             greedy: bool = True, seed: int | None = None, progress: Progress | None = None) -> AuditInput:
    prompt = build_prompt(lm, question, sources)
    ids, _, _ = tokenize_prompt(lm, prompt)
    answer_ids = generate_ids(lm, ids, max_new_tokens=max_new_tokens, greedy=greedy, seed=seed, progress=progress)
    if not answer_ids:
        raise EmptyInputError("the model generated an empty answer; try another question or more new tokens")
    return prepare(lm, prompt, answer_ids=answer_ids, generated=True)


# ------------------------------------------------------------------------------------ teacher forcing


def prompt_without(inp: AuditInput, groups: Sequence[Sequence[int]], removed) -> list[int]:
    """The prompt's token ids with every token of the removed units deleted (``removed``: unit indices into
    ``groups``). Every perturbation here removes units this way: attribution methods, context effects, faithfulness.
    """
    drop = {t for u in removed for t in groups[u]}
    return [t for i, t in enumerate(inp.prompt_ids) if i not in drop]


def answer_log_probs(lm: LanguageModel, prompts: Sequence[Sequence[int]], answer_ids: Sequence[int],
                     progress: Progress | None = None, max_rows: int | None = None) -> np.ndarray:
    """log p(answer token i | prompt k, answer<i) for many prompts at once: array (n_prompts, n_answer).

    Prompts of different lengths are right-padded into memory-bounded batches; causal attention makes
    the padding after each sequence irrelevant to its scores.
    """
    answer = list(answer_ids)
    n_ans = len(answer)
    if max_rows is None:
        max_rows = CPU_ROWS_PER_BATCH if lm.device.type == "cpu" else MAX_ROWS_PER_BATCH
    # Everything deleted: the answer is scored after one neutral token (BOS if the model has one).
    neutral = lm.tokenizer.bos_token_id if lm.tokenizer.bos_token_id is not None else (lm.tokenizer.pad_token_id or 0)
    prompts = [list(p) if len(p) else [neutral] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda k: len(prompts[k]))
    out = np.zeros((len(prompts), n_ans), dtype=np.float64)
    pad = lm.tokenizer.pad_token_id or 0
    dev = lm.device
    ans_t = torch.tensor(answer, device=dev)
    k = 0
    while k < len(order):
        longest = len(prompts[order[k]]) + n_ans
        batch = [order[k]]
        while k + len(batch) < len(order):
            cand = order[k + len(batch)]
            longest = max(longest, len(prompts[cand]) + n_ans)
            if longest * (len(batch) + 1) > max_rows:
                break
            batch.append(cand)
        try:
            _score_batch(lm, prompts, batch, answer, ans_t, out, pad, dev)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled; everything else re-raised
            if not is_out_of_memory(exc):
                raise
            free_accelerator_memory()
            if len(batch) == 1:
                raise ResourceLimitError(
                    f"out of memory scoring one sequence of {len(prompts[batch[0]]) + n_ans:,} tokens; "
                    "shorten the sources or the answer") from exc
            max_rows = max(1, (max(len(prompts[b]) for b in batch) + n_ans) * (len(batch) // 2))
            continue  # retry the same variants in smaller batches
        k += len(batch)
        if progress:
            progress(k / len(order), f"scored {k}/{len(order)} variants")
    return out


def _score_batch(lm: LanguageModel, prompts, batch, answer, ans_t, out, pad, dev) -> None:
    n_ans = len(answer)
    longest = max(len(prompts[b]) for b in batch) + n_ans
    x = torch.full((len(batch), longest), pad, dtype=torch.long, device=dev)
    for r, b in enumerate(batch):
        seq = list(prompts[b]) + answer
        x[r, : len(seq)] = torch.tensor(seq, device=dev)
    with torch.no_grad(), lm.lock:
        # Right padding only follows each sequence, and causal attention never looks ahead, so no padding
        # mask is needed: the fused causal attention path is used.
        body, head = lm_backbone(lm)
        hidden = body(input_ids=x).last_hidden_state
        for r, b in enumerate(batch):
            start = len(prompts[b]) - 1
            h = hidden[r, start:start + n_ans]
            logp = torch.log_softmax(head(h).float(), dim=-1)
            out[b] = logp.gather(-1, ans_t[:, None])[:, 0].double().cpu().numpy()


def lm_backbone(lm: LanguageModel):
    """The transformer body and the output head, for methods that need hidden states."""
    model = lm.model
    body = getattr(model, "model", None) or getattr(model, "transformer", None)
    head = model.get_output_embeddings()
    if body is None or head is None:
        raise InputError(f"{lm.model_id}: unsupported architecture (no base model / output head found)")
    return body, head


def steps_from_logp(logp: torch.Tensor, answer_ids: Sequence[int]) -> dict[str, np.ndarray]:
    """Per answer token: log-probability, probability, entropy and rank from (n_answer, vocab) log-probs."""
    logp = logp.double()
    target = torch.tensor(list(answer_ids), device=logp.device)
    chosen = logp.gather(-1, target[:, None])[:, 0]
    return {
        "log_prob": chosen.cpu().numpy(),
        "probability": chosen.exp().cpu().numpy(),
        "entropy": (-(logp.exp() * logp).sum(-1)).cpu().numpy(),
        "rank": ((logp > chosen[:, None]).sum(-1) + 1).double().cpu().numpy(),
    }


@torch.no_grad()
def step_scores(lm: LanguageModel, inp: AuditInput) -> dict[str, np.ndarray]:
    """Per answer token: log-probability, probability, entropy of the next-token distribution, rank."""
    ids = torch.tensor([list(inp.prompt_ids) + list(inp.answer_ids)], device=lm.device)
    body, head = lm_backbone(lm)
    with lm.lock:
        h = body(input_ids=ids).last_hidden_state[0, inp.n_prompt - 1: inp.n_prompt - 1 + inp.n_answer]
        logp = torch.log_softmax(head(h).float(), dim=-1)
    return steps_from_logp(logp, inp.answer_ids)

"""Gradient attributions on input embeddings: saliency, input x gradient, integrated gradients.

Captum's LLM API runs one full attribution (its own forward and backward) per answer token. Here one
teacher-forced forward over prompt + answer serves every answer token: causal attention means the
output at answer position i only sees positions <= i, so the per-token targets of all answer tokens
come out of the same pass, and each answer token then costs one backward (or a batched vector-Jacobian
product) instead of a forward and a backward. Logits are computed only at answer positions.

Integrated gradients follow captum's LayerIntegratedGradients on the embedding layer exactly: the
prompt embeddings move from the baseline to the input, answer embeddings stay fixed, Gauss-Legendre
(default) or Riemann steps, attribution = (input - baseline) . mean-weighted gradient, summed over
the embedding dimension.

``GradientMethod`` owns these mechanics; a method is a small subclass (``Saliency`` and ``InputXGradient`` override
only ``score``, how the gradient at the input becomes a score; ``IntegratedGradients`` overrides the pass itself).
What is explained is a ``targets.Target`` value (the answer's log-probabilities by default, a contrast, any scalar).

Targets are answer *units*: each row explained is the summed log-probability of one output unit (a token,
word, sentence or span of the answer), so a sentence costs one VJP (per IG step) instead of one per token.
Gradient x input and IG are linear in the target, so a unit's row equals the sum of its tokens' rows
(up to float rounding; tests/text/test_sentence_targets.py). Saliency is not: the saliency of a unit is the
norm of the gradient of its summed log-probability, which is not the sum of its tokens' saliencies.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch

from ..limits import free_accelerator_memory, is_out_of_memory
from ..errors import InputError, ResourceLimitError
from ..models import LanguageModel
from ..registry import COST_ONE_PASS, COST_STEPS, POSITIVE_INT, TEXT, Param, register
from .aggregate import membership
from .lm import AuditInput, Progress, lm_backbone, steps_from_logp
from .method import TextMethod, UnitRows
from .targets import AnswerLogProb, ContrastTarget, Target

MAX_GRAD_ROWS = 16384  # (steps x sequence length) per forward graph kept for backward; bounds memory
# On a CPU a smaller graph is faster as well as more responsive: IG with 64 steps on the demo audit (sentence
# targets, 248 tokens) took 122 s in graphs of 16384 rows, with 68 s between two progress reports (so a Stop
# waited that long), and 83 s in graphs of 4096, 10 s apart (2048: 93 s, 6 s apart; bench_attribution).
CPU_GRAD_ROWS = 4096


def max_grad_rows(lm: LanguageModel) -> int:
    """Rows (steps x sequence length) per forward graph on this model's device."""
    return MAX_GRAD_ROWS if lm.device.type != "cpu" else CPU_GRAD_ROWS


def integration_points(n_steps: int, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Alphas in [0, 1] and weights that sum to 1, as captum's approximation_parameters."""
    if n_steps < 1:
        raise InputError("n_steps must be at least 1")
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n_steps)
        return 0.5 * (x + 1.0), 0.5 * w
    if method.startswith("riemann"):
        step = 1.0 / n_steps
        if method == "riemann_trapezoid":
            alphas = np.linspace(0, 1, n_steps)
            w = np.full(n_steps, 1.0 / (n_steps - 1)) if n_steps > 1 else np.ones(1)
            if n_steps > 1:
                w[0] = w[-1] = 0.5 / (n_steps - 1)
            return alphas, w
        shift = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}.get(method)
        if shift is None:
            raise InputError(f"unknown integration method {method!r}")
        return (np.arange(n_steps) + shift) * step, np.full(n_steps, step)
    raise InputError(f"unknown integration method {method!r}; use gausslegendre or riemann_*")


def baseline_embeddings(lm: LanguageModel, prompt_ids: Sequence[int], baseline: str | int) -> torch.Tensor:
    emb = lm.model.get_input_embeddings()
    ids = torch.tensor(list(prompt_ids), device=lm.device)
    if baseline == "zero":
        return torch.zeros(len(ids), emb.weight.shape[1], device=lm.device, dtype=emb.weight.dtype)
    if isinstance(baseline, float):
        # A dimmed input (factor x embedding). In pre-norm transformers the all-zero embedding is a
        # singular point of RMSNorm, so paths from "zero" converge slowly; a dimmed baseline is smooth.
        if not 0.0 <= baseline < 1.0:
            raise InputError("a numeric baseline is a dimming factor in [0, 1)")
        return baseline * emb(ids)
    tok = lm.tokenizer
    if baseline == "pad":
        token = tok.pad_token_id
    elif baseline == "mask":
        token = tok.mask_token_id if tok.mask_token_id is not None else tok.unk_token_id
        if token is None:
            raise InputError(f"{lm.model_id} has neither a mask nor an unknown token; use baseline 'zero' or 'pad'")
    elif isinstance(baseline, (int, np.integer)) or (isinstance(baseline, str) and baseline.isdigit()):
        token = int(baseline)
        if not 0 <= token < emb.weight.shape[0]:
            raise InputError(f"baseline token id {token} is outside the vocabulary (0..{emb.weight.shape[0] - 1})")
    else:
        raise InputError(f"unknown baseline {baseline!r}; use zero, pad, mask, a token id or a dimming factor")
    return emb(torch.full_like(ids, int(token)))


class _Target:
    """The rows being explained, built from one teacher-forced forward: the mechanics under a ``Target`` value.

    With a per-token target (the answer's log-probabilities, the default) each row is the summed value of one group
    of answer tokens (``row_groups``; one group per token by default), and only the answer positions some row uses
    get logits, the answer fed only up to the last of them (causal attention: later tokens cannot change earlier
    log-probabilities). A whole-answer target (a contrast, a user's scalar) is one row over every continuation it
    names.
    """

    def __init__(self, lm: LanguageModel, inp: AuditInput, target: Target | None = None,
                 row_groups: Sequence[Sequence[int]] | None = None):
        self.lm, self.inp = lm, inp
        self.token_values: list[torch.Tensor] | None = None  # per-token roots of the last call (see row_roots)
        self.body, self.head = lm_backbone(lm)
        self.emb = lm.model.get_input_embeddings()
        self.value = AnswerLogProb() if target is None else target
        self.rows = None
        if not self.value.per_token:
            self.answers = self.value.continuations(inp.answer_ids)
            self.used = list(range(inp.n_answer))
            self.n_rows = 1
            return
        groups = [[i] for i in range(inp.n_answer)] if row_groups is None else [list(g) for g in row_groups]
        if not groups or any(not g for g in groups):
            raise InputError("every target row needs at least one answer token")
        if any(not 0 <= i < inp.n_answer for g in groups for i in g):
            raise InputError("a target row names a token outside the answer")
        self.used = sorted({i for g in groups for i in g})
        self.answers = [list(inp.answer_ids[: self.used[-1] + 1])]
        self.n_rows = len(groups)
        column = {t: k for k, t in enumerate(self.used)}
        if groups != [[t] for t in self.used]:
            self.rows = torch.zeros(len(groups), len(self.used), device=lm.device)
            for r, g in enumerate(groups):
                self.rows[r, [column[i] for i in g]] = 1.0

    def __call__(self, prompt_embeds: torch.Tensor, keep_row: int | None = None) -> torch.Tensor:
        """prompt_embeds (B, n_prompt, d) -> targets (B, n_rows).

        With ``keep_row``, the answer's next-token log-distribution at the used positions of that batch row
        is kept in ``self.kept_logp`` (detached), so step scores need no pass of their own.
        """
        b, n_p, _ = prompt_embeds.shape
        self.token_values = None  # an earlier attempt's roots (and the graph they hold) go before this forward
        values = []
        for k, answer in enumerate(self.answers):
            a = torch.tensor(answer, device=prompt_embeds.device)
            full = torch.cat([prompt_embeds, self.emb(a)[None].expand(b, -1, -1)], dim=1)
            hidden = self.body(inputs_embeds=full).last_hidden_state
            if k == 0:
                # One vocabulary projection per answer position, each its own autograd root: a row's backward
                # then starts from its own tokens' log-probabilities and skips the other positions' projections
                # and log-softmax (through one shared (B, n, V) product every row would run all of them; ~9 % of a
                # row's backward for SmolLM2's 49k vocabulary). ``row_roots`` names them per row. Every target reads
                # the answer this way, so a user's scalar of the log-probs equals the sum of the default rows.
                kept, self.token_values = [], []
                for i in self.used:
                    logp_i = torch.log_softmax(self.head(hidden[:, n_p - 1 + i]).float(), dim=-1)
                    if keep_row is not None:
                        kept.append(logp_i[keep_row].detach())
                    self.token_values.append(logp_i[:, answer[i]])
                if keep_row is not None:
                    self.kept_logp = torch.stack(kept)
                values.append(torch.stack(self.token_values, dim=1))
                continue
            positions = torch.tensor([n_p - 1 + i for i in range(len(answer))], device=prompt_embeds.device)
            logp = torch.log_softmax(self.head(hidden[:, positions]).float(), dim=-1)
            values.append(logp.gather(-1, a[None, :, None].expand(b, -1, 1))[..., 0])
        value = self.value(values)
        if not (self.value.per_token and value is values[0]):
            self.token_values = None  # the roots stand for the rows only where the value is the log-probs as they are
        return value if self.rows is None else value @ self.rows.T

    def row_roots(self, row: int, weights: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]] | None:
        """The per-token log-probabilities row ``row`` sums (and their batch weights), when the last call kept
        them as separate roots; None otherwise (then the returned (B, rows) tensor is differentiated)."""
        if not self.token_values:
            return None
        if self.rows is None:
            return [self.token_values[row]], [weights.to(self.token_values[row].dtype)]
        cols = torch.nonzero(self.rows[row]).flatten().tolist()
        return ([self.token_values[c] for c in cols],
                [weights.to(self.token_values[c].dtype) * self.rows[row, c] for c in cols])

    def token_steps(self) -> dict[str, np.ndarray]:
        """Step scores per answer token from the kept distribution; NaN at tokens no row uses."""
        used = self.used
        part = steps_from_logp(self.kept_logp, [self.inp.answer_ids[i] for i in used])
        out = {}
        for name, values in part.items():
            full = np.full(self.inp.n_answer, np.nan)
            full[used] = values
            out[name] = full
        return out


def _vjp_rows(target_values: torch.Tensor, wrt: torch.Tensor, weights: torch.Tensor, vjp_batch: int,
              progress: Callable[[int], None] | None, target: _Target | None = None) -> torch.Tensor:
    """Gradient of each target column (weighted over the batch dim) wrt ``wrt``: (n_rows, B, n, d).

    With ``target`` (the ``_Target`` that gave ``target_values``), one-row VJPs start from that row's own
    per-token roots (``_Target.row_roots``) where it kept them: the same gradient, less work."""
    try:
        n_rows = target_values.shape[1]
        grads = []
        for start in range(0, n_rows, vjp_batch):
            rows = range(start, min(n_rows, start + vjp_batch))
            last = rows[-1] == n_rows - 1
            roots = target.row_roots(rows[0], weights) if target is not None and len(rows) == 1 else None
            if roots is not None:
                (grad,) = torch.autograd.grad(roots[0], wrt, grad_outputs=roots[1], retain_graph=not last)
                grads.append(grad[None])
            elif len(rows) == 1:
                g = torch.zeros_like(target_values)
                g[:, rows[0]] = weights
                (grad,) = torch.autograd.grad(target_values, wrt, grad_outputs=g, retain_graph=not last)
                grads.append(grad[None])
            else:
                g = torch.zeros((len(rows),) + tuple(target_values.shape), dtype=target_values.dtype,
                                device=target_values.device)
                for k, r in enumerate(rows):
                    g[k, :, r] = weights
                (grad,) = torch.autograd.grad(target_values, wrt, grad_outputs=g, retain_graph=not last,
                                              is_grads_batched=True)
                grads.append(grad)
            if progress:
                progress(len(rows))
        return torch.cat(grads, dim=0)
    finally:
        if target is not None:
            target.token_values = None  # the roots hold the graph (of a failed attempt too): freed with it


def default_vjp_batch(lm: LanguageModel) -> int:
    # On a GPU batched VJPs keep the device busy; on a CPU a plain loop of backwards is as fast and
    # needs no extra memory (measured in bench/bench_attribution.py).
    return 8 if lm.device.type == "cuda" else 1


PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class GradientRows:
    """What a gradient method computes: one row per target over prompt tokens, and the whole target's row."""

    matrix: np.ndarray  # (target rows, prompt tokens)
    sequence: np.ndarray  # (prompt tokens,): the attribution of all rows' tokens together
    convergence_delta: float | None  # IG completeness gap, None for the other methods
    steps: dict[str, np.ndarray]  # per answer token (NaN where no row uses the token)
    extra: dict[str, Any] = field(default_factory=dict)  # goes into the result's params


class GradientMethod(TextMethod):
    """Base of the gradient family: rows over prompt tokens from one teacher-forced pass and batched VJPs.

    The base owns the mechanics: the target rows (one per answer unit), the lock on the shared model, matmul
    precision and bf16 autocast, out-of-memory retries, progress, and the row of all units together. A method
    says how the gradient at the input embeddings becomes a score (``score``), or, when it needs more than the
    gradient at the input (integrated gradients' path), overrides ``gradient_pass``. Whether a unit's row is the
    sum of its tokens' rows is the registry's ``exact_regrouping``: where it is not (a gradient norm), the row of
    all units together gets its own VJP.
    """

    kind = "gradient"
    # True when one pass runs its VJPs in chunks of steps (a path integral): out of memory then halves the chunk.
    chunked_steps: ClassVar[bool] = False

    @classmethod
    def score(cls, grads: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Gradients (rows, prompt tokens, d) of each row at the input embeddings x (prompt tokens, d) ->
        a score per row and prompt token (rows, prompt tokens)."""
        raise NotImplementedError

    @classmethod
    def vjp_rounds(cls, seq_len: int, grad_rows: int = MAX_GRAD_ROWS, **params: Any) -> int:
        """VJPs per target row in one pass (for progress)."""
        return 1

    @classmethod
    def gradient_pass(cls, lm: LanguageModel, inp: AuditInput, target: _Target, x: torch.Tensor, tick,
                      vjp_batch: int, grad_rows: int, **params: Any):
        """One attempt, under the model's lock with gradients on: (rows x prompt tokens, delta, token steps)."""
        e = x[None].clone().requires_grad_(True)
        values = target(e, keep_row=0)
        steps = target.token_steps()
        ones = torch.ones(1, device=lm.device)
        grads = _vjp_rows(values, e, ones, vjp_batch, tick, target)[:, 0].float()  # (rows, n, d)
        return cls.score(grads, x).double().cpu().numpy(), None, steps

    @classmethod
    def token_matrix(cls, lm: LanguageModel, inp: AuditInput, target: Target | None = None, *, contrast_ids=None,
                     row_groups: Sequence[Sequence[int]] | None = None, vjp_batch: int | None = None,
                     progress: Progress | None = None, matmul_precision: str = "highest", precision: str = "fp32",
                     **params: Any) -> GradientRows:
        """Rows x prompt tokens for the answer units in ``row_groups`` (token indices; one per token by default).

        ``target`` is what is explained (the answer's log-probabilities by default; ``contrast_ids`` is short for
        ``ContrastTarget(contrast_ids)``). ``precision="bf16"`` runs the model under bfloat16 autocast (opt-in, for
        CPUs with bf16 units) and then measures the whole target's row once more in fp32:
        ``extra["max_rel_diff_vs_fp32"]`` is max |bf16 - fp32| / max |fp32| on that row.
        """
        if target is None:
            target = ContrastTarget(tuple(contrast_ids)) if contrast_ids else AnswerLogProb()
        if precision not in PRECISIONS:
            raise InputError(f"precision is one of {', '.join(PRECISIONS)}, not {precision!r}")
        if matmul_precision not in ("highest", "high"):
            raise InputError("matmul_precision is 'highest' (exact fp32) or 'high' (TF32 on GPUs, opt-in)")
        per_token = target.per_token
        groups = None if row_groups is None or not per_token else [list(g) for g in row_groups]
        whole = sorted({i for g in groups for i in g}) if groups is not None else list(range(inp.n_answer))
        # Where rows do not add up (a gradient norm), all rows together are their own target: one more row.
        extra_row = not cls.info.exact_regrouping and per_token and (groups is None or len(groups) > 1)
        if extra_row:
            groups = (groups if groups is not None else [[i] for i in range(inp.n_answer)]) + [whole]
        settings = dict(vjp_batch=vjp_batch, matmul_precision=matmul_precision, params=params)
        with lm.lock:  # both passes of a bf16 run on the same model state
            rows = _Target(lm, inp, target, groups)
            matrix, conv, steps = _with_retries(lm, inp, cls, rows, precision=precision, progress=progress,
                                                **settings)
            if extra_row:
                matrix, sequence = matrix[:-1], matrix[-1]
            else:
                sequence = matrix.sum(0)
            extra: dict[str, Any] = {}
            if precision == "bf16":
                check = _Target(lm, inp, target, [whole] if per_token else None)
                reference, _, _ = _with_retries(lm, inp, cls, check, precision="fp32", progress=None, **settings)
                scale = float(np.abs(reference[0]).max()) or 1.0
                extra = {"max_rel_diff_vs_fp32": float(np.abs(sequence - reference[0]).max() / scale),
                         "max_rel_diff_measured_on": "the whole answer's row" if per_token else "the contrast row"}
        return GradientRows(matrix, sequence, conv, steps, extra)

    @classmethod
    def attribute(cls, lm, inp, target, in_units, in_groups, out_groups, progress=None, **params) -> UnitRows:
        rows = cls.token_matrix(lm, inp, target, progress=progress,
                                row_groups=out_groups if target.per_token else None, **params)
        m_in = membership(in_groups, inp.n_prompt)  # prompt units are exact sums of token columns
        return UnitRows(rows.matrix @ m_in.T, rows.sequence @ m_in.T, rows.convergence_delta, rows.steps, rows.extra)


def _with_retries(lm, inp, method: type[GradientMethod], target: _Target, *, precision, vjp_batch, progress,
                  matmul_precision, params):
    vjp_batch = vjp_batch or default_vjp_batch(lm)
    # The matmul precision is process-global state: it is changed only while this model's lock is held (so two
    # runs on the model never see each other's setting) and restored before the lock is released.
    with lm.lock:
        with torch.no_grad():
            x = target.emb(torch.tensor(list(inp.prompt_ids), device=lm.device))
        seq_len = inp.n_prompt + max(len(a) for a in target.answers)
        done = [0]
        grad_rows = max_grad_rows(lm)
        total_vjps = target.n_rows * method.vjp_rounds(seq_len, grad_rows, **params)

        def tick(k: int) -> None:
            done[0] += k
            if progress:
                progress(min(1.0, done[0] / total_vjps), f"backward passes {done[0]}/{total_vjps}")

        previous = torch.get_float32_matmul_precision()
        autocast = (torch.autocast(lm.device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext())
        try:
            torch.set_float32_matmul_precision(matmul_precision)
            while True:
                try:
                    with autocast:
                        return _gradient_token_matrix(lm, inp, method, target, x, tick, vjp_batch,
                                                      grad_rows=grad_rows, **params)
                except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                    if not is_out_of_memory(exc):
                        raise
                    free_accelerator_memory()
                    done[0] = 0
                    if vjp_batch > 1:  # smaller internal batches, same result
                        vjp_batch //= 2
                    elif method.chunked_steps and grad_rows // seq_len > 3:
                        grad_rows //= 2
                    else:
                        raise ResourceLimitError(
                            f"out of memory computing {method.info.name} for {seq_len:,} tokens even at the smallest "
                            "internal batch; shorten the sources or the answer") from exc
        finally:
            torch.set_float32_matmul_precision(previous)


def _gradient_token_matrix(lm, inp, method: type[GradientMethod], target, x, tick, vjp_batch,
                           grad_rows=MAX_GRAD_ROWS, **params):
    """One attempt of ``method`` (``_with_retries`` retries it smaller after running out of memory)."""
    with lm.lock, torch.enable_grad():
        return method.gradient_pass(lm, inp, target, x, tick, vjp_batch, grad_rows, **params)


_GRADIENT_PARAMS = {"vjp_batch": POSITIVE_INT, "matmul_precision": TEXT.with_default("highest"),
                    "precision": TEXT.with_default("fp32")}


@register("text", "saliency", "|gradient| of an answer unit's summed log-probability, summed over the embedding "
          "(an L1 gradient norm: a sentence's saliency is the norm of its own gradient, not a sum of its tokens' "
          "saliencies)", _GRADIENT_PARAMS, cost=COST_ONE_PASS, exact_regrouping=False, supports_contrast=True,
          guide=("how sharply the answer's log-probability reacts to each unit's embedding (gradient size, no sign)",
                 "one backward pass per answer unit: the fastest",
                 "a quick first look; says where the model is sensitive, not which way a unit pushes"))
class Saliency(GradientMethod):
    @classmethod
    def score(cls, grads, x):
        return grads.abs().sum(-1)


@register("text", "input_x_gradient", "embedding x gradient, summed over the embedding dimension (a unit's row is "
          "exactly the sum of its tokens' rows)", _GRADIENT_PARAMS, cost=COST_ONE_PASS, exact_regrouping=True,
          supports_contrast=True,
          guide=("embedding x gradient: a signed first-order estimate of each unit's push on the answer",
                 "one backward pass per answer unit: fast",
                 "good for ranking units; can mislead where the model is far from linear"))
class InputXGradient(GradientMethod):
    @classmethod
    def score(cls, grads, x):
        return (grads * x[None]).sum(-1)


@register("text", "integrated_gradients", "integrated gradients from a baseline embedding (exact captum LIG; a "
          "unit's row is exactly the sum of its tokens' rows)",
          {**_GRADIENT_PARAMS, "n_steps": Param((int,), 1, 10_000, default=16),
           "baseline": Param((str, int, float), default="zero"), "integration": TEXT.with_default("gausslegendre")},
          cost=COST_STEPS, cost_param="n_steps", cost_range=(2, 256), exact_regrouping=True, supports_contrast=True,
          guide=("gradients summed along a path from a blank prompt: signed shares that add up to the answer's "
                 "log-probability change",
                 "steps x backward passes (16 steps by default: about 16x input x gradient)",
                 "the most faithful gradient method; trust it when the convergence delta shown is small"))
class IntegratedGradients(GradientMethod):
    """The path integral: the prompt embeddings move from the baseline to the input, answer embeddings stay."""

    chunked_steps = True

    @classmethod
    def vjp_rounds(cls, seq_len, grad_rows=MAX_GRAD_ROWS, n_steps=16, **_):
        return -(-(n_steps + 2) // max(3, grad_rows // seq_len))

    @classmethod
    def gradient_pass(cls, lm, inp, target, x, tick, vjp_batch, grad_rows, baseline="zero", n_steps=16,
                      integration="gausslegendre", **_):
        seq_len = inp.n_prompt + max(len(a) for a in target.answers)
        base = baseline_embeddings(lm, inp.prompt_ids, baseline).detach()
        alphas, weights = integration_points(n_steps, integration)
        # Two extra rows with zero weight, the input (alpha 1) and the baseline (alpha 0), ride in the
        # first batch: they give f(input) - f(baseline) for the completeness delta and the step scores.
        alphas = np.concatenate([[1.0, 0.0], alphas])
        weights = np.concatenate([[0.0, 0.0], weights])
        delta = (x - base)
        total = torch.zeros(target.n_rows, inp.n_prompt, x.shape[1], dtype=torch.float64, device=lm.device)
        step_chunk = max(3, grad_rows // seq_len)
        f_in = f_base = None
        for s0 in range(0, len(alphas), step_chunk):
            tick(0)  # a progress report before each chunk's forward pass: a Stop or time limit acts here too
            a = torch.tensor(alphas[s0:s0 + step_chunk], dtype=x.dtype, device=lm.device)
            w = torch.tensor(weights[s0:s0 + step_chunk], dtype=torch.float32, device=lm.device)
            scaled = (base[None] + a[:, None, None] * delta[None]).requires_grad_(True)
            values = target(scaled, keep_row=0 if s0 == 0 else None)
            if s0 == 0:
                f_in, f_base = values[0].detach().double(), values[1].detach().double()
            g = _vjp_rows(values, scaled, w, vjp_batch, tick, target)  # (rows, steps, n, d), weights folded in
            total += g.sum(1).double()
            del values, g, scaled
        attr = (total * delta[None].double()).sum(-1)
        conv = (attr.sum(-1) - (f_in - f_base)).abs().max().item()
        return attr.cpu().numpy(), conv, target.token_steps()

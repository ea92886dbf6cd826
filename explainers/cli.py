"""``auditlens`` command line: thin wrappers that parse, call explainers and write results."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .errors import ExplainerError

MAX_TEXT_FILE_BYTES = 2_000_000


def _read_text(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise ExplainerError(f"{path}: no such file")
    if p.stat().st_size > MAX_TEXT_FILE_BYTES:
        raise ExplainerError(f"{path}: file is larger than {MAX_TEXT_FILE_BYTES:,} bytes")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ExplainerError(f"{path}: not UTF-8 text ({exc.reason})") from exc


class _Bar:
    """A small stderr progress bar for long methods (the dashboard shows st.progress instead)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.last = -1

    def __call__(self, fraction: float, message: str = "") -> None:
        pct = int(fraction * 100)
        if not self.enabled or pct == self.last:
            return
        self.last = pct
        bar = "#" * (pct // 4)
        sys.stderr.write(f"\r[{bar:<25}] {pct:3d}% {message[:50]:<50}")
        if pct >= 100:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_serve(args: argparse.Namespace) -> int:
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address,
           "--server.port", str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    return subprocess.call(cmd)


def cmd_prepare(args: argparse.Namespace) -> int:
    from . import models

    started = time.perf_counter()
    path = models.prepare_default_lm()
    print(f"default LM ready at {path} ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .models import load_lm
    from .text.lm import generate

    context = [args.context] if args.context else []
    context += [_read_text(f) for f in args.context_file or []]
    lm = load_lm(args.model)
    started = time.perf_counter()
    inp = generate(lm, args.question, context, max_new_tokens=args.max_new_tokens, greedy=not args.sample,
                   seed=args.seed)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps({"question": args.question, "context": context, "answer": inp.answer, "model": lm.model_id,
                          "answer_tokens": inp.n_answer, "prompt_tokens": inp.n_prompt, "elapsed_s": round(elapsed, 3)},
                         ensure_ascii=False))
    else:
        print(inp.answer)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from .registry import describe, list_methods

    for family in ("text", "image"):
        for name in list_methods(family):
            print(f"{family:5s} {name:22s} {describe(family, name)}")
    return 0


def cmd_attribute(args: argparse.Namespace) -> int:
    from .models import load_lm
    from .text.explain import explain
    from .text.lm import prepare, raw_prompt
    from .types import to_json

    prompt_text = args.prompt if args.prompt is not None else _read_text(args.prompt_file)
    if args.answer is None and not args.generate:
        raise ExplainerError("give --answer TEXT or --generate")
    lm = load_lm(args.model)
    inp = prepare(lm, raw_prompt(prompt_text) if args.raw else _chat_prompt(lm, prompt_text), args.answer,
                  max_new_tokens=args.max_new_tokens)
    params = json.loads(args.params) if args.params else {}
    result = explain(lm, inp, args.method, args.granularity, contrast=args.contrast, progress=_Bar(True), **params)
    Path(args.json).write_text(to_json(result, indent=1), encoding="utf-8")
    if args.html:
        from .report.html import render_attribution_html

        Path(args.html).write_text(render_attribution_html(result), encoding="utf-8")
    top = ", ".join(f"{u.text.strip()!r} {s:+.3f}" for u, s in result.top_inputs(5))
    print(f"{args.method} ({args.granularity}) on {inp.n_prompt} prompt / {inp.n_answer} answer tokens in "
          f"{result.elapsed_s:.2f} s; answer: {inp.answer!r}; top inputs: {top}")
    return 0


def cmd_gradcam(args: argparse.Namespace) -> int:
    from .models import load_classifier
    from .types import to_json
    from .vision.cam import explain_image, overlay
    from .vision.images import load_image

    image = load_image(args.image)
    classifier = load_classifier(args.model)
    params = json.loads(args.params) if args.params else {}
    result = explain_image(classifier, image, args.method, target=args.target, layer=args.layer,
                           progress=_Bar(True), **params)
    overlay(image, result.heatmap).save(args.out)
    if args.json:
        Path(args.json).write_text(to_json(result), encoding="utf-8")
    top = ", ".join(f"{label} {p:.1%}" for _, label, p in result.top_classes)
    print(f"{args.method} for {result.class_label!r} ({result.class_probability:.1%}) on layer {result.layer} in "
          f"{result.elapsed_s:.2f} s; top-5: {top}; overlay written to {args.out}")
    return 0


def _chat_prompt(lm, text: str):
    from .text.lm import build_prompt

    return build_prompt(lm, text, instruction="")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auditlens", description="Explainability and hallucination audits for LLM answers")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start the dashboard")
    p.add_argument("--address", default="localhost")
    p.add_argument("--port", type=int, default=8501)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("prepare", help="convert the packaged default LM once into the model cache")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("methods", help="list the registered attribution methods")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("generate", help="answer a question from the given context with the LM")
    p.add_argument("--question", required=True)
    p.add_argument("--context", help="context text")
    p.add_argument("--context-file", action="append", help="a UTF-8 text file of context (repeatable)")
    p.add_argument("--model", default=None, help="HF model id or local path (default: packaged SmolLM2-135M)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("attribute", help="attribute an answer to its prompt")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt")
    src.add_argument("--prompt-file")
    ans = p.add_mutually_exclusive_group()
    ans.add_argument("--answer")
    ans.add_argument("--generate", action="store_true")
    p.add_argument("--method", default="integrated_gradients")
    p.add_argument("--granularity", default="token", choices=["token", "word", "sentence", "span"])
    p.add_argument("--contrast", help="explain log p(answer) - log p(CONTRAST)")
    p.add_argument("--raw", action="store_true", help="use the prompt as is, without the chat template")
    p.add_argument("--params", help='method parameters as JSON, e.g. \'{"n_steps": 32}\'')
    p.add_argument("--model", default=None)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--json", required=True, help="output file for the TextAttribution JSON")
    p.add_argument("--html", help="also write a self-contained HTML view")
    p.set_defaults(func=cmd_attribute)

    p = sub.add_parser("gradcam", help="class activation map of an image classifier")
    p.add_argument("image")
    p.add_argument("--method", default="gradcam")
    p.add_argument("--target", help="class id or label (default: top-1)")
    p.add_argument("--layer", help="target layer name (default: chosen for the model)")
    p.add_argument("--model", default=None, help="efficientnet-lite0 (default) or a torchvision model name")
    p.add_argument("--params", help="method parameters as JSON")
    p.add_argument("--out", required=True, help="overlay PNG")
    p.add_argument("--json", help="ImageAttribution JSON")
    p.set_defaults(func=cmd_gradcam)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ExplainerError as exc:
        print(f"auditlens: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

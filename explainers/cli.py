"""``auditlens`` command line: thin wrappers that parse, call explainers and write results."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from .errors import EmptyInputError, ExplainerError, InputError, not_a_file

MAX_TEXT_FILE_BYTES = 2_000_000


def _read_text(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise ExplainerError(not_a_file(path))
    if p.stat().st_size > MAX_TEXT_FILE_BYTES:
        raise ExplainerError(f"{path}: file is larger than {MAX_TEXT_FILE_BYTES:,} bytes")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ExplainerError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def check_output(path: str, force: bool, what: str = "output") -> Path:
    """Refuse, before any work, an output we could not write or that would replace a file that is not ours.

    The folder must exist; an existing file is replaced only with ``--force``; a folder is never replaced.
    """
    p = Path(path)
    if not path or not path.strip() or p.name in ("", ".", ".."):
        raise ExplainerError(f"{what} {path!r} is not a file name")
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in p.parts):
        raise ExplainerError(f"{what}: a name in {path[:60]!r}... is longer than 255 bytes")
    _check_folder(p.parent, f"{what} {path}")
    if p.is_dir():
        raise ExplainerError(f"{what} {path} is a folder; name a file")
    if p.exists() or p.is_symlink():
        if not force:
            raise ExplainerError(f"{what} {path} exists; pass --force to replace it")
        if not p.is_file():
            raise ExplainerError(f"{what} {path} is not a regular file; it is never replaced")
    return p


def _check_folder(folder: Path, what: str) -> None:
    """The folder an output goes into exists and can be written (no folders are made along a mistyped path)."""
    if not folder.is_dir():
        raise ExplainerError(f"{what}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or not _can_create_in(folder):
        raise ExplainerError(f"{what}: the folder {folder} is not writable")


def _can_create_in(folder: Path) -> bool:
    """Create and remove a temporary file: the only check that also holds for root and read-only mounts."""
    import tempfile

    try:
        fd, name = tempfile.mkstemp(prefix=".auditlens-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def _nonempty(text: str | None, what: str) -> str:
    if text is None or not text.strip():
        raise EmptyInputError(f"the {what} is empty")
    return text


def write_output(path: str | Path, data: str | bytes) -> None:
    """Write through a temporary file in the same folder, renamed into place: never a half-written output."""
    import tempfile

    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name[:200]}.", suffix=".partial", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 is for the temporary file, not for the user's output
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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


def _check_listen(address: str, port: int) -> None:
    """The address resolves and the port is free, said in one line before Streamlit starts (it would print a
    traceback for an unknown host)."""
    import socket

    try:
        infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"--address {address!r}: not an address this machine can listen on ({exc})") from None
    family, kind, proto, _, where = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will: TIME_WAIT is no conflict
        try:
            sock.bind(where)
        except OSError as exc:
            raise InputError(f"cannot listen on {address}:{port} ({exc.strerror or exc}); is the dashboard already "
                             "running there? Choose another --port") from None


def cmd_serve(args: argparse.Namespace) -> int:
    _check_listen(args.address, args.port)
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    # dashboard.serve is Streamlit's command line plus a thread that loads the default models from the start.
    cmd = [sys.executable, "-m", "dashboard.serve", "run", str(app), "--server.address", args.address,
           "--server.port", str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    sys.stdout.flush()
    sys.stderr.flush()
    # Become the Streamlit server (same PID): a stop signal reaches the server itself, nothing is orphaned.
    os.execv(sys.executable, cmd)
    return 0  # not reached


def cmd_prepare(args: argparse.Namespace) -> int:
    from . import models

    started = time.perf_counter()
    path = models.prepare_default_lm()
    print(f"default LM ready at {path} ({time.perf_counter() - started:.1f} s)")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .models import load_lm
    from .text.lm import generate

    _nonempty(args.question, "question")
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
    from .registry import list_methods, method_info

    for family in ("text", "image"):
        for name in list_methods(family):
            info = method_info(family, name)
            facts = [f"cost: {info.cost}" + (f" (set by {info.cost_param})" if info.cost_param else "")]
            if family == "text":
                facts.append("answer units regroup exactly" if info.exact_regrouping else
                             "answer units are their own targets (not sums of token rows)")
                facts.append("explains contrasts" if info.supports_contrast else "no contrasts")
            params = ", ".join(p.name if p.default is None else f"{p.name}={p.default!r}" for p in info.params)
            print(f"{family:5s} {name:22s} {info.description}")
            print(f"{'':28s} {info.kind}; {'; '.join(facts)}; params: {params or 'none'}")
    return 0


def cmd_attribute(args: argparse.Namespace) -> int:
    from .models import load_lm
    from .text.explain import explain
    from .text.lm import prepare, raw_prompt
    from .types import to_json

    from .registry import check_params

    prompt_text = args.prompt if args.prompt is not None else _read_text(args.prompt_file)
    _nonempty(prompt_text, "prompt")
    if args.answer is None and not args.generate:
        raise ExplainerError("give --answer TEXT or --generate")
    check_params("text", args.method, args.params or {})  # before the model loads
    lm = load_lm(args.model)
    inp = prepare(lm, raw_prompt(prompt_text) if args.raw else _chat_prompt(lm, prompt_text), args.answer,
                  max_new_tokens=args.max_new_tokens)
    params = args.params or {}
    if args.precision != "fp32":
        params = {**params, "precision": args.precision}
    from .limits import time_limited

    result = explain(lm, inp, args.method, args.granularity, output_granularity=args.output_granularity,
                     contrast=args.contrast,
                     progress=time_limited(_Bar(True), args.time_limit, args.method), **params)
    write_output(args.json, to_json(result, indent=1))
    if args.html:
        from .report.html import render_attribution_html

        write_output(args.html, render_attribution_html(result))
    top = ", ".join(f"{u.text.strip()!r} {s:+.3f}" for u, s in result.top_inputs(5))
    print(f"{args.method} ({args.granularity}) on {inp.n_prompt} prompt / {inp.n_answer} answer tokens in "
          f"{result.elapsed_s:.2f} s; answer: {inp.answer!r}; top inputs: {top}")
    if "max_rel_diff_vs_fp32" in result.params:
        print(f"precision {args.precision}: max relative difference to fp32 {result.params['max_rel_diff_vs_fp32']:.2e} "
              f"(measured on {result.params['max_rel_diff_measured_on']})")
    return 0


def cmd_gradcam(args: argparse.Namespace) -> int:
    from .models import load_classifier
    from .types import to_json
    from .vision.cam import explain_image, overlay
    from .vision.images import load_image

    from .registry import check_params

    check_params("image", args.method, args.params or {})
    image = load_image(args.image)
    classifier = load_classifier(args.model)
    params = args.params or {}
    result = explain_image(classifier, image, args.method, target=args.target, layer=args.layer,
                           progress=_Bar(True), **params)
    import io

    buf = io.BytesIO()
    overlay(image, result.heatmap).save(buf, format=OVERLAY_FORMATS[Path(args.out).suffix.lower()])
    write_output(args.out, buf.getvalue())
    if args.json:
        write_output(args.json, to_json(result))
    top = ", ".join(f"{label} {p:.1%}" for _, label, p in result.top_classes)
    print(f"{args.method} for {result.class_label!r} ({result.class_probability:.1%}) on layer {result.layer} in "
          f"{result.elapsed_s:.2f} s; top-5: {top}; overlay written to {args.out}")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from .models import load_embedder
    from .retrieval.index import ChunkIndex, check_index_target
    from .retrieval.ingest import ingest_files

    directory = check_index_target(args.index)  # before any work: never replace what is not an index
    _check_folder(directory.parent, f"--index {args.index}")  # as every other output
    docs, chunks, errors = ingest_files(args.docs, max_chars=args.max_chars)
    if not docs:
        raise ExplainerError("no document could be read: " + "; ".join(map(str, errors)))
    for err in errors:
        print(f"auditlens: skipped: {err}", file=sys.stderr)
    embedder = load_embedder(args.embedder)
    index = ChunkIndex.load(directory, embedder) if (directory / "manifest.json").exists() else ChunkIndex(embedder)
    added = index.add(chunks)
    index.save(directory)
    print(f"indexed {len(docs)} documents, {added} new chunks ({len(index)} in all) into {directory}")
    return 0


def _sources_from(args) -> list:
    from .models import load_embedder
    from .retrieval.index import ChunkIndex
    from .retrieval.ingest import ingest_files

    if args.index:
        # every file is checked before the embedder loads
        index = ChunkIndex.load(args.index, lambda: load_embedder(args.embedder))
        return [c for c, _ in index.search(args.question or args.answer, args.k)]
    docs, chunks, errors = ingest_files(args.sources)
    if not docs:
        raise ExplainerError("no source could be read: " + "; ".join(map(str, errors)))
    for err in errors:
        print(f"auditlens: skipped: {err}", file=sys.stderr)
    return chunks


NO_ANSWER = "(unanswered: the model generated no text for this question; there is no answer to audit)"


def cmd_ask(args: argparse.Namespace) -> int:
    from .models import load_embedder, load_lm
    from .retrieval.index import ChunkIndex
    from .retrieval.rag import answer_question

    _nonempty(args.question, "question")
    index = ChunkIndex.load(args.index, lambda: load_embedder(args.embedder))  # files checked before it loads
    res = answer_question(load_lm(args.model), index, args.question, k=args.k, max_new_tokens=args.max_new_tokens)
    if args.json:  # no answer is null, never a placeholder that reads like one
        print(json.dumps({"question": res.question, "answered": res.answered,
                          "answer": res.answer if res.answered else None,
                          "chunks": [{"chunk_id": c.chunk_id, "doc": c.doc_name, "score": s, "text": c.text}
                                     for c, s in zip(res.chunks, res.scores)]}, ensure_ascii=False))
    else:
        print(res.answer if res.answered else NO_ANSWER)
        for c, s in zip(res.chunks, res.scores):
            print(f"  [{s:.2f}] {c.doc_name} p.{c.page}: {c.text[:80]!r}")
    return 0


def cmd_ground(args: argparse.Namespace) -> int:
    from .models import load_embedder, load_lm
    from .retrieval.grounding import NLIScorer, ground
    from .types import to_json

    _nonempty(args.answer, "answer")
    if args.with_lm and not (args.question or "").strip():  # the LM signals score the answer as a reply to it
        raise InputError("--with-lm needs the --question the answer replied to (none is made up)")
    chunks = _sources_from(args)
    deadline = time.monotonic() + args.time_limit if args.time_limit else None
    verifier = _verifier(args)  # a bad --verifier is reported before the other models load
    result = ground(args.answer, chunks, args.question or "", embedder=load_embedder(args.embedder),
                    lm=load_lm(args.model) if args.with_lm else None, nli=NLIScorer(args.nli) if args.nli else None,
                    verifier=verifier, extra_lm_signals=args.with_lm, progress=_Bar(True), deadline=deadline)
    if args.json:
        write_output(args.json, to_json(result, indent=1))
    for s in result.sentences:
        print(f"{s.label:12s} {s.support_probability:5.2f}  {s.sentence!r}  {'; '.join(s.reasons)}")
    print(f"answer support probability: {result.answer_support_probability:.2f}")
    return 0


def _verifier(args: argparse.Namespace):
    """--verifier none: the lexical detector alone; a path: another adapter file; default: ours."""
    from .models import load_verifier

    choice = getattr(args, "verifier", "default") or "default"
    return load_verifier(None if choice == "default" else choice)


def cmd_train_verifier(args: argparse.Namespace) -> int:
    import json as _json

    from .models import load_embedder
    from .retrieval.grounding.verifier import ClaimVerifier
    from .training.fit_detector import fit_detector
    from .training.train_verifier import DEFAULTS, default_passage_files, train

    files = args.passages or default_passage_files()
    if not files:
        raise ExplainerError("no --passages given and ../shared/data/factbook_passages.jsonl not found")
    for f in files:
        if not Path(f).is_file():
            raise ExplainerError(f"passage file not found: {f}")
    out = Path(args.out)
    fusion_target = out.with_name("grounding_fusion_verifier.json")
    if not args.fusion_only:
        # training writes the adapter through <out>.tmp and its card beside it as <out stem>.json: both checked
        # here, before an hour of training, like every other output
        if out.suffix != ".safetensors":
            raise ExplainerError(f"--out {args.out}: the adapter is a safetensors file; end the name with "
                                 ".safetensors (its card is written beside it as .json)")
        check_output(str(out.with_suffix(".json")), args.force, "the verifier's card")
        check_output(str(out.with_name(out.name + ".tmp")), args.force, "the adapter's temporary file")
    if not args.no_fusion:
        check_output(str(fusion_target), args.force, "the fusion file")
    bar = _Bar(True)
    if args.fusion_only:
        if not out.is_file():
            raise ExplainerError(f"--fusion-only: no verifier at {out}; train one first")
    else:
        card = train(out, files, device=args.device, time_budget_s=args.time_budget, progress=bar,
                     n_pairs=args.n_pairs, epochs=args.epochs, seed=args.seed, n_paraphrase=args.lm_paraphrases,
                     paraphrase_lm=args.model, wordnet=not args.no_wordnet)
        print(f"trained in {card['train_seconds']:.0f} s on {card['pairs']['train']} pairs; validation accuracy "
              f"{card['validation']['accuracy']:.3f} on passages it never saw")
    if not args.no_fusion:
        fusion = fit_detector(files, args.dev, load_embedder(args.embedder), ClaimVerifier(out), seed=args.seed,
                              progress=bar, paraphrase_lm=args.model,
                              # the held-out sentences the training already rewrote (same seed: from the cache)
                              n_paraphrase=DEFAULTS["n_paraphrase_val"] if args.lm_paraphrases else 0)
        write_output(str(fusion_target), fusion.to_json())
        print("fusion refitted:", _json.dumps(fusion.meta["cv"]))
    return 0


def cmd_eval_grounding(args: argparse.Namespace) -> int:
    from .models import load_embedder, load_lm
    from .retrieval.evaluate import compute_features, default_features, evaluate, fit_fusion, load_labelled

    from .retrieval.evaluate import check_folds

    rows = load_labelled(args.data)
    if args.limit:
        rows = rows[: args.limit]
    check_folds(rows, args.folds)  # before any model loads or feature is computed
    lm = load_lm(args.model) if args.with_lm else None
    feats = compute_features(rows, load_embedder(args.embedder), lm, progress=_Bar(True))
    features = default_features(lm is not None)
    report = evaluate(rows, feats, features, folds=args.folds)
    print(f"{len(rows)} answers, {args.folds}-fold cross-validation grouped by question")
    print("AUROC/bal.acc/F1: cross-validated sign-constrained logistic fit; raw AUROC: the signal as is, "
          "in its declared direction (below 0.5 = inverted on this data)")
    print(f"{'signal':22s} {'AUROC':>7s} {'bal.acc':>8s} {'F1(hall.)':>9s} {'raw AUROC':>9s}")
    for name, m in report.items():
        raw = f"{m['raw_auroc']:9.3f}" if "raw_auroc" in m else f"{'':9s}"
        print(f"{name:22s} {m['auroc']:7.3f} {m['balanced_accuracy']:8.3f} {m['f1_hallucinated']:9.3f} {raw}")
    if args.save_fusion:
        fusion = fit_fusion(rows, feats, features, name=Path(args.save_fusion).stem)
        write_output(args.save_fusion, fusion.to_json())
        print(f"fusion written to {args.save_fusion}")
    return 0


def _source_texts(paths: list[str]) -> list[str]:
    from .retrieval.ingest import MAX_FILE_BYTES, normalise_source_text, parse_document

    texts = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise ExplainerError(not_a_file(path))
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ExplainerError(f"{path}: {p.stat().st_size:,} bytes is over the limit of {MAX_FILE_BYTES:,}")
        texts += [normalise_source_text(doc.text) for doc in parse_document(p.read_bytes(), p.name)]
    return texts


# Which perturb options each mode uses; any other option given is refused (exit 2) before a model loads, so no
# option is silently ignored. --time-limit applies to every mode (and to --generate).
PERTURB_OPTIONS = {
    "loo": ("unit", "no_regenerate", "max_new_tokens"),
    "ablate": ("unit", "n_ablations", "seed"),
    "reliance": ("threshold", "seed"),
    "edit": ("no_regenerate", "max_new_tokens"),
}
PERTURB_WHY = {
    "seed": "leave-one-out and edits are deterministic (greedy regeneration); --seed orders the random ablations "
            "and the shuffled-sources control of reliance",
    "max_new_tokens": "--max-new-tokens bounds generated answers: --generate, and the regenerated answers of "
                      "loo and edit",
    "no_regenerate": "only loo and edit regenerate answers",
    "unit": "--unit chooses the units of loo and ablate",
    "n_ablations": "--n-ablations is for --mode ablate",
    "threshold": "--threshold is for --mode reliance",
}


def check_perturb_options(args: argparse.Namespace) -> None:
    """Refuse an option the chosen mode would ignore, saying which modes use it."""
    used = set(PERTURB_OPTIONS[args.mode])
    setting = f"--mode {args.mode}"
    if args.no_regenerate and "no_regenerate" in used:
        used.discard("max_new_tokens")  # nothing is regenerated
        setting += " --no-regenerate"
    if args.generate:
        used.add("max_new_tokens")
    for name in PERTURB_WHY:
        if getattr(args, name) not in (None, False) and name not in used:
            raise ExplainerError(f"--{name.replace('_', '-')} does nothing with {setting}: {PERTURB_WHY[name]}")


def cmd_perturb(args: argparse.Namespace) -> int:
    from .limits import time_limited
    from .models import load_lm
    from .text import context
    from .text.lm import build_prompt, prepare
    from .types import to_json

    check_perturb_options(args)
    sources = _source_texts(args.sources)
    if args.answer is not None:
        _nonempty(args.answer, "answer")
    _nonempty(args.question, "question")
    edits = _edits_from(args) if args.mode == "edit" else []
    lm = load_lm(args.model)
    # the limit counts from here (the model is loaded): generating the answer, scoring and regenerating
    bar = time_limited(_Bar(True), args.time_limit, f"perturb --mode {args.mode}")
    answer = args.answer
    if args.generate:
        answer = prepare(lm, build_prompt(lm, args.question, sources), None,
                         max_new_tokens=args.max_new_tokens or 64, progress=bar).answer
        print(f"generated answer: {answer}", file=sys.stderr)
    seed = args.seed if args.seed is not None else 0
    if args.mode == "loo":
        result = context.leave_one_out(lm, args.question, sources, answer, unit=args.unit or "sentence",
                                       regenerate=not args.no_regenerate, max_new_tokens=args.max_new_tokens,
                                       progress=bar)
        for u, src, s in zip(result.units, result.unit_sources, result.answer_scores):
            print(f"{s:+9.3f}  source {src + 1}: {u.text[:90]!r}")
    elif args.mode == "ablate":
        result = context.ablate(lm, args.question, sources, answer, n_ablations=args.n_ablations or 32,
                                unit=args.unit or "sentence", seed=seed, progress=bar)
        print(f"surrogate held-out R2 {result.fit['r2_heldout']:.3f}, LDS {result.fit['lds']:.3f}, "
              f"Spearman vs leave-one-out {result.agreement.get('spearman_vs_leave_one_out', float('nan')):.3f}")
        for u, src, s in zip(result.units, result.unit_sources, result.answer_scores):
            print(f"{s:+9.3f}  source {src + 1}: {u.text[:90]!r}")
    elif args.mode == "reliance":
        threshold = args.threshold if args.threshold is not None else 1.0
        result = context.context_reliance(lm, args.question, sources, answer, threshold=threshold, seed=seed,
                                          progress=bar)
        print("words from the model's prior: " + (", ".join(result.flagged_words()) or "none"))
    else:
        result = context.what_if(lm, args.question, sources, answer, edits, regenerate=not args.no_regenerate,
                                 max_new_tokens=args.max_new_tokens, progress=bar)
        print(f"answer log-prob {result.base_log_prob:.3f} -> {result.edited_log_prob:.3f}")
        print(f"regenerated: {result.regenerated}")
    if args.json:
        write_output(args.json, to_json(result, indent=1))
    return 0


def _edits_from(args: argparse.Namespace) -> list[dict]:
    """The what-if edits of ``--edit`` (already JSON objects) and ``--edits-file``, each validated."""
    from .text.context import edit_from_dict

    raw = list(args.edit or [])
    if args.edits_file:
        text = _read_text(args.edits_file)
        try:
            loaded = json.loads(text)
        except (ValueError, RecursionError) as exc:
            detail = f" ({exc.msg}, line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
            raise ExplainerError(f"{args.edits_file}: not valid JSON{detail}") from None
        if not isinstance(loaded, (list, dict)):
            raise ExplainerError(f"{args.edits_file}: expected a JSON list of edits, not {type(loaded).__name__}")
        raw += loaded if isinstance(loaded, list) else [loaded]
    if not raw:
        raise ExplainerError("--mode edit needs --edit JSON or --edits-file")
    return [edit_from_dict(e, where=f"edit {n}") for n, e in enumerate(raw, 1)]


def cmd_backup(args: argparse.Namespace) -> int:
    from .store import Store

    started = time.perf_counter()
    info = Store(args.database, create=False).backup(args.out, replace=args.force)
    print(f"backed up {info['audits']} audits and {info['verdicts']} verdicts to {args.out} "
          f"({time.perf_counter() - started:.2f} s, integrity {info['integrity']})")
    return 0


def _chat_prompt(lm, text: str):
    from .text.lm import build_prompt

    return build_prompt(lm, text, instruction="")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (what is wrong and where to look), exit status 2, never a traceback."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def int_in(low: int, high: int | None = None):
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high if high is not None else ''}")
        return value

    parse.__name__ = "whole number"
    return parse


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} must be a positive number of seconds")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} must be a finite number")
    return value


def json_object(text: str) -> dict:
    """An argparse type: a JSON object (``--params``, ``--edit``)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        detail = f" ({exc.msg} at character {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        raise argparse.ArgumentTypeError(f"not valid JSON{detail}: {text[:60]!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object {{...}}, not {type(value).__name__}: {text[:60]!r}")
    return value


json_object.__name__ = "JSON object"
MAX_COUNT = 1_000_000
FORCE_HELP = "replace existing output files (without it an existing file is never overwritten)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="auditlens", description="Explainability and hallucination audits for LLM answers")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="start the dashboard")
    p.add_argument("--address", default="localhost")
    p.add_argument("--port", type=int_in(1, 65535), default=8501)
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
    p.add_argument("--max-new-tokens", type=int_in(1, 4096), default=64)
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--seed", type=int_in(0, 2**32 - 1), default=None)
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
    p.add_argument("--output-granularity", choices=["token", "word", "sentence"], default=None,
                   help="answer units explained, one target each (default: as --granularity; sentence for span)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="gradient methods: bf16 autocast (opt-in; the measured difference to fp32 is printed and "
                        "stored in the result's params)")
    p.add_argument("--contrast", help="explain log p(answer) - log p(CONTRAST)")
    p.add_argument("--raw", action="store_true", help="use the prompt as is, without the chat template")
    p.add_argument("--params", type=json_object, help='method parameters as JSON, e.g. \'{"n_steps": 32}\'')
    p.add_argument("--model", default=None)
    p.add_argument("--max-new-tokens", type=int_in(1, 4096), default=64)
    p.add_argument("--json", required=True, help="output file for the TextAttribution JSON")
    p.add_argument("--html", help="also write a self-contained HTML view")
    p.add_argument("--time-limit", type=positive_seconds, default=None, help="stop with an error after this many seconds")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=cmd_attribute)

    p = sub.add_parser("gradcam", help="class activation map of an image classifier")
    p.add_argument("image")
    p.add_argument("--method", default="gradcam")
    p.add_argument("--target", help="class id or label (default: top-1)")
    p.add_argument("--layer", help="target layer name (default: chosen for the model)")
    p.add_argument("--model", default=None, help="efficientnet-lite0 (default) or a torchvision model name")
    p.add_argument("--params", type=json_object, help="method parameters as JSON")
    p.add_argument("--out", required=True, help="overlay PNG")
    p.add_argument("--json", help="ImageAttribution JSON")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=cmd_gradcam)

    p = sub.add_parser("index", help="ingest documents into a FAISS index folder")
    p.add_argument("docs", nargs="+")
    p.add_argument("--index", required=True,
                   help="a new folder, or an existing index folder (anything else is refused)")
    p.add_argument("--embedder", default=None)
    p.add_argument("--max-chars", type=int_in(50, 100_000), default=800)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer a question from the indexed documents")
    p.add_argument("--index", required=True)
    p.add_argument("--question", required=True)
    p.add_argument("-k", type=int_in(1, 100), default=4, help="chunks to retrieve (1..100)")
    p.add_argument("--model", default=None)
    p.add_argument("--embedder", default=None)
    p.add_argument("--max-new-tokens", type=int_in(1, 4096), default=64)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("ground", help="check an answer against sources, sentence by sentence")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--index")
    src.add_argument("--sources", nargs="+")
    p.add_argument("--question", default="")
    p.add_argument("--answer", required=True)
    p.add_argument("-k", type=int_in(1, 100), default=5, help="chunks to retrieve with --index (1..100)")
    p.add_argument("--with-lm", action="store_true",
                   help="add the LM signals: context reliance (fused), attribution mass and sampling consistency (shown)")
    p.add_argument("--nli", help="a Hugging Face NLI model id or folder, as one more signal")
    p.add_argument("--verifier", default="default",
                   help="claim verifier: default (ours, shipped), none (lexical signals only), or an adapter file")
    p.add_argument("--time-limit", type=positive_seconds, default=None, help="stop after this many seconds")
    p.add_argument("--model", default=None)
    p.add_argument("--embedder", default=None)
    p.add_argument("--json", help="Grounding JSON output file")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=cmd_ground)

    p = sub.add_parser("train-verifier", help="train the claim verifier (seeded; about 30-50 min on 2 CPU cores) "
                                              "and refit the detector's fusion")
    p.add_argument("--passages", nargs="+", help="JSONL (field 'text') or text files to make training pairs from "
                                                 "(default: ../shared/data/factbook_passages.jsonl)")
    p.add_argument("--dev", default="../shared/data/halueval_qa_dev.jsonl",
                   help="labelled JSONL that joins the fusion's fit (skipped when missing)")
    p.add_argument("--out", default="verifier_minilm.safetensors", help="adapter file to write (+ its .json card)")
    p.add_argument("--n-pairs", type=int_in(100, MAX_COUNT), default=None)
    p.add_argument("--epochs", type=int_in(1, 20), default=None)
    p.add_argument("--seed", type=int_in(0, 2**31 - 1), default=0)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--time-budget", type=positive_seconds, default=3300.0,
                   help="stop training after this many seconds (default 3300)")
    p.add_argument("--no-fusion", action="store_true", help="train the verifier only")
    p.add_argument("--fusion-only", action="store_true",
                   help="keep the verifier at --out and refit the detector's fusion only (needs --force)")
    p.add_argument("--embedder", default=None)
    p.add_argument("--lm-paraphrases", type=int_in(0, MAX_COUNT), default=0,
                   help="also train on rewrites an LM writes of this many passage sentences, sorted by checks "
                        "(default 0: with the packaged SmolLM2-135M they did not help; see the README)")
    p.add_argument("--model", default=None,
                   help="the LM that writes them (Hugging Face id or folder; default AUDITLENS_LM or SmolLM2)")
    p.add_argument("--no-wordnet", action="store_true",
                   help="train without the WordNet rewordings (needs no wn package; see the README)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=cmd_train_verifier)

    p = sub.add_parser("eval-grounding", help="AUROC / balanced accuracy / F1 of each signal and the fusion")
    p.add_argument("data", help="JSONL with knowledge, question, answer, label (supported|hallucinated)")
    p.add_argument("--with-lm", action="store_true")
    p.add_argument("--folds", type=int_in(2, 100), default=5,
                   help="cross-validation folds (2.., at most the number of questions)")
    p.add_argument("--limit", type=int_in(0, MAX_COUNT), default=0, help="use the first N rows (0: all)")
    p.add_argument("--model", default=None)
    p.add_argument("--embedder", default=None)
    p.add_argument("--save-fusion", help="refit on all rows and write the fusion JSON here")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=cmd_eval_grounding)

    p = sub.add_parser("perturb", help="perturbation effects: leave-one-out, ablations, context reliance, what-if edits")
    p.add_argument("--question", required=True)
    p.add_argument("--sources", nargs="+", required=True, help="files, one source each (.txt .md .html .pdf .jsonl)")
    ans = p.add_mutually_exclusive_group(required=True)
    ans.add_argument("--answer")
    ans.add_argument("--generate", action="store_true")
    p.add_argument("--mode", required=True, choices=["loo", "ablate", "reliance", "edit"])
    p.add_argument("--unit", default=None, choices=["sentence", "source"], help="loo, ablate (default: sentence)")
    p.add_argument("--n-ablations", type=int_in(1, 100_000), default=None, help="ablate (default: 32)")
    p.add_argument("--seed", type=int_in(0, 2**32 - 1), default=None,
                   help="ablate: the random ablations; reliance: the shuffled-sources control (default: 0)")
    p.add_argument("--threshold", type=finite_float, default=None,
                   help="reliance: reliance below this (nats) flags a word (default: 1.0)")
    p.add_argument("--edit", action="append", type=json_object, help='one edit as JSON, e.g. \'{"op": "remove", "unit": "sentence", '
                   '"where": "source 1", "index": 0}\' (repeatable)')
    p.add_argument("--edits-file", help="a JSON list of edits (as stored in an EditResult)")
    p.add_argument("--no-regenerate", action="store_true", help="loo, edit: score only; do not regenerate answers")
    p.add_argument("--time-limit", type=positive_seconds, default=None,
                   help="every mode: stop with an error after this many seconds (generation, scoring, regeneration)")
    p.add_argument("--model", default=None)
    p.add_argument("--max-new-tokens", type=int_in(1, 4096), default=None,
                   help="--generate (default 64), and each answer loo and edit regenerate (default: the answer's "
                        "length + 16, at most 256)")
    p.add_argument("--json", help="output file for the result JSON")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=cmd_perturb)

    p = sub.add_parser("backup", help="copy the review store with SQLite's online backup API")
    p.add_argument("out", help="the backup file to write")
    p.add_argument("--database", default=None, help="database URL (default: the app's store)")
    p.add_argument("--force", action="store_true", help="replace an existing backup file")
    p.set_defaults(func=cmd_backup)

    from .batch.commands import add_commands  # audit-batch, triage, assign, calibrate, export

    add_commands(sub, int_in)
    return parser


# Every file a subcommand writes, by its argument name (flags such as ``generate --json`` are booleans).
OUTPUT_ARGS = ("json", "html", "out", "save_fusion")
OVERLAY_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def check_outputs(args: argparse.Namespace) -> None:
    """All output paths checked before any model is loaded or anything computed."""
    for name in OUTPUT_ARGS:
        value = getattr(args, name, None)
        if isinstance(value, str):
            what = "the backup file" if args.command == "backup" else "--" + name.replace("_", "-")  # positional
            check_output(value, getattr(args, "force", False), what)
    seen: dict[Path, str] = {}  # two outputs on one path: the second would silently replace the first
    for name in (*OUTPUT_ARGS, "csv", "reviewed"):
        value = getattr(args, name, None)
        if isinstance(value, str) and value.strip():
            where = Path(value).resolve()
            if where in seen:
                raise ExplainerError(f"--{seen[where]} and --{name.replace('_', '-')} name the same file ({value}); "
                                     "give each output its own file")
            seen[where] = name.replace("_", "-")
    if args.command == "gradcam" and Path(args.out).suffix.lower() not in OVERLAY_FORMATS:
        raise ExplainerError(f"--out {args.out}: the overlay is an image; end the name with "
                             f"{', '.join(OVERLAY_FORMATS)}")
    if args.command == "backup" and not str(args.out).strip():
        raise ExplainerError("the backup file name is empty")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    try:
        check_outputs(args)
        return int(args.func(args) or 0)
    except ExplainerError as exc:  # every error of ours: one line, no traceback
        print(f"auditlens: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:  # the system refused a read or write (disk full, permissions changed meanwhile)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"auditlens: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("auditlens: interrupted", file=sys.stderr)
        return 130


def _one_line(message: str) -> str:
    return " ".join(message.split())[:2000]


if __name__ == "__main__":
    sys.exit(main())

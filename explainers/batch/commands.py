"""The batch subcommands of ``auditlens``: audit-batch, triage, assign, calibrate, export (thin: parse, call, print)."""

from __future__ import annotations

import argparse
import math
import os


def _runs(args, create: bool = False):
    """The run store; only audit-batch creates one (a mistyped --database for the others is refused)."""
    from ..store import Store
    from .runs import RunStore

    return RunStore(Store(args.database, create=create))


def _user() -> str:
    return os.environ.get("USER") or os.environ.get("USERNAME") or "audit-batch"


def cmd_audit_batch(args: argparse.Namespace) -> int:
    from .audit import BatchOptions
    from .pipeline import run_batch, tqdm_progress
    from .reader import ColumnMap

    columns = ColumnMap(id=args.id_col, question=args.question_col, sources=args.sources_col, answer=args.answer_col,
                        label=args.label_col, model=args.model_col)
    options = BatchOptions(verifier=args.verifier, with_lm=args.with_lm, attribute=args.attribute,
                           method=args.method, granularity=args.granularity, fusion=args.fusion,
                           flag_below=args.flag_below)
    policy = _policy(args)
    from .pipeline import check_batch_input

    check_batch_input(args.data, args.format, options, columns)  # before the store is opened (or created)
    import torch

    # Throughput comes from rows in parallel (--workers), not from threads inside one forward pass: on a shared
    # 2-core machine (load 5.9), 2 threads made a 3-pair verifier call 17x slower than 1 (1.43 s vs 0.085 s).
    torch.set_num_threads(args.threads)
    progress = tqdm_progress(not args.quiet)
    try:
        summary = run_batch(args.data, args.run, columns, options, _runs(args, create=True), backend=args.backend,
                            workers=args.workers, resume=args.resume, policy=policy, fmt=args.format,
                            created_by=args.by or _user(), batch_size=args.batch_size,
                            ray_address=args.ray_address or os.environ.get("RAY_ADDRESS"), progress=progress)
    finally:
        progress.close()
    print("\n".join(summary.lines()))
    return 0


def _policy(args):
    from ..errors import InputError
    from .triage import TriagePolicy

    try:
        return TriagePolicy(args.flag_below, args.accept_above, args.spot_check)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def cmd_triage(args: argparse.Namespace) -> int:
    from .triage import STATUSES, cohen_kappa

    runs = _runs(args)
    run = runs.get_run(args.run)
    if any(v is not None for v in (args.flag_below, args.accept_above, args.spot_check)):
        current = run.policy
        args.flag_below = current.flag_below if args.flag_below is None else args.flag_below
        args.accept_above = current.accept_above if args.accept_above is None else args.accept_above
        args.spot_check = current.spot_check_share if args.spot_check is None else args.spot_check
        run = runs.set_policy(run, _policy(args))
    items = runs.items(run)
    p = run.policy
    print(f"run {run.name!r}: flag below {p.flag_below:.2f}, auto-accept at or above {p.accept_above:.2f}, "
          f"spot-check {p.spot_check_share:.0%} of the auto-accepted")
    for status in STATUSES:
        print(f"  {status:14s} {sum(it.status == status for it in items):7,d}")
    pairs = runs.verdict_pairs(run)
    if pairs:
        first, second = zip(*pairs)
        print(f"second opinions on {len(pairs)} items: Cohen's kappa {cohen_kappa(first, second):.3f}, "
              f"raw agreement {sum(a == b for a, b in pairs) / len(pairs):.1%}")
    if args.show:
        for it in runs.queue(run, args.reviewer)[: args.show]:
            who = ", ".join(it.assigned) or "unassigned"
            print(f"{it.risk:5.2f}  {it.status:10s} audit {it.audit_id:<7d} row {it.row_id[:30]:30s} {who}")
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    runs = _runs(args)
    run = runs.get_run(args.run)
    made = runs.assign(run, args.reviewers, args.by or _user(), second_opinion=args.second_opinion, limit=args.limit)
    print(f"{made} assignment(s) made on run {run.name!r} ({'two' if args.second_opinion else 'one'} reviewer(s) "
          f"per item, riskiest first)")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import calibrate_run, save_named_fusion

    runs = _runs(args)
    run = runs.get_run(args.run)
    name = args.name or f"run-{run.name}"
    from .calibrate import check_fusion_name, named_fusion_path

    check_fusion_name(name)
    target = named_fusion_path(name)
    if target.exists() and not args.force:
        from ..errors import InputError

        raise InputError(f"a fusion named {name!r} exists ({target}); pass --force to replace it or choose --name")
    result = calibrate_run(runs, run, folds=args.folds, seed=args.seed)
    print("\n".join(result.lines()))
    path = save_named_fusion(result.fusion, name, replace=args.force)
    print(f"saved as fusion {name!r} ({path}); use it with: auditlens audit-batch ... --fusion {name}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..cli import check_output
    from ..errors import InputError
    from ..report import run_export

    outputs = {k: getattr(args, k) for k in ("json", "csv", "html", "reviewed") if getattr(args, k)}
    if not outputs:
        raise InputError("name at least one output: --json, --csv, --html or --reviewed")
    for k, v in outputs.items():
        check_output(v, args.force, f"--{k}")
    runs = _runs(args)
    run = runs.get_run(args.run)
    for kind, path in outputs.items():
        info = run_export.write(kind, runs, run, path)
        print(f"{kind}: {info} -> {path}")
    return 0


def unit_float(text: str) -> float:
    """An argparse type: a number in 0..1 (thresholds, shares)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} must be a number in 0..1")
    return value


def add_commands(sub, int_in) -> None:
    """Register the batch subcommands on the ``auditlens`` parser (``int_in``: the CLI's whole-number type)."""

    p = sub.add_parser("audit-batch", help="audit every row of a JSONL/CSV/Parquet file into a named run")
    p.add_argument("data", help="the dataset: .jsonl, .csv or .parquet (streamed, never loaded whole)")
    p.add_argument("--run", required=True, help="the run's name in the review store")
    p.add_argument("--format", choices=("jsonl", "csv", "parquet"), help="default: from the file name")
    p.add_argument("--id-col", default="id", help="the row id column (unique per row; default: id)")
    p.add_argument("--question-col", default="question")
    p.add_argument("--sources-col", default="knowledge",
                   help="the sources: a list (of texts, or objects with text and title) or one text (default: knowledge)")
    p.add_argument("--answer-col", default="answer")
    p.add_argument("--label-col", default=None, help="optional labels: supported | hallucinated")
    p.add_argument("--model-col", default=None, help="optional: which model wrote the answer")
    p.add_argument("--verifier", default="default",
                   help="claim verifier: default (ours), none (lexical signals alone: fastest), or an adapter file")
    p.add_argument("--with-lm", action="store_true", help="add the LM's context reliance to the grounding")
    p.add_argument("--attribute", default="none", choices=("none", "flagged", "all"),
                   help="token attributions (the slow part): for no row, flagged rows only, or every row")
    p.add_argument("--method", default="input_x_gradient", help="attribution method (auditlens methods)")
    p.add_argument("--granularity", default="word", choices=("token", "word", "sentence"))
    p.add_argument("--fusion", default=None, help="a named fusion saved by auditlens calibrate")
    p.add_argument("--backend", default="local", choices=("local", "ray"))
    p.add_argument("--workers", type=int_in(1, 512), default=1, help="worker processes (local) or Ray actors")
    p.add_argument("--threads", type=int_in(1, 256), default=1,
                   help="torch threads of this process (default 1; workers and Ray actors use 1 each)")
    p.add_argument("--ray-address", default=None, help="a Ray cluster (default: RAY_ADDRESS, else a local Ray)")
    p.add_argument("--resume", action="store_true", help="continue an existing run: rows it holds are skipped")
    p.add_argument("--flag-below", type=unit_float, default=0.5, help="flag answers with support below this")
    p.add_argument("--accept-above", type=unit_float, default=0.8, help="auto-accept support at or above this")
    p.add_argument("--spot-check", type=unit_float, default=0.05,
                   help="share of the auto-accepted sent to humans anyway (default 0.05)")
    p.add_argument("--batch-size", type=int_in(1, 4096), default=64,
                   help="rows per batch and per transaction (the verifier and the embedder batch like-length texts "
                        "across it)")
    p.add_argument("--database", default=None, help="database URL (default: the app's store)")
    p.add_argument("--by", default=None, help="recorded as the audits' author (default: $USER)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_audit_batch)

    p = sub.add_parser("triage", help="a run's triage counts, policy and review queue (riskiest first)")
    p.add_argument("--run", required=True)
    p.add_argument("--flag-below", type=unit_float, default=None, help="change the run's policy")
    p.add_argument("--accept-above", type=unit_float, default=None)
    p.add_argument("--spot-check", type=unit_float, default=None)
    p.add_argument("--show", type=int_in(0, 1_000_000), default=0, help="print the first N queue items")
    p.add_argument("--reviewer", default=None, help="with --show: only this reviewer's items")
    p.add_argument("--database", default=None)
    p.set_defaults(func=cmd_triage)

    p = sub.add_parser("assign", help="assign a run's review queue to reviewers, riskiest first")
    p.add_argument("--run", required=True)
    p.add_argument("--reviewers", nargs="+", required=True)
    p.add_argument("--second-opinion", action="store_true", help="two different reviewers per item")
    p.add_argument("--limit", type=int_in(1, 10_000_000), default=None, help="only the N riskiest items")
    p.add_argument("--by", default=None)
    p.add_argument("--database", default=None)
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser("calibrate", help="refit the grounding fusion on a run's reviewer verdicts (saved by name)")
    p.add_argument("--run", required=True)
    p.add_argument("--name", default=None, help="the fusion's name (default: run-RUN); the shipped ones are never replaced")
    p.add_argument("--folds", type=int_in(2, 20), default=5, help="grouped cross-validation folds")
    p.add_argument("--seed", type=int_in(0, 2**31 - 1), default=0)
    p.add_argument("--database", default=None)
    p.add_argument("--force", action="store_true", help="replace a saved fusion of that name")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("export", help="a run as JSON, CSV, one self-contained HTML report, reviewed items as JSONL")
    p.add_argument("--run", required=True)
    p.add_argument("--json", help="the run with every item's sentence-level results")
    p.add_argument("--csv", help="one row per answer, with sentence-level flags")
    p.add_argument("--html", help="a self-contained HTML report (inline SVG figures, no script)")
    p.add_argument("--reviewed", help="reviewed items as labelled JSONL, the format eval-grounding reads")
    p.add_argument("--database", default=None)
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_export)

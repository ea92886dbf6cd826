"""Whole datasets: streamed input, batch audits into named runs, triage, reviewer-driven calibration, exports.

``reader`` (rows of JSONL/CSV/Parquet), ``audit`` (a batch of rows -> audits), ``pipeline`` (``audit-batch``:
backends, resume, summary), ``runs`` (runs and items in the review store), ``triage`` (policy, queue order,
assignment, Cohen's kappa), ``calibrate`` (refit the fusion on verdicts), ``stats`` (what the Dataset page shows).
"""

"""What an export holds: an audit report plus its place in the review store (id, version, verdicts)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExplainerError
from ..types import SCHEMA_VERSION, AuditReport, to_dict


@dataclass(frozen=True)
class ReportBundle:
    report: AuditReport
    audit_id: int | None = None
    version: int | None = None
    created_by: str = ""
    created_at: str = ""
    verdicts: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # oldest first

    @property
    def latest_verdict(self) -> dict[str, Any] | None:
        return self.verdicts[-1] if self.verdicts else None


def bundles_from_store(store, audit_ids) -> list[ReportBundle]:
    """Read audits and their verdict history from a ``Store`` (in the order given); a bad one raises."""
    out = []
    for audit_id in audit_ids:
        meta = store.audit_meta(audit_id)
        out.append(ReportBundle(store.load_report(audit_id), audit_id, meta["version"], meta["created_by"],
                                str(when(meta["created_at"])), tuple(_plain(v) for v in store.history(audit_id))))
    return out


def readable_bundles(store, audit_ids) -> tuple[list[ReportBundle], dict[int, str]]:
    """The audits that can be read, and for each one that cannot (damaged, or from a newer AuditLens) why."""
    bundles, unreadable = [], {}
    for audit_id in audit_ids:
        try:
            bundles += bundles_from_store(store, [audit_id])
        except ExplainerError as exc:
            unreadable[audit_id] = str(exc)
    return bundles, unreadable


def when(value: Any) -> Any:
    """A timestamp to the second, as ISO 8601 ("2026-11-29T09:37:24+00:00"); anything else as it is. The store
    keeps microseconds, which no reviewer reads ("created 2026-11-29 09:37:24.565009")."""
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else value


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: when(v) for k, v in row.items()}


def render_json(bundles: list[ReportBundle]) -> str:
    """One JSON document: the schema version and, per audit, its report (type-tagged) and review history."""
    doc = {"auditlens_export": SCHEMA_VERSION,
           "audits": [{"audit_id": b.audit_id, "version": b.version, "created_by": b.created_by,
                       "created_at": b.created_at, "verdicts": [_plain(v) for v in b.verdicts],
                       "report": to_dict(b.report)} for b in bundles]}
    return json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False, default=str)

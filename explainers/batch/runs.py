"""Runs in the review store: each input row becomes one audit and one run item, in one transaction.

Idempotent per (run, row id): a row whose id the run already holds is not audited again, so a rerun after
``kill -9`` neither loses nor doubles a row; the unique constraint backs this up when several machines write
one run on PostgreSQL (a clash rolls the batch back and it is retried without the rows now present).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError

from ..errors import InputError
from ..store import Store, assignments, audits, bad_rows, run_items, runs, verdicts
from ..types import AuditReport, to_json
from .reader import BadRow, InputRow
from .triage import QUEUE_STATUSES, TriagePolicy, risk, round_robin, spot_draw


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    source: str
    options: dict[str, Any]
    policy: TriagePolicy
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class RowResult:
    """One audited row, ready to be written."""

    row: InputRow
    report: AuditReport

    @property
    def support_probability(self) -> float | None:
        g = self.report.grounding
        return g.answer_support_probability if g is not None else None


@dataclass(frozen=True)
class Item:
    """One run item as the Dataset page and the exports see it."""

    id: int
    row_id: str
    line_no: int
    audit_id: int
    question: str
    answer: str
    support_probability: float | None
    n_sentences: int
    n_flagged_sentences: int
    label: str | None
    model: str
    source_names: tuple[str, ...]
    status: str
    risk: float
    latest_verdict: str | None = None
    latest_reviewer: str | None = None
    assigned: tuple[str, ...] = field(default_factory=tuple)
    reason: str = ""  # flag_reason: the weakest (flagged) sentence and why ("" when written before 0004)


# How grounding's reasons say "the source says otherwise" (grounding/__init__.py and grounding/alignment.py).
# Grounding now puts them first on a contradicted claim; audits stored before that still need the sort.
_CONTRADICTION_CUES = ("reads a contradiction", "finds a contradiction", "negation differs", "says the opposite",
                       "roles look swapped", "cause and effect", "not where this claim's facts are",
                       "where this says")


def flag_reason(grounding, limit: int = 300) -> str:
    """The weakest flagged sentence's label and first reason, quoted: what the Dataset page shows per answer. With
    no sentence flagged, the weakest sentence's support and first reason ("" only with no sentence at all)."""
    sentences = list(grounding.sentences) if grounding is not None else []
    if not sentences:
        return ""
    flagged = [s for s in sentences if s.label != "supported"]
    s = min(flagged or sentences, key=lambda s: s.support_probability)
    quote = s.sentence if len(s.sentence) <= 80 else s.sentence[:79] + "…"
    reasons = list(s.reasons)
    if s.label == "contradicted":  # the reason that says what the source says otherwise, not a word count
        reasons.sort(key=lambda r: not any(cue in r for cue in _CONTRADICTION_CUES))
    # an answer with no flagged sentence still says what holds its support where it is (an "uncertain" one at
    # 54 % had an empty why): its weakest sentence, with that sentence's support
    head = s.label if flagged else f"weakest sentence supported at {s.support_probability:.0%}"
    text = f"{head}: '{quote}': {reasons[0] if reasons else 'no reason recorded'}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def audit_key(run_name: str, row_id: str) -> str:
    """The audit key of a row: fixed by (run, row id), so an edit of it becomes its next version."""
    return "run-" + hashlib.sha256(f"{run_name}\x00{row_id}".encode("utf-8", "surrogatepass")).hexdigest()[:40]


class RunStore:
    """Runs, their items, bad rows and assignments, on the tables of a ``Store``."""

    def __init__(self, store: Store | None = None):
        self.store = store or Store()
        self.engine = self.store.engine

    # ------------------------------------------------------------------------------ runs

    def create_run(self, name: str, source: str, options: dict, policy: TriagePolicy, created_by: str) -> Run:
        name = check_run_name(name)
        who = Store._who(created_by)
        with self.engine.begin() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.name == name)).first() is not None:
                raise InputError(f"run {name!r} exists; pass --resume to continue it or choose another name")
            conn.execute(runs.insert().values(name=name, source=source, options_json=json.dumps(options, sort_keys=True),
                                              policy_json=policy.to_json(), created_by=who,
                                              created_at=datetime.now(timezone.utc)))
        return self.get_run(name)

    def get_run(self, name: str) -> Run:
        with self.engine.connect() as conn:
            r = conn.execute(select(runs).where(runs.c.name == name)).first()
        if r is None:
            raise InputError(f"no run named {name!r}" + _known(self.run_names()))
        return Run(r.id, r.name, r.source, json.loads(r.options_json), TriagePolicy.from_json(r.policy_json),
                   r.created_by, r.created_at)

    def run_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(runs.c.name).order_by(runs.c.id.desc()))]

    def has_run(self, name: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(runs.c.id).where(runs.c.name == name)).first() is not None

    def set_policy(self, run: Run, policy: TriagePolicy) -> Run:
        with self.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run.id).values(policy_json=policy.to_json()))
        return self.get_run(run.name)

    # ------------------------------------------------------------------------------ writing rows

    def done(self, run: Run, rows: Sequence[InputRow | BadRow]) -> tuple[dict[str, int], set[int]]:
        """Of these rows, the row ids the run holds (with the line each came from) and the bad lines it recorded."""
        ids = [r.row_id for r in rows if isinstance(r, InputRow)]
        lines = [r.line_no for r in rows]
        with self.engine.connect() as conn:
            held = dict(conn.execute(select(run_items.c.row_id, run_items.c.line_no)
                                     .where(run_items.c.run_id == run.id, run_items.c.row_id.in_(ids)))
                        .all()) if ids else {}
            bad = {r[0] for r in conn.execute(select(bad_rows.c.line_no)
                                              .where(bad_rows.c.run_id == run.id, bad_rows.c.line_no.in_(lines)))}
        return held, bad

    def write(self, run: Run, results: Sequence[RowResult], bad: Sequence[BadRow],
              created_by: str) -> tuple[list[RowResult], list[BadRow]]:
        """Write audited rows (audit + item, one transaction for the lot) and bad rows. A row whose id the run
        holds from the same line is left out (already done); from another line it is a duplicate id, recorded
        as a bad row. Returns the rows added and the duplicates found."""
        who = Store._who(created_by)
        for _attempt in range(3):
            try:
                return self._write_once(run, results, bad, who)
            except IntegrityError:
                continue  # another writer added some of these rows meanwhile: retry without them
        raise InputError(f"run {run.name!r}: rows kept clashing with another writer; rerun with --resume")

    def _write_once(self, run: Run, results: Sequence[RowResult], bad: Sequence[BadRow], who: str):
        now = datetime.now(timezone.utc)
        added: list[RowResult] = []
        bad = list(bad)
        dups: list[BadRow] = []
        with self.engine.begin() as conn:
            ids = [r.row.row_id for r in results]
            held = dict(conn.execute(select(run_items.c.row_id, run_items.c.line_no).where(
                run_items.c.run_id == run.id, run_items.c.row_id.in_(ids))).all()) if ids else {}
            for res in results:
                row = res.row
                if row.row_id in held:
                    if held[row.row_id] != row.line_no:
                        dups.append(BadRow(row.line_no, f"duplicate id {row.row_id[:80]!r} (first at line "
                                                        f"{held[row.row_id]})", row.row_id))
                    continue
                held[row.row_id] = row.line_no
                g = res.report.grounding
                support = res.support_probability
                audit_id = conn.execute(audits.insert().values(
                    audit_key=audit_key(run.name, row.row_id), version=1, question=res.report.question,
                    answer=res.report.answer, model_id=res.report.model_id, support_probability=support,
                    report_json=to_json(res.report), created_by=who, created_at=now)).inserted_primary_key[0]
                conn.execute(run_items.insert().values(
                    run_id=run.id, row_id=row.row_id, line_no=row.line_no, audit_id=audit_id,
                    support_probability=support, n_sentences=len(g.sentences) if g else 0,
                    n_flagged_sentences=sum(s.label != "supported" for s in g.sentences) if g else 0,
                    label=row.label, model=row.model, source_names_json=json.dumps(list(row.source_names)),
                    spot_draw=spot_draw(run.name, row.row_id), created_at=now, reason=flag_reason(g)))
                added.append(res)
            lines = [b.line_no for b in bad + dups]
            bad_held = {row[0] for row in conn.execute(select(bad_rows.c.line_no).where(
                bad_rows.c.run_id == run.id, bad_rows.c.line_no.in_(lines)))} if lines else set()
            for b in bad + dups:
                if b.line_no in bad_held:
                    continue
                bad_held.add(b.line_no)
                conn.execute(bad_rows.insert().values(run_id=run.id, line_no=b.line_no, row_id=b.row_id,
                                                      reason=b.reason[:2000], created_at=now))
        return added, dups

    # ------------------------------------------------------------------------------ reading

    def counts(self, run: Run) -> dict[str, int]:
        with self.engine.connect() as conn:
            items = conn.execute(select(func.count()).select_from(run_items)
                                 .where(run_items.c.run_id == run.id)).scalar_one()
            bad = conn.execute(select(func.count()).select_from(bad_rows).where(bad_rows.c.run_id == run.id)).scalar_one()
        return {"items": int(items), "bad_rows": int(bad)}

    def bad_lines(self, run: Run) -> list[BadRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(bad_rows.c.line_no, bad_rows.c.reason, bad_rows.c.row_id)
                                .where(bad_rows.c.run_id == run.id).order_by(bad_rows.c.line_no))
            return [BadRow(r.line_no, r.reason, r.row_id) for r in rows]

    def items(self, run: Run, policy: TriagePolicy | None = None) -> list[Item]:
        """Every item of the run with its triage status under ``policy`` (default: the run's), riskiest first."""
        policy = policy or run.policy
        latest = (select(verdicts.c.audit_id, func.max(verdicts.c.id).label("vid"))
                  .group_by(verdicts.c.audit_id).subquery())
        q = (select(run_items, audits.c.question, audits.c.answer, verdicts.c.verdict, verdicts.c.reviewer)
             .join(audits, audits.c.id == run_items.c.audit_id)
             .outerjoin(latest, latest.c.audit_id == run_items.c.audit_id)
             .outerjoin(verdicts, verdicts.c.id == latest.c.vid)
             .where(run_items.c.run_id == run.id))
        assigned = self.assignments(run)
        out = []
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                out.append(Item(r.id, r.row_id, r.line_no, r.audit_id, r.question, r.answer, r.support_probability,
                                r.n_sentences, r.n_flagged_sentences, r.label, r.model,
                                tuple(json.loads(r.source_names_json)), policy.status(r.support_probability, r.spot_draw),
                                risk(r.support_probability), r.verdict, r.reviewer, tuple(assigned.get(r.id, ())),
                                r.reason or ""))
        out.sort(key=lambda it: (-it.risk, it.line_no))
        return out

    def queue(self, run: Run, reviewer: str | None = None) -> list[Item]:
        """The items humans review (flagged, uncertain, spot checks), riskiest first; optionally one reviewer's."""
        return [it for it in self.items(run) if it.status in QUEUE_STATUSES
                and (reviewer is None or reviewer in it.assigned)]

    # ------------------------------------------------------------------------------ assignment and agreement

    def assignments(self, run: Run) -> dict[int, list[str]]:
        """Item id -> reviewers by slot (the latest assignment of each slot wins)."""
        q = (select(assignments.c.item_id, assignments.c.slot, assignments.c.reviewer)
             .join(run_items, run_items.c.id == assignments.c.item_id)
             .where(run_items.c.run_id == run.id).order_by(assignments.c.id))
        slots: dict[int, dict[int, str]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                slots.setdefault(r.item_id, {})[r.slot] = r.reviewer
        return {item: [s[k] for k in sorted(s)] for item, s in slots.items()}

    def assign(self, run: Run, reviewers: Sequence[str], assigned_by: str, second_opinion: bool = False,
               limit: int | None = None) -> int:
        """Give the review queue's items, riskiest first, to ``reviewers`` in turn (two each with
        ``second_opinion``); items already assigned keep their reviewers. Returns how many assignments were made."""
        who = Store._who(assigned_by)
        queue = self.queue(run)
        if limit is not None:
            queue = queue[:limit]
        plan = round_robin([it.id for it in queue], [Store._who(r) for r in reviewers], 2 if second_opinion else 1,
                           {it.id: list(it.assigned) for it in queue})
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            for item_id, reviewer, slot in plan:
                conn.execute(assignments.insert().values(item_id=item_id, reviewer=reviewer, slot=slot,
                                                         assigned_by=who, created_at=now))
        return len(plan)

    def verdict_pairs(self, run: Run) -> list[tuple[str, str]]:
        """For each item two different reviewers judged: (first reviewer's latest verdict, second's).

        The reviewers are the item's assigned slots when both gave a verdict, else the first two who did."""
        assigned = self.assignments(run)
        per_item = self._latest_verdicts(run)
        pairs = []
        for item, by in per_item.items():
            slots = assigned.get(item, [])
            if len(slots) >= 2 and slots[0] in by and slots[1] in by:
                pairs.append((by[slots[0]], by[slots[1]]))
            elif len(by) >= 2:
                first, second = list(by)[:2]
                pairs.append((by[first], by[second]))
        return pairs

    def reviewed(self, run: Run) -> list[tuple[Item, dict[str, str]]]:
        """Items with at least one verdict, with each reviewer's latest verdict."""
        per_item = self._latest_verdicts(run)
        return [(it, per_item[it.id]) for it in self.items(run) if it.id in per_item]

    def _latest_verdicts(self, run: Run) -> dict[int, dict[str, str]]:
        """Item id -> {reviewer: latest verdict}, reviewers in the order they first judged it."""
        q = (select(run_items.c.id, verdicts.c.reviewer, verdicts.c.verdict)
             .join(verdicts, verdicts.c.audit_id == run_items.c.audit_id)
             .where(run_items.c.run_id == run.id).order_by(verdicts.c.id))
        per_item: dict[int, dict[str, str]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                per_item.setdefault(r.id, {})[r.reviewer] = r.verdict  # dicts keep first-seen order; latest value
        return per_item

    def reports(self, run: Run, audit_ids: Iterable[int]):
        """(audit id, report) for the given audits of the run, read one at a time."""
        for audit_id in audit_ids:
            yield audit_id, self.store.load_report(audit_id)

    def item_reports_where(self, run: Run, *conditions) -> list[tuple[int, str]]:
        with self.engine.connect() as conn:
            q = select(run_items.c.audit_id, run_items.c.row_id).where(and_(run_items.c.run_id == run.id, *conditions))
            return [(r[0], r[1]) for r in conn.execute(q)]


def check_run_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InputError("the run needs a name (--run NAME)")
    if len(name) > 200 or any(ord(ch) < 32 for ch in name):
        raise InputError("a run name is at most 200 printable characters")
    return name


def _known(names: list[str]) -> str:
    return f"; runs: {', '.join(names[:20])}" if names else "; there are no runs yet"

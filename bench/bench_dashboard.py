"""Dashboard speed through Streamlit's AppTest: cold start to the first rendered Audit page (models loaded and
the demo audit computed: grounding, word-level gradient×input, context reliance) and a cached re-render
(goal: <= 0.5 s), plus the Review queue and Reports pages on a store of 50 audits.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(fn) -> tuple[float, object]:
    """Seconds one call of ``fn`` takes, and what it returned."""
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="auditlens-bench-")
    os.environ["AUDITLENS_DATABASE_URL"] = f"sqlite:///{tmp}/audits.db"
    from streamlit.testing.v1 import AppTest

    pages = ROOT / "dashboard" / "app_pages"
    cold, at = timed(lambda: AppTest.from_file(str(pages / "audit.py"), default_timeout=600).run())
    assert not at.exception, at.exception
    reruns = [timed(at.run)[0] for _ in range(10)]
    switch_new, _ = timed(lambda: at.selectbox(key="attr_granularity").set_value("sentence").run())
    switch_back, _ = timed(lambda: at.selectbox(key="attr_granularity").set_value("word").run())

    # a store of 50 audits for the list pages
    from explainers.store import Store

    store = Store(os.environ["AUDITLENS_DATABASE_URL"])
    report = at.session_state["audit"]
    from dashboard.compute import run_grounding
    from explainers.types import AuditReport, Source

    rep = AuditReport(question=report["question"], answer=report["answer"],
                      sources=tuple(Source(f"source {k}", s) for k, s in enumerate(report["sources"], 1)),
                      grounding=run_grounding(report["question"], report["sources"], report["answer"]))
    for k in range(50):
        store.add_verdict(store.save_audit(rep, f"reviewer{k % 5}"), "accept", f"reviewer{k % 5}")
    timings = {}
    for page in ("review", "reports"):
        first, p = timed(lambda page=page: AppTest.from_file(str(pages / f"{page}.py"), default_timeout=120).run())
        assert not p.exception, p.exception
        again = [timed(p.run)[0] for _ in range(5)]
        timings[page] = (first, statistics.median(again))
    print(f"{'measure':<52}{'seconds':>9}")
    print(f"{'Audit page, cold start to first render (demo)':<52}{cold:>9.2f}")
    print(f"{'Audit page, cached re-render (median of 10)':<52}{statistics.median(reruns):>9.3f}")
    print(f"{'Audit page, cached re-render (max of 10)':<52}{max(reruns):>9.3f}")
    print(f"{'Audit page, switch to a new granularity':<52}{switch_new:>9.2f}")
    print(f"{'Audit page, switch back (cached)':<52}{switch_back:>9.3f}")
    for page, (first, again) in timings.items():
        print(f"{page + ' page, 50 audits, first render':<52}{first:>9.2f}")
        print(f"{page + ' page, 50 audits, re-render (median of 5)':<52}{again:>9.3f}")
    print(f"goal: cached re-render <= 0.5 s: {'met' if statistics.median(reruns) <= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()

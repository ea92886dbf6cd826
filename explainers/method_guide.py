"""The guide line people choose a method by: what it measures, what it costs, when to trust it.

Each method gives its three parts where it registers (``@register(..., guide=(...))``), so a new method brings
its line in its own file; the dashboard, the CLI's ``methods`` listing and the reports read it through
``registry.guide`` / ``registry.method_info``.
"""

from __future__ import annotations


def guide_line(measures: str, cost: str, trust: str) -> str:
    """'measures ... Cost: ... Trust it: ...' (one sentence each)."""
    return f"measures {measures}. Cost: {cost}. Trust it: {trust}."

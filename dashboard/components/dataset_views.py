"""Figures of a batch run, built from its statistics (explainers.batch.stats) only."""

from __future__ import annotations

import plotly.graph_objects as go

from explainers.batch.stats import LabelMetrics, RunStats
from explainers.batch.triage import TriagePolicy
from explainers.colours import triage_css


def histogram_figure(stats: RunStats, policy: TriagePolicy) -> go.Figure:
    edges = stats.histogram_edges
    centres = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    colours = [triage_css(c, policy.flag_below, policy.accept_above) for c in centres]
    fig = go.Figure(go.Bar(x=centres, y=list(stats.histogram_counts), width=[b - a for a, b in zip(edges, edges[1:])],
                           marker_color=colours, hovertemplate="support %{x:.0%}: %{y} answers<extra></extra>"))
    for x, text in ((policy.flag_below, "flag"), (policy.accept_above, "auto-accept")):
        fig.add_vline(x=x, line_dash="dash", line_color="#444", annotation_text=text)
    most = max(stats.histogram_counts, default=0)
    fig.update_layout(title="Answer support", height=320, margin=dict(l=10, r=10, t=40, b=10), bargap=0.05,
                      xaxis=dict(range=[0, 1], title="support", tickformat=".0%"),
                      # whole answers: no 0.5 ticks on a small run
                      yaxis=dict(title="answers", tick0=0, dtick=max(1, -(-most // 5))))
    return fig


def reliability_figure(labels: LabelMetrics) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="#aaa"),
                             name="perfectly calibrated", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[r.mean_predicted for r in labels.reliability], y=[r.observed for r in labels.reliability],
                             mode="lines+markers", name="detector",
                             marker=dict(size=[6 + 10 * (r.count / max(b.count for b in labels.reliability)) ** 0.5
                                               for r in labels.reliability]),
                             customdata=[r.count for r in labels.reliability],
                             hovertemplate="predicted %{x:.0%}, labelled supported %{y:.0%} (%{customdata} answers)"
                                           "<extra></extra>"))
    fig.update_layout(title="Reliability against the labels", height=320, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(range=[0, 1], title="predicted support", tickformat=".0%"),
                      yaxis=dict(range=[0, 1], title="share labelled supported", tickformat=".0%"), showlegend=False)
    return fig

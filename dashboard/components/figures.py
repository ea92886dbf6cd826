"""Plotly figures built from result values only (never from models). Text goes in as data, not HTML."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explainers.colours import ATTRIBUTION_SCALE, COLORBAR_TITLE, POSITIVE_COLORBAR_TITLE, POSITIVE_SCALE
from explainers.types import TextAttribution

from .safe import plotly_label


def _scale(stops) -> list[list]:
    return [list(stop) for stop in stops]


def heatmap_figure(values: np.ndarray, title: str) -> go.Figure:
    """A normalised heatmap: never negative (Grad-CAM) on the white-to-blue half, else on the whole shared scale."""
    if np.nanmin(values, initial=0.0) >= 0:
        trace = go.Heatmap(z=values, colorscale=_scale(POSITIVE_SCALE), zmin=0, zmax=1,
                           colorbar=dict(title=POSITIVE_COLORBAR_TITLE))
    else:
        trace = go.Heatmap(z=values, colorscale=_scale(ATTRIBUTION_SCALE), zmin=-1, zmax=1, zmid=0,
                           colorbar=dict(title=COLORBAR_TITLE))
    fig = go.Figure(trace)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(title=title, height=360, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def units_figure(labels: list[str], values: np.ndarray, title: str) -> go.Figure:
    """Normalised unit scores as bars on the shared diverging scale (blue raises, red lowers)."""
    safe = [plotly_label(label) for label in labels]
    marker = dict(color=values, colorscale=_scale(ATTRIBUTION_SCALE), cmin=-1, cmax=1, cmid=0, showscale=True,
                  colorbar=dict(title=COLORBAR_TITLE))
    fig = go.Figure(go.Bar(x=list(range(len(safe))), y=values, marker=marker, hovertext=safe, hoverinfo="text+y"))
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(safe))), ticktext=safe)
    fig.update_layout(title=title, height=360, yaxis=dict(range=[-1.05, 1.05]), margin=dict(l=10, r=10, t=40, b=10))
    return fig


def attribution_heatmap(a: TextAttribution, max_inputs: int = 80) -> go.Figure:
    """Answer units (rows) x prompt units (columns), one symmetric colour scale; template tokens hidden."""
    cols = np.flatnonzero(a.visible_input)
    if cols.size > max_inputs:  # keep the most influential columns, in text order
        cols = np.sort(cols[np.argsort(-np.abs(a.scores[:, cols]).sum(0))[:max_inputs]])
    z = a.scores[:, cols]
    scale = float(np.max(np.abs(z))) if z.size and np.isfinite(z).all() and np.max(np.abs(z)) > 0 else 1.0
    xs = [plotly_label(a.input_units[j].text, 20) for j in cols]
    ys = [plotly_label(u.text, 30) for u in a.output_units]
    hover = [[f"{ys[i]} ← {xs[k]}: {z[i, k]:+.4f}" for k in range(len(cols))] for i in range(len(ys))]
    fig = go.Figure(go.Heatmap(z=z, zmin=-scale, zmax=scale, zmid=0, colorscale=_scale(ATTRIBUTION_SCALE),
                               text=hover, hoverinfo="text", colorbar=dict(title=COLORBAR_TITLE)))
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(xs))), ticktext=xs, tickangle=-60)
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(ys))), ticktext=ys, autorange="reversed")
    fig.update_layout(title=f"{a.method} ({a.granularity}): answer units × prompt units",
                      height=max(320, 22 * len(ys) + 160), margin=dict(l=10, r=10, t=40, b=10))
    return fig


def steps_figure(a: TextAttribution) -> go.Figure:
    """Per answer unit: how likely the chosen text was, and the entropy of the next-token distribution.

    A sentence's or word's probability is the product over its tokens, so near zero for any sentence: there the
    bars show the log-probability instead (else no bar is visible). The legend sits above the plot (it covered
    the entropy axis), and with many units only every k-th label is written (they ran into one another)."""
    labels = [plotly_label(u.text, 20) for u in a.output_units]
    x = list(range(len(labels)))
    fig = go.Figure()
    left = dict(title="probability", range=[0, 1])
    prob = a.step_scores.get("probability")
    if prob is not None and len(prob) and float(np.nanmax(prob)) < 0.05 and "log_prob" in a.step_scores:
        fig.add_bar(x=x, y=a.step_scores["log_prob"], name="log-probability (nats)", hovertext=labels)
        left = dict(title="log-probability (nats)")
    elif prob is not None:
        fig.add_bar(x=x, y=prob, name="probability", hovertext=labels)
    if "entropy" in a.step_scores:
        fig.add_scatter(x=x, y=a.step_scores["entropy"], name="entropy (nats)", yaxis="y2", mode="lines+markers",
                        hovertext=labels)
    every = max(1, -(-len(labels) // 40))
    fig.update_xaxes(tickmode="array", tickvals=x[::every], ticktext=labels[::every], tickangle=-60)
    fig.update_layout(title="Per answer unit: how likely the chosen text was, and the entropy of the next-token "
                            "distribution", yaxis=left,
                      yaxis2=dict(title="entropy (nats)", overlaying="y", side="right", rangemode="tozero"),
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"), height=360,
                      margin=dict(l=10, r=10, t=80, b=10))
    return fig


def curves_figure(image_curve, text_curve) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=image_curve.fractions, y=image_curve.deletion, name=f"image deletion (AUC {image_curve.deletion_auc:.2f})")
    fig.add_scatter(x=text_curve.fractions, y=text_curve.deletion, name=f"text deletion (AUC {text_curve.deletion_auc:.2f})")
    fig.update_layout(title="Deletion curves: share of the score left after removing the top fraction",
                      xaxis_title="fraction removed (most important first)", yaxis_title="normalised score",
                      height=360, margin=dict(l=10, r=10, t=40, b=10))
    return fig

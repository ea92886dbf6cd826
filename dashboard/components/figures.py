"""Plotly figures built from result values only (never from models). Text goes in as data, not HTML."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go


def heatmap_figure(values: np.ndarray, title: str, colorscale: str = "RdBu_r") -> go.Figure:
    fig = go.Figure(go.Heatmap(z=values, colorscale=colorscale, zmin=-1, zmax=1, zmid=0))
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(title=title, height=360, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def units_figure(labels: list[str], values: np.ndarray, title: str, colorscale: str = "RdBu_r") -> go.Figure:
    # Bar labels are set as data; plotly renders them as text, and we strip '<' so no tag can be formed.
    safe = [label.replace("<", "‹").replace(">", "›") for label in labels]
    fig = go.Figure(go.Bar(x=list(range(len(safe))), y=values, marker=dict(color=values, colorscale=colorscale,
                                                                           cmin=-1, cmax=1), hovertext=safe,
                           hoverinfo="text+y"))
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(safe))), ticktext=safe)
    fig.update_layout(title=title, height=360, yaxis=dict(range=[-1.05, 1.05]), margin=dict(l=10, r=10, t=40, b=10))
    return fig


def curves_figure(image_curve, text_curve) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=image_curve.fractions, y=image_curve.deletion, name=f"image deletion (AUC {image_curve.deletion_auc:.2f})")
    fig.add_scatter(x=text_curve.fractions, y=text_curve.deletion, name=f"text deletion (AUC {text_curve.deletion_auc:.2f})")
    fig.update_layout(title="Deletion curves: share of the score left after removing the top fraction",
                      xaxis_title="fraction removed (most important first)", yaxis_title="normalised score",
                      height=360, margin=dict(l=10, r=10, t=40, b=10))
    return fig

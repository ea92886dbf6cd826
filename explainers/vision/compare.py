"""The CNN-vs-LLM side-by-side: one image and one text attribution on one colour scale."""

from __future__ import annotations

import numpy as np

from ..colours import ATTRIBUTION_SCALE
from ..types import DeletionCurve, ImageAttribution, SideBySide, TextAttribution

COLOR_SCALE = ATTRIBUTION_SCALE  # the shared scale: blue raises, red lowers; never-negative heat uses its blue half


def _normalise(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    ref = values if mask is None else values[mask]
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    return values / scale if scale > 1e-12 else np.zeros_like(values)


def _top_region(heat: np.ndarray) -> str:
    h, w = heat.shape
    ys, xs = np.unravel_index(np.argsort(-heat.ravel())[: max(1, heat.size // 10)], heat.shape)
    cy, cx = ys.mean() / h, xs.mean() / w
    vert = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    horiz = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    return f"{vert}-{horiz}" if (vert, horiz) != ("middle", "centre") else "centre"


def side_by_side(image: ImageAttribution, text: TextAttribution, image_curve: DeletionCurve,
                 text_curve: DeletionCurve) -> SideBySide:
    visible = text.visible_input
    heat = _normalise(image.heatmap)
    scores = _normalise(text.sequence_scores, visible)
    top10 = float((heat >= np.quantile(heat, 0.9)).mean() and heat[heat >= np.quantile(heat, 0.9)].sum()
                  / max(np.abs(heat).sum(), 1e-12))
    img_caption = (f"{image.method} for '{image.class_label}' ({image.class_probability:.0%}): the top 10 % of "
                   f"pixels hold {top10:.0%} of the heat, mostly in the {_top_region(heat)} of the image; deletion AUC "
                   f"{image_curve.deletion_auc:.2f} (lower is more faithful).")
    tops = ", ".join(repr(u.text.strip()) for u, _ in text.top_inputs(3))
    txt_caption = (f"{text.method} at {text.granularity} level: the answer leans most on {tops}; deleting the "
                   f"top units first gives deletion AUC {text_curve.deletion_auc:.2f}.")
    return SideBySide(image, text, heat, scores, image_curve, text_curve, img_caption, txt_caption)

"""One colour language for every view (dashboard, HTML and PDF reports, the CNN page, CLI overlays).

Attribution: blue = raises the answer's (or class's) probability, red = lowers it, white = no effect, on one
diverging scale interpolated linearly in RGB between three stops. Plotly interpolates the same way between the
same stops, so a cell in the app, the HTML report and an overlay pixel of equal value get the same colour.
Heatmaps that are never negative (Grad-CAM family, |IG|) use the positive half only, white to blue, so "blue"
keeps its meaning and no second colour map (jet) is needed.

Grounding labels have their own categorical map (green supported, red unsupported, orange contradicted), one
translucent tint that the app and HTML draw as rgba and the PDF draws as the same tint over white paper.
"""

from __future__ import annotations

import numpy as np

NEGATIVE_RGB = (178, 24, 43)  # lowers the probability (ColorBrewer RdBu end)
NONE_RGB = (255, 255, 255)
POSITIVE_RGB = (33, 102, 172)  # raises the probability (ColorBrewer RdBu end)


def _css(rgb: tuple[int, int, int]) -> str:
    return f"rgb({rgb[0]},{rgb[1]},{rgb[2]})"


# Plotly colorscales: position in [0, 1] -> colour. The diverging one spans [-max|v|, +max|v|] with 0 in the middle.
ATTRIBUTION_SCALE = ((0.0, _css(NEGATIVE_RGB)), (0.5, _css(NONE_RGB)), (1.0, _css(POSITIVE_RGB)))
POSITIVE_SCALE = ((0.0, _css(NONE_RGB)), (1.0, _css(POSITIVE_RGB)))

ATTRIBUTION_LEGEND = "blue: raises the answer's probability; red: lowers it; white: no effect."
COLORBAR_TITLE = "blue: raises<br>red: lowers"  # plotly colorbar title (its <br> is plotly's line break)
POSITIVE_LEGEND = ("Grad-CAM heat is never negative, so it uses only the positive half of the same scale: "
                   "white: no evidence; blue: strongest evidence for the predicted class.")
POSITIVE_COLORBAR_TITLE = "blue: evidence<br>for the class"

# The one label map: every view of a grounding label (tint, solid bar, Streamlit badge) derives from these rows.
LABEL_RGB = {"supported": (0, 160, 60), "unsupported": (220, 40, 40), "contradicted": (240, 140, 0)}
LABEL_ALPHA = {"supported": 0.25, "unsupported": 0.30, "contradicted": 0.35}  # tints behind text stay readable
# Streamlit Markdown (``:green-background[...]``) takes only its own named colours: the name of each row's hue.
LABEL_STREAMLIT = {"supported": "green", "unsupported": "red", "contradicted": "orange"}
LABEL_RGBA = {k: (*rgb, LABEL_ALPHA[k]) for k, rgb in LABEL_RGB.items()}
LABEL_CSS = {k: f"rgba({r},{g},{b},{a:.2f})" for k, (r, g, b, a) in LABEL_RGBA.items()}
LABEL_SOLID_CSS = {k: _css(rgb) for k, rgb in LABEL_RGB.items()}  # bars and marks drawn without transparency
LABEL_LEGEND = "green: supported by a source; red: unsupported; orange: contradicted by a source."


def triage_css(support_probability: float, flag_below: float, accept_above: float) -> str:
    """Solid colour of a support value's triage band, in the label colours: flagged red, auto-accepted green,
    to review (between the two thresholds) orange."""
    if support_probability < flag_below:
        return LABEL_SOLID_CSS["unsupported"]
    if support_probability >= accept_above:
        return LABEL_SOLID_CSS["supported"]
    return LABEL_SOLID_CSS["contradicted"]


def _over_white(r: int, g: int, b: int, a: float) -> tuple[int, int, int]:
    return tuple(int(round(255 + a * (c - 255))) for c in (r, g, b))


LABEL_RGB_ON_WHITE = {k: _over_white(*v) for k, v in LABEL_RGBA.items()}  # for media without transparency (PDF)


def attribution_rgb_array(values: np.ndarray) -> np.ndarray:
    """RGB (uint8, shape ``values.shape + (3,)``) of values in [-1, 1] on the diverging scale; NaN is white."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0), -1.0, 1.0)[..., None]
    none, pos, neg = (np.array(c, dtype=np.float64) for c in (NONE_RGB, POSITIVE_RGB, NEGATIVE_RGB))
    rgb = np.where(v >= 0, none + v * (pos - none), none + (-v) * (neg - none))
    return np.rint(rgb).astype(np.uint8)


def attribution_css(value: float, scale: float) -> str:
    """CSS colour of ``value`` on the diverging scale spanning [-scale, scale] (white when undefined)."""
    if not scale > 0 or not np.isfinite(value):
        return _css(NONE_RGB)
    r, g, b = attribution_rgb_array(np.array(value / scale)).tolist()
    return f"rgb({r},{g},{b})"

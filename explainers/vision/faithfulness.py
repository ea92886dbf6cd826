"""Deletion and insertion curves (Petsiuk et al., RISE) for any image heatmap, and the same curve for text.

Deletion: remove the most important pixels first (replace them by a blurred copy) and follow the class
probability, normalised by the unperturbed probability; a faithful map makes it fall fast (low AUC).
Insertion: start from the blurred image and restore the most important pixels first (high AUC is good).
The text curve (``text.faithfulness.text_deletion_curve``) deletes the highest-ranked prompt units and follows
p(answer) / p(answer | full prompt) per token, so the CNN and the LLM are compared on one scale.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageFilter

from ..models import ImageClassifier
from ..types import DeletionCurve


def _auc(fractions, values) -> float:
    return float(np.trapezoid(values, fractions))


def image_deletion_curve(classifier: ImageClassifier, image: Image.Image, heatmap: np.ndarray, class_id: int,
                         n_steps: int = 16, grid: int = 28, baseline: str = "blur") -> DeletionCurve:
    """Rank cells of a ``grid`` x ``grid`` partition by mean heat; delete/insert them in ``n_steps`` steps."""
    size = classifier.input_size
    img = image.convert("RGB").resize((size, size), Image.BILINEAR)
    x = classifier.preprocess(img)
    if baseline == "blur":
        xb = classifier.preprocess(img.filter(ImageFilter.GaussianBlur(radius=size / 16)))
    elif baseline == "gray":
        xb = classifier.preprocess(Image.new("RGB", img.size, (127, 127, 127)))
    else:
        raise ValueError(f"unknown deletion baseline {baseline!r}; use blur or gray")
    heat = np.asarray(Image.fromarray(heatmap.astype(np.float32), mode="F").resize((grid, grid), Image.BILINEAR))
    order = np.argsort(-heat.ravel(), kind="stable")
    fractions = np.linspace(0.0, 1.0, n_steps + 1)
    cell = size // grid
    masks = []
    for f in fractions:
        m = np.zeros(grid * grid, dtype=np.float32)
        m[order[: int(round(f * grid * grid))]] = 1.0
        up = np.kron(m.reshape(grid, grid), np.ones((cell, cell), dtype=np.float32))
        full = np.zeros((size, size), dtype=np.float32)
        full[: up.shape[0], : up.shape[1]] = up
        masks.append(full)
    mask = torch.from_numpy(np.stack(masks))[:, None]  # 1 = the top cells
    deleted = x * (1 - mask) + xb * mask
    inserted = xb * (1 - mask) + x * mask
    with torch.no_grad(), classifier.lock:
        p = torch.cat([classifier.model(b).softmax(-1)[:, class_id] for b in torch.cat([deleted, inserted]).split(16)])
    p = p.double().numpy()
    base = max(p[0], 1e-12)
    dele, ins = p[: len(fractions)] / base, p[len(fractions):] / base
    return DeletionCurve(tuple(fractions), tuple(dele), tuple(ins), _auc(fractions, dele), _auc(fractions, ins))


def random_heatmap(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape)

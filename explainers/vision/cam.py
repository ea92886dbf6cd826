"""Image attributions: the Grad-CAM family (pytorch-grad-cam) and captum integrated gradients.

pytorch-grad-cam owns the mechanics (hooks, forward/backward, scaling); each method here only names
its class. Its own ``__exit__`` swallows IndexError, so we release its hooks in our own ``finally``;
its bare array becomes an ``ImageAttribution`` with the class, probability and layer.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from ..models import ImageClassifier
from ..registry import POSITIVE_INT, check_params, get_explainer, register
from ..types import ImageAttribution


@contextmanager
def _cam(cam_cls, model, layers, reshape_transform=None, **kwargs):
    cam = cam_cls(model=model, target_layers=layers, reshape_transform=reshape_transform, **kwargs)
    try:
        yield cam
    finally:
        cam.activations_and_grads.release()


def resolve_target(classifier: ImageClassifier, target: int | str) -> int:
    if isinstance(target, str) and not target.isdigit():
        lowered = target.strip().lower()
        matches = [i for i, lbl in enumerate(classifier.labels) if lbl.lower() == lowered]
        if not matches:
            raise InputError(f"no class is called {target!r}; give a class id 0..{len(classifier.labels) - 1}")
        return matches[0]
    idx = int(target)
    if not 0 <= idx < len(classifier.labels):
        raise InputError(f"class id {idx} is outside 0..{len(classifier.labels) - 1}")
    return idx


def _grad_cam_method(name: str, class_name: str, description: str):
    @register("image", name, description, {"batch_size": POSITIVE_INT})
    def compute(classifier: ImageClassifier, x: torch.Tensor, class_id: int | None, layer: str, **params):
        """Heatmap and the logits of the same forward (no second pass to classify)."""
        import pytorch_grad_cam as gc
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        cls = getattr(gc, class_name)
        layers = [classifier.module(layer)] if class_name != "FullGrad" else []
        with _cam(cls, classifier.model, layers) as cam:
            if "batch_size" in params:
                cam.batch_size = int(params["batch_size"])
            targets = None if class_id is None else [ClassifierOutputTarget(class_id)]
            heat = cam(input_tensor=x, targets=targets)
            logits = cam.outputs.detach()
        return np.asarray(heat[0], dtype=np.float64), logits

    compute.method_name = name
    return compute


GRAD_CAM_METHODS = {
    "gradcam": ("GradCAM", "gradient-weighted class activation map"),
    "gradcam++": ("GradCAMPlusPlus", "Grad-CAM++: second-order weighting of positive gradients"),
    "xgradcam": ("XGradCAM", "XGrad-CAM: activation-normalised gradient weights"),
    "hirescam": ("HiResCAM", "element-wise gradient x activation, faithful to the model"),
    "layercam": ("LayerCAM", "positive gradients weigh each location"),
    "eigencam": ("EigenCAM", "first principal component of the activations (class-agnostic)"),
    "scorecam": ("ScoreCAM", "weights from the score of each masked activation (no gradients)"),
    "ablationcam": ("AblationCAM", "weights from the score drop when a channel is zeroed"),
    "fullgrad": ("FullGrad", "input gradients plus bias gradients of every layer"),
}
PER_CHANNEL_METHODS = ("scorecam", "ablationcam")
for _name, (_cls, _desc) in GRAD_CAM_METHODS.items():
    _grad_cam_method(_name, _cls, _desc)


@register("image", "integrated_gradients", "captum integrated gradients on the pixels (|attr| summed over channels)",
          {"n_steps": ((int,), 1, 10_000), "internal_batch_size": POSITIVE_INT})
def integrated_gradients(classifier: ImageClassifier, x: torch.Tensor, class_id: int | None, layer: str,
                         n_steps: int = 32, internal_batch_size: int = 16, **_):
    from captum.attr import IntegratedGradients

    with torch.no_grad():
        logits = classifier.model(x)
    if class_id is None:
        class_id = int(logits.argmax())
    ig = IntegratedGradients(classifier.model)
    with torch.enable_grad():
        attr = ig.attribute(x, baselines=torch.zeros_like(x), target=class_id, n_steps=n_steps,
                            internal_batch_size=internal_batch_size)
    heat = attr[0].abs().sum(0).detach().double().cpu().numpy()
    return heat / max(heat.max(), 1e-12), logits


def _to_image_size(heat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a heatmap (model input size) to the image size (height, width), values kept in range."""
    h, w = size
    if heat.shape == (h, w):
        return heat
    lo, hi = float(heat.min()), float(heat.max())
    scale = hi - lo if hi > lo else 1.0
    img = Image.fromarray(((heat - lo) / scale).astype(np.float32), mode="F").resize((w, h), Image.BILINEAR)
    return np.asarray(img, dtype=np.float64) * scale + lo


def _top(classifier: ImageClassifier, probs: torch.Tensor, k: int = 5):
    top = torch.topk(probs, k)
    return [(int(i), classifier.labels[int(i)], float(p)) for p, i in zip(top.values, top.indices)]


def classify(classifier: ImageClassifier, image: Image.Image, k: int = 5):
    x = classifier.preprocess(image)
    with torch.no_grad(), classifier.lock:
        probs = classifier.model(x).softmax(-1)[0]
    return x, probs, _top(classifier, probs, k)


def explain_image(classifier: ImageClassifier, image: Image.Image, method: str = "gradcam",
                  target: int | str | None = None, layer: str | None = None,
                  progress: Callable[[float, str], None] | None = None, **params: Any) -> ImageAttribution:
    """Heatmap of ``method`` for class ``target`` (top-1 by default), at the image's own size."""
    fn = get_explainer("image", method)
    check_params("image", method, params)
    started = time.perf_counter()
    x = classifier.preprocess(image)
    class_id = None if target is None else resolve_target(classifier, target)
    if layer is None and method in PER_CHANNEL_METHODS and classifier.per_channel_layer_name:
        layer = classifier.per_channel_layer_name  # 320 instead of 1280 forwards on EfficientNet-Lite0
    layer = layer or classifier.target_layer_name
    try:
        classifier.module(layer)
    except AttributeError as exc:
        raise InputError(f"{classifier.model_id} has no layer {layer!r}") from exc
    if progress:
        progress(0.1, f"{method} on layer {layer}")
    with classifier.lock:
        heat, logits = fn(classifier, x, class_id, layer, **params)
    probs = logits.softmax(-1)[0]
    if class_id is None:
        class_id = int(probs.argmax())
    heat = np.nan_to_num(heat, nan=0.0, posinf=0.0, neginf=0.0)
    heat = _to_image_size(heat, (image.height, image.width))
    if progress:
        progress(1.0, "done")
    return ImageAttribution(method=method, model_id=classifier.model_id,
                            layer=layer if method != "integrated_gradients" else "input",
                            image_size=(image.height, image.width), heatmap=heat, class_id=class_id,
                            class_label=classifier.labels[class_id], class_probability=float(probs[class_id]),
                            top_classes=_top(classifier, probs), params={k: v for k, v in params.items()
                                                                         if isinstance(v, (int, float, str))},
                            elapsed_s=time.perf_counter() - started)


def overlay(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """The heatmap on the shared colour scale (explainers.colours) blended over the image.

    Grad-CAM heat is never negative: it is scaled to [0, 1] by its maximum and drawn white to blue, the positive
    half of the scale the text views use, instead of pytorch-grad-cam's jet. A signed heatmap is scaled by its
    largest magnitude and drawn on the whole scale (red below zero).
    """
    from ..colours import attribution_rgb_array

    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    h = h / max(float(np.abs(h).max()), 1e-12)
    colours = attribution_rgb_array(h).astype(np.float32)
    return Image.fromarray(np.rint((1 - alpha) * rgb + alpha * colours).astype(np.uint8))

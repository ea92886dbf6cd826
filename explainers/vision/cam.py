"""Image attributions: the Grad-CAM family (pytorch-grad-cam) and captum integrated gradients.

pytorch-grad-cam owns the mechanics (hooks, forward/backward, scaling); each method here is a small subclass
of ``CamMethod`` that names its class, or of ``CaptumMethod`` (pixels). Its own ``__exit__`` swallows IndexError, so we release its hooks in our own ``finally``;
its bare array becomes an ``ImageAttribution`` with the class, probability and layer.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, ClassVar

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from ..models import ImageClassifier
from ..registry import (COST_CHANNELS, COST_ONE_PASS, COST_STEPS, POSITIVE_INT, Param, check_params, get_explainer,
                        method_info, register)
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


class ImageMethod:
    """Base of the image family: a heatmap over the model input for one class, and the logits of that pass.

    Subclasses say how the heat is made: ``CamMethod`` (a pytorch-grad-cam class on a layer) or ``CaptumMethod``
    (a captum attribution on the pixels). ``explain_image`` owns the rest (class, layer, lock, resizing, result).
    """

    kind: ClassVar[str] = ""
    uses_layer: ClassVar[bool] = True  # False: the heat is over the input pixels, not a layer

    @classmethod
    def heatmap(cls, classifier: ImageClassifier, x: torch.Tensor, class_id: int | None, layer: str,
                **params: Any) -> tuple[np.ndarray, torch.Tensor]:
        raise NotImplementedError


class CamMethod(ImageMethod):
    """A pytorch-grad-cam method: it owns the hooks, forward/backward and scaling; a subclass names its class."""

    kind = "cam"
    cam_class: ClassVar[str] = ""

    @classmethod
    def target_layers(cls, classifier: ImageClassifier, layer: str) -> list:
        return [classifier.module(layer)]

    @classmethod
    def heatmap(cls, classifier, x, class_id, layer, **params):
        """Heatmap and the logits of the same forward (no second pass to classify)."""
        import pytorch_grad_cam as gc
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        with _cam(getattr(gc, cls.cam_class), classifier.model, cls.target_layers(classifier, layer)) as cam:
            if "batch_size" in params:
                cam.batch_size = int(params["batch_size"])
            targets = None if class_id is None else [ClassifierOutputTarget(class_id)]
            heat = cam(input_tensor=x, targets=targets)
            logits = cam.outputs.detach()
        return np.asarray(heat[0], dtype=np.float64), logits


_CAM_PARAMS = {"batch_size": POSITIVE_INT}


@register("image", "gradcam", "gradient-weighted class activation map", _CAM_PARAMS, cost=COST_ONE_PASS,
          guide=("where the last convolutional layer's gradient-weighted activations point for the class",
                 "one backward pass", "coarse (7x7 here) but robust; the usual first look"))
class GradCam(CamMethod):
    cam_class = "GradCAM"


@register("image", "gradcam++", "Grad-CAM++: second-order weighting of positive gradients", _CAM_PARAMS,
          cost=COST_ONE_PASS, guide=("Grad-CAM with second-order weights of positive gradients", "one backward pass",
                                     "better when several objects of the class are in view"))
class GradCamPlusPlus(CamMethod):
    cam_class = "GradCAMPlusPlus"


@register("image", "xgradcam", "XGrad-CAM: activation-normalised gradient weights", _CAM_PARAMS, cost=COST_ONE_PASS,
          guide=("Grad-CAM with activation-normalised gradient weights", "one backward pass",
                 "close to Grad-CAM; an axiom-based variant"))
class XGradCam(CamMethod):
    cam_class = "XGradCAM"


@register("image", "hirescam", "element-wise gradient x activation, faithful to the model", _CAM_PARAMS,
          cost=COST_ONE_PASS, guide=("element-wise gradient x activation, summed over channels", "one backward pass",
                                     "faithful to what the layer computes; noisier than Grad-CAM"))
class HiResCam(CamMethod):
    cam_class = "HiResCAM"


@register("image", "layercam", "positive gradients weigh each location", _CAM_PARAMS, cost=COST_ONE_PASS,
          guide=("positive gradients weigh each location separately", "one backward pass",
                 "finer detail from earlier layers"))
class LayerCam(CamMethod):
    cam_class = "LayerCAM"


@register("image", "eigencam", "first principal component of the activations (class-agnostic)", _CAM_PARAMS,
          cost=COST_ONE_PASS, guide=("the first principal component of the activations (ignores the class)",
                                     "no backward pass", "shows what the layer attends to, not why this class"))
class EigenCam(CamMethod):
    cam_class = "EigenCAM"


# The per-channel methods run one forward per channel of their layer: explain_image picks a layer with fewer.
@register("image", "scorecam", "weights from the score of each masked activation (no gradients)", _CAM_PARAMS,
          cost=COST_CHANNELS, guide=("the class score of the image masked by each activation map",
                                     "one forward pass per channel: slow",
                                     "gradient-free; trust it when gradients look noisy or saturated"))
class ScoreCam(CamMethod):
    cam_class = "ScoreCAM"


@register("image", "ablationcam", "weights from the score drop when a channel is zeroed", _CAM_PARAMS,
          cost=COST_CHANNELS, guide=("how much the class score drops when each channel is zeroed",
                                     "one forward pass per channel: slow", "gradient-free and faithful to deletion"))
class AblationCam(CamMethod):
    cam_class = "AblationCAM"


@register("image", "fullgrad", "input gradients plus bias gradients of every layer", _CAM_PARAMS, cost=COST_ONE_PASS,
          guide=("input gradients plus the bias gradients of every layer",
                 "one backward pass with hooks on every layer", "complete by construction; finer but noisier maps"))
class FullGrad(CamMethod):
    cam_class = "FullGrad"

    @classmethod
    def target_layers(cls, classifier, layer):
        return []  # FullGrad hooks every layer's bias itself


class CaptumMethod(ImageMethod):
    """A captum attribution on the input pixels, shown as |attribution| summed over colour channels, scaled to 1."""

    kind = "captum"
    uses_layer = False


@register("image", "integrated_gradients", "captum integrated gradients on the pixels (|attr| summed over channels)",
          {"n_steps": Param((int,), 1, 10_000, default=32), "internal_batch_size": POSITIVE_INT.with_default(16)},
          cost=COST_STEPS, cost_param="n_steps", cost_range=(4, 256),
          guide=("captum integrated gradients on the pixels (absolute values summed over colour channels)",
                 "steps x backward passes", "pixel-level and faithful; speckled, so read it beside Grad-CAM"))
class PixelIntegratedGradients(CaptumMethod):
    @classmethod
    def heatmap(cls, classifier, x, class_id, layer, n_steps=32, internal_batch_size=16, **_):
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


def explain_image(classifier: ImageClassifier, image: Image.Image, method: str = "gradcam",
                  target: int | str | None = None, layer: str | None = None,
                  progress: Callable[[float, str], None] | None = None, **params: Any) -> ImageAttribution:
    """Heatmap of ``method`` for class ``target`` (top-1 by default), at the image's own size."""
    method_cls = get_explainer("image", method)
    info = method_info("image", method)
    check_params("image", method, params)
    started = time.perf_counter()
    x = classifier.preprocess(image)
    class_id = None if target is None else resolve_target(classifier, target)
    if layer is None and info.cost == COST_CHANNELS and classifier.per_channel_layer_name:
        layer = classifier.per_channel_layer_name  # 320 instead of 1280 forwards on EfficientNet-Lite0
    layer = layer or classifier.target_layer_name
    try:
        classifier.module(layer)
    except AttributeError as exc:
        raise InputError(f"{classifier.model_id} has no layer {layer!r}") from exc
    if progress:
        progress(0.1, f"{method} on layer {layer}")
    with classifier.lock:
        heat, logits = method_cls.heatmap(classifier, x, class_id, layer, **params)
    probs = logits.softmax(-1)[0]
    if class_id is None:
        class_id = int(probs.argmax())
    heat = np.nan_to_num(heat, nan=0.0, posinf=0.0, neginf=0.0)
    heat = _to_image_size(heat, (image.height, image.width))
    if progress:
        progress(1.0, "done")
    return ImageAttribution(method=method, model_id=classifier.model_id,
                            layer=layer if method_cls.uses_layer else "input",
                            image_size=(image.height, image.width), heatmap=heat, class_id=class_id,
                            class_label=classifier.labels[class_id], class_probability=float(probs[class_id]),
                            top_classes=_top(classifier, probs), params={k: v for k, v in params.items()
                                                                         if isinstance(v, (int, float, str))},
                            elapsed_s=time.perf_counter() - started)


def overlay(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.8) -> Image.Image:
    """The heatmap on the shared colour scale (explainers.colours) blended over the image.

    Grad-CAM heat is never negative: it is scaled to [0, 1] by its maximum and drawn white to blue, the positive
    half of the scale the text views use, instead of pytorch-grad-cam's jet. A signed heatmap is scaled by its
    largest magnitude and drawn on the whole scale (red below zero). Each pixel's colour weighs in proportion to
    its heat, up to ``alpha`` at the strongest: where there is no heat the photo shows as it is (a uniform 50 %
    blend washed the whole photo out in white and left the evidence a faint grey-blue on a brown cat).
    """
    from ..colours import attribution_rgb_array

    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    h = np.nan_to_num(np.asarray(heatmap, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    h = h / max(float(np.abs(h).max()), 1e-12)
    colours = attribution_rgb_array(h).astype(np.float32)
    weight = (float(alpha) * np.abs(h))[..., None].astype(np.float32)
    return Image.fromarray(np.rint((1 - weight) * rgb + weight * colours).astype(np.uint8))

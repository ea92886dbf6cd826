"""One line per method for people choosing one: what it measures, what it costs, when to trust it.

Kept apart from the method code so that the dashboard, the CLI's ``methods`` listing and the reports read the
same words; a new method adds its line here (``guide`` says so when one is missing).
"""

from __future__ import annotations

GUIDE: dict[tuple[str, str], tuple[str, str, str]] = {
    # (family, name): (what it measures, what it costs, when to trust it)
    ("text", "saliency"): (
        "how sharply the answer's log-probability reacts to each unit's embedding (gradient size, no sign)",
        "one backward pass per answer unit: the fastest",
        "a quick first look; says where the model is sensitive, not which way a unit pushes"),
    ("text", "input_x_gradient"): (
        "embedding x gradient: a signed first-order estimate of each unit's push on the answer",
        "one backward pass per answer unit: fast",
        "good for ranking units; can mislead where the model is far from linear"),
    ("text", "integrated_gradients"): (
        "gradients summed along a path from a blank prompt: signed shares that add up to the answer's "
        "log-probability change",
        "steps x backward passes (16 steps by default: about 16x input x gradient)",
        "the most faithful gradient method; trust it when the convergence delta shown is small"),
    ("text", "feature_ablation"): (
        "how much the answer's log-probability drops when each unit is deleted (occlusion)",
        "one forward pass per unit",
        "easy to read and check by hand; misses units that only matter together"),
    ("text", "shapley_sampling"): (
        "each unit's average effect over random orders of deleting the others (Shapley values)",
        "samples x units forward passes: slow",
        "fair to units that matter together; noisy with few samples (compare two seeds)"),
    ("text", "lime"): (
        "weights of a linear model fitted to the answer's score under random deletions",
        "one forward pass per sample (default 64)",
        "a rough local picture; trust the top units, not small differences"),
    ("text", "kernel_shap"): (
        "Shapley values estimated by a weighted linear fit on random deletions (KernelSHAP)",
        "one forward pass per sample",
        "like LIME with Shapley weights; needs more samples than units to be stable"),
    ("text", "shap"): (
        "Shapley values from the shap package's Partition explainer over the units",
        "forward passes grow with the number of units: slow on long prompts",
        "a second opinion from an independent implementation"),
    ("image", "gradcam"): (
        "where the last convolutional layer's gradient-weighted activations point for the class",
        "one backward pass", "coarse (7x7 here) but robust; the usual first look"),
    ("image", "gradcam++"): (
        "Grad-CAM with second-order weights of positive gradients",
        "one backward pass", "better when several objects of the class are in view"),
    ("image", "hirescam"): (
        "element-wise gradient x activation, summed over channels",
        "one backward pass", "faithful to what the layer computes; noisier than Grad-CAM"),
    ("image", "xgradcam"): (
        "Grad-CAM with activation-normalised gradient weights",
        "one backward pass", "close to Grad-CAM; an axiom-based variant"),
    ("image", "layercam"): (
        "positive gradients weigh each location separately",
        "one backward pass", "finer detail from earlier layers"),
    ("image", "eigencam"): (
        "the first principal component of the activations (ignores the class)",
        "no backward pass", "shows what the layer attends to, not why this class"),
    ("image", "scorecam"): (
        "the class score of the image masked by each activation map",
        "one forward pass per channel: slow",
        "gradient-free; trust it when gradients look noisy or saturated"),
    ("image", "ablationcam"): (
        "how much the class score drops when each channel is zeroed",
        "one forward pass per channel: slow", "gradient-free and faithful to deletion"),
    ("image", "fullgrad"): (
        "input gradients plus the bias gradients of every layer",
        "one backward pass with hooks on every layer", "complete by construction; finer but noisier maps"),
    ("image", "integrated_gradients"): (
        "captum integrated gradients on the pixels (absolute values summed over colour channels)",
        "steps x backward passes", "pixel-level and faithful; speckled, so read it beside Grad-CAM"),
}


def guide(family: str, name: str) -> str:
    """'measures ...; costs ...; trust it ...' for a method (its registered description when no line exists)."""
    line = GUIDE.get((family, name))
    if line is None:
        from .registry import describe

        return describe(family, name) or f"{name}: no guide line yet (add one in explainers/method_guide.py)"
    measures, cost, trust = line
    return f"measures {measures}. Cost: {cost}. Trust it: {trust}."

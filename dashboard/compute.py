"""Explainer calls for the pages: models from resources, results cached by their inputs."""

from __future__ import annotations

from dashboard.resources import embedder, language_model
from explainers.retrieval.grounding import ground
from explainers.text.explain import explain
from explainers.text.lm import build_prompt, prepare


def run_attribution(question: str, sources: tuple[str, ...], answer: str | None, method: str, granularity: str,
                    progress=None, max_new_tokens: int = 48):
    lm = language_model()
    inp = prepare(lm, build_prompt(lm, question, sources), answer, max_new_tokens=max_new_tokens)
    return explain(lm, inp, method, granularity, progress=progress)


def run_grounding(question: str, sources: tuple[str, ...], answer: str):
    return ground(answer, list(sources), question, embedder=embedder())


def run_side_by_side(image_name: str, image, cam_method: str, prompt: str, answer: str, text_method: str):
    """Grad-CAM on the image and a word-level text attribution, paired on one scale with faithfulness curves."""
    from dashboard.resources import classifier
    from explainers.text.lm import prepare, raw_prompt
    from explainers.vision.cam import explain_image
    from explainers.vision.compare import side_by_side
    from explainers.vision.faithfulness import image_deletion_curve, text_deletion_curve

    clf = classifier()
    img_attr = explain_image(clf, image, cam_method)
    lm = language_model()
    inp = prepare(lm, raw_prompt(prompt), answer)
    txt_attr = explain(lm, inp, text_method, "word")
    return side_by_side(img_attr, txt_attr, image_deletion_curve(clf, image, img_attr.heatmap, img_attr.class_id),
                        text_deletion_curve(lm, inp, txt_attr))

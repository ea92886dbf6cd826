import numpy as np

from explainers.text.explain import explain
from explainers.vision.cam import explain_image
from explainers.vision.compare import side_by_side
from explainers.text.faithfulness import text_deletion_curve
from explainers.vision.faithfulness import image_deletion_curve
from explainers.vision.images import sample_images


def test_side_by_side_shares_one_scale_and_captions(lm, classifier, france):
    coffee = sample_images()["coffee"]
    img = explain_image(classifier, coffee, "gradcam")
    txt = explain(lm, france, "feature_ablation", "word")
    pair = side_by_side(img, txt, image_deletion_curve(classifier, coffee, img.heatmap, img.class_id),
                        text_deletion_curve(lm, france, txt))
    assert np.abs(pair.image_heat).max() == 1.0 and np.abs(pair.text_scores).max() == 1.0
    assert pair.image_heat.shape == img.heatmap.shape and pair.text_scores.shape == txt.sequence_scores.shape
    assert "espresso" in pair.image_caption and "deletion AUC" in pair.text_caption
    assert pair.text_curve.deletion[0] == 1.0 and len(pair.text_curve.fractions) == 11
    # with every unit deleted, the answer is much less likely than with the full prompt
    assert pair.text_curve.deletion[-1] < 0.5 and pair.text_curve.insertion[-1] == 1.0

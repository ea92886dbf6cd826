"""Our explain_image against a raw pytorch-grad-cam call on the same image, layer and class, in one run.

Prints median seconds per image for both, our overhead, and images/s for GradCAM and ScoreCAM.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytorch_grad_cam import GradCAM, ScoreCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

from explainers.models import load_classifier  # noqa: E402
from explainers.vision.cam import explain_image  # noqa: E402
from explainers.vision.images import sample_images  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    clf = load_classifier()
    image = sample_images()["coffee"]
    for method, cls, layer, repeats in (("gradcam", GradCAM, clf.target_layer_name, 20),
                                        ("scorecam", ScoreCAM, clf.per_channel_layer_name, 3)):
        x = clf.preprocess(image)
        with torch.no_grad():
            class_id = int(clf.model(x).argmax())

        def raw(cls=cls, layer=layer, class_id=class_id):
            with cls(model=clf.model, target_layers=[clf.module(layer)]) as cam:
                cam(input_tensor=clf.preprocess(image), targets=[ClassifierOutputTarget(class_id)])

        def ours(method=method, layer=layer, class_id=class_id):
            explain_image(clf, image, method, target=class_id, layer=layer)

        t_raw, t_ours = timed(raw, repeats), timed(ours, repeats)
        print(f"{method:9s} layer={layer:16s} raw={t_raw:.3f}s ours={t_ours:.3f}s overhead={100 * (t_ours / t_raw - 1):+.1f}% "
              f"images/s={1 / t_ours:.2f}")


if __name__ == "__main__":
    main()

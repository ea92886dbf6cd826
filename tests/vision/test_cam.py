"""Image attributions on the shipped EfficientNet-Lite0 and the scikit-image sample photos."""

import io

import numpy as np
import pytest
from PIL import Image

from explainers import InputError, list_methods
from explainers.vision.cam import explain_image, overlay
from explainers.vision.faithfulness import image_deletion_curve, random_heatmap
from explainers.vision.images import load_image, sample_images



@pytest.fixture(scope="module")
def coffee():
    return sample_images()["coffee"]


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
               for m in model.modules())


def test_coffee_is_espresso_and_gradcam_looks_at_the_cup(classifier, coffee):
    res = explain_image(classifier, coffee, "gradcam")
    assert res.class_label == "espresso" and res.class_probability > 0.5
    h = res.heatmap
    assert h.shape == (coffee.height, coffee.width)
    H, W = h.shape
    centre = h[H // 4: 3 * H // 4, W // 4: 3 * W // 4].sum() / h.sum()
    assert centre > 0.5  # the centre quarter of the area holds most of the heat
    assert [c for c, _, _ in res.top_classes][0] == 967 and len(res.top_classes) == 5


@pytest.mark.parametrize("method", ["ablationcam", "eigencam", "fullgrad", "gradcam", "gradcam++", "hirescam",
                                    "integrated_gradients", "layercam", "scorecam", "xgradcam"])
def test_every_method_gives_a_finite_heatmap_of_the_image_size(classifier, coffee, method):
    small = coffee.resize((150, 100))
    params = {"n_steps": 8} if method == "integrated_gradients" else {}
    res = explain_image(classifier, small, method, **params)
    assert res.heatmap.shape == (100, 150)
    assert np.isfinite(res.heatmap).all()
    assert res.heatmap.max() > 0
    assert _hooks(classifier.model) == 0


def test_registry_lists_image_methods():
    assert "gradcam" in list_methods("image") and "scorecam" in list_methods("image")


def test_target_class_by_label_and_id(classifier, coffee):
    a = explain_image(classifier, coffee, "gradcam", target="Tea Cup")
    b = explain_image(classifier, coffee, "gradcam", target=a.class_id)
    assert a.class_label == "tea cup" and np.allclose(a.heatmap, b.heatmap)
    with pytest.raises(InputError, match="no class is called"):
        explain_image(classifier, coffee, "gradcam", target="spaceship-xyz")
    with pytest.raises(InputError, match="outside"):
        explain_image(classifier, coffee, "gradcam", target=5000)


def test_no_hook_left_and_memory_flat_over_repeated_calls(classifier, coffee):
    import resource

    small = coffee.resize((112, 112))
    explain_image(classifier, small, "gradcam")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(30):
        explain_image(classifier, small, "gradcam")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert _hooks(classifier.model) == 0
    assert grown_mb < 50


def test_gradcam_deletion_beats_random_on_coffee(classifier, coffee):
    """Deleting Grad-CAM's top cells first kills 'espresso' faster than a random order (mean of 3).

    Measured on all four samples (see the issue note): it holds for coffee (0.07 vs 0.18) but not for
    chelsea (0.49 vs 0.38), nor rocket/astronaut, which the model misclassifies; so only coffee is asserted.
    """
    res = explain_image(classifier, coffee, "gradcam")
    cam = image_deletion_curve(classifier, coffee, res.heatmap, res.class_id)
    rnd = [image_deletion_curve(classifier, coffee, random_heatmap(res.heatmap.shape, s), res.class_id).deletion_auc
           for s in range(3)]
    assert cam.deletion[0] == pytest.approx(1.0)
    assert cam.deletion_auc < 0.5 * np.mean(rnd)
    assert cam.insertion_auc > cam.deletion_auc


def _encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_image_modes_are_converted(coffee):
    small = coffee.resize((64, 48))
    for mode in ("L", "RGBA", "P", "CMYK"):
        fmt = "JPEG" if mode == "CMYK" else "PNG"
        img = load_image(_encode(small.convert(mode), fmt))
        assert img.mode == "RGB" and img.size == (64, 48)
    assert load_image(_encode(small, "WEBP")).size == (64, 48)


def test_exif_orientation_is_applied(coffee):
    small = coffee.resize((64, 48))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    img = load_image(_encode(small, "JPEG", exif=exif.tobytes()))
    assert img.size == (48, 64)


def test_bad_images_give_clear_errors(tmp_path, coffee):
    with pytest.raises(InputError, match="empty"):
        load_image(b"")
    with pytest.raises(InputError, match="not a PNG, JPEG or WebP"):
        load_image(b"%PDF-1.4 not an image at all")
    with pytest.raises(InputError, match="not a PNG, JPEG or WebP"):
        load_image(_encode(coffee.resize((8, 8)), "GIF"))
    data = _encode(coffee, "PNG")
    with pytest.raises(InputError, match="corrupt or truncated"):
        load_image(data[: len(data) // 2])
    with pytest.raises(InputError, match="over the limit"):
        load_image(_encode(Image.new("RGB", (3000, 3000)), "PNG"), max_pixels=1_000_000)
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "missing.png")


def test_cli_gradcam_writes_overlay_and_json(tmp_path, coffee):
    from explainers.cli import main
    from explainers.types import ImageAttribution, from_json

    src = tmp_path / "coffee.jpg"
    coffee.save(src)
    code = main(["gradcam", str(src), "--out", str(tmp_path / "o.png"), "--json", str(tmp_path / "o.json")])
    assert code == 0
    res = from_json((tmp_path / "o.json").read_text())
    assert isinstance(res, ImageAttribution) and res.class_label == "espresso"
    assert Image.open(tmp_path / "o.png").size == coffee.size


def _peak_rss_mb_since_reset() -> float | None:
    """Reset the kernel's peak-RSS mark (clear_refs 5) and return a reader of the new peak, in MB."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return None

    def peak() -> float:
        with open("/proc/self/status") as fh:
            fields = dict(line.split(":", 1) for line in fh if ":" in line)
        return int(fields["VmHWM"].split()[0]) / 1024

    return peak


def test_a_huge_small_file_image_is_downscaled_before_grad_cam(classifier, tmp_path):
    import gc

    big = tmp_path / "big.png"
    Image.new("RGB", (6300, 6300), (120, 80, 40)).save(big, optimize=True)  # under the pixel cap, tiny on disk
    assert big.stat().st_size < 500_000
    explain_image(classifier, load_image(_encode(Image.new("RGB", (224, 224)), "PNG")), "gradcam")  # warm up
    gc.collect()
    with open("/proc/self/status") as fh:
        rss_before = int(next(line for line in fh if line.startswith("VmRSS")).split()[1]) / 1024
    peak = _peak_rss_mb_since_reset()
    if peak is None:
        pytest.skip("this kernel cannot reset the peak-RSS mark")
    img = load_image(big)
    res = explain_image(classifier, img, "gradcam")
    over = overlay(img, res.heatmap)
    assert max(img.size) <= 1024 and img.size == over.size and res.heatmap.shape == (img.height, img.width)
    extra_mb = peak() - rss_before
    assert extra_mb < 400, f"{extra_mb:.0f} MB for one Grad-CAM"  # was 3.9 GB: bounded by the decoded pixels now


def test_decoded_size_counts_channels_not_the_file():
    rgba = io.BytesIO()
    Image.new("RGBA", (6000, 6000)).save(rgba, format="PNG")  # 36 MP, under the pixel cap; 144 MB decoded
    assert len(rgba.getvalue()) < 1_000_000
    with pytest.raises(InputError, match="decode to"):
        load_image(rgba.getvalue())

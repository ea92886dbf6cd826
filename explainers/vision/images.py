"""Opening untrusted images: allowed formats only, pixel limit, bomb guard, EXIF orientation, RGB."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InputError, not_a_file

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 20 * 2**20
# Decoded size (pixels x channels x bytes per channel): what memory an image costs, whatever its file size.
MAX_DECODED_BYTES = 128 * 2**20  # a 40 MP RGB image passes, a 36 MP RGBA one does not
# Images are downscaled on load to this longer side: CAMs are computed at the model's input size (224 px) and
# upsampled, so nothing is lost, and every later copy (heatmap, overlay, deletion curves) stays a few MB instead
# of GBs for a 6,300 x 6,300 image of 116 KB.
MAX_SIDE_PX = 1024
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "I;16": 2, "I;16L": 2, "I;16B": 2,
                    "I;16N": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3}  # anything else: 4 (RGBA, CMYK, I, F)


def load_image(source: str | Path | bytes, name: str | None = None, max_pixels: int = MAX_PIXELS,
               max_side: int = MAX_SIDE_PX) -> Image.Image:
    """Open an image file or bytes as an RGB PIL image, refusing anything unsafe with a clear error.

    The result is at most ``max_side`` pixels on its longer side (downscaled, aspect kept; JPEGs are decoded at
    a reduced scale directly), so its memory is bounded by pixels x channels, not by the file."""
    if isinstance(source, (bytes, bytearray)):
        data, label = bytes(source), name or "uploaded image"
    else:
        path = Path(source)
        label = name or str(path)
        if not path.is_file():
            raise InputError(not_a_file(path, label))
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"{label}: file is larger than {MAX_FILE_BYTES // 2**20} MB")
        data = path.read_bytes()
    if not data:
        raise InputError(f"{label}: the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{label}: file is larger than {MAX_FILE_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            # Pillow warns past MAX_IMAGE_PIXELS and raises past twice that; both are refusals here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
            if img.width * img.height > max_pixels:
                raise InputError(f"{label}: {img.width}x{img.height} pixels is over the limit of {max_pixels:,}")
            decoded = img.width * img.height * _BYTES_PER_PIXEL.get(img.mode, 4)
            if decoded > MAX_DECODED_BYTES:
                raise InputError(f"{label}: {img.width}x{img.height} {img.mode} pixels decode to {decoded / 2**20:,.0f} "
                                 f"MB; the limit is {MAX_DECODED_BYTES // 2**20} MB")
            if img.format == "JPEG":
                img.draft("RGB", (max_side, max_side))  # DCT scaling: decode at 1/2, 1/4 or 1/8 size
            img.load()
            img = ImageOps.exif_transpose(img)
            if max(img.size) > max_side:
                img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    except InputError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise InputError(f"{label}: refused as a possible decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"{label}: not a PNG, JPEG or WebP image") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{label}: the image is corrupt or truncated ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - a malformed file can break a decoder anywhere; still bad input
        raise InputError(f"{label}: the image could not be decoded ({type(exc).__name__})") from exc
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """Grayscale, palette, CMYK, 16-bit and alpha images to 8-bit RGB (alpha over white)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.point(lambda v: v * (1 / 256)).convert("L")
    return img.convert("RGB")


def sample_images() -> dict[str, Image.Image]:
    """Photos shipped with scikit-image (no download)."""
    from skimage import data

    return {name: Image.fromarray(getattr(data, name)()).convert("RGB")
            for name in ("coffee", "chelsea", "rocket", "astronaut")}

"""File fuzz (Hypothesis, bounded for CI): the document and image loaders either return a value or raise
their clear input error — never another exception — on random bytes and on mutated valid files."""

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from explainers.errors import InputError
from explainers.retrieval.ingest import Document, IngestError, parse_document
from explainers.vision.images import load_image

CASES = 400  # per document type and per image format
FUZZ = settings(max_examples=CASES, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 6, "The Eiffel Tower is 330 metres tall. It was completed in 1889.")
    return bytes(pdf.output())


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 40)).save(buf, format=fmt)
    return buf.getvalue()


SEEDS = {
    ".pdf": _pdf(),
    ".html": b"<html><head><title>T</title><script>alert(1)</script></head><body><p>Paris is in France.</p></body></html>",
    ".jsonl": (json.dumps({"text": "Paris is in France.", "title": "t"}) + "\n").encode(),
    ".txt": "Plain text with émoji 😀 and RTL \u202eevil\u202c.".encode(),
    ".md": b"# Title\n\nBody text.",
}
IMAGES = {"PNG": _image("PNG"), "JPEG": _image("JPEG"), "WEBP": _image("WEBP")}


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        else:
            data = data[:pos]
    return bytes(data)


def _check_document(data: bytes, suffix: str) -> None:
    try:
        docs = parse_document(data, "fuzz" + suffix)
    except IngestError:
        return
    assert docs and all(isinstance(d, Document) and d.text.strip() for d in docs)


def _check_image(data: bytes) -> None:
    try:
        img = load_image(data, name="fuzz")
    except InputError:
        return
    assert img.mode == "RGB" and img.width * img.height > 0


def _fuzz(seed: bytes, check) -> int:
    """Run ``check`` on mutated copies of ``seed`` and on random bytes; returns how many cases ran (counted here,
    so the figure belongs to this test alone, whatever ran before it)."""
    ran = []

    @FUZZ
    @given(data=st.data())
    def case(data):
        ran.append(1)
        check(data.draw(st.one_of(mutated(seed), st.binary(max_size=2048))))

    case()
    return len(ran)


@pytest.mark.parametrize("suffix", sorted(SEEDS))
def test_document_loader_on_mutated_and_random_files(suffix):
    # Hypothesis may stop short of CASES only when it runs out of distinct inputs, never for these strategies
    assert _fuzz(SEEDS[suffix], lambda raw: _check_document(raw, suffix)) >= 0.75 * CASES


@pytest.mark.parametrize("fmt", sorted(IMAGES))
def test_image_loader_on_mutated_and_random_files(fmt):
    assert _fuzz(IMAGES[fmt], _check_image) >= 0.75 * CASES


def test_a_decompression_bomb_header_is_refused():
    buf = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(buf, format="PNG")  # 144 MP, a few KB on disk
    with pytest.raises(InputError, match="over the limit|decompression bomb"):
        load_image(buf.getvalue(), name="bomb.png")

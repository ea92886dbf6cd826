"""CNN vs LLM: Grad-CAM on an image classifier beside token attributions, one colour scale, one faithfulness metric."""

import streamlit as st

from dashboard.auth import require_identity
from dashboard.components.figures import curves_figure, heatmap_figure, units_figure
from dashboard.components.safe import md_escape
from dashboard.compute import run_side_by_side
from explainers import ExplainerError, list_methods
from explainers.colours import ATTRIBUTION_LEGEND, POSITIVE_LEGEND
from explainers.vision.cam import overlay
from explainers.vision.images import load_image, sample_images

PAGE = {"title": "CNN vs LLM", "icon": ":material/image_search:", "order": 30,
        "about": "Grad-CAM on an image classifier beside token attributions, one colour scale, deletion curves."}

require_identity()  # Grad-CAM and LM attribution cost GBs and tens of seconds: signed-in users only


@st.cache_resource(show_spinner=False)
def samples() -> dict:
    """The bundled sample images, decoded once per server (shared read-only: nothing draws on them in place;
    st.cache_data would copy every image on every rerun)."""
    return sample_images()


st.title("CNN vs LLM")
st.write("The same question asked of two models: which parts of the input made the prediction? A CNN's evidence "
         "is a region of pixels; an LLM's is spread over tokens. Both panels use one colour scale, and both are "
         "scored by deleting their most important parts first.")
st.caption(f"Colour scale, as everywhere in AuditLens: {ATTRIBUTION_LEGEND} {POSITIVE_LEGEND}")

with st.form("compare"):
    c1, c2 = st.columns(2)
    choice = c1.selectbox("Sample image", list(samples()), index=0)
    upload = c1.file_uploader("…or upload a PNG, JPEG or WebP (used instead of the sample)",
                              type=["png", "jpg", "jpeg", "webp"], key="cnn_upload")
    cam_method = c1.selectbox("CAM method", [m for m in list_methods("image")], index=list_methods("image").index("gradcam"))
    prompt = c2.text_input("Text prompt", value="The capital of France is", max_chars=1000)
    answer = c2.text_input("Answer to explain", value=" Paris", max_chars=200)
    text_method = c2.selectbox("Text method", list_methods("text"), index=list_methods("text").index("feature_ablation"))
    submitted = st.form_submit_button("Compare")

if submitted:
    try:
        image = load_image(upload.getvalue(), name=upload.name) if upload is not None else samples()[choice]
        analysed = f"the uploaded image {upload.name}" if upload is not None else f"the sample image {choice}"
        with st.spinner("Computing both attributions..."):
            st.session_state["side_by_side"] = (run_side_by_side(upload.name if upload is not None else choice, image,
                                                                 cam_method, prompt, answer, text_method),
                                                image, analysed)
    except ExplainerError as exc:
        st.error(str(exc))

if "side_by_side" in st.session_state:
    pair, image, analysed = st.session_state["side_by_side"]
    st.info(md_escape(f"Analysed: {analysed}."), icon=":material/image:")
    left, right = st.columns(2)
    with left:
        st.subheader("CNN")
        never_negative = float(pair.image_heat.min(initial=0.0)) >= 0  # the Grad-CAM family: white-to-blue half
        st.image(overlay(image, pair.image.heatmap), caption=f"{pair.image.method} overlay: " + (
            "never negative: the photo as it is where there is no heat, tinted blue where the evidence is strongest"
            if never_negative else ATTRIBUTION_LEGEND))
        st.plotly_chart(heatmap_figure(pair.image_heat, "heatmap, normalised to [0, 1], white to blue"
                                       if never_negative else "heatmap, normalised to [-1, 1]"))
        st.text(pair.image_caption)
    with right:
        st.subheader("LLM")
        units = [u.text for u, keep in zip(pair.text.input_units, pair.text.visible_input) if keep]
        st.plotly_chart(units_figure(units, pair.text_scores[pair.text.visible_input], "units, normalised to [-1, 1]"))
        st.caption(ATTRIBUTION_LEGEND)
        st.text(pair.text_caption)
    st.plotly_chart(curves_figure(pair.image_curve, pair.text_curve))

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from explainers.types import (
    SCHEMA_VERSION, AuditReport, DeletionCurve, EditResult, Grounding, ImageAttribution, SentenceGrounding, SideBySide,
    Source, TextAttribution, TextFaithfulness, Unit, from_json, results_equal, to_json,
)
from explainers.errors import SchemaError


def _text_attr():
    units_in = [Unit("The", 0, 3), Unit(" cat", 3, 7), Unit("<|im_end|>", 7, 17, special=True)]
    units_out = [Unit(" sat", 0, 4), Unit(".", 4, 5)]
    scores = np.array([[0.1, -0.25, 1e-9], [np.pi, 2.0 / 3.0, -7.5]])
    return TextAttribution(method="integrated_gradients", granularity="token", model_id="m", input_text="The cat<|im_end|>",
                           output_text=" sat.", input_units=units_in, output_units=units_out, scores=scores,
                           sequence_scores=scores.sum(0), step_scores={"probability": [0.5, 0.25]},
                           params={"n_steps": 16, "baseline": "zero"}, elapsed_s=1.25, convergence_delta=0.001)


def _report():
    img = ImageAttribution(method="gradcam", model_id="efficientnet-lite0", layer="_conv_head", image_size=(2, 3),
                           heatmap=np.arange(6).reshape(2, 3) / 5, class_id=967, class_label="espresso",
                           class_probability=0.9, top_classes=[(967, "espresso", 0.9), (968, "cup", 0.05)])
    sent = SentenceGrounding(sentence="Paris is big.", start=0, end=13, support_probability=0.2, label="unsupported",
                             source_id="doc1#0", source_span=(0, 5), source_text="Paris", signals={"overlap": 0.5},
                             reasons=("number 12 is in no source",), unsupported_spans=[(9, 12)])
    g = Grounding(answer="Paris is big.", sentences=[sent], answer_support_probability=0.2)
    return AuditReport(question="q?", answer="Paris is big.", sources=[Source("doc1", "Paris <b>", metadata={"page": 1})],
                       model_id="m", attributions=[_text_attr()], image_attributions=[img], grounding=g,
                       perturbations=[_edit()], answer_generated=True,
                       metadata={"nan": float("nan"), "nested": {"a": [1, 2]}})


def _edit():
    return EditResult(edits=({"op": "remove", "unit": "word", "where": "question", "index": 0, "match": None,
                              "replacement": ""},), model_id="m", question="q?", sources=("Paris",),
                      edited_question="?", edited_sources=("Paris",), answer="Paris is big.", base_log_prob=-2.0,
                      edited_log_prob=-2.5, answer_units=(Unit("Paris is big.", 0, 13),), sentence_deltas=[-0.5],
                      regenerated="Paris.", diff=(("replace", "Paris is big.", "Paris."),))


def _faithfulness():
    return TextFaithfulness(fractions=(0.1, 0.5), comprehensiveness=(1.5, 2.0), sufficiency=(0.25, -0.5),
                            aopc_comprehensiveness=1.75, aopc_sufficiency=-0.125, random_aopc_comprehensiveness=0.5)


def _curve():
    return DeletionCurve(fractions=np.linspace(0, 1, 3), deletion=np.array([1.0, 0.4, 0.1]),
                         insertion=(0.1, 0.7, 1.0), deletion_auc=0.475, insertion_auc=0.625)


def _side_by_side():
    img = _report().image_attributions[0]
    return SideBySide(image=img, text=_text_attr(), image_heat=img.heatmap / img.heatmap.max(),
                      text_scores=np.array([0.5, -1.0, 0.0]), image_curve=_curve(), text_curve=_curve(),
                      image_caption="gradcam for 'espresso'", text_caption="<b>not markup</b>")


@pytest.mark.parametrize("make", [_text_attr, _report, _edit, _faithfulness, _curve, _side_by_side])
def test_json_round_trip_is_exact(make):
    value = make()
    text = to_json(value)
    back = from_json(text)
    assert results_equal(value, back)
    assert to_json(back) == text
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION == 2


def test_curves_hold_plain_floats_whatever_they_were_built_from():
    curve = _curve()  # numpy values in, as image_deletion_curve builds it
    assert all(type(v) is float for v in curve.fractions + curve.deletion + (curve.deletion_auc,))
    with pytest.raises(ValueError, match="one deletion and one insertion"):
        DeletionCurve(fractions=(0.0, 1.0), deletion=(1.0,), insertion=(0.0, 1.0), deletion_auc=0, insertion_auc=1)


def test_a_version_1_report_with_extra_reads_into_the_typed_fields():
    """A report saved before version 2 (written by that version's code: ``extra`` held the answer's origin, the
    perturbation results and batch/review provenance) reads with every part in its typed field."""
    text = (Path(__file__).parent / "data" / "report_v1_extra.json").read_text(encoding="utf-8")
    assert json.loads(text)["schema_version"] == 1 and "extra" in json.loads(text)["result"]
    report = from_json(text)
    assert [type(p).__name__ for p in report.perturbations] == ["ContextReliance", "EditResult"]
    assert report.perturbations[1].regenerated == "It is held in Arlesford." and report.answer_generated is True
    assert report.metadata == {"run": "exp", "row_id": "row-2", "line_no": 3, "edited_from_audit": 7,
                               "metadata_json": '{"team": "a"}'}
    again = from_json(to_json(report))  # written back as version 2, read the same
    assert results_equal(again, report) and '"extra"' not in to_json(report)
    doc = json.loads(text)
    doc["schema_version"] = 2  # the old form is read only as what it was: version 1
    with pytest.raises(SchemaError, match="has no field 'extra'"):
        from_json(json.dumps(doc))
    doc = json.loads(text)
    doc["result"]["extra"] = ["not", "an", "object"]
    with pytest.raises(SchemaError, match="extra: expected an object"):
        from_json(json.dumps(doc))


def test_a_report_keeps_results_in_their_fields_and_plain_values_in_metadata():
    with pytest.raises(TypeError, match="perturbations\\[0\\] is a TextAttribution"):
        AuditReport(question="q?", answer="a.", perturbations=[_text_attr()])
    with pytest.raises(ValueError, match="not a plain value"):
        AuditReport(question="q?", answer="a.", metadata={"edit": _edit()})
    with pytest.raises(ValueError, match="reserved"):
        AuditReport(question="q?", answer="a.", metadata={"user": {"__type__": "audit_report"}})


def test_json_has_type_tags_not_class_paths():
    text = to_json(_report())
    assert "explainers." not in text and "__type__" in text


def test_unknown_tag_and_future_schema_are_refused():
    with pytest.raises(SchemaError, match="unknown result type"):
        from_json(json.dumps({"schema_version": 1, "result": {"__type__": "os.system"}}))
    with pytest.raises(SchemaError, match="schema version"):
        from_json(json.dumps({"schema_version": 99, "result": {}}))
    with pytest.raises(SchemaError):
        from_json("not json")


def test_shape_checks():
    with pytest.raises(ValueError, match="scores shape"):
        TextAttribution(method="x", granularity="token", model_id="m", input_text="a", output_text="b",
                        input_units=[Unit("a", 0, 1)], output_units=[Unit("b", 0, 1)], scores=np.zeros((2, 1)),
                        sequence_scores=np.zeros(1))
    with pytest.raises(ValueError, match="support_probability"):
        SentenceGrounding(sentence="a", start=0, end=1, support_probability=1.5, label="supported")


def test_results_are_frozen():
    a = _text_attr()
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.method = "other"
    with pytest.raises(ValueError):
        a.scores[0, 0] = 1.0


def _mutated(path, new):
    """A valid report's JSON with one value replaced (``path`` is a list of keys/indices into the dict)."""
    doc = json.loads(to_json(_report()))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return json.dumps(doc)


ATTR = ["result", "attributions", "__tuple__", 0]
SENT = ["result", "grounding", "sentences", "__tuple__", 0]
HOSTILE_REPORTS = {
    "string dtype of 1.6 GB": '{"schema_version":1,"result":{"__ndarray__":[],"dtype":"U400000000"}}',
    "object dtype": '{"schema_version":1,"result":{"__ndarray__":[1],"dtype":"object","shape":[1]}}',
    "bogus dtype": '{"schema_version":1,"result":{"__ndarray__":[1],"dtype":"quux","shape":[1]}}',
    "dtype not text": '{"schema_version":1,"result":{"__ndarray__":[1],"dtype":7,"shape":[1]}}',
    "shape of 10^8": '{"schema_version":1,"result":{"__ndarray__":[1,2,3],"dtype":"float64","shape":[100000000]}}',
    "shape larger than data": _mutated(ATTR + ["scores", "shape"], [40, 40]),
    "negative shape": '{"schema_version":1,"result":{"__ndarray__":[],"dtype":"float64","shape":[-1]}}',
    "ragged data": '{"schema_version":1,"result":{"__ndarray__":[[1],[1,2]],"dtype":"float64","shape":[2,2]}}',
    "text in an array": '{"schema_version":1,"result":{"__ndarray__":["a"],"dtype":"float64","shape":[1]}}',
    "900-deep lists": '{"schema_version":1,"result":' + "[" * 900 + "]" * 900 + "}",
    "100,000-deep lists": '{"schema_version":1,"result":' + "[" * 100_000 + "]" * 100_000 + "}",
    "100,000-digit integer": '{"schema_version":1,"result":' + "9" * 100_000 + "}",
    "schema_version true": '{"schema_version":true,"result":{}}',
    "schema_version 1.0": '{"schema_version":1.0,"result":{}}',
    "NaN literal": _mutated(SENT + ["support_probability"], 0.5).replace("0.5", "NaN", 1),
    "Infinity literal": '{"schema_version":1,"result":{"__type__":"unit","text":"a","start":0,"end":Infinity}}',
    "NaN support probability": _mutated(SENT + ["support_probability"], {"__float__": "nan"}),
    "infinite elapsed_s": _mutated(ATTR + ["elapsed_s"], {"__float__": "inf"}),
    "bogus special float": _mutated(ATTR + ["elapsed_s"], {"__float__": "1e999999"}),
    "method not text": _mutated(ATTR + ["method"], 5),
    "offset as text": _mutated(ATTR + ["input_units", "__tuple__", 0, "start"], "0"),
    "boolean as number": _mutated(ATTR + ["input_units", "__tuple__", 0, "end"], True),
    "list where an array goes": _mutated(ATTR + ["scores"], [[0.1, 0.2]]),
    "sources not a list": _mutated(["result", "sources"], "doc"),
    "unknown field": _mutated(["result", "colour"], "red"),
    "missing field": _mutated(["result"], {"__type__": "unit", "text": "a"}),
    "tag not text": _mutated(["result", "__type__"], ["audit_report"]),
    "image size of three": _mutated(["result", "image_attributions", "__tuple__", 0, "image_size"],
                                    {"__tuple__": [2, 3, 4]}),
    "not an object": "[1, 2, 3]",
}


@pytest.mark.parametrize("case", list(HOSTILE_REPORTS))
def test_hostile_report_json_is_one_schema_error_before_allocating(case):
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(SchemaError) as info:
            from_json(HOSTILE_REPORTS[case])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{case}: {peak / 2**20:.0f} MB allocated before refusing"
    assert str(info.value) and len(str(info.value)) < 500


def test_the_valid_report_still_reads_after_the_checks():
    assert results_equal(from_json(_mutated(["result", "model_id"], "m")), _report())

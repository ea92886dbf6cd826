"""A user's own NLI model (any Hugging Face sequence-classification model with entailment/contradiction labels)."""

from __future__ import annotations

from pathlib import Path

class NLIScorer:
    """Any Hugging Face sequence-classification NLI model; label names are read from its config."""

    def __init__(self, model_id_or_path: str):
        import torch  # noqa: F401
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ...errors import ModelNotAvailableError
        from ...models import _offline

        local = Path(model_id_or_path).expanduser().exists()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_id_or_path, local_files_only=_offline() or local)
            self.model = AutoModelForSequenceClassification.from_pretrained(
                model_id_or_path, local_files_only=_offline() or local, trust_remote_code=False, use_safetensors=True).eval()
        except (OSError, ValueError) as exc:
            raise ModelNotAvailableError(
                f"cannot load the NLI model {model_id_or_path!r}: {exc}. Give a local folder with a "
                "sequence-classification model (safetensors) whose labels include entailment and contradiction.") from exc
        labels = {int(k): str(v).lower() for k, v in self.model.config.id2label.items()}
        self.entail = next((k for k, v in labels.items() if v.startswith("entail")), None)
        self.contra = next((k for k, v in labels.items() if v.startswith("contra")), None)
        if self.entail is None or self.contra is None:
            raise ModelNotAvailableError(
                f"{model_id_or_path}: its labels {sorted(labels.values())} name no entailment/contradiction class")
        self.model_id = model_id_or_path

    def scores(self, premise: str, hypothesis: str) -> dict[str, float]:
        import torch

        enc = self.tokenizer(premise, hypothesis, return_tensors="pt", truncation=True, max_length=512)
        with torch.no_grad():
            p = self.model(**enc).logits.softmax(-1)[0]
        return {"nli_entailment": float(p[self.entail]), "nli_contradiction": float(p[self.contra])}

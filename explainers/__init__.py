"""AuditLens explainers: all computation, importable without Streamlit.

Public API: model loaders, the text pipeline (prompt -> AuditInput -> explain -> TextAttribution),
the result types with their JSON form, and the method registry.
"""

from .errors import (
    EmptyInputError,
    ExplainerError,
    InputError,
    InputTooLongError,
    ModelNotAvailableError,
    SchemaError,
    UnknownMethodError,
)
from .registry import get_explainer, list_methods
from .types import (
    SCHEMA_VERSION,
    AuditReport,
    Grounding,
    ImageAttribution,
    SentenceGrounding,
    Source,
    TextAttribution,
    Unit,
    from_json,
    to_json,
)

__version__ = "0.1.0"

__all__ = [
    "SCHEMA_VERSION", "AuditReport", "EmptyInputError", "ExplainerError", "Grounding", "ImageAttribution",
    "InputError", "InputTooLongError", "ModelNotAvailableError", "SchemaError", "SentenceGrounding", "Source",
    "TextAttribution", "Unit", "UnknownMethodError", "from_json", "get_explainer", "list_methods", "to_json",
]

"""Errors a reviewer can act on. Every error the explainers raise derives from ExplainerError."""

from __future__ import annotations


class ExplainerError(Exception):
    """Base class: the dashboard and CLI catch this and show the message as is."""


class InputError(ExplainerError, ValueError):
    """The input text, image or file cannot be used (empty, too long, undecodable...)."""


class EmptyInputError(InputError):
    """A required text is empty or whitespace only."""


class InputTooLongError(InputError):
    """The input does not fit the model's context window."""


class ModelNotAvailableError(ExplainerError, RuntimeError):
    """A model cannot be loaded; the message says where we looked and what to install or set."""


class UnknownMethodError(ExplainerError, KeyError):
    """A method name that is not in the registry; the message lists the registered names."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else "unknown method"


class SchemaError(ExplainerError, ValueError):
    """A serialised result has an unknown type tag or an unsupported schema version."""


class SpanError(InputError):
    """A span or edit names text that does not exist in the input."""


class ResourceLimitError(ExplainerError, RuntimeError):
    """Out of memory even at the smallest internal batch: the message says what to shorten."""


class TimeLimitError(ExplainerError, TimeoutError):
    """A run passed its time limit and was stopped (nothing partial is returned)."""


def not_a_file(path, label: str | None = None) -> str:
    """Why ``path`` cannot be read as a file, for a message: a folder is named as one, not as missing."""
    import os

    label = str(path) if label is None else label
    if os.path.isdir(path):
        return f"{label} is a folder, not a file"
    if os.path.exists(path):
        return f"{label} is not a regular file"
    return f"{label}: no such file"

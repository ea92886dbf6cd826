"""Methods register themselves by name; the CLI, dashboard and tests list them from here."""

from __future__ import annotations

from typing import Any, Callable

from .errors import InputError, UnknownMethodError

_REGISTRY: dict[str, dict[str, Any]] = {}

# A method's parameters: name -> (accepted types, smallest value, largest value); None = unbounded.
ParamSpec = dict[str, tuple[tuple[type, ...], float | None, float | None]]
POSITIVE_INT = ((int,), 1, 1_000_000)
SEED = ((int,), 0, 2**32 - 1)


def register(family: str, name: str, description: str = "", params: ParamSpec | None = None) -> Callable:
    """Decorator: ``@register("text", "saliency")`` on an explainer function or class.

    ``params`` declares the keyword parameters a user may pass (``--params``); anything else is refused.
    """

    def deco(obj: Any) -> Any:
        key = f"{family}:{name}"
        if key in _REGISTRY and _REGISTRY[key]["obj"] is not obj:
            raise ValueError(f"method {name!r} is already registered for {family}")
        _REGISTRY[key] = {"family": family, "name": name, "obj": obj, "description": description,
                          "params": dict(params or {})}
        return obj

    return deco


def check_params(family: str, name: str, params: dict[str, Any]) -> None:
    """Refuse parameters the method does not declare, of the wrong type or out of range (``InputError``)."""
    get_explainer(family, name)
    spec: ParamSpec = _REGISTRY[f"{family}:{name}"]["params"]
    if not isinstance(params, dict):
        raise InputError(f"{name} parameters must be a JSON object, not {type(params).__name__}")
    unknown = sorted(str(k) for k in params if k not in spec)
    if unknown:
        raise InputError(f"{name} has no parameter {', '.join(map(repr, unknown))}; it takes "
                         f"{', '.join(sorted(spec)) or 'no parameters'}")
    for key, value in params.items():
        types, low, high = spec[key]
        if isinstance(value, bool) or not isinstance(value, types):
            wanted = " or ".join("a whole number" if t is int else "a number" if t is float else "a text"
                                 for t in types)
            raise InputError(f"{name}: {key} must be {wanted}, not {value!r}"[:300])
        if isinstance(value, (int, float)) and not ((low is None or value >= low) and (high is None or value <= high)):
            raise InputError(f"{name}: {key} must be between {low} and {high}, not {value!r}"[:300])


def list_methods(family: str | None = None) -> list[str]:
    _load_builtin()
    return sorted(v["name"] for v in _REGISTRY.values() if family is None or v["family"] == family)


def describe(family: str, name: str) -> str:
    return get_explainer(family, name) and _REGISTRY[f"{family}:{name}"]["description"]


def get_explainer(family: str, name: str) -> Any:
    _load_builtin()
    entry = _REGISTRY.get(f"{family}:{name}")
    if entry is None:
        known = ", ".join(list_methods(family)) or "none"
        raise UnknownMethodError(f"unknown {family} method {name!r}; available: {known}")
    return entry["obj"]


def _load_builtin() -> None:
    # Importing the method modules runs their @register decorators.
    from .text import gradient, perturbation  # noqa: F401

    try:
        from .vision import cam  # noqa: F401
    except ImportError:  # pragma: no cover - vision extras missing
        pass


def guide(family: str, name: str) -> str:
    """One line for people choosing a method: what it measures, what it costs, when to trust it."""
    get_explainer(family, name)
    from .method_guide import guide as _guide

    return _guide(family, name)

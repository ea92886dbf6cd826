"""Methods register themselves by name; the CLI, dashboard and tests list them from here."""

from __future__ import annotations

from typing import Any, Callable

from .errors import UnknownMethodError

_REGISTRY: dict[str, dict[str, Any]] = {}


def register(family: str, name: str, description: str = "") -> Callable:
    """Decorator: ``@register("text", "saliency")`` on an explainer function or class."""

    def deco(obj: Any) -> Any:
        key = f"{family}:{name}"
        if key in _REGISTRY and _REGISTRY[key]["obj"] is not obj:
            raise ValueError(f"method {name!r} is already registered for {family}")
        _REGISTRY[key] = {"family": family, "name": name, "obj": obj, "description": description}
        return obj

    return deco


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

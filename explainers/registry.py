"""Methods register themselves by name, with what they cost and promise; everything that lists methods reads here.

``@register("text", "lime", ...)`` on a method class records a :class:`MethodInfo`: family and kind, cost class,
the parameter that sets the cost, whether answer-unit rows regroup exactly, whether a contrast can be explained,
the parameters with their defaults, a description and the guide line people choose by. The CLI's ``methods``
listing, the dashboard's cost controls and the tests' method lists derive from it, so none of them goes stale.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ExplainerError, InputError, UnknownMethodError

# Cost classes: how the number of model passes grows. "one pass" = one forward and one backward per answer unit
# (text) or per image; "units passes" = one forward per prompt unit; "channels passes" = one forward per channel
# of the layer; the others grow with the parameter they name (``MethodInfo.cost_param``).
COST_ONE_PASS = "one pass"
COST_UNITS = "units passes"
COST_CHANNELS = "channels passes"
COST_STEPS = "n_steps passes"
COST_SAMPLES = "samples passes"
COST_EVALS = "max_evals passes"
COST_CLASSES = (COST_ONE_PASS, COST_UNITS, COST_CHANNELS, COST_STEPS, COST_SAMPLES, COST_EVALS)


@dataclass(frozen=True)
class Param:
    """A keyword parameter a user may pass: accepted types, range (None = unbounded) and default (None = none)."""

    types: tuple[type, ...]
    low: float | None = None
    high: float | None = None
    default: Any = None

    def with_default(self, default: Any) -> Param:
        return dataclasses.replace(self, default=default)


POSITIVE_INT = Param((int,), 1, 1_000_000)
SEED = Param((int,), 0, 2**32 - 1, default=0)
TEXT = Param((str,))


@dataclass(frozen=True)
class ParamInfo:
    name: str
    types: tuple[type, ...]
    low: float | None
    high: float | None
    default: Any


@dataclass(frozen=True)
class MethodInfo:
    """What the registry knows about one method (``method_info(family, name)``)."""

    family: str  # "text" or "image": the call shape (explain / explain_image)
    name: str
    kind: str  # the base class that owns the mechanics: gradient, perturbation, cam, captum
    description: str
    cost: str  # one of COST_CLASSES
    cost_param: str | None  # the parameter the cost grows with (a control in the dashboard); None = fixed cost
    cost_range: tuple[int, int] | None  # a sensible range for that parameter
    exact_regrouping: bool  # an answer unit's row is exactly the sum of its tokens' rows
    supports_contrast: bool  # can explain log p(answer) - log p(contrast)
    params: tuple[ParamInfo, ...]
    guide: str  # "measures ... Cost: ... Trust it: ..."

    @property
    def defaults(self) -> dict[str, Any]:
        """The parameters that have a default, with it (a run records these beside what the user passed)."""
        return {p.name: p.default for p in self.params if p.default is not None}

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


class MethodFamilyUnavailableError(ExplainerError, ImportError):
    """A family of built-in methods cannot be imported; the message says what to install."""


_REGISTRY: dict[str, dict[str, Any]] = {}

# Built-in families: their modules, the packages their methods need at run time, and the pip names to install.
_FAMILIES = {
    "text": (("explainers.text.gradient", "explainers.text.perturbation"), ("torch",), "torch"),
    "image": (("explainers.vision.cam",), ("torch", "PIL", "pytorch_grad_cam", "captum"), "grad-cam captum pillow"),
}
_loaded = False


def register(family: str, name: str, description: str, params: dict[str, Param] | None = None, *, cost: str,
             guide: tuple[str, str, str], exact_regrouping: bool = False, supports_contrast: bool = False,
             cost_param: str | None = None, cost_range: tuple[int, int] | None = None) -> Callable:
    """Class decorator: ``@register("text", "lime", "LIME: ...", {"n_samples": ...}, cost=COST_SAMPLES, ...)``.

    ``params`` declares the keyword parameters a user may pass (``--params``); anything else is refused.
    ``guide`` is (what it measures, what it costs, when to trust it) for people choosing a method. The class's
    ``kind`` attribute names its base. The decorated class gets the record as ``info``.
    """
    if cost not in COST_CLASSES:
        raise ValueError(f"{name}: cost is one of {COST_CLASSES}, not {cost!r}")
    spec = {k: v if isinstance(v, Param) else Param(*v) for k, v in (params or {}).items()}
    if cost_param is not None and (cost_param not in spec or spec[cost_param].default is None or cost_range is None):
        raise ValueError(f"{name}: cost_param {cost_param!r} must be one of its parameters, with a default and a "
                         "cost_range")
    if len(guide) != 3 or not all(isinstance(g, str) and g for g in guide):
        raise ValueError(f"{name}: guide is (what it measures, what it costs, when to trust it)")

    def deco(obj: Any) -> Any:
        key = f"{family}:{name}"
        if key in _REGISTRY and _REGISTRY[key]["obj"] is not obj:
            raise ValueError(f"method {name!r} is already registered for {family}")
        from .method_guide import guide_line

        info = MethodInfo(
            family=family, name=name, kind=str(getattr(obj, "kind", family)), description=description, cost=cost,
            cost_param=cost_param, cost_range=cost_range, exact_regrouping=exact_regrouping,
            supports_contrast=supports_contrast,
            params=tuple(ParamInfo(k, p.types, p.low, p.high, p.default) for k, p in spec.items()),
            guide=guide_line(*guide))
        _REGISTRY[key] = {"obj": obj, "info": info, "spec": spec}
        obj.info = info
        return obj

    return deco


def check_params(family: str, name: str, params: dict[str, Any]) -> None:
    """Refuse parameters the method does not declare, of the wrong type or out of range (``InputError``)."""
    get_explainer(family, name)
    spec: dict[str, Param] = _REGISTRY[f"{family}:{name}"]["spec"]
    if not isinstance(params, dict):
        raise InputError(f"{name} parameters must be a JSON object, not {type(params).__name__}")
    unknown = sorted(str(k) for k in params if k not in spec)
    if unknown:
        raise InputError(f"{name} has no parameter {', '.join(map(repr, unknown))}; it takes "
                         f"{', '.join(sorted(spec)) or 'no parameters'}")
    for key, value in params.items():
        types, low, high = spec[key].types, spec[key].low, spec[key].high
        if isinstance(value, bool) or not isinstance(value, types):
            wanted = " or ".join("a whole number" if t is int else "a number" if t is float else "a text"
                                 for t in types)
            raise InputError(f"{name}: {key} must be {wanted}, not {value!r}"[:300])
        if isinstance(value, (int, float)) and not ((low is None or value >= low) and (high is None or value <= high)):
            raise InputError(f"{name}: {key} must be between {low} and {high}, not {value!r}"[:300])


def list_methods(family: str | None = None) -> list[str]:
    _load_builtin()
    return sorted(v["info"].name for v in _REGISTRY.values() if family is None or v["info"].family == family)


def method_info(family: str, name: str) -> MethodInfo:
    """The registered record of a method (``UnknownMethodError`` listing the others when there is none)."""
    get_explainer(family, name)
    return _REGISTRY[f"{family}:{name}"]["info"]


def describe(family: str, name: str) -> str:
    return method_info(family, name).description


def guide(family: str, name: str) -> str:
    """One line for people choosing a method: what it measures, what it costs, when to trust it."""
    return method_info(family, name).guide


def get_explainer(family: str, name: str) -> Any:
    _load_builtin()
    entry = _REGISTRY.get(f"{family}:{name}")
    if entry is None:
        known = ", ".join(list_methods(family)) or "none"
        raise UnknownMethodError(f"unknown {family} method {name!r}; available: {known}")
    return entry["obj"]


def _load_builtin() -> None:
    """Import the built-in method modules (their ``@register`` decorators run) once.

    A family that cannot be imported is an error naming what to install, not a family that silently goes
    missing (the CNN page would otherwise fail later with an unknown-method error). Packages that are only
    imported when a method runs (pytorch-grad-cam takes seconds to import) are looked up without importing.
    """
    global _loaded
    if _loaded:
        return
    for family, (modules, needs, pip_names) in _FAMILIES.items():
        missing = [n for n in needs if importlib.util.find_spec(n) is None]
        try:
            if missing:
                raise ImportError(f"No module named {missing[0]!r}")
            for module in modules:
                importlib.import_module(module)
        except ImportError as exc:
            raise MethodFamilyUnavailableError(
                f"the {family} attribution methods cannot be loaded ({exc}); install them with "
                f"`pip install {pip_names}` (or `pip install -e .` in the AuditLens folder)") from exc
    _loaded = True

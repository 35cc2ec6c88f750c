"""Parameter checks shared by every chapter.

Every public entry point validates its inputs *before* any long work starts and raises
:class:`ParameterError`, whose message names the parameter, the value it got and what is
allowed. Notebooks call these through the modules that own each parameter.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ParameterError(ValueError):
    """A parameter value that is not allowed: names the parameter, the value and the rule."""

    def __init__(self, name: str, value: Any, allowed: str):
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"parameter {name!r} = {value!r} is not allowed: {allowed}")

    def renamed(self, names: dict[str, str]) -> "ParameterError":
        """The same error in the names the user typed: a check deeper down names its own
        parameters (``n_relations``), the chapter's are prefixed (``kg_relations``); every
        name of ``names`` (inner -> typed) is replaced, in the parameter and in the rule."""
        import re

        allowed = self.allowed
        for inner, typed in names.items():
            allowed = re.sub(rf"\b{re.escape(inner)}\b", typed, allowed)
        return ParameterError(names.get(self.name, self.name), self.value, allowed)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    choices = list(choices)
    if value not in choices:
        raise ParameterError(name, value, f"must be one of {choices}")
    return value


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(name, value, "must be an integer")
    if minimum is not None and value < minimum:
        raise ParameterError(name, value, f"must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ParameterError(name, value, f"must be <= {maximum}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(name, value, "must be a number")
    value = float(value)
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    if low is not None and (value < low or (low_open and value == low)):
        raise ParameterError(name, value, f"must lie in {interval}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ParameterError(name, value, f"must lie in {interval}")
    return value


def check_fraction(name: str, value: Any) -> float:
    """A sampling fraction in (0, 1]."""
    return check_float(name, value, low=0.0, high=1.0, low_open=True)

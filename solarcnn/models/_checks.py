"""Argument checks shared by the model builders: every bad value is a `ValueError` showing what was received.

Python's ``int(2.5)`` is 2 and ``2.5 >= 1`` is true, so without these checks ``num_classes=2.5`` or an input
side of ``128.7`` would build a model silently (or fail deep inside Keras).
"""
from __future__ import annotations

import math
import numbers


def integer(value, name: str, builder: str, *, minimum: int = 1) -> int:
    """`value` as an int when it is an integer (not a bool, not a float) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{builder}: {name} must be an integer >= {minimum}; "
                         f"received {value!r} ({name}={value!r})")
    return int(value)


def number(value, name: str, builder: str, *, low: float, high: float | None = None,
           low_open: bool = False, high_open: bool = True) -> float:
    """`value` as a float when it is a finite real number in the interval [low, high) (ends as given)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and (high is None or (v < high if high_open else v <= high))
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {'inf' if high is None else f'{high:g}'}" \
                   f"{')' if high is None or high_open else ']'}"
        raise ValueError(f"{builder}: {name} must be a finite number in {interval}; "
                         f"received {value!r} ({name}={value!r})")
    return float(value)


def flag(value, name: str, builder: str) -> bool:
    """`value` when it is a bool (a string such as ``"false"`` would be true)."""
    if not isinstance(value, bool):
        raise ValueError(f"{builder}: {name} must be True or False; received {value!r} ({name}={value!r})")
    return value


def shape3(input_shape, builder: str) -> tuple[int, int, int]:
    """``(height, width, channels)`` of positive integers (no floats, bools or None)."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in shape):
        raise ValueError(f"{builder}: input_shape must be (height, width, channels) of positive integers; "
                         f"received {input_shape!r} (input_shape={input_shape!r})")
    return tuple(int(s) for s in shape)


def int_sequence(values, name: str, builder: str) -> tuple[int, ...]:
    """A non-empty sequence of positive integers."""
    try:
        seq = tuple(values)
    except TypeError:
        seq = ()
    if not seq or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in seq):
        raise ValueError(f"{builder}: {name} must be a non-empty sequence of positive integers; "
                         f"received {values!r} ({name}={values!r})")
    return tuple(int(v) for v in seq)

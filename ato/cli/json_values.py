"""How values that JSON has no spelling for are written in ``--json`` output.

JSON has no NaN or infinity, and a config holds tuples, numpy scalars, paths and objects. Ato
writes every value as native JSON, never as a Python repr, with these rules (also in the
published schema, ``ato schema``):

====================================  =======================================================
``None``, ``bool``, ``int``, ``str``  themselves (ints of any size, as JSON numbers)
``float``                             a number; **NaN and infinities as the strings**
                                      ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (what
                                      Python's ``float()`` and JavaScript's ``Number()`` read
                                      back), never ``null``, so a loss that went NaN stays
                                      apart from a value that is missing
``list``, ``tuple``, ``set``          an array (where the type matters, a ``type`` field
                                      beside the value names it: ``"tuple"``)
``dict``                              an object, keys as text (``str(key)``; a key that is
                                      not text and reads as another key, such as ``1`` beside
                                      ``"1"``, is written with its type, ``"int:1"``, so
                                      neither is lost)
numpy scalar / array                  its Python value / nested arrays (``.item()``,
                                      ``.tolist()``)
path                                  its text
anything else (an object in a config  ``{"$type": "module.Class", "$repr": "..."}``: the
that could not be recorded)           only record there is, marked as such
====================================  =======================================================
"""

from __future__ import annotations

import math
import pathlib
from typing import Any, Literal, Union

from ato.events.values import OpaqueValue

__all__ = ["NON_FINITE", "Number", "json_value", "number"]

NON_FINITE = ("NaN", "Infinity", "-Infinity")

# A float as written in --json output: a JSON number, or one of NON_FINITE.
Number = Union[float, Literal["NaN", "Infinity", "-Infinity"]]


def number(value: float) -> float | str:
    """A float as --json writes it: itself where finite, else ``"NaN"``/``"Infinity"``/``"-Infinity"``."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _key_text(key: Any, mapping: dict[Any, Any]) -> str:
    if isinstance(key, str):
        return key
    text = str(key)
    return f"{type(key).__name__}:{text}" if text in mapping else text


def json_value(value: Any) -> Any:
    """``value`` as native JSON data, by the rules of this module's docstring."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)  # an IntEnum or another int subclass: its number
    if isinstance(value, float):
        return number(float(value))
    if isinstance(value, dict):
        return {_key_text(key, value): json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, (set, frozenset)):  # in an order that does not change with the hash seed
        return [json_value(item) for item in sorted(value, key=lambda item: (type(item).__name__, repr(item)))]
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, OpaqueValue):
        return {"$type": value.type_name, "$repr": value.repr}
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return json_value(value.tolist())  # a scalar's .tolist() is its Python value, as .item()
    cls = type(value)
    return {"$type": f"{cls.__module__}.{cls.__qualname__}", "$repr": _safe_repr(value)}


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)[:1000]
    except Exception as exc:  # a broken __repr__ must not take the command down
        return f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"

"""Search spaces: the seed's ``param_type`` / ``param_range`` / ``num_samples`` / ``space_type``.

- ``FLOAT``: ``num_samples`` values from ``param_range`` (inclusive), ``LINEAR`` (default) or
  ``LOG`` spaced (a geometric sequence, so ``base`` changes nothing here), as Python floats to
  15 significant digits (the ends of the range and round values come out exact);
- ``INTEGER``: the same, rounded to the nearest integer, duplicates removed;
- ``CATEGORY``: the ``categories`` as given.

The grid is the product of every parameter's values, in the order the space lists them.

Two numerics (``numerics=``), one reading of the space:

- ``"ato"`` (what :class:`~ato.hyperopt.search.HyperBand` searches): float64 values to 15
  significant digits, integers rounded to the nearest and never repeated;
- ``"2.1.7"`` (what ato 2.1.7's ``GridSpaceMixIn.prepare_distributions`` gave, value for value):
  numpy's ``linspace``/``logspace`` cast to ``float32`` (then back to Python floats, so
  ``0.1`` is ``0.10000000149011612``) or to ``int64`` (rounding down, so a LOG range of
  ``(1, 1000)`` in base 10 gives ``[1, 9, 99, 999]``), duplicates kept; ``base`` defaults to 10
  for FLOAT and 2 for INTEGER. It needs numpy.

Both raise :class:`~ato.hyperopt.schedule.SearchSettingsError` (a ``ValueError``) for a space
that gives no values (an empty space or categories list, ``num_samples < 1``), where ato 2.1.7
returned a grid of one or of no configs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from ato.hyperopt.schedule import SearchSettingsError

__all__ = ["NUMERICS", "grid", "parameter_values"]

#: The two ways to turn a range into values (see the module docstring).
NUMERICS = ("ato", "2.1.7")


def parameter_values(name: str, space: Mapping[str, Any], numerics: str = "ato") -> list[Any]:
    """The values one parameter takes; raises :class:`SearchSettingsError` naming what is wrong."""
    if numerics not in NUMERICS:
        raise SearchSettingsError(f"numerics must be one of {NUMERICS}, not {numerics!r}")
    if not isinstance(space, Mapping) or "param_type" not in space:
        raise SearchSettingsError(f"search space {name!r}: give param_type (FLOAT, INTEGER or CATEGORY)")
    kind = str(space["param_type"]).upper()
    if kind == "CATEGORY":
        categories = list(space.get("categories") or [])
        if not categories:
            raise SearchSettingsError(f"search space {name!r}: CATEGORY needs a non-empty categories list")
        return categories
    if kind not in ("FLOAT", "INTEGER"):
        raise SearchSettingsError(f"search space {name!r}: unknown param_type {space['param_type']!r} "
                          "(use FLOAT, INTEGER or CATEGORY)")
    try:
        low, high = space["param_range"]
    except (KeyError, TypeError, ValueError):
        raise SearchSettingsError(f"search space {name!r}: {kind} needs param_range=(low, high)") from None
    count = int(space.get("num_samples", 1))
    if count < 1:
        raise SearchSettingsError(f"search space {name!r}: num_samples must be at least 1, not {count}")
    spacing = str(space.get("space_type", "LINEAR")).upper()
    if spacing not in ("LINEAR", "LOG"):
        raise SearchSettingsError(f"search space {name!r}: unknown space_type {space['space_type']!r} (use LINEAR or LOG)")
    if spacing == "LOG" and (low <= 0 or high <= 0):
        raise SearchSettingsError(f"search space {name!r}: LOG spacing needs a positive param_range, not {(low, high)}")
    if numerics == "2.1.7":
        return _values_as_in_2_1_7(kind, spacing, low, high, count, space.get("base", 10 if kind == "FLOAT" else 2))
    if spacing == "LINEAR":
        values = [low + (high - low) * i / (count - 1) for i in range(count)] if count > 1 else [float(low)]
    else:  # a geometric sequence from low to high (the base changes nothing but rounding)
        values = [low * (high / low) ** (i / (count - 1)) for i in range(count)] if count > 1 else [float(low)]
        values[-1] = high if count > 1 else values[-1]
    if kind == "FLOAT":
        # 15 significant digits: the ends and round values come out exact (0.001, not 0.0010000000000000002)
        return [float(f"{v:.15g}") for v in values]
    return list(dict.fromkeys(int(round(v)) for v in values))


def _values_as_in_2_1_7(kind: str, spacing: str, low: Any, high: Any, count: int, base: Any) -> list[Any]:
    """ato 2.1.7's ``GridSpaceMixIn`` arithmetic, call for call."""
    import numpy as np

    dtype = np.int64 if kind == "INTEGER" else np.float32
    if spacing == "LINEAR":
        return list(np.linspace(start=low, stop=high, num=count, dtype=dtype).tolist())
    return list(np.logspace(start=math.log(low, base), stop=math.log(high, base), num=count, dtype=dtype,
                            base=base).tolist())


def grid(search_spaces: Mapping[str, Any], numerics: str = "ato") -> list[dict[str, Any]]:
    """Every combination of the parameters' values."""
    if not search_spaces:
        raise SearchSettingsError("the search space is empty: give at least one parameter")
    names = list(search_spaces)
    values = [parameter_values(name, search_spaces[name], numerics) for name in names]
    return [dict(zip(names, combination)) for combination in itertools.product(*values)]

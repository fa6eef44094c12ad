"""Search spaces: the seed's ``param_type`` / ``param_range`` / ``num_samples`` / ``space_type``.

- ``FLOAT``: ``num_samples`` values from ``param_range`` (inclusive), ``LINEAR`` (default) or
  ``LOG`` spaced (``base`` 10 by default), as Python floats;
- ``INTEGER``: the same, rounded to the nearest integer, duplicates removed (``LOG``: ``base`` 2);
- ``CATEGORY``: the ``categories`` as given.

The grid is the product of every parameter's values, in the order the space lists them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from ato.errors import ConfigError

__all__ = ["grid", "parameter_values"]


def parameter_values(name: str, space: Mapping[str, Any]) -> list[Any]:
    """The values one parameter takes; raises :class:`ConfigError` naming what is wrong."""
    if not isinstance(space, Mapping) or "param_type" not in space:
        raise ConfigError(f"search space {name!r}: give param_type (FLOAT, INTEGER or CATEGORY)")
    kind = str(space["param_type"]).upper()
    if kind == "CATEGORY":
        categories = list(space.get("categories") or [])
        if not categories:
            raise ConfigError(f"search space {name!r}: CATEGORY needs a non-empty categories list")
        return categories
    if kind not in ("FLOAT", "INTEGER"):
        raise ConfigError(f"search space {name!r}: unknown param_type {space['param_type']!r} "
                          "(use FLOAT, INTEGER or CATEGORY)")
    try:
        low, high = space["param_range"]
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"search space {name!r}: {kind} needs param_range=(low, high)") from None
    count = int(space.get("num_samples", 1))
    if count < 1:
        raise ConfigError(f"search space {name!r}: num_samples must be at least 1, not {count}")
    spacing = str(space.get("space_type", "LINEAR")).upper()
    if spacing == "LINEAR":
        values = [low + (high - low) * i / (count - 1) for i in range(count)] if count > 1 else [float(low)]
    elif spacing == "LOG":
        if low <= 0 or high <= 0:
            raise ConfigError(f"search space {name!r}: LOG spacing needs a positive param_range, not {(low, high)}")
        base = float(space.get("base", 10 if kind == "FLOAT" else 2))
        start, stop = math.log(low, base), math.log(high, base)
        values = [base ** (start + (stop - start) * i / (count - 1)) for i in range(count)] if count > 1 else [float(low)]
    else:
        raise ConfigError(f"search space {name!r}: unknown space_type {space['space_type']!r} (use LINEAR or LOG)")
    if kind == "FLOAT":
        return [float(v) for v in values]
    return list(dict.fromkeys(int(round(v)) for v in values))


def grid(search_spaces: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the parameters' values."""
    if not search_spaces:
        raise ConfigError("the search space is empty: give at least one parameter")
    names = list(search_spaces)
    values = [parameter_values(name, search_spaces[name]) for name in names]
    return [dict(zip(names, combination)) for combination in itertools.product(*values)]

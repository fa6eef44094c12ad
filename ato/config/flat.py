"""A config as flat, dotted keys, and which keys vary across several configs: what ``ato runs``
shows as columns, and what ``ato replay`` of a search shows per trial.

Keys are named as ``ato replay`` names them (:func:`~ato.config.merge_trace.format_path`):
``model.depth``, and ``stages[1]`` for a key that is not text. Mappings are walked; anything
else (a list, a tuple, an object) is one value. An empty mapping is a value of its own (``{}``),
so a key that went from ``{}`` to something shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ato.config.merge_trace import format_path

__all__ = ["flat_config", "same_value", "select_keys", "varying_keys"]


def flat_config(config: Mapping[Any, Any]) -> dict[str, Any]:
    """``{dotted key: value}`` of every leaf of ``config``, in the config's own order."""
    out: dict[str, Any] = {}
    _walk(config, (), out)
    return out


def _walk(mapping: Mapping[Any, Any], prefix: tuple[Any, ...], out: dict[str, Any]) -> None:
    if not mapping and prefix:
        out[format_path(prefix)] = {}
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            _walk(value, (*prefix, key), out)
        else:
            out[format_path((*prefix, key))] = value


def same_value(a: Any, b: Any) -> bool:
    """Whether two config values are the same value of the same type: ``1`` and ``1.0`` differ
    (the structural hash says so too), NaN is the same as NaN, floats compare by their repr (which
    reads back bit for bit)."""
    if type(a) is not type(b):
        return False
    try:
        equal = bool(a == b)
    except (ValueError, TypeError):  # an array compares element-wise, and its truth is ambiguous
        equal = False
    return equal or repr(a) == repr(b)


def varying_keys(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys of the flat ``configs`` whose values differ among them, or that some lack, in
    the order they first appear. Fewer than two configs vary in nothing."""
    if len(configs) < 2:
        return []
    order: dict[str, None] = {}
    for flat in configs:
        order.update(dict.fromkeys(flat))
    missing = object()
    varying = []
    for key in order:
        first = configs[0].get(key, missing)
        for flat in configs[1:]:
            other = flat.get(key, missing)
            if (first is missing) != (other is missing) or (first is not missing and not same_value(first, other)):
                varying.append(key)
                break
    return varying


def select_keys(wanted: Iterable[str], known: Iterable[str]) -> dict[str, list[str]]:
    """For each wanted key, the known keys it names: itself, or every key below it (``model``
    names ``model.depth`` and ``model.name``); an empty list where it names none."""
    known = list(known)
    return {
        key: [k for k in known if k == key or k.startswith((f"{key}.", f"{key}["))]
        for key in wanted
    }

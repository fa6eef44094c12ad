"""Ato: a thin operating layer that explains why an ML result changed.

Public names are loaded on first use, so ``import ato`` stays cheap (no numpy, no torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ato._version import __version__

if TYPE_CHECKING:
    from ato.config.adict import ADict
    from ato.config.scope import MultiScope, Scope
    from ato.tracking.finder import AsyncSQLFinder, SQLFinder
    from ato.tracking.logger import AsyncSQLLogger, SQLLogger

__all__ = ["ADict", "AsyncSQLFinder", "AsyncSQLLogger", "MultiScope", "SQLFinder", "SQLLogger", "Scope", "__version__"]

_LAZY = {
    "ADict": "ato.config.adict",
    "Scope": "ato.config.scope",
    "MultiScope": "ato.config.scope",
    "SQLLogger": "ato.tracking.logger",
    "AsyncSQLLogger": "ato.tracking.logger",
    "SQLFinder": "ato.tracking.finder",
    "AsyncSQLFinder": "ato.tracking.finder",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ato' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

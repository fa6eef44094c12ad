"""The seed's import path for scopes: ``from ato.scope import Scope``. They live in :mod:`ato.config.scope`."""

from ato.config.scope import MultiScope, Scope, parse_args_pythonic

__all__ = ["MultiScope", "Scope", "parse_args_pythonic"]

"""The seed's import path for the XYZ format (``from ato import xyz``). It lives in :mod:`ato.config.xyz`."""

from ato.config.xyz import XYZSyntaxError, dump, dumps, load, loads, read_value

__all__ = ["XYZSyntaxError", "dump", "dumps", "load", "loads", "read_value"]

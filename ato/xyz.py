"""The seed's import path for the XYZ format (``from ato import xyz``). It lives in :mod:`ato.config.xyz`."""

from ato.config.xyz import XYZSyntaxError, dumps, loads, read_value

__all__ = ["XYZSyntaxError", "dumps", "loads", "read_value"]

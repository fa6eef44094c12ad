"""The seed's import path for ADict: ``from ato.adict import ADict``. It lives in :mod:`ato.config.adict`.

Pickles of ADicts made before the move name ``ato.adict._restore``: that name must stay here.
"""

from ato.config.adict import ADict
from ato.config.adict import unpickle as _restore  # noqa: F401  (named by old pickles)

__all__ = ["ADict"]

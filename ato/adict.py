"""The seed's import path for ADict: ``from ato.adict import ADict``. It lives in :mod:`ato.config.adict`.

Pickles of ADicts made before the move name ``ato.adict._restore``: that name must stay here.

Also 2.1.7's other names here: ``ALLOWED_EXTS`` (:data:`ato.config.files.ALLOWED_EXTS`, loaded on
first use so that ``from ato.adict import ADict`` does not import the file parsers), and ``Dict``,
ADict's base class: 2.1.7's was its own MutableMapping, Ato's ADict is a ``dict``, so ``Dict`` is
``dict`` and ``isinstance(config, Dict)`` holds as it did.
"""

from typing import TYPE_CHECKING, Any

from ato.config.adict import ADict
from ato.config.adict import unpickle as _restore  # noqa: F401  (named by old pickles)

if TYPE_CHECKING:
    from ato.config.files import ALLOWED_EXTS

Dict = dict

__all__ = ["ALLOWED_EXTS", "ADict", "Dict"]


def __getattr__(name: str) -> Any:
    if name == "ALLOWED_EXTS":
        from ato.config.files import ALLOWED_EXTS

        return ALLOWED_EXTS
    raise AttributeError(f"module 'ato.adict' has no attribute {name!r}")

"""The seed's import path for 2.1.7's ``ato.utils.convert_string_to_value``; it lives in
:mod:`ato.config.xyz` and reads a value as data (never evaluated).

2.1.7's other helpers here (``is_seq``, ``get_all``, ``replace_all``, ``remove_all``: one-line
string and iterable utilities of its own XYZ parser) are not carried over: a seed module only
re-exports, and Ato's layers have no use for them.
"""

from ato.config.xyz import convert_string_to_value

__all__ = ["convert_string_to_value"]

"""The seed's import path for the XYZ format (``from ato import xyz``). It lives in :mod:`ato.config.xyz`,
and 2.1.7's tree helpers in :mod:`ato.config.xyz_tree`."""

from ato.config.xyz import (
    FORMAT_KEYS,
    LineFormat,
    XYZSyntaxError,
    convert_string_to_value,
    dump,
    dumps,
    load,
    loads,
    read_value,
    write_value,
)
from ato.config.xyz_tree import (
    GlobalParser,
    convert_lines_to_tree,
    convert_structure_to_tree,
    convert_tree_to_structure,
    parse_format,
    parse_lines,
    remove_format_str,
)

__all__ = [
    "FORMAT_KEYS",
    "GlobalParser",
    "LineFormat",
    "XYZSyntaxError",
    "convert_lines_to_tree",
    "convert_string_to_value",
    "convert_structure_to_tree",
    "convert_tree_to_structure",
    "dump",
    "dumps",
    "load",
    "loads",
    "parse_format",
    "parse_lines",
    "read_value",
    "remove_format_str",
    "write_value",
]

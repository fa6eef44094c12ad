"""ato 2.1.7's tree helpers for the XYZ format, kept so that code written against 2.1.7 runs.

New code should use :func:`ato.config.xyz.dumps` and :func:`ato.config.xyz.loads`, which quote
what needs quoting and report bad lines; these helpers go through a :class:`GlobalParser` tree
and write 2.1.7's text (keys as ``str(key)``, empty containers as ``[Empty Sequence]`` and
``[Empty Mapping]``), for the same results as 2.1.7 on the data it handled. Where 2.1.7 broke,
they do what it meant:

- Values are data: they are read with :func:`ato.config.xyz.read_value` (our literal parser,
  never evaluated), so ``-1`` is ``-1`` and ``(3, 64)`` a tuple where 2.1.7 kept the text;
  they are written with :func:`ato.config.xyz.write_value`, which quotes a string that would
  read back as something else (``'5'``), where 2.1.7 wrote ``str(value)``.
- The text after a key's or index's mark is that entry's value; 2.1.7 parsed it again, so a
  value holding ``:`` became a nested key and one holding ``)`` crashed. A line is an index
  where it starts with ``{index_prefix}N{index_postfix}`` (2.1.7 tried keys first, so a list
  item holding ``:`` became a key).
- Format headers are written ``key-prefix -> @``, the spelling 2.1.7's reader knew (its writer
  wrote ``key_prefix``, which nothing read, plus a blank line that read as a key ``''``); both
  spellings are read, before the first data line. An empty postfix means the default.
- Blank lines are skipped; :func:`convert_lines_to_tree` leaves its argument as it was (2.1.7
  emptied the caller's list); an empty list converts to ``[]`` (2.1.7 raised); sets and other
  unordered iterables are values, not lists (2.1.7 raised); a node's ``repr`` is short (2.1.7's
  recursed through parent and children forever).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ato.config.xyz import LineFormat, read_value, write_value

__all__ = [
    "GlobalParser",
    "convert_lines_to_tree",
    "convert_structure_to_tree",
    "convert_tree_to_structure",
    "parse_format",
    "parse_lines",
    "remove_format_str",
]

_EMPTY_TEXT = {"iter": "[Empty Sequence]", "dict": "[Empty Mapping]"}


class GlobalParser:
    """A node of 2.1.7's XYZ tree.

    ``value_type`` says what the node holds: ``'key'`` (a mapping key), ``'index'`` (a list
    position, kept as an ``int``) or ``'value'`` (a leaf value). ``node_type`` says what its
    children make it: ``'dict'`` (key children), ``'iter'`` (index children), ``'item'`` (one
    value child) or ``'value'`` (no children yet). The root is ``GlobalParser('root', 'key')``.
    """

    def __init__(self, value: Any, value_type: str, parent: GlobalParser | None = None,
                 format_dict: Mapping[str, Any] | None = None) -> None:
        self.value = int(value) if value_type == "index" else value
        self.node_type = "value"
        self.value_type = value_type
        self.parent = parent
        self.children: list[GlobalParser] = []
        self.format_dict = format_dict

    def add_child(self, child_node: GlobalParser) -> None:
        """Append ``child_node`` (and make this node its parent); the child's kind sets this
        node's ``node_type``."""
        self.children.append(child_node)
        child_node.parent = self
        if child_node.value_type == "key":
            self.node_type = "dict"
        elif child_node.value_type == "index":
            self.node_type = "iter"
        else:
            self.node_type = "item"

    def dumps(self, level: int | None = None) -> str:
        """This node and what is under it as XYZ text, indented two spaces per ``level``; the
        root (no parent) writes its children at level 0, after the format header if any."""
        fmt = LineFormat.from_dict(self.format_dict)
        if self.parent is None:
            level, text = -1, ""
        else:
            level = level or 0
            if self.value_type == "key":
                marks = (fmt.key_prefix, fmt.key_postfix)
            elif self.value_type == "index":
                marks = (fmt.index_prefix, fmt.index_postfix)
            else:
                marks = ("", "")
            text = "  " * level + marks[0] + str(self.value) + marks[1]
        if not self.children and self.node_type in _EMPTY_TEXT:
            text += " " + _EMPTY_TEXT[self.node_type]
        for child in self.children:
            if child.value_type == "value":
                text += " " + write_value(child.value)
            else:
                text += "\n" + child.dumps(level + 1)
        text = text.removeprefix("\n")
        header = fmt.header_lines() if self.parent is None else []
        return "\n".join([*header, text]) if header else text

    def __repr__(self) -> str:
        return (f"GlobalParser(value={self.value!r}, value_type={self.value_type!r}, "
                f"node_type={self.node_type!r}, children={len(self.children)})")


def convert_structure_to_tree(struct: Any, root: GlobalParser | None = None,
                              format_dict: Mapping[str, Any] | None = None) -> GlobalParser:
    """The tree of ``struct`` (mappings become key nodes, lists and tuples index nodes, anything
    else one value node), under ``root`` or a new root; ``format_dict`` goes to every key and
    index node, for :meth:`GlobalParser.dumps`."""
    format_dict = format_dict or {}
    if root is None:
        root = GlobalParser("root", "key", None, format_dict=format_dict)
    if isinstance(struct, Mapping):
        root.node_type, value_type = "dict", "key"
        entries: Iterable[tuple[Any, Any]] = struct.items()
    elif _is_ordered_collection(struct):
        root.node_type, value_type = "iter", "index"
        entries = enumerate(struct)
    else:
        root.node_type = "item"
        root.add_child(GlobalParser(struct, "value", root, None))
        return root
    for key, child_struct in entries:
        child = GlobalParser(key, value_type, root, format_dict)
        root.add_child(convert_structure_to_tree(child_struct, child, format_dict))
    return root


def convert_tree_to_structure(root: GlobalParser) -> Any:
    """The dicts, lists and values a tree holds; a key or index with nothing under it is ``None``,
    as is a gap in a list's indices."""
    if root.node_type == "item":
        return root.children[0].value
    if root.node_type == "dict":
        return {child.value: convert_tree_to_structure(child) for child in root.children}
    if root.node_type == "iter":
        items: list[Any] = [None] * max((child.value + 1 for child in root.children), default=0)
        for child in root.children:
            items[child.value] = convert_tree_to_structure(child)
        return items
    return None


def convert_lines_to_tree(lines: Iterable[str], format_dict: Mapping[str, Any] | None = None) -> GlobalParser:
    """The tree of XYZ data lines (no header: see :func:`parse_lines`), with the marks of
    ``format_dict`` (as :func:`parse_format` returns it). Keys are the text between the marks;
    values are read as data."""
    fmt = LineFormat.from_dict({name: mark for name, mark in (format_dict or {}).items() if mark})
    key_prefix, key_postfix = fmt.key_prefix.strip(), fmt.key_postfix.strip()
    index_line = re.compile(rf"{re.escape(fmt.index_prefix.strip())}\s*(\d+)\s*{re.escape(fmt.index_postfix.strip())}")
    root = GlobalParser("root", "key")
    open_nodes: list[tuple[int, GlobalParser]] = [(-1, root)]  # (indentation, node), outermost first
    for raw in lines:
        line = raw.rstrip()
        text = line.strip()
        if not text:
            continue
        indent = len(line) - len(line.lstrip())
        while len(open_nodes) > 1 and indent <= open_nodes[-1][0]:
            open_nodes.pop()
        parent = open_nodes[-1][1]
        index = index_line.match(text)
        if index is not None:
            node, rest = GlobalParser(index.group(1), "index", parent), text[index.end():]
        elif text.startswith(key_prefix) and key_postfix in text[len(key_prefix):]:
            key, _, rest = text[len(key_prefix):].partition(key_postfix)
            node = GlobalParser(key.strip(), "key", parent)
        else:
            parent.add_child(GlobalParser(read_value(text), "value", parent))
            continue
        parent.add_child(node)
        open_nodes.append((indent, node))
        if rest.strip():
            node.add_child(GlobalParser(read_value(rest.strip()), "value", node))
    return root


def parse_lines(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """``(format_lines, data_lines)``: the ``key-prefix -> @`` lines (either spelling) before the
    first data line, and every other line, unchanged."""
    format_lines: list[str] = []
    data_lines: list[str] = []
    in_header = True
    for line in lines:
        if in_header and LineFormat.is_header_line(line):
            format_lines.append(line)
            continue
        in_header = in_header and not line.strip()
        data_lines.append(line)
    return format_lines, data_lines


def parse_format(decoding_formats: Iterable[str]) -> dict[str, str]:
    """The marks that header lines name, with the defaults for the rest: ``{'key_prefix': '',
    'key_postfix': ':', 'index_prefix': '', 'index_postfix': ')'}``."""
    return LineFormat.from_header(decoding_formats).as_dict()


def remove_format_str(raw_str: str) -> str:
    """``raw_str`` without its header lines (and without surrounding whitespace)."""
    return "\n".join(parse_lines(raw_str.strip().split("\n"))[1])


def _is_ordered_collection(struct: Any) -> bool:
    """Whether 2.1.7 wrote ``struct`` as numbered items: an iterable other than text, bytes and
    sets (2.1.7 raised on sets, which cannot be indexed)."""
    return isinstance(struct, Iterable) and not isinstance(
        struct, (str, bytes, bytearray, set, frozenset, Mapping)
    )

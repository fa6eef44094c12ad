"""XYZ: Ato's own indentation format, the one ``python train.py manual`` prints.

::

    # comments and blank lines are ignored
    lr: 0.001
    model: resnet50
    note: 'a string that would read as a number: 0.5'
    backbone:
      layers:
        0) 64
        1) 128
      stem: (3, 64)
    empty: {}

- A mapping value opens an indented block of ``key: value`` lines; a non-empty list opens a block
  of ``N) value`` items numbered from 0; anything else is written inline.
- Inline values are read as command-line literals (:mod:`ato.config.literals`) and, where the text is not
  a literal, as the text itself. The writer quotes a string only where reading it back would
  otherwise give something else, so round trips are lossless for every literal type.
- Keys are written bare where they are plain names, otherwise as a quoted Python string; a
  non-string key is written as ``[literal]``.
- The top level is usually a mapping; as in ato 2.1.7 it may also be a list (``N) value`` lines)
  or a single value. ato 2.1.7's ``[Empty Sequence]`` and ``[Empty Mapping]`` read as ``[]`` and
  ``{}``. ``dump``/``load`` take a path or an open text file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from ato.config.literals import format_literal, parse_value
from ato.errors import CLIArgumentError

__all__ = ["XYZSyntaxError", "dump", "dumps", "load", "loads", "read_value"]

_INDENT = "  "
_PLAIN_KEY = re.compile(r"[A-Za-z_][\w\-. ]*")
_ITEM = re.compile(r"(\d+)\)(?: (.*)|$)")
_QUOTED_KEY = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\[[^\]]*\]):(?: (.*)|$)""")
_KEY = re.compile(r"([^:]+):(?: (.*)|$)")


class XYZSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    indent: int
    text: str


def dumps(data: Any) -> str:
    """Write a mapping (or, at the top level, a list or a single value) as XYZ text."""
    out: list[str] = []
    if isinstance(data, Mapping):
        _write_mapping(data, 0, out)
    elif type(data) is list and data:
        for index, item in enumerate(data):
            _write_child(f"{index})", item, 0, out)
    else:
        out.append(_write_top_value(data))
    return "\n".join(out) + ("\n" if out else "")


def dump(data: Any, path_or_file: str | os.PathLike[str] | IO[str]) -> None:
    """Write ``data`` as XYZ to a path or an open text file."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "w", encoding="utf-8") as handle:
            handle.write(dumps(data))
    else:
        path_or_file.write(dumps(data))


def load(path_or_file: str | os.PathLike[str] | IO[str]) -> Any:
    """Read XYZ from a path or an open text file."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, encoding="utf-8") as handle:
            return loads(handle.read())
    return loads(path_or_file.read())


def loads(text: str, *, max_depth: int = 100) -> Any:
    """Read XYZ text into plain dicts and lists; raise :class:`XYZSyntaxError` with the line.

    Blocks nest at most ``max_depth`` levels (the top level is one), so that hostile text
    gets an error with its line instead of exhausting the stack.
    """
    lines = []
    for number, raw in enumerate(text.split("\n"), start=1):
        raw = raw.removesuffix("\r")
        stripped = raw.strip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise XYZSyntaxError(number, "indent with spaces, not tabs")
        lines.append(_Line(number, len(raw) - len(raw.lstrip(" ")), stripped))
    if not lines:
        return {}
    if len(lines) == 1 and _ITEM.fullmatch(lines[0].text) is None and _is_top_value(lines[0].text):
        return read_value(lines[0].text)  # a single value (ato 2.1.7 wrote it indented by one)
    if lines[0].indent:
        raise XYZSyntaxError(lines[0].number, "the first key must not be indented")
    value, end = _read_block(lines, 0, 0, 1, max_depth)
    if end < len(lines):
        raise XYZSyntaxError(lines[end].number, "indentation does not match any outer block")
    return value


_LEGACY_EMPTY = {"[Empty Sequence]": list, "[Empty Mapping]": dict}  # what ato 2.1.7 wrote


def read_value(text: str) -> Any:
    """Read an inline value: a literal where it is one, else the text itself."""
    empty = _LEGACY_EMPTY.get(text)
    if empty is not None:
        return empty()
    try:
        return parse_value(text)
    except CLIArgumentError:
        return text


def _is_top_value(text: str) -> bool:
    """Whether a lone top-level line is a value rather than a ``key: value`` line: a whole
    quoted string is a value; otherwise anything that does not read as a key."""
    if text[:1] in ("'", '"'):
        try:
            return isinstance(parse_value(text), str)
        except CLIArgumentError:
            pass
    return _QUOTED_KEY.fullmatch(text) is None and _KEY.fullmatch(text) is None


def _write_top_value(value: Any) -> str:
    written = _write_value(value)
    if isinstance(value, str) and (_ITEM.fullmatch(written) or not _is_top_value(written)):
        return repr(value)  # as it is, it would read back as a key or a list item
    return written


def _write_value(value: Any) -> str:
    if isinstance(value, str):
        read_back = read_value(value)
        plain = (
            type(read_back) is str
            and read_back == value
            and value == value.strip()
            and value.isprintable()
        )
        return value if plain and value else repr(value)
    return format_literal(value)


def _write_key(key: Any) -> str:
    if isinstance(key, str):
        return key if _PLAIN_KEY.fullmatch(key) and key == key.strip() else repr(key)
    return f"[{format_literal(key)}]"


def _write_child(head: str, value: Any, indent: int, out: list[str]) -> None:
    pad = _INDENT * indent
    if isinstance(value, Mapping) and value:
        out.append(f"{pad}{head}")
        _write_mapping(value, indent + 1, out)
    elif type(value) is list and value:
        out.append(f"{pad}{head}")
        for index, item in enumerate(value):
            _write_child(f"{index})", item, indent + 1, out)
    elif isinstance(value, Mapping):
        out.append(f"{pad}{head} {{}}")
    else:
        out.append(f"{pad}{head} {_write_value(value)}")


def _write_mapping(data: Mapping[Any, Any], indent: int, out: list[str]) -> None:
    for key, value in data.items():
        _write_child(f"{_write_key(key)}:", value, indent, out)


def _read_block(
    lines: list[_Line], start: int, indent: int, depth: int, max_depth: int
) -> tuple[Any, int]:
    is_list = _ITEM.fullmatch(lines[start].text) is not None
    container: Any = [] if is_list else {}
    i = start
    while i < len(lines) and lines[i].indent == indent:
        line = lines[i]
        if is_list:
            match = _ITEM.fullmatch(line.text)
            if match is None:
                raise XYZSyntaxError(line.number, "expected a list item 'N) value'")
            # Compared as text: int() of a number thousands of digits long raises ValueError.
            if match.group(1).lstrip("0") != str(len(container)).lstrip("0"):
                raise XYZSyntaxError(
                    line.number, f"list item {match.group(1):.20}) out of order; expected {len(container)})"
                )
            key, rest = None, match.group(2)
        else:
            key, rest = _read_key(line)
        i += 1
        if rest is None or not rest.strip():
            if i < len(lines) and lines[i].indent > indent:
                if depth >= max_depth:
                    raise XYZSyntaxError(lines[i].number, f"nested deeper than {max_depth} levels")
                value, i = _read_block(lines, i, lines[i].indent, depth + 1, max_depth)
            else:
                value = None
        else:
            value = read_value(rest.strip())
        if is_list:
            container.append(value)
        elif key in container:
            raise XYZSyntaxError(line.number, f"duplicate key {key!r}")
        else:
            container[key] = value
    if i < len(lines) and lines[i].indent > indent:
        raise XYZSyntaxError(lines[i].number, "unexpected indentation")
    return container, i


def _read_key(line: _Line) -> tuple[Any, str | None]:
    match = _QUOTED_KEY.fullmatch(line.text)
    if match is not None:
        text = match.group(1)
        try:
            key = parse_value(text[1:-1] if text.startswith("[") else text)
        except CLIArgumentError as exc:
            raise XYZSyntaxError(line.number, f"key {text}: {exc.reason}") from None
        if not _hashable(key):
            raise XYZSyntaxError(line.number, f"key {text}: a {type(key).__name__} cannot be a key")
        return key, match.group(2)
    match = _KEY.fullmatch(line.text)
    if match is None:
        raise XYZSyntaxError(line.number, "expected 'key: value'")
    return match.group(1).strip(), match.group(2)


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True

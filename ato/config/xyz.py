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

Custom line marks (ato 2.1.7's ``format_dict``)
-----------------------------------------------
``dumps(obj, format_dict={"key_prefix": "@", "key_postfix": " =", "index_prefix": "#",
"index_postfix": " ->"})`` writes ``@lr = 0.001`` and ``#0 -> 64``, after a header that names
the marks (``key-prefix -> @``, one line per mark that differs from the default ``''``, ``:``,
``''``, ``)``). ``loads`` reads the header and then the lines with those marks; as for ``:``, a
value follows the postfix after a space, and space before a postfix or after a prefix does not
matter (``@lr= 0.001`` reads the same). Comments still start with ``#``, except where a prefix
starts with ``#``: then lines starting with that prefix are data.

Where ato 2.1.7 was broken we do what it meant, so that what we write reads back losslessly:

- 2.1.7 wrote the header as ``key_prefix -> @`` but its reader only knew ``key-prefix``, so it never
  read its own formatted output back (the header lines became keys, the first mark-less line
  crashed or turned into junk, and the blank line after the header became a key ``''``). We
  write the hyphen spelling, which the real 2.1.7 also reads; we read both spellings. Header
  lines count only before the first data line (2.1.7 took them anywhere), so data cannot be
  mistaken for a header.
- 2.1.7 wrote any other ``format_dict`` key as a header line that nothing read, and marks with
  line breaks or leading spaces that broke the indentation. We refuse those with ``ValueError``
  (unknown key, a mark that is not one printable line, a prefix that starts with a space, a
  postfix that is only spaces); an empty postfix means the default, as in 2.1.7's writer.
- 2.1.7 wrote keys and values as ``str()``, so a value holding the postfix read back as a nested
  key and ``'5'`` read back as ``5``. We quote a key or value where it would read back as
  something else, and raise ``ValueError`` where marks are so odd that no quoting helps.
- Values are data: 2.1.7 read ``-1`` as the text ``'-1'`` and ``(3, 64)`` as text; we read
  them with our literal parser, which never evaluates anything.

2.1.7's tree helpers (``GlobalParser``, ``convert_lines_to_tree`` ...) are in
:mod:`ato.config.xyz_tree`.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import IO, Any, NamedTuple

from ato.config.literals import format_literal, parse_value
from ato.errors import CLIArgumentError

__all__ = [
    "FORMAT_KEYS",
    "LineFormat",
    "XYZSyntaxError",
    "convert_string_to_value",
    "dump",
    "dumps",
    "load",
    "loads",
    "read_value",
    "write_value",
]

FORMAT_KEYS = ("key_prefix", "key_postfix", "index_prefix", "index_postfix")
_INDENT = "  "
_PLAIN_KEY = re.compile(r"[A-Za-z_][\w\-. ]*")
_QUOTED = r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\[[^\]]*\])"""
_QUOTED_STRING = re.compile(r"'(?:[^'\\]|\\.)*'" "|" r'"(?:[^"\\]|\\.)*"')
# A header line: ``key-prefix -> @`` (the spelling 2.1.7 read) or ``key_prefix -> @`` (the one it wrote).
_HEADER = re.compile(r"(key|index)[-_](prefix|postfix) *->(.*)")


class XYZSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


class _Patterns(NamedTuple):
    item: re.Pattern[str]
    quoted_key: re.Pattern[str]
    bare_key: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class LineFormat:
    """The marks around keys and list indices: ``{key_prefix}key{key_postfix} value`` and
    ``{index_prefix}N{index_postfix} value`` (2.1.7's ``format_dict``; the default is ``key: value``
    and ``N) value``)."""

    key_prefix: str = ""
    key_postfix: str = ":"
    index_prefix: str = ""
    index_postfix: str = ")"

    @classmethod
    def from_dict(cls, format_dict: Mapping[str, Any] | None) -> LineFormat:
        """Check a ``format_dict`` for writing: ``ValueError`` for what could not read back."""
        if not format_dict:
            return cls()
        if not isinstance(format_dict, Mapping):
            raise TypeError(f"format_dict must be a mapping, not {type(format_dict).__name__}")
        unknown = [key for key in format_dict if key not in FORMAT_KEYS]
        if unknown:
            raise ValueError(f"format_dict: unknown keys {unknown}; known: {', '.join(FORMAT_KEYS)}")
        marks: dict[str, str] = {}
        for name, mark in format_dict.items():
            if mark is None or mark == "":
                continue  # the default, as 2.1.7's writer took it
            if not isinstance(mark, str):
                raise TypeError(f"format_dict[{name!r}] must be a string, not {type(mark).__name__}")
            if not mark.isprintable():
                raise ValueError(f"format_dict[{name!r}] = {mark!r}: a mark must be one line of printable text")
            if name.endswith("_prefix") and mark != mark.lstrip():
                raise ValueError(f"format_dict[{name!r}] = {mark!r}: a prefix cannot start with a space "
                                 "(it would read as indentation)")
            if name.endswith("_postfix") and not mark.strip():
                raise ValueError(f"format_dict[{name!r}] = {mark!r}: a postfix needs a visible character")
            marks[name] = mark
        return cls(**marks)

    @classmethod
    def from_header(cls, lines: Iterable[str]) -> LineFormat:
        """Read header lines (``key-prefix -> @`` or ``key_prefix -> @``); other lines are ignored.
        Marks are trimmed, as 2.1.7 trimmed them; an empty postfix means the default."""
        marks: dict[str, str] = {}
        for line in lines:
            match = _HEADER.fullmatch(line.rstrip("\r\n"))
            if match is not None:
                mark = match.group(3).strip()
                name = f"{match.group(1)}_{match.group(2)}"
                if mark or name.endswith("_prefix"):
                    marks[name] = mark
                else:
                    marks.pop(name, None)
        return cls(**marks)

    @staticmethod
    def is_header_line(line: str) -> bool:
        """Whether ``line`` (unindented) names a mark: ``key-prefix -> @``."""
        return _HEADER.fullmatch(line.rstrip("\r\n")) is not None

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FORMAT_KEYS}

    def header_lines(self) -> list[str]:
        """One ``key-prefix -> @`` line per mark that differs from the default."""
        default = LineFormat()
        return [
            f"{field.name.replace('_', '-')} -> {getattr(self, field.name)}".rstrip()
            for field in fields(self)
            if getattr(self, field.name) != getattr(default, field.name)
        ]

    def is_comment(self, text: str) -> bool:
        """Whether a stripped line is a comment: it starts with ``#`` and not with a prefix."""
        if not text.startswith("#"):
            return False
        prefixes = (self.key_prefix.strip(), self.index_prefix.strip())
        return not any(prefix.startswith("#") and text.startswith(prefix) for prefix in prefixes)

    @property
    def patterns(self) -> _Patterns:
        return _patterns(self)

    def describe_key(self) -> str:
        return f"{self.key_prefix}key{self.key_postfix} value"

    def describe_item(self) -> str:
        return f"{self.index_prefix}N{self.index_postfix} value"


@functools.lru_cache(maxsize=64)
def _patterns(fmt: LineFormat) -> _Patterns:
    """The line patterns of a format; marks are trimmed, as a header gives them."""
    key_prefix, key_postfix, index_prefix, index_postfix = (
        re.escape(getattr(fmt, name).strip()) for name in FORMAT_KEYS
    )
    rest = r"(?: (.*)|$)"  # a value follows the postfix after a space
    return _Patterns(
        item=re.compile(rf"{index_prefix} *(\d+) *{index_postfix}{rest}"),
        quoted_key=re.compile(rf"{key_prefix} *{_QUOTED} *{key_postfix}{rest}"),
        bare_key=re.compile(rf"{key_prefix}((?:(?!{key_postfix}).)+){key_postfix}{rest}"),
    )


_DEFAULT = LineFormat()


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    indent: int
    text: str


def dumps(obj: Any, format_dict: Mapping[str, Any] | None = None) -> str:
    """Write a mapping (or, at the top level, a list or a single value) as XYZ text, with the
    marks of ``format_dict`` (keys ``key_prefix``, ``key_postfix``, ``index_prefix``,
    ``index_postfix``) where given."""
    fmt = LineFormat.from_dict(format_dict)
    out = fmt.header_lines()
    if isinstance(obj, Mapping):
        _write_mapping(obj, 0, out, fmt)
    elif type(obj) is list and obj:
        _write_list(obj, 0, out, fmt)
    else:
        out.append(_write_top_value(obj, fmt))
    return "\n".join(out) + ("\n" if out else "")


def dump(obj: Any, path_or_file: str | os.PathLike[str] | IO[str],
         format_dict: Mapping[str, Any] | None = None) -> None:
    """Write ``obj`` as XYZ to a path or an open text file."""
    text = dumps(obj, format_dict=format_dict)
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path_or_file.write(text)


def load(path_or_file: str | os.PathLike[str] | IO[str]) -> Any:
    """Read XYZ from a path or an open text file."""
    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, encoding="utf-8") as handle:
            return loads(handle.read())
    return loads(path_or_file.read())


def loads(raw_str: str, *, max_depth: int = 100) -> Any:
    """Read XYZ text into plain dicts and lists; raise :class:`XYZSyntaxError` with the line.

    Leading ``key-prefix -> @`` lines set the marks. Blocks nest at most ``max_depth`` levels
    (the top level is one), so that hostile text gets an error with its line instead of
    exhausting the stack.
    """
    fmt, header, in_header = _DEFAULT, [], True
    lines = []
    for number, raw in enumerate(raw_str.split("\n"), start=1):
        raw = raw.removesuffix("\r")
        stripped = raw.strip(" \t")
        if not stripped:
            continue
        if in_header:
            if LineFormat.is_header_line(raw):
                header.append(raw)
                fmt = LineFormat.from_header(header)
                continue
            in_header = fmt.is_comment(stripped)
        if fmt.is_comment(stripped):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise XYZSyntaxError(number, "indent with spaces, not tabs")
        lines.append(_Line(number, len(raw) - len(raw.lstrip(" ")), stripped))
    if not lines:
        return {}
    if len(lines) == 1 and _is_top_value(lines[0].text, fmt):
        return read_value(lines[0].text)  # a single value (ato 2.1.7 wrote it indented by one)
    if lines[0].indent:
        raise XYZSyntaxError(lines[0].number, "the first key must not be indented")
    value, end = _read_block(lines, 0, 0, 1, max_depth, fmt)
    if end < len(lines):
        raise XYZSyntaxError(lines[end].number, "indentation does not match any outer block")
    return value


_LEGACY_EMPTY = {"[Empty Sequence]": list, "[Empty Mapping]": dict}  # what ato 2.1.7 wrote


def read_value(text: str) -> Any:
    """Read an inline value: a literal where it is one, else the text itself. Never evaluates."""
    empty = _LEGACY_EMPTY.get(text)
    if empty is not None:
        return empty()
    try:
        return parse_value(text)
    except CLIArgumentError:
        return text


def convert_string_to_value(value: Any) -> Any:
    """ato 2.1.7's name (``ato.utils``/``ato.xyz``) for reading one value: a string is read as
    :func:`read_value` reads it (``None``/``true``/``False`` in any case, ``42``, ``3.14``,
    ``[Empty Sequence]``; also every other literal, ``-1`` or ``[1, 2]``, that 2.1.7 left as
    text), as data, never evaluated; anything that is not a string comes back unchanged."""
    return read_value(value) if isinstance(value, str) else value


def write_value(value: Any) -> str:
    """Write an inline value so that :func:`read_value` reads it back with equal value and type:
    a string bare where that is safe, else quoted; anything else as a literal (``TypeError``
    for a value that has no literal form)."""
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


def _is_top_value(text: str, fmt: LineFormat) -> bool:
    """Whether a lone top-level line is a value rather than a key or item line: a whole quoted
    string is a value; otherwise anything that reads as neither."""
    patterns = fmt.patterns
    if patterns.item.fullmatch(text) is not None:
        return False
    if _QUOTED_STRING.fullmatch(text) is not None:
        return True
    return patterns.quoted_key.fullmatch(text) is None and patterns.bare_key.fullmatch(text) is None


def _write_top_value(value: Any, fmt: LineFormat) -> str:
    candidates = [write_value(value)]
    if isinstance(value, str):
        candidates.append(repr(value))  # as it is, it might read back as a key, an item or a comment
    for text in candidates:
        if (_is_data_line(text, fmt, top=True) and _is_top_value(text, fmt)
                and _same(read_value(text), value)):
            return text
    raise ValueError(f"format {fmt.as_dict()} cannot write the value {value!r} so that it reads back")


def _key_line(key: Any, value_text: str, top: bool, fmt: LineFormat) -> str:
    """The key's line (without indentation): bare where that reads back, else quoted."""
    if isinstance(key, str):
        candidates = [key, repr(key)] if _PLAIN_KEY.fullmatch(key) and key == key.strip() else [repr(key)]
    else:
        candidates = [f"[{format_literal(key)}]"]
    for written in candidates:
        line = f"{fmt.key_prefix}{written}{fmt.key_postfix} {value_text}".rstrip()
        if _reads_back_as_key(line, key, value_text, fmt, top):
            return line
    raise ValueError(f"format {fmt.as_dict()} cannot write the key {key!r} so that it reads back")


def _reads_back_as_key(line: str, key: Any, value_text: str, fmt: LineFormat, top: bool) -> bool:
    if not _is_data_line(line, fmt, top) or fmt.patterns.item.fullmatch(line) is not None:
        return False
    if top and _is_top_value(line, fmt):  # alone in the document, it would read as a value
        return False
    try:
        read_key, rest = _split_key_line(line, fmt)
    except ValueError:
        return False
    return _same(read_key, key) and (rest or "").strip() == value_text


def _item_line(index: int, value_text: str, top: bool, fmt: LineFormat) -> str:
    line = f"{fmt.index_prefix}{index}{fmt.index_postfix} {value_text}".rstrip()
    match = fmt.patterns.item.fullmatch(line)
    if (match is None or not _is_data_line(line, fmt, top) or match.group(1) != str(index)
            or (match.group(2) or "").strip() != value_text):
        raise ValueError(f"format {fmt.as_dict()} cannot write list item {index} so that it reads back")
    return line


def _is_data_line(text: str, fmt: LineFormat, top: bool) -> bool:
    """Whether a written line (without indentation) reads as data: neither a comment nor, at the
    top level, a header line."""
    return not fmt.is_comment(text) and not (top and LineFormat.is_header_line(text))


def _same(a: Any, b: Any) -> bool:
    """Equal value and type (``nan`` is the same as ``nan``, ``(1,)`` is not ``[1]``)."""
    if type(a) is not type(b):
        return False
    try:
        return format_literal(a) == format_literal(b)
    except TypeError:
        return bool(a == b)


def _write_entry(value: Any, indent: int, out: list[str], fmt: LineFormat,
                 line_for: Callable[[str], str]) -> None:
    """Write one key's or item's value: inline, or as a block under the line ``line_for('')``."""
    pad = _INDENT * indent
    if isinstance(value, Mapping) and value:
        out.append(pad + line_for(""))
        _write_mapping(value, indent + 1, out, fmt)
    elif type(value) is list and value:
        out.append(pad + line_for(""))
        _write_list(value, indent + 1, out, fmt)
    else:
        out.append(pad + line_for("{}" if isinstance(value, Mapping) else write_value(value)))


def _write_mapping(data: Mapping[Any, Any], indent: int, out: list[str], fmt: LineFormat) -> None:
    for key, value in data.items():
        _write_entry(value, indent, out, fmt, functools.partial(_key_line, key, top=indent == 0, fmt=fmt))


def _write_list(items: list[Any], indent: int, out: list[str], fmt: LineFormat) -> None:
    for index, item in enumerate(items):
        _write_entry(item, indent, out, fmt, functools.partial(_item_line, index, top=indent == 0, fmt=fmt))


def _read_block(
    lines: list[_Line], start: int, indent: int, depth: int, max_depth: int, fmt: LineFormat
) -> tuple[Any, int]:
    item_pattern = fmt.patterns.item
    is_list = item_pattern.fullmatch(lines[start].text) is not None
    container: Any = [] if is_list else {}
    i = start
    while i < len(lines) and lines[i].indent == indent:
        line = lines[i]
        if is_list:
            match = item_pattern.fullmatch(line.text)
            if match is None:
                raise XYZSyntaxError(line.number, f"expected a list item '{fmt.describe_item()}'")
            # Compared as text: int() of a number thousands of digits long raises ValueError.
            if match.group(1).lstrip("0") != str(len(container)).lstrip("0"):
                raise XYZSyntaxError(
                    line.number, f"list item {match.group(1):.20} out of order; expected {len(container)}"
                )
            key, rest = None, match.group(2)
        else:
            key, rest = _read_key(line, fmt)
        i += 1
        if rest is None or not rest.strip():
            if i < len(lines) and lines[i].indent > indent:
                if depth >= max_depth:
                    raise XYZSyntaxError(lines[i].number, f"nested deeper than {max_depth} levels")
                value, i = _read_block(lines, i, lines[i].indent, depth + 1, max_depth, fmt)
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


def _read_key(line: _Line, fmt: LineFormat) -> tuple[Any, str | None]:
    try:
        return _split_key_line(line.text, fmt)
    except ValueError as exc:
        raise XYZSyntaxError(line.number, str(exc)) from None


def _split_key_line(text: str, fmt: LineFormat) -> tuple[Any, str | None]:
    """``(key, rest)`` of a key line; ``ValueError`` saying what is wrong."""
    patterns = fmt.patterns
    match = patterns.quoted_key.fullmatch(text)
    if match is not None:
        quoted = match.group(1)
        try:
            key = parse_value(quoted[1:-1] if quoted.startswith("[") else quoted)
        except CLIArgumentError as exc:
            raise ValueError(f"key {quoted}: {exc.reason}") from None
        if not _hashable(key):
            raise ValueError(f"key {quoted}: a {type(key).__name__} cannot be a key")
        return key, match.group(2)
    match = patterns.bare_key.fullmatch(text)
    if match is None or not match.group(1).strip():
        raise ValueError(f"expected '{fmt.describe_key()}'")
    return match.group(1).strip(), match.group(2)


def _hashable(key: Any) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True

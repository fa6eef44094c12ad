"""Command-line literals: ``view_name``, ``key=value`` and ``manual``, parsed as data, never code.

Values follow Python's literal syntax, read from the parse tree (:mod:`ast`) and never evaluated:
numbers (``3``, ``1e-3``, ``-0.5``, ``1_000``), strings (``'a b'``), ``True``/``False``/``None``,
lists, tuples, dicts and sets of those, nested to any depth. On top of that, for the shell:

- ``%text with spaces%`` is the string between the percent signs, taken as it is;
- a bare word such as ``resnet50``, ``adamw``, ``/data/imagenet`` or ``2024-01-01`` is a string
  (as in Hydra), also inside brackets: ``[resnet, vgg]``;
- ``true``/``false``/``null`` (any case) are ``True``/``False``/``None``, and ``inf``, ``-inf``,
  ``nan`` are floats, so ``repr()`` of any float reads back bit for bit.

Anything else that looks like code (a call, an attribute, an operator, a subscript) is refused
with an error that names the token and says why; nothing from the command line ever runs. So
are a list, dict or set as a dict key or set item, and an integer longer than Python's limit on
decimal text (4,300 digits): on the command line in any base, since the merge record writes
integers in decimal, and never silently taken as a string.
"""

from __future__ import annotations

import ast
import io
import math
import re
import sys
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ato.errors import CLIArgumentError

__all__ = [
    "MANUAL",
    "Assignment",
    "ManualRequest",
    "Token",
    "ViewRequest",
    "format_literal",
    "parse_argv",
    "parse_value",
]

MANUAL = "manual"

_KEY = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
# A bare word is a run of characters that cannot start an expression on their own.
_BARE_WORD = re.compile(r"[\w\-./:+@~]+")
_DECIMAL_INT = re.compile(r"[+-]?\d[\d_]*")
_KEYWORDS: dict[str, Any] = {
    "true": True,
    "false": False,
    "none": None,
    "null": None,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "nan": math.nan,
    "+nan": math.nan,
    "-nan": -math.nan,
}


@dataclass(frozen=True, slots=True)
class ViewRequest:
    """Apply the named view (``high_lr``; ``model.high_lr`` inside a MultiScope)."""

    name: str


@dataclass(frozen=True, slots=True)
class Assignment:
    """Set the dotted ``key`` to ``value``; ``raw`` is the token as it was typed."""

    key: tuple[str, ...]
    value: Any
    raw: str


@dataclass(frozen=True, slots=True)
class ManualRequest:
    """Print the applying order and the user manuals instead of running."""


Token = ViewRequest | Assignment | ManualRequest


class _NotALiteral(Exception):
    def __init__(self, node: ast.AST) -> None:
        self.node = node


class _Unhashable(Exception):
    def __init__(self, node: ast.AST, role: str, value: Any) -> None:
        self.node = node
        self.role = role
        self.value = value


def parse_argv(argv: Sequence[str]) -> list[Token]:
    """Split command-line arguments into view requests, assignments and ``manual``."""
    tokens: list[Token] = []
    for arg in argv:
        if arg == MANUAL:
            tokens.append(ManualRequest())
        elif "=" in arg:
            key, _, text = arg.partition("=")
            if not _KEY.fullmatch(key):
                raise CLIArgumentError(
                    arg,
                    f"{key!r} is not a config key: keys are dotted names such as lr or model.backbone",
                )
            value = parse_value(text, token=arg)
            _require_decimal_ints(value, arg)
            tokens.append(Assignment(tuple(key.split(".")), value, arg))
        elif _KEY.fullmatch(arg):
            tokens.append(ViewRequest(arg))
        else:
            hint = " (Ato takes key=value, not --key)" if arg.startswith("-") else ""
            raise CLIArgumentError(arg, f"expected a view name or key=value{hint}")
    return tokens


def parse_value(text: str, *, token: str | None = None) -> Any:
    """Read one command-line value as a literal; raise :class:`CLIArgumentError` if it is not one."""
    token = text if token is None else token
    if len(text) >= 2 and text[0] == "%" and text[-1] == "%":
        return text[1:-1]
    keyword = _KEYWORDS.get(text.lower(), _KEYWORDS)
    if keyword is not _KEYWORDS:
        return keyword
    if not text:
        raise CLIArgumentError(token, "empty value: write key=%% for an empty string or key=None")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        if _too_many_digits(text):
            raise CLIArgumentError(
                token,
                f"an integer of more than {_max_int_digits()} digits, more than Python reads "
                "from decimal text; wrap it as %...% to pass it as a string",
            ) from None
        if _BARE_WORD.fullmatch(text):
            return text
        raise CLIArgumentError(
            token, f"malformed literal ({exc.msg}, column {exc.offset}); wrap plain text as %...%"
        ) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise CLIArgumentError(token, f"cannot be read as a literal ({type(exc).__name__})") from None
    if _has_comment(text):  # Python would drop the rest of the value without a word
        raise CLIArgumentError(token, "'#' would start a comment and drop the rest; wrap text as %...%")
    try:
        return _literal(tree.body)
    except _NotALiteral as exc:
        if _BARE_WORD.fullmatch(text) and not _is_arithmetic(tree.body):
            return text
        what = ast.get_source_segment(text.strip(), exc.node) or type(exc.node).__name__
        raise CLIArgumentError(
            token,
            f"{what!r} is {_describe(exc.node)}; command-line values are data and are never "
            "evaluated (write a literal, or wrap text as %...%)",
        ) from None
    except _Unhashable as exc:
        what = ast.get_source_segment(text.strip(), exc.node) or repr(exc.value)
        raise CLIArgumentError(
            token,
            f"{what!r} cannot be {exc.role}: it is unhashable (a {type(exc.value).__name__}); "
            "use numbers, strings, or tuples of them",
        ) from None
    except RecursionError:
        raise CLIArgumentError(token, "nested too deeply to read") from None


def _has_comment(text: str) -> bool:
    try:
        return any(t.type == tokenize.COMMENT for t in tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return False  # it parsed as an expression, so an unfinished token is not a comment


def _require_decimal_ints(value: Any, token: str) -> None:
    """Refuse an integer (written in hex, say) too long for decimal text: the merge record
    writes integers as decimal, so it could not record what the command line set."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            str(value)
        except ValueError:
            raise CLIArgumentError(
                token,
                f"an integer of more than {_max_int_digits()} decimal digits, more than Python "
                "writes as text; wrap it as %...% to pass it as a string",
            ) from None
    elif isinstance(value, dict):
        for item in value.items():
            _require_decimal_ints(item, token)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            _require_decimal_ints(item, token)


def _too_many_digits(text: str) -> bool:
    """True for a decimal integer past Python's limit on int-from-text conversion, which
    ast.parse refuses as a SyntaxError: it is an error, not a bare word that becomes a str."""
    limit, stripped = _max_int_digits(), text.strip()
    if not limit or _DECIMAL_INT.fullmatch(stripped) is None:
        return False
    return sum(c.isdigit() for c in stripped) > limit


def _max_int_digits() -> int:
    """Python's limit on decimal digits (0: none, as before 3.10.7 and 3.11)."""
    return int(getattr(sys, "get_int_max_str_digits", lambda: 0)())


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            raise _NotALiteral(node)
        return node.value
    if isinstance(node, ast.Name):
        keyword = _KEYWORDS.get(node.id.lower(), _KEYWORDS)
        return node.id if keyword is _KEYWORDS else keyword
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _literal(node.operand) if isinstance(node.operand, (ast.Constant, ast.Name)) else None
        if isinstance(operand, (int, float, complex)) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else operand
        raise _NotALiteral(node)
    if isinstance(node, ast.List):
        return [_literal(element) for element in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(element) for element in node.elts)
    if isinstance(node, ast.Set):
        return {_hashable(element, "a set item") for element in node.elts}
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise _NotALiteral(node)
        pairs = zip(node.keys, node.values)
        return {_hashable(key, "a dict key"): _literal(value) for key, value in pairs}  # type: ignore[arg-type]
    raise _NotALiteral(node)


def _hashable(node: ast.AST, role: str) -> Any:
    """A set item or dict key, refused by name where it is a list, dict or set."""
    value = _literal(node)
    try:
        hash(value)
    except TypeError:
        raise _Unhashable(node, role, value) from None
    return value


def _is_arithmetic(node: ast.AST) -> bool:
    """True for expressions made only of numbers and operators, such as ``1/3``: refused, since
    taking them as the string '1/3' would surprise whoever meant a number."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and not isinstance(child.value, (int, float, complex)):
            return False
        if not isinstance(child, (ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop)):
            return False
    return True


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Call: "a call",
        ast.Attribute: "an attribute access",
        ast.Subscript: "a subscript",
        ast.BinOp: "an arithmetic expression",
        ast.Lambda: "a lambda",
        ast.Starred: "an unpacking",
        ast.Dict: "a dict unpacking",
    }
    for kind, description in kinds.items():
        if isinstance(node, kind):
            return description
    return f"not a literal ({type(node).__name__})"


def format_literal(value: Any, *, python: bool = False) -> str:
    """Write ``value`` so that :func:`parse_value` reads it back with equal value and type.

    With ``python=True`` the text is also valid Python (non-finite floats become
    ``float('nan')``), for ``.py`` config files. Raises ``TypeError`` for values that are not
    literals (an object instance, say).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return _format_int(value)
    if value is None or isinstance(value, (bool, str, bytes)):
        return repr(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(value)
        text = repr(value)  # 'nan', 'inf' or '-inf'
        if math.isnan(value) and math.copysign(1.0, value) < 0:
            text = "-nan"
        return f"float({text!r})" if python else text
    if isinstance(value, list):
        return "[" + ", ".join(format_literal(item, python=python) for item in value) + "]"
    if isinstance(value, tuple):
        items = [format_literal(item, python=python) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, (set, frozenset)) and value and type(value) is set:
        return "{" + ", ".join(sorted(format_literal(item, python=python) for item in value)) + "}"
    if isinstance(value, dict):
        pairs = (
            f"{format_literal(k, python=python)}: {format_literal(v, python=python)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(pairs) + "}"
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return format_literal(item(), python=python)
    raise TypeError(f"{type(value).__qualname__} value {value!r} has no literal form")


def _format_int(value: int) -> str:
    try:
        return repr(value)
    except ValueError:  # more digits than Python writes as decimal; hex has no limit, reads back
        return hex(value)
